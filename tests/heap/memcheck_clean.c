/* memcheck_clean.c — run under Valgrind's memcheck by the test of the same
   name: keel itself raises no memcheck error. Large blocks reserved,
   decommitted and released (vmem_release's probe of the range must not make
   memcheck read inaccessible pages), small blocks, an arena, keel_trim. */
#include "keel/keel.h"
#include "keel/arena.h"
#include "keel/vmem.h"

#include <stdio.h>
#include <string.h>

int main(void) {
    int i;
    keel_arena a;
    for (i = 0; i < 24; i++) {   /* 1..24 MiB: past the large cache, so spans are released */
        char* p = (char*)keel_alloc((size_t)(i + 1) << 20);
        if (!p) return 1;
        memset(p, i, 4096);
        keel_free(p);
    }
    for (i = 0; i < 10000; i++) keel_free(keel_alloc((size_t)(16 + i % 2000)));
    if (!keel_arena_init(&a, (size_t)64 << 20) || !keel_arena_push_zero(&a, (size_t)3 << 20, 64)) return 1;
    keel_arena_release(&a);
    (void)keel_trim();
    keel_validate();
    printf("memcheck_clean: done\n");
    return 0;
}
