/* corrupt_free_list.c — a freed small block whose link word (its first
   pointer-sized bytes) is overwritten while it sits on a free list:
   keel_validate must abort with "keel: heap corruption: ...". */
#include "death_common.h"

#include <stdint.h>

int main(void) {
    enum { N = 16 };
    unsigned char* b[N];
    int i;
    for (i = 0; i < N; i++) {
        b[i] = (unsigned char*)keel_alloc(48);
        if (!b[i]) { printf("FAIL keel_alloc\n"); return 1; }
    }
    keel_validate();   /* healthy so far: this must return */
    printf("healthy heap validated\n");
    keel_free(b[3]);
    keel_free(b[5]);
    keel_free(b[7]);
    keel_free(b[9]);
#if KEEL_HARDENED
    (void)keel_trim();   /* out of the hardened build's quarantine, onto the free lists */
#endif
    death_scribble(b[5], 0x41, sizeof(void*));   /* 0x4141414141414141 or 0x41414141 */
    fflush(stdout);
    keel_validate();
    printf("validate returned\n");
    return 3;
}
