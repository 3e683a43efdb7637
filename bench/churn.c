/* churn.c — thread churn: threads created and destroyed over and over, each
   allocating a little. Model: threadtest from Berger et al.'s Hoard suite,
   which creates its threads anew for every iteration, cut down to what a
   thread pool that keeps spawning short tasks does (DESIGN.md section 9).
   A generation is THREADS threads; each allocates 64 blocks (16..512
   bytes), frees 48 of them, and leaves 16 on a shared list that the next
   generation's threads free, after their allocating thread has exited.
   Stresses: thread heap set-up and tear-down, blocks outliving their thread,
   the memory each new thread costs (peak RSS).
   Fixed work: GENERATIONS x THREADS threads.
   Usage: churn THREADS SCALE */
#include "bench.h"

#define CH_BLOCKS 64
#define CH_LEFT 16

typedef struct ch_thread {
    pthread_t id;
    int index;
    void* left[CH_LEFT];   /* left by this thread's predecessor, freed here */
    void* keep[CH_LEFT];   /* left by this thread for its successor */
} ch_thread;

static void* ch_run(void* arg) {
    ch_thread* t = (ch_thread*)arg;
    bench_rng r = bench_rng_seed((uint64_t)(uintptr_t)t ^ (uint64_t)t->index);
    void* p[CH_BLOCKS];
    size_t i;
    for (i = 0; i < CH_LEFT; i++) free(t->left[i]);
    for (i = 0; i < CH_BLOCKS; i++) {
        size_t sz = bench_range(&r, 16, 512);
        p[i] = bench_malloc(sz);
        bench_touch(p[i], sz);
    }
    for (i = 0; i < CH_BLOCKS - CH_LEFT; i++) free(p[i]);
    for (i = 0; i < CH_LEFT; i++) t->keep[i] = p[CH_BLOCKS - CH_LEFT + i];
    return NULL;
}

int main(int argc, char** argv) {
    bench_args a = bench_parse(argc, argv, NULL);
    ch_thread* th = (ch_thread*)bench_malloc((size_t)a.threads * sizeof *th);
    size_t gens = bench_scaled(10000, a.scale, 10), g, i;
    int k;
    memset(th, 0, (size_t)a.threads * sizeof *th);
    for (g = 0; g < gens; g++) {
        for (k = 0; k < a.threads; k++) {
            th[k].index = k;
            memcpy(th[k].left, th[(k + 1) % a.threads].keep, sizeof th[k].left);
        }
        for (k = 0; k < a.threads; k++) memset(th[k].keep, 0, sizeof th[k].keep);
        for (k = 0; k < a.threads; k++) bench_start(&th[k].id, ch_run, &th[k]);
        for (k = 0; k < a.threads; k++) bench_join(th[k].id);
    }
    for (k = 0; k < a.threads; k++)
        for (i = 0; i < CH_LEFT; i++) free(th[k].keep[i]);
    free(th);
    return 0;
}
