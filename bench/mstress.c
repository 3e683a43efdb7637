/* mstress.c — a mix of lifetimes with blocks moving between threads. Model:
   mstress from mimalloc-bench (Leijen), itself after the stress tests of
   Hoard: in every round THREADS fresh threads run a random program of
   allocations over a private set of slots (long-lived blocks), short-lived
   temporaries freed at once, and swaps with a set of slots shared by all
   threads, so that a block allocated by one thread is later freed by
   another, often after its allocating thread has exited. A few blocks are
   large (up to 256 KiB). At the end of a round a thread frees half of its
   private slots and leaves the rest for the next round's thread.
   Stresses: remote frees, abandoned heaps and their reclamation, fragmentation
   across size classes, and the memory held by all that (peak RSS).
   Fixed work: ROUNDS x THREADS x STEPS steps.
   Usage: mstress THREADS SCALE */
#include "bench.h"

#include <stdatomic.h>

#define MS_ROUNDS 10
#define MS_PRIVATE 2000    /* slots per thread, kept across rounds */
#define MS_SHARED 4096     /* slots every thread swaps with */

static _Atomic(void*) ms_shared[MS_SHARED];

typedef struct ms_thread {
    pthread_t id;
    void* slot[MS_PRIVATE];
    bench_rng rng;
    size_t steps;
} ms_thread;

static size_t ms_size(bench_rng* r) {
    uint64_t x = bench_rand(r) % 1000;
    if (x < 900) return bench_range(r, 8, 128);
    if (x < 995) return bench_log_range(r, 128, 8192);
    return bench_log_range(r, 8192, 262144);
}

static void* ms_alloc(bench_rng* r) {
    size_t sz = ms_size(r);
    void* p = bench_malloc(sz);
    bench_touch(p, sz);
    return p;
}

static void* ms_run(void* arg) {
    ms_thread* t = (ms_thread*)arg;
    bench_rng* r = &t->rng;
    size_t s, i;
    for (s = 0; s < t->steps; s++) {
        uint64_t x = bench_rand(r) % 100;
        size_t k = (size_t)(bench_rand(r) % MS_PRIVATE);
        if (x < 40) {                       /* replace a long-lived block */
            free(t->slot[k]);
            t->slot[k] = ms_alloc(r);
        } else if (x < 50) {                /* a long-lived block dies */
            free(t->slot[k]);
            t->slot[k] = NULL;
        } else if (x < 60) {                /* swap with another thread's */
            size_t g = (size_t)(bench_rand(r) % MS_SHARED);
            if (!t->slot[k]) t->slot[k] = ms_alloc(r);
            t->slot[k] = atomic_exchange(&ms_shared[g], t->slot[k]);
        } else {                            /* temporaries, freed at once */
            void* tmp[4];
            size_t n = 1 + (size_t)(x & 3);
            for (i = 0; i < n; i++) tmp[i] = ms_alloc(r);
            for (i = n; i-- > 0;) free(tmp[i]);
        }
    }
    for (i = 0; i < MS_PRIVATE; i += 2) {
        free(t->slot[i]);
        t->slot[i] = NULL;
    }
    return NULL;
}

int main(int argc, char** argv) {
    bench_args a = bench_parse(argc, argv, NULL);
    ms_thread* th = (ms_thread*)bench_malloc((size_t)a.threads * sizeof *th);
    int round, i;
    size_t k;
    memset(th, 0, (size_t)a.threads * sizeof *th);
    for (i = 0; i < a.threads; i++) {
        th[i].rng = bench_rng_seed((uint64_t)i + 31);
        th[i].steps = bench_scaled(800000, a.scale, 1000);
    }
    for (round = 0; round < MS_ROUNDS; round++) {
        for (i = 0; i < a.threads; i++) bench_start(&th[i].id, ms_run, &th[i]);
        for (i = 0; i < a.threads; i++) bench_join(th[i].id);
    }
    for (i = 0; i < a.threads; i++)
        for (k = 0; k < MS_PRIVATE; k++) free(th[i].slot[k]);
    for (k = 0; k < MS_SHARED; k++) free(atomic_load(&ms_shared[k]));
    free(th);
    return 0;
}
