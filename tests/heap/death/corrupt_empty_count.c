/* corrupt_empty_count.c — the heap's count of empty committed memory
   (keel_theap.empty_cached_bytes) disagrees with its segments' slots:
   keel_validate must recompute it and abort with "keel: heap corruption:
   ...". White box: it reaches the heap through internal.h. */
#include "death_common.h"
#include "internal.h"

int main(void) {
    enum { N = 64 };
    void* b[N];
    int i;
    for (i = 0; i < N; i++) {   /* blocks of several classes: several pages, some emptied below */
        b[i] = keel_alloc((size_t)(16 + (i % 8) * 512));
        if (!b[i]) { printf("FAIL keel_alloc\n"); return 1; }
    }
    for (i = 0; i < N; i++) if (i % 8 != 0) keel_free(b[i]);
    keel_validate();   /* healthy so far: this must return */
    printf("healthy heap validated\n");
    keel__tls_heap->empty_cached_bytes += 4096;
    fflush(stdout);
    keel_validate();
    printf("validate returned\n");
    return 3;
}
