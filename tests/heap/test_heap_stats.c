/* test_heap_stats.c — keel_get_stats (DESIGN.md section 4): exact byte and
   call counts per alloc and free, frees from other threads counted when they
   happen, the return to the start, the virtual memory figures, trim, and the
   cost of a million live 16-byte blocks. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#include <stdint.h>

#define NAME "test_heap_stats"

static void check_virtual_figures(const char* when) {
    keel_stats s = keel_get_stats();
    CHECK_NOTE(s.virtual_memory_size >= s.num_bytes_allocated, when);
    CHECK_NOTE(s.peak_virtual_memory_size >= s.virtual_memory_size, when);
    CHECK_NOTE(s.cached_bytes <= s.virtual_memory_size, when);
    CHECK_NOTE(s.num_live_blocks == s.num_allocs - s.num_frees, when);
}

/* Each call moves the counters by exactly one block. */
static void test_exact_per_call(void) {
    static const size_t sizes[] = {0, 1, 8, 16, 17, 100, 128, 129, 1000, 4096, 10000, 65536, 100000, 300000,
                                   HT_MIB, 3 * HT_MIB, 9 * HT_MIB, 33 * HT_MIB};
    size_t i;
    keel_stats start = keel_get_stats();
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        keel_stats a = keel_get_stats(), b, c;
        void* p = keel_alloc(sizes[i]);
        size_t u;
        char note[64];
        snprintf(note, sizeof note, "size %lu", (unsigned long)sizes[i]);
        CHECK_NOTE(p != NULL, note);
        if (!p) continue;
        u = keel_usable_size(p);
        b = keel_get_stats();
        CHECK_NOTE(b.num_bytes_allocated - a.num_bytes_allocated == u, note);
        CHECK_NOTE(b.num_allocs == a.num_allocs + 1, note);
        CHECK_NOTE(b.num_frees == a.num_frees, note);
        CHECK_NOTE(b.num_live_blocks == a.num_live_blocks + 1, note);
        CHECK_NOTE(b.virtual_memory_size >= b.num_bytes_allocated, note);
        keel_free(p);
        c = keel_get_stats();
        CHECK_NOTE(c.num_bytes_allocated == a.num_bytes_allocated, note);
        CHECK_NOTE(c.num_allocs == a.num_allocs + 1, note);
        CHECK_NOTE(c.num_frees == a.num_frees + 1, note);
        CHECK_NOTE(c.num_live_blocks == a.num_live_blocks, note);
    }
    {   /* calloc, aligned, create count the same way */
        keel_stats a = keel_get_stats(), b;
        void* p = keel_calloc(10, 10);
        void* q = keel_alloc_aligned(100, 4096);
        double* r = keel_create(double, 1.5);
        size_t sum = keel_usable_size(p) + keel_usable_size(q) + keel_usable_size(r);
        CHECK(p && q && r);
        b = keel_get_stats();
        CHECK(b.num_bytes_allocated - a.num_bytes_allocated == sum);
        CHECK(b.num_allocs == a.num_allocs + 3 && b.num_live_blocks == a.num_live_blocks + 3);
        keel_free(p);
        keel_free(q);
        keel_destroy(r);
        b = keel_get_stats();
        CHECK(b.num_bytes_allocated == a.num_bytes_allocated && b.num_live_blocks == a.num_live_blocks);
        CHECK(b.num_frees == a.num_frees + 3);
    }
    {   /* free(NULL) and refused calls count nothing */
        keel_stats a = keel_get_stats(), b;
        keel_free(NULL);
        CHECK(keel_alloc(SIZE_MAX) == NULL);
        CHECK(keel_calloc(SIZE_MAX, 2) == NULL);
        b = keel_get_stats();
        CHECK(b.num_allocs == a.num_allocs && b.num_frees == a.num_frees);
        CHECK(b.num_bytes_allocated == a.num_bytes_allocated);
    }
    {
        keel_stats end = keel_get_stats();
        CHECK(end.num_bytes_allocated == start.num_bytes_allocated);
        CHECK(end.num_live_blocks == start.num_live_blocks);
    }
}

