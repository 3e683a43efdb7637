/* test_limit.c — the cap on committed memory (keel_set_limit, option
   limit, KEEL_LIMIT; DESIGN.md sections 11 and 12): a cap below what is
   held is refused; under a cap, large and small allocations fail with
   ENOMEM before keel holds more than the cap (metadata included), the
   out-of-memory handler is asked first and can make room, a failed realloc
   leaves its block intact, and freeing makes allocation work again. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "heap_test.h"

#include <errno.h>

#define NAME "test_limit"

static size_t committed(void) { return keel_get_stats().virtual_memory_size; }

static int handler_calls;
static void* handler_reserve;   /* freed by the handler to make room */

static bool count_handler(size_t size, void* user_data) {
    (void)size;
    (void)user_data;
    handler_calls++;
    if (handler_reserve) {
        keel_free(handler_reserve);
        handler_reserve = NULL;
        return true;   /* retry */
    }
    return false;
}

static void test_refused(void) {
    errno = 0;
    CHECK(!keel_set_limit(1) && errno == EINVAL);
    CHECK(keel_option_get("limit") == 0);
    CHECK(keel_set_limit(0));
}

enum { MAX_BLOCKS = 100000 };
static void* blocks[MAX_BLOCKS];

static void test_large(void) {
    size_t cap, n = 0, i, worst = 0;
    void* p;
    (void)keel_trim();
    cap = committed() + 48 * HT_MIB;
    CHECK(keel_set_limit(cap));
    CHECK(keel_option_get("limit") == (long long)cap);
    handler_calls = 0;
    keel_set_out_of_memory_handler(count_handler, NULL);
    for (;;) {
        errno = 0;
        p = keel_alloc(HT_MIB);
        if (!p) break;
        memset(p, 5, HT_MIB);
        blocks[n++] = p;
        if (committed() > worst) worst = committed();
        if (n == 1000) break;
    }
    printf(NAME ": cap %zu KiB: %zu blocks of 1 MiB, at most %zu KiB committed, then errno %d, handler called %d times\n",
           cap >> 10, n, worst >> 10, errno, handler_calls);
    CHECK_NOTE(p == NULL && errno == ENOMEM, "the cap did not stop 1 MiB allocations with ENOMEM");
    CHECK_NOTE(worst <= cap, "keel held more than the cap committed");
    CHECK_NOTE(n >= 40, "fewer than 40 of the 48 MiB under the cap were usable by 1 MiB blocks");
    CHECK_NOTE(handler_calls >= 1, "the out-of-memory handler was not asked at the cap");
    CHECK(keel_get_stats().peak_virtual_memory_size <= cap || worst <= cap);
    /* a realloc that would cross the cap fails and leaves the block */
    if (n > 0) {
        unsigned char* q = keel_realloc(blocks[0], 64 * HT_MIB);
        CHECK(q == NULL && errno == ENOMEM);
        CHECK(((unsigned char*)blocks[0])[HT_MIB - 1] == 5);
    }
    /* the handler makes room: one block freed, the retry succeeds */
    if (n > 0) {
        handler_reserve = blocks[--n];
        handler_calls = 0;
        p = keel_alloc(HT_MIB);
        CHECK_NOTE(p != NULL && handler_calls == 1, "the handler freed a block and returned true, but the retry failed");
        if (p) blocks[n++] = p;
    }
    for (i = 0; i < n; i++) keel_free(blocks[i]);
    p = keel_alloc(HT_MIB);
    CHECK_NOTE(p != NULL, "allocation failed after everything was freed");
    keel_free(p);
    keel_set_out_of_memory_handler(NULL, NULL);
    CHECK(committed() <= cap);
    CHECK(keel_set_limit(0));
    keel_validate();
}

static void test_small(void) {
    size_t cap, n = 0, i, worst = 0, budget = 4 * HT_MIB;
    void* p = NULL;
    (void)keel_trim();
    cap = committed() + budget;
    CHECK(keel_set_limit(cap));
    while (n < MAX_BLOCKS) {
        errno = 0;
        p = keel_alloc(64);
        if (!p) break;
        memset(p, 7, 64);
        blocks[n++] = p;
        if ((n & 1023) == 0 && committed() > worst) worst = committed();
    }
    if (committed() > worst) worst = committed();
    printf(NAME ": cap of %zu MiB more: %zu blocks of 64 bytes (%.1f%% of it), at most %zu KiB committed\n",
           budget / HT_MIB, n, 100.0 * (double)(n * 64) / (double)budget, worst >> 10);
    if (n < MAX_BLOCKS) {
        CHECK_NOTE(p == NULL && errno == ENOMEM, "the cap did not stop small allocations with ENOMEM");
        CHECK_NOTE(n * 64 >= budget / 10 * 7, "less than 70% of the room under the cap was usable by 64-byte blocks");
    } else {
        CHECK_NOTE(n * 64 < budget, "all blocks fit although they exceed the cap");
    }
    CHECK_NOTE(worst <= cap, "keel held more than the cap committed");
    for (i = 0; i < n; i++) keel_free(blocks[i]);
    keel_validate();
    CHECK(keel_set_limit(0));
    /* no cap: more than the old cap works */
    p = keel_alloc(64 * HT_MIB);
    CHECK_NOTE(p != NULL, "64 MiB failed after the cap was removed");
    keel_free(p);
}

int main(void) {
    ht_unbuffered();
    test_refused();
    test_large();
    test_small();
    return check_done(NAME);
}
