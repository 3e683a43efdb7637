/* free_malloc.c — keel_free of a block from the C heap (malloc): reported,
   not aborted, the malloc block untouched, and the heap unchanged. */
#include "death_common.h"

int main(void) {
    unsigned char* m = (unsigned char*)malloc(200);
    void* keep = keel_alloc(24);
    keel_stats before;
    int i, intact = 1;
    if (!m) { printf("FAIL malloc\n"); return 1; }
    memset(m, 0x77, 200);
    before = keel_get_stats();
    death_expect("free", m);
    keel_free(death_launder(m));
    for (i = 0; i < 200; i++) intact &= m[i] == 0x77;
    death_check(intact, "keel_free wrote into the malloc block");
    free(m);   /* still the C heap's */
    {
        int rc = death_heap_still_works(before);
        keel_free(keep);
        return rc;
    }
}
