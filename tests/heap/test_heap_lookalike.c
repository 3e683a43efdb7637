/* test_heap_lookalike.c — live blocks whose first two words happen to look
   like a free block's (a link and its check word, src/block_check.h) are
   freed normally by their own thread: the owner's list scan finds them on
   no list, so the cheap test's alarm costs a scan and nothing else; the
   heap stays consistent and hands the blocks out again. White box: the
   link's and check word's formula come from src/annotate.h. */
#include "annotate.h"
#include "harden.h"
#include "keel/keel.h"
#include "check.h"

#include <stdio.h>
#include <string.h>

#define NAME "test_heap_lookalike"

/* Makes the live block p look free, its link being next. */
static void look_free(void* p, void* next) {
    uintptr_t* w = (uintptr_t*)p;
    uintptr_t key = keel__link_key((keel_block*)p);   /* the hardened build's page secret; else 0 */
    w[0] = (uintptr_t)keel__link_code((keel_block*)next, key);
    w[1] = keel__link_check_of((keel_block*)p, (keel_block*)next);
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
    /* the blocks come back, as ordinary ones (the hardened build's
       quarantine holds them until it is emptied, and its page's blocks
       carved but never handed out come first: up to 256) */
#if KEEL_HARDENED
    keel__harden_quarantine_flush(keel__tls_heap);
#endif
    {
        enum { AGAIN = (KEEL_HARDENED ? 320 : 4) * N };
        static void* again[AGAIN];
        int k;
        for (k = 0; k < AGAIN && back < N; k++) {
            again[k] = keel_alloc(64);
            CHECK(again[k] != NULL);
            for (i = 0; i < N; i++) back += again[k] == b[i];
            if (again[k]) memset(again[k], 0x3C, 64);
        }
        keel_validate();
        while (k-- > 0) keel_free(again[k]);
    }
    CHECK(back == N);
    keel_validate();
    printf(NAME ": %d of %d lookalike blocks handed out again\n", back, N);
    return check_done(NAME);
}
