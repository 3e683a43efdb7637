/* cache.c — false sharing caused by the allocator. Model: cache-scratch and
   cache-thrash from Berger et al.'s Hoard suite (ASPLOS 2000).
     scratch  passive: the main thread allocates one small block per thread,
              side by side, and hands one to each thread, which frees it and
              then allocates, writes and frees small blocks over and over.
              An allocator that gives a thread back the block it was handed
              (or its neighbours) makes threads write to one cache line.
     thrash   active: every thread allocates, writes and frees small blocks
              at the same time; an allocator that serves them from one page
              puts different threads' blocks on one cache line.
   The writes dominate; what differs is whether they hit a shared line.
   Fixed work: THREADS x ITER blocks x REPS writes each.
   Usage: cache THREADS SCALE scratch|thrash */
#include "bench.h"

#define CACHE_OBJ 8
#define CACHE_ITER 1000
#define CACHE_REPS 150000    /* writes of each block, full scale */

typedef struct cache_thread {
    pthread_t id;
    char* handed;       /* scratch: the block from the main thread, or NULL */
    size_t reps;
    char pad[64];
} cache_thread;

static void* cache_run(void* arg) {
    cache_thread* t = (cache_thread*)arg;
    size_t i, r;
    free(t->handed);
    for (i = 0; i < CACHE_ITER; i++) {
        volatile char* p = (volatile char*)bench_malloc(CACHE_OBJ);
        for (r = 0; r < t->reps; r++) {
            int j;
            for (j = 0; j < CACHE_OBJ; j++) p[j] = (char)(p[j] + 1);
        }
        free((void*)p);
    }
    return NULL;
}

int main(int argc, char** argv) {
    bench_args a = bench_parse(argc, argv, " scratch|thrash");
    cache_thread* th = (cache_thread*)bench_malloc((size_t)a.threads * sizeof *th);
    int scratch, i;
    if (!a.mode || (strcmp(a.mode, "scratch") && strcmp(a.mode, "thrash"))) bench_fail("cache: mode is scratch or thrash");
    scratch = a.mode[0] == 's';
    for (i = 0; i < a.threads; i++) {
        th[i].handed = scratch ? (char*)bench_malloc(CACHE_OBJ) : NULL;
        if (th[i].handed) bench_touch(th[i].handed, CACHE_OBJ);
        th[i].reps = bench_scaled(CACHE_REPS, a.scale, 1);
    }
    for (i = 0; i < a.threads; i++) bench_start(&th[i].id, cache_run, &th[i]);
    for (i = 0; i < a.threads; i++) bench_join(th[i].id);
    free(th);
    return 0;
}