/* Many blocks of mixed sizes alive at once: the sum is exact and returns. */
static void test_many_mixed(void) {
    enum { COUNT = 5000 };
    static void* p[COUNT];
    keel_stats s0 = keel_get_stats(), s1;
    size_t sum = 0;
    unsigned rng = 12345;
    int i;
    for (i = 0; i < COUNT; i++) {
        size_t n = ht_rand(&rng) % (i % 50 == 0 ? 200000u : 2000u);
        p[i] = keel_alloc(n);
        CHECK(p[i] != NULL);
        sum += keel_usable_size(p[i]);
    }
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated - s0.num_bytes_allocated == sum);
    CHECK(s1.num_live_blocks - s0.num_live_blocks == COUNT);
    check_virtual_figures("many mixed blocks alive");
    for (i = 0; i < COUNT; i += 2) {   /* every other one, then the rest in reverse */
        sum -= keel_usable_size(p[i]);
        keel_free(p[i]);
    }
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated - s0.num_bytes_allocated == sum);
    for (i = COUNT - 1; i >= 0; i -= 2) keel_free(p[i]);
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    CHECK(s1.num_frees - s0.num_frees == COUNT);
}

/* ---- a free counts when it happens, whichever thread makes it ---- */

enum { XCOUNT = 300 };

typedef struct blocks {
    void* p[XCOUNT];
    size_t usable_sum;
} blocks;

static void free_all(void* arg) {
    blocks* b = (blocks*)arg;
    int i;
    for (i = 0; i < XCOUNT; i++) keel_free(b->p[i]);
}

static void alloc_all(void* arg) {
    blocks* b = (blocks*)arg;
    int i;
    b->usable_sum = 0;
    for (i = 0; i < XCOUNT; i++) {
        b->p[i] = keel_alloc((size_t)(i % 3 == 0 ? 24 : i % 3 == 1 ? 700 : 20000));
        b->usable_sum += keel_usable_size(b->p[i]);
    }
}

static void test_cross_thread(void) {
    static blocks b;
    keel_stats s0 = keel_get_stats(), s1;
    shim_thread t;
    shim_start st;
    int i;
    /* main allocates, another thread frees: counted by the time join returns */
    b.usable_sum = 0;
    for (i = 0; i < XCOUNT; i++) {
        b.p[i] = keel_alloc((size_t)(16 + i * 8));
        b.usable_sum += keel_usable_size(b.p[i]);
    }
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated - s0.num_bytes_allocated == b.usable_sum);
    st.fn = free_all;
    st.arg = &b;
    if (!shim_create(&t, &st)) { CHECK(!"thread created"); return; }
    shim_join(t);
    s1 = keel_get_stats();
    CHECK_NOTE(s1.num_bytes_allocated == s0.num_bytes_allocated, "a free by another thread was not counted");
    CHECK(s1.num_frees - s0.num_frees == XCOUNT);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);

    /* a thread allocates and exits: its blocks stay counted until main frees them */
    st.fn = alloc_all;
    if (!shim_create(&t, &st)) { CHECK(!"thread created"); return; }
    shim_join(t);
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated - s0.num_bytes_allocated == b.usable_sum);
    CHECK(s1.num_live_blocks - s0.num_live_blocks == XCOUNT);
    check_virtual_figures("blocks of an exited thread alive");
    free_all(&b);
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
}

