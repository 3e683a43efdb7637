/* free_stack.c — keel_free of a stack address: reported, not aborted, and
   the heap unchanged. */
#include "death_common.h"

int main(void) {
    char local[64];
    keel_stats before;
    void* bad;
    keel_free(keel_alloc(100));   /* the heap is set up before the bad call */
    before = keel_get_stats();
    bad = death_launder(local + 16);
    death_expect("free", bad);
    keel_free(bad);
    return death_heap_still_works(before);
}
