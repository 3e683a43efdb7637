/* larson.c — a server simulation. Model: Larson and Krishnan's benchmark
   ("Memory allocation for long-running server applications", ISMM 1998), as
   run in the Hoard and mimalloc-bench suites: each thread owns an array of
   slots and over and over frees a random slot and puts a block of a random
   size (8..1000 bytes) in its place; when a thread has done its share of a
   round it starts a successor that takes over its array and exits. The main
   thread fills the arrays first, so the first frees are cross-thread, and
   every successor frees its predecessor's blocks after that thread is gone.
   Stresses: steady-state replacement at a fixed live size, thread exit and
   hand-over of a heap's blocks, frees of blocks of a dead thread.
   Fixed work: THREADS chains x ROUNDS rounds x OPS replacements.
   Usage: larson THREADS SCALE */
#include "bench.h"

#include <semaphore.h>

#define LARSON_SLOTS 4000
#define LARSON_MIN 8
#define LARSON_MAX 1000
#define LARSON_ROUNDS 20

typedef struct larson_chain {
    void* slot[LARSON_SLOTS];
    bench_rng rng;
    size_t ops;         /* replacements per round */
    int rounds_left;    /* successors still to start */
    sem_t* done;        /* posted when the last thread of the chain ends */
} larson_chain;

static void* larson_thread(void* arg) {
    larson_chain* c = (larson_chain*)arg;
    size_t i;
    for (i = 0; i < c->ops; i++) {
        size_t k = (size_t)(bench_rand(&c->rng) % LARSON_SLOTS);
        size_t sz = bench_range(&c->rng, LARSON_MIN, LARSON_MAX);
        char* p;
        free(c->slot[k]);
        p = (char*)bench_malloc(sz);
        bench_touch(p, sz);
        c->slot[k] = p;
    }
    if (c->rounds_left-- > 0) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, larson_thread, c) != 0) bench_fail("pthread_create failed");
        pthread_attr_destroy(&attr);
    } else {
        sem_post(c->done);
    }
    return NULL;
}

int main(int argc, char** argv) {
    bench_args a = bench_parse(argc, argv, NULL);
    larson_chain* chains = (larson_chain*)bench_malloc((size_t)a.threads * sizeof *chains);
    sem_t done;
    int t;
    size_t i;
    sem_init(&done, 0, 0);
    for (t = 0; t < a.threads; t++) {
        larson_chain* c = &chains[t];
        c->rng = bench_rng_seed((uint64_t)t + 100);
        c->ops = bench_scaled(1000000, a.scale, 1000);
        c->rounds_left = LARSON_ROUNDS - 1;
        c->done = &done;
        for (i = 0; i < LARSON_SLOTS; i++) {
            size_t sz = bench_range(&c->rng, LARSON_MIN, LARSON_MAX);
            c->slot[i] = bench_malloc(sz);
            bench_touch(c->slot[i], sz);
        }
    }
    for (t = 0; t < a.threads; t++) {
        pthread_t id;
        bench_start(&id, larson_thread, &chains[t]);
        pthread_detach(id);
    }
    for (t = 0; t < a.threads; t++) while (sem_wait(&done) != 0) {}
    for (t = 0; t < a.threads; t++)
        for (i = 0; i < LARSON_SLOTS; i++) free(chains[t].slot[i]);
    free(chains);
    return 0;
}
