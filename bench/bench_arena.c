/* bench_arena.c — arenas against malloc for bump-style use: many small
   blocks of mixed sizes made one after another, then all dropped at once
   (arena: keel_arena_clear; malloc: free of each). Modelled on the
   "region vs malloc" comparisons of Hanson's arena paper and Lua's lmem
   tests; it stresses the allocation fast path and bulk release.
   Prints wall time per block for each; lower is better. */
#define _DEFAULT_SOURCE
#include "keel/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t size_of(size_t i) { return 8 + (i * 2654435761u >> 7) % 249; }  /* 8..256 bytes */

int main(int argc, char** argv) {
    size_t blocks = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 20, r;
    void** ptrs = (void**)malloc(blocks * sizeof *ptrs);
    keel_arena arena;
    double t0, t_arena, t_malloc;
    size_t i;
    unsigned long sink = 0;
    if (!ptrs || !keel_arena_init(&arena, (size_t)1 << 30)) { fprintf(stderr, "bench_arena: setup failed\n"); return 1; }

    t0 = now_s();
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < blocks; i++) {
            char* p = (char*)keel_arena_push(&arena, size_of(i), 16);
            if (!p) { fprintf(stderr, "bench_arena: arena full\n"); return 1; }
            p[0] = (char)i;
            sink += (unsigned char)p[0];
        }
        keel_arena_clear(&arena);
    }
    t_arena = now_s() - t0;

    t0 = now_s();
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < blocks; i++) {
            char* p = (char*)malloc(size_of(i));
            if (!p) { fprintf(stderr, "bench_arena: malloc failed\n"); return 1; }
            p[0] = (char)i;
            sink += (unsigned char)p[0];
            ptrs[i] = p;
        }
        for (i = 0; i < blocks; i++) free(ptrs[i]);
    }
    t_malloc = now_s() - t0;

    keel_arena_release(&arena);
    free(ptrs);
    printf("workload,allocator,wall_s,ns_per_block\n");
    printf("arena_bump,keel_arena,%.4f,%.2f\n", t_arena, t_arena * 1e9 / ((double)blocks * rounds));
    printf("arena_bump,malloc,%.4f,%.2f\n", t_malloc, t_malloc * 1e9 / ((double)blocks * rounds));
    printf("# %zu blocks x %d rounds, 8-256 bytes; keel_arena / malloc time = %.3f (checksum %lu)\n",
           blocks, rounds, t_arena / t_malloc, sink);
    return 0;
}