/* With nothing live, trim gives back what is cached and the figure falls. */
static void test_trim_figures(void) {
    enum { COUNT = 20000 };
    static void* p[COUNT];
    keel_stats before, after;
    size_t given;
    int i;
    for (i = 0; i < COUNT; i++) {
        p[i] = keel_alloc((size_t)(32 + (i % 16) * 48));
        if (p[i]) memset(p[i], 1, 32);
    }
    for (i = 0; i < 4; i++) {
        void* big = keel_alloc((size_t)(i + 1) * 3 * HT_MIB);
        if (big) memset(big, 1, HT_MIB);
        keel_free(big);
    }
    for (i = 0; i < COUNT; i++) keel_free(p[i]);
    before = keel_get_stats();
    given = keel_trim();
    after = keel_get_stats();
    ht_print_stats(NAME, "before trim", before);
    ht_print_stats(NAME, "after trim", after);
    printf(NAME ": keel_trim gave back %lu bytes\n", (unsigned long)given);
    if (before.cached_bytes > 0) {
        CHECK_NOTE(given > 0, "something was cached but trim gave nothing back");
        CHECK_NOTE(after.virtual_memory_size < before.virtual_memory_size, "trim of cached memory: virtual size did not fall");
    }
    CHECK(after.virtual_memory_size <= before.virtual_memory_size);
    CHECK(after.num_bytes_allocated == before.num_bytes_allocated);
    CHECK(after.peak_virtual_memory_size >= before.virtual_memory_size);
    check_virtual_figures("after trim");
}

/* 1,000,000 live 16-byte blocks cost at most 1.25 times their size. */
static void test_small_block_cost(void) {
    enum { COUNT = 1000000 };
    void** p = (void**)malloc(COUNT * sizeof(void*));   /* the C heap: not counted by keel */
    keel_stats before, after;
    size_t usable_sum = 0, grown;
    long i;
    double ratio;
    CHECK(p != NULL);
    if (!p) return;
    (void)keel_trim();   /* cached memory would hide the growth */
    before = keel_get_stats();
    for (i = 0; i < COUNT; i++) {
        p[i] = keel_alloc(16);
        if (!p[i]) break;
        *(volatile char*)p[i] = 1;
        usable_sum += keel_usable_size(p[i]);
    }
    CHECK(i == COUNT);
    after = keel_get_stats();
    grown = after.virtual_memory_size - before.virtual_memory_size;
    ratio = usable_sum ? (double)grown / (double)usable_sum : 0.0;
    printf(NAME ": %ld live 16-byte blocks: usable %lu bytes, virtual memory grew %lu bytes: ratio %.3f "
           "(%.3f of the 16,000,000 asked)\n",
           i, (unsigned long)usable_sum, (unsigned long)grown, ratio, (double)grown / 16e6);
#if KEEL_HARDENED
    /* the hardened build's canary takes 8 bytes of each block (harden.h):
       a 16-byte request takes a 32-byte block; the same bound on that */
    CHECK_NOTE((double)grown <= 1.25 * 2 * (double)usable_sum, "1M live 16-byte blocks cost more than 1.25x their blocks");
#else
    CHECK_NOTE((double)grown <= 1.25 * (double)usable_sum, "1M live 16-byte blocks cost more than 1.25x");
#endif
    CHECK(after.num_bytes_allocated - before.num_bytes_allocated == usable_sum);
    CHECK(after.virtual_memory_size >= after.num_bytes_allocated);
    while (--i >= 0) keel_free(p[i]);
    free(p);
    after = keel_get_stats();
    CHECK(after.num_bytes_allocated == before.num_bytes_allocated);
    CHECK(after.num_live_blocks == before.num_live_blocks);
}

int main(void) {
    keel_stats s0 = keel_get_stats(), s1;
    ht_unbuffered();
    ht_print_stats(NAME, "start", s0);
    check_virtual_figures("start");
    test_exact_per_call();
    test_many_mixed();
    test_cross_thread();
    test_trim_figures();
    test_small_block_cost();
    s1 = keel_get_stats();
    ht_print_stats(NAME, "end", s1);
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    CHECK(s1.peak_virtual_memory_size >= s0.peak_virtual_memory_size);
    check_virtual_figures("end");
    keel_validate();
    return check_done(NAME);
}
