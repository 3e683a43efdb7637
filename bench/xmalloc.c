/* xmalloc.c — producer/consumer: every block is freed by a thread other than
   the one that allocated it. Model: xmalloc-test (Lever and Boreham,
   "malloc() Performance in a Multithreaded Linux Environment", USENIX 2000),
   as in mimalloc-bench: threads in a ring, each allocating batches of blocks
   (8..512 bytes) and handing them to the next thread, which frees them.
   Stresses: remote frees (the freeing thread never owns the page), their
   hand-back to the owning thread, and memory held on the way.
   A thread that finds its successor's queue full frees its own queue while
   it waits, so the ring always moves and live memory stays bounded.
   Fixed work: 32 million x SCALE blocks, shared by max(2, THREADS) threads.
   Usage: xmalloc THREADS SCALE */
#include "bench.h"

#include <sched.h>
#include <stdatomic.h>

#define XM_BATCH 128       /* pointers per hand-over */
#define XM_QUEUE_MAX 16    /* batches a queue holds; a producer finding it full waits */

typedef struct xm_batch {
    size_t n;
    void* p[XM_BATCH];
} xm_batch;

/* One producer (the previous thread in the ring), one consumer (the owner):
   a lock-free ring of batches, so that no thread ever sleeps on a lock and
   both cores stay busy; waiting is yielding while freeing. */
typedef struct xm_queue {
    _Alignas(64) atomic_size_t a_head;   /* next to take; written by the consumer */
    _Alignas(64) atomic_size_t a_tail;   /* next free slot; written by the producer */
    xm_batch* slot[XM_QUEUE_MAX];
} xm_queue;

typedef struct xm_thread {
    int index;
    size_t blocks;
    pthread_t id;
} xm_thread;

static int xm_threads;
static xm_queue* xm_queues;
static atomic_size_t a_xm_blocks_left;  /* blocks not yet freed, all threads */

/* 0 when the queue is full. */
static int xm_push(xm_queue* q, xm_batch* b) {
    size_t t = atomic_load_explicit(&q->a_tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&q->a_head, memory_order_acquire) == XM_QUEUE_MAX) return 0;
    q->slot[t % XM_QUEUE_MAX] = b;
    atomic_store_explicit(&q->a_tail, t + 1, memory_order_release);
    return 1;
}

/* Frees everything queued for this thread; returns the blocks freed. */
static size_t xm_drain(xm_queue* q) {
    size_t h = atomic_load_explicit(&q->a_head, memory_order_relaxed), freed = 0, i;
    size_t t = atomic_load_explicit(&q->a_tail, memory_order_acquire);
    for (; h != t; h++) {
        xm_batch* b = q->slot[h % XM_QUEUE_MAX];
        for (i = 0; i < b->n; i++) free(b->p[i]);
        freed += b->n;
        free(b);
        atomic_store_explicit(&q->a_head, h + 1, memory_order_release);
    }
    if (freed) atomic_fetch_sub(&a_xm_blocks_left, freed);
    return freed;
}

static void* xm_run(void* arg) {
    xm_thread* t = (xm_thread*)arg;
    xm_queue* mine = &xm_queues[t->index];
    xm_queue* next = &xm_queues[(t->index + 1) % xm_threads];
    bench_rng rng = bench_rng_seed((uint64_t)t->index + 7);
    size_t made = 0, n, i;
    xm_batch* b = NULL;
    while (made < t->blocks) {
        xm_drain(mine);
        if (!b) {
            b = (xm_batch*)bench_malloc(sizeof *b);
            b->n = t->blocks - made < XM_BATCH ? t->blocks - made : XM_BATCH;
            for (i = 0; i < b->n; i++) {
                size_t sz = bench_range(&rng, 8, 512);
                b->p[i] = bench_malloc(sz);
                bench_touch(b->p[i], sz);
            }
        }
        n = b->n;   /* before the push: the consumer may free b at once */
        if (!xm_push(next, b)) { sched_yield(); continue; }
        made += n;
        b = NULL;
    }
    while (atomic_load(&a_xm_blocks_left) > 0)
        if (xm_drain(mine) == 0) sched_yield();
    return NULL;
}

int main(int argc, char** argv) {
    bench_args a = bench_parse(argc, argv, NULL);
    xm_thread* th;
    int i;
    xm_threads = a.threads < 2 ? 2 : a.threads;
    xm_queues = (xm_queue*)aligned_alloc(64, (size_t)xm_threads * sizeof *xm_queues);
    if (!xm_queues) bench_fail("aligned_alloc failed");
    th = (xm_thread*)bench_malloc((size_t)xm_threads * sizeof *th);
    for (i = 0; i < xm_threads; i++) {
        atomic_init(&xm_queues[i].a_head, 0);
        atomic_init(&xm_queues[i].a_tail, 0);
        th[i].index = i;
        th[i].blocks = bench_scaled(32000000.0 / xm_threads, a.scale, XM_BATCH);
    }
    atomic_init(&a_xm_blocks_left, th[0].blocks * (size_t)xm_threads);
    for (i = 0; i < xm_threads; i++) bench_start(&th[i].id, xm_run, &th[i]);
    for (i = 0; i < xm_threads; i++) bench_join(th[i].id);
    free(th);
    free(xm_queues);
    return 0;
}
