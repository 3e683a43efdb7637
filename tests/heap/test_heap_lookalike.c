/* test_heap_lookalike.c — live blocks whose first two words happen to look
   like a free block's (a link and its check word, src/block_check.h) are
   freed normally by their own thread: the owner's list scan finds them on
   no list, so the cheap test's alarm costs a scan and nothing else; the
   heap stays consistent and hands the blocks out again. White box: the
   check word's formula comes from src/internal.h. */
#include "internal.h"
#include "keel/keel.h"
#include "check.h"

#include <stdio.h>
#include <string.h>

#define NAME "test_heap_lookalike"

/* Makes the live block p look free, its link being next. */
static void look_free(void* p, void* next) {
    uintptr_t* w = (uintptr_t*)p;
    w[0] = (uintptr_t)next;
    w[1] = (uintptr_t)next ^ (uintptr_t)p ^ KEEL_LINK_SALT;
}

int main(void) {
    enum { N = 64 };
    void* b[N];
    keel_stats s0, s1;
    int i, back = 0;
    s0 = keel_get_stats();
    for (i = 0; i < N; i++) {
        b[i] = keel_alloc(64);
        CHECK(b[i] != NULL);
    }
    /* half look like the end of a list, half like a link to a block of the
       same page (a live one: b[i + 1]) */
    for (i = 0; i < N; i += 2) look_free(b[i], NULL);
    for (i = 1; i + 1 < N; i += 2) look_free(b[i], b[i + 1]);
    for (i = 0; i < N; i++) keel_free(b[i]);   /* none of these may abort */
    keel_validate();
    s1 = keel_get_stats();
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    /* the blocks come back, as ordinary ones */
    {
        void* again[4 * N];
        int k;
        for (k = 0; k < 4 * N; k++) {
            again[k] = keel_alloc(64);
            CHECK(again[k] != NULL);
            for (i = 0; i < N; i++) back += again[k] == b[i];
            if (again[k]) memset(again[k], 0x3C, 64);
        }
        keel_validate();
        for (k = 0; k < 4 * N; k++) keel_free(again[k]);
    }
    CHECK(back == N);
    keel_validate();
    printf(NAME ": %d of %d lookalike blocks handed out again\n", back, N);
    return check_done(NAME);
}
