/* realloc_foreign.c — keel_realloc of a malloc()ed block: reported, NULL
   returned, the block untouched, the heap unchanged. */
#include "death_common.h"

#include <errno.h>

int main(void) {
    unsigned char* m = (unsigned char*)malloc(64);
    keel_stats before;
    void* r;
    int i, intact = 1;
    if (!m) { printf("FAIL malloc\n"); return 1; }
    memset(m, 0x33, 64);
    before = keel_get_stats();
    death_expect("realloc", m);
    r = keel_realloc(death_launder(m), 1000);
    death_check(r == NULL, "keel_realloc of a foreign pointer did not return NULL");
    for (i = 0; i < 64; i++) intact &= m[i] == 0x33;
    death_check(intact, "keel_realloc changed the foreign block");
    free(m);
    before.num_allocs = keel_get_stats().num_allocs;   /* whether a refused realloc counts is not the point */
    return death_heap_still_works(before);
}
