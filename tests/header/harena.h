/* harena.h — calls into libkeel's arena through arena.h, with vmem's
   counters as the witness. Include after keel/arena.h, keel/vmem.h and
   hcheck.h. */
#ifndef KEEL_HARENA_H
#define KEEL_HARENA_H

#include <string.h>

static inline void harena_exercise(void) {
    const size_t mib = (size_t)1 << 20;
    const size_t gran = vmem_get_page_info().alloc_alignment;
    const vmem_usage before = vmem_get_usage_summary();
    keel_arena arena;
    char* a;
    char* z;
    size_t i;
    int zero = 1;

    CHECK(keel_arena_init(&arena, mib));
    CHECK(arena.base != NULL);
    CHECK(vmem_get_usage_summary().reserved_bytes
          == before.reserved_bytes + (size_t)vmem_align_forward((uintptr_t)mib, gran));
    CHECK(keel_arena_pos(&arena) == 0);

    a = (char*)keel_arena_push(&arena, 100, 16);
    CHECK(a != NULL);
    if (a == NULL) return;
    CHECK(((uintptr_t)a & 15) == 0);
    memset(a, 0x77, 100);
    CHECK(a[99] == 0x77);
    CHECK(keel_arena_pos(&arena) == 100);

    z = (char*)keel_arena_push_zero(&arena, 64, 8);
    CHECK(z != NULL);
    if (z != NULL) {
        CHECK(((uintptr_t)z & 7) == 0);
        for (i = 0; i < 64; i++)
            if (z[i] != 0) zero = 0;
        CHECK(zero);
    }

    CHECK(keel_arena_push(&arena, 8, 3) == NULL);          /* bad alignment */
    CHECK(keel_arena_push(&arena, 2 * mib, 8) == NULL);    /* beyond the reservation */
    keel_arena_pop_to(&arena, 100);
    CHECK(keel_arena_pos(&arena) == 100);
    keel_arena_clear(&arena);
    CHECK(keel_arena_pos(&arena) == 0);

    keel_arena_release(&arena);
    CHECK(arena.base == NULL);
    CHECK(vmem_get_usage_summary().reserved_bytes == before.reserved_bytes);
    CHECK(vmem_get_usage_summary().committed_bytes == before.committed_bytes);
}

#endif /* KEEL_HARENA_H */
