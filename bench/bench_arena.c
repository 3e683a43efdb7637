/* bench_arena.c — arenas against malloc for bump-style use: many small
   blocks of mixed sizes made one after another, then all dropped at once
   (arena: keel_arena_clear; malloc: free of each). Modelled on the
   "region vs malloc" comparisons of Hanson's arena paper and Lua's lmem
   tests; it stresses the allocation fast path and bulk release.
   Prints wall time per block for each; lower is better.
   Usage: bench_arena [BLOCKS [ROUNDS [both|arena|malloc]]]; `make bench`
   runs the malloc half under each allocator (LD_PRELOAD) and the arena
   half once, as the workload "bump" (bench/run.sh). */
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

/* keel_arena_push of every block, then one clear; 0 when it failed. */
static int run_arena(size_t blocks, int rounds, double* t, unsigned long* sink) {
    keel_arena arena;
    double t0;
    size_t i;
    int r;
    if (!keel_arena_init(&arena, (size_t)1 << 30)) { fprintf(stderr, "bench_arena: setup failed\n"); return 0; }
    t0 = now_s();
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < blocks; i++) {
            char* p = (char*)keel_arena_push(&arena, size_of(i), 16);
            if (!p) { fprintf(stderr, "bench_arena: arena full\n"); return 0; }
            p[0] = (char)i;
            *sink += (unsigned char)p[0];
        }
        keel_arena_clear(&arena);
    }
    *t = now_s() - t0;
    keel_arena_release(&arena);
    return 1;
}

/* malloc of every block, then a free of each; 0 when it failed. */
static int run_malloc(size_t blocks, int rounds, double* t, unsigned long* sink) {
    void** ptrs = (void**)malloc(blocks * sizeof *ptrs);
    double t0;
    size_t i;
    int r;
    if (!ptrs) { fprintf(stderr, "bench_arena: setup failed\n"); return 0; }
    t0 = now_s();
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < blocks; i++) {
            char* p = (char*)malloc(size_of(i));
            if (!p) { fprintf(stderr, "bench_arena: malloc failed\n"); return 0; }
            p[0] = (char)i;
            *sink += (unsigned char)p[0];
            ptrs[i] = p;
        }
        for (i = 0; i < blocks; i++) free(ptrs[i]);
    }
    *t = now_s() - t0;
    free(ptrs);
    return 1;
}

int main(int argc, char** argv) {
    size_t blocks = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    const char* mode = argc > 3 ? argv[3] : "both";
    int do_arena = strcmp(mode, "malloc") != 0, do_malloc = strcmp(mode, "arena") != 0;
    double t_arena = 0, t_malloc = 0;
    unsigned long sink = 0;
    if (blocks == 0 || rounds < 1 || (!do_arena && !do_malloc) || (strcmp(mode, "both") && do_arena && do_malloc)) {
        fprintf(stderr, "usage: bench_arena [BLOCKS [ROUNDS [both|arena|malloc]]]\n");
        return 2;
    }
    if (do_arena && !run_arena(blocks, rounds, &t_arena, &sink)) return 1;
    if (do_malloc && !run_malloc(blocks, rounds, &t_malloc, &sink)) return 1;

    printf("workload,allocator,wall_s,ns_per_block\n");
    if (do_arena) printf("arena_bump,keel_arena,%.4f,%.2f\n", t_arena, t_arena * 1e9 / ((double)blocks * rounds));
    if (do_malloc) printf("arena_bump,malloc,%.4f,%.2f\n", t_malloc, t_malloc * 1e9 / ((double)blocks * rounds));
    if (do_arena && do_malloc)
        printf("# %zu blocks x %d rounds, 8-256 bytes; keel_arena / malloc time = %.3f (checksum %lu)\n",
               blocks, rounds, t_arena / t_malloc, sink);
    else
        printf("# %zu blocks x %d rounds, 8-256 bytes (checksum %lu)\n", blocks, rounds, sink);
    return 0;
}
