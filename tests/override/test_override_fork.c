/* test_override_fork.c — fork() from a multithreaded program under the
   override: threads allocate and free while the main thread forks; each
   child allocates and frees (in its own thread too), frees a block a parent
   thread allocated, and exits 0. pthread_atfork handlers, registered by a
   constructor, allocate as well: small blocks, large ones, many pages.
   alarm() turns a deadlock into a failure (per round: a guard against a
   hang, never a budget that a loaded machine could exhaust).
   Blocks are marked at their first and last byte, not filled: on a machine
   whose page faults are slow (about 19 us each under one VM kernel seen
   here) filling them made each round take seconds, the faults of the fill
   and the parent's copy-on-write ones, and none of it is about fork. */
#define _GNU_SOURCE
#include "check.h"
#include "ovr.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

enum { RING = 256, MAX_THREADS = 16 };

typedef struct worker {
    pthread_t thread;
    unsigned seed;
    void* ring[RING];
    size_t size[RING];
} worker;

static worker workers[MAX_THREADS];
static int num_workers;
static volatile int stop;
static void* atfork_block;

/* the first and the last byte of a block of n bytes */
static void mark(void* p, size_t n, int v) {
    if (!p || !n) return;
    ((unsigned char*)p)[0] = (unsigned char)v;
    ((unsigned char*)p)[n - 1] = (unsigned char)v;
}

static void* worker_main(void* arg) {
    worker* w = (worker*)arg;
    unsigned x = w->seed;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        unsigned k;
        x = x * 1664525u + 1013904223u;
        k = (x >> 10) % RING;
        /* the ring is only this thread's, but a child forked at any moment
           reads it: a slot holds NULL or a block marked and sized */
        {
            void* old = w->ring[k];
            size_t n = (x >> 20) % 32 == 0 ? (x >> 4) % 200000 : (x >> 4) % 500;
            void* p;
            __atomic_store_n(&w->ring[k], NULL, __ATOMIC_RELEASE);
            free(old);
            p = malloc(n);
            mark(p, n, (int)(k & 0xFF));
            w->size[k] = n;
            __atomic_store_n(&w->ring[k], p, __ATOMIC_RELEASE);
        }
    }
    return NULL;
}

/* The program's fork handlers, registered by a constructor before the
   program's first malloc. Besides a small block they allocate blocks that
   need keel's locks (large blocks; pages enough for a new segment): keel's
   prepare handler must run after these and its child handler before them,
   or they wait forever on a lock it took. */
enum { HANDLER_BLOCKS = 48 };
static void* handler_blocks[HANDLER_BLOCKS];
static volatile int handler_failed;

static void handler_alloc(void) {
    int i;
    for (i = 0; i < HANDLER_BLOCKS; i++) {
        size_t n = i % 8 == 0 ? ((size_t)i + 1) << 16 : (size_t)(i + 1) * 4000;
        handler_blocks[i] = malloc(n);
        if (handler_blocks[i]) mark(handler_blocks[i], n, 0x5A);
        else handler_failed = 1;
    }
}
static void handler_free(void) {
    int i;
    for (i = 0; i < HANDLER_BLOCKS; i++) { free(handler_blocks[i]); handler_blocks[i] = NULL; }
}

static void atfork_prepare(void) { atfork_block = malloc(777); handler_alloc(); }
static void atfork_parent(void) { free(atfork_block); atfork_block = NULL; handler_free(); }
static void atfork_child(void) {
    free(atfork_block);
    handler_free();
    atfork_block = malloc(333);   /* freed in child_main, with these: */
    handler_alloc();
}

static int atfork_registered;
__attribute__((constructor)) static void register_handlers(void) {
    atfork_registered = pthread_atfork(atfork_prepare, atfork_parent, atfork_child) == 0;
}

static void* child_thread(void* arg) {
    size_t i;
    void* blocks[500];
    (void)arg;
    for (i = 0; i < 500; i++) blocks[i] = malloc(i * 11);
    for (i = 0; i < 500; i++) free(blocks[i]);
    return arg;
}

/* runs in the child: returns its exit status */
static int child_main(int round) {
    void* blocks[2000];
    size_t i;
    int bad = 0;
    pthread_t t;
    void* r = NULL;
    alarm(30);
    if (handler_failed) bad++;
    handler_free();
    free(atfork_block);
    for (i = 0; i < 2000; i++) {
        blocks[i] = malloc(i % 10 == 0 ? i * 300 : i);
        if (!blocks[i] && i) bad++;
        else mark(blocks[i], i % 10 == 0 ? i * 300 : i, 7);
    }
    for (i = 0; i < 2000; i += 2) free(blocks[i]);
    /* blocks of a parent thread that does not exist here: read, then free some */
    {
        worker* w = &workers[round % num_workers];
        size_t k;
        for (k = 0; k < RING; k += 3) {
            unsigned char* p = w->ring[k];
            size_t n = w->size[k];
            if (p && n && (p[0] != (unsigned char)(k & 0xFF) || p[n - 1] != (unsigned char)(k & 0xFF))) bad++;
            free(p);
        }
    }
    if (pthread_create(&t, NULL, child_thread, blocks) != 0 || pthread_join(t, &r) != 0 || r != blocks) bad++;
    for (i = 1; i < 2000; i += 2) free(blocks[i]);
    if (ovr.usable_size(blocks[0] = malloc(100)) < 100) bad++;
    free(blocks[0]);
    ovr.validate();
    return bad ? 3 : 0;
}

int main(void) {
    int i, rounds, children_ok = 0;
    /* alarm() is a deadlock guard, not a time budget: it is re-armed for
       each round, so a slow machine (a round takes about 0.2 s unloaded,
       seconds under heavy load) never reaches it, and a hang still does */
    alarm(60);
    if (!CHECK_NOTE(ovr_resolve(), "keel_* not found: run under LD_PRELOAD=libkeel-override.so (or link libkeel-override.a)"))
        return check_done("test_override_fork");
    num_workers = (int)check_env_long("KEELTEST_THREADS", 4);
    if (num_workers > MAX_THREADS) num_workers = MAX_THREADS;
    rounds = (int)(40 * check_env_long("KEELTEST_SCALE", 1));
    CHECK(atfork_registered);
    for (i = 0; i < num_workers; i++) {
        workers[i].seed = (unsigned)i * 7919u + 1u;
        CHECK(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) == 0);
    }
    usleep(20000);
    for (i = 0; i < rounds; i++) {
        int status = 0;
        pid_t pid;
        alarm(60);
        pid = fork();
        if (pid == 0) exit(child_main(i));   /* exit, not _exit: atexit and destructors run */
        if (!CHECK(pid > 0)) break;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(!handler_failed);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) children_ok++;
        else {
            char note[64];
            snprintf(note, sizeof note, "child %d: %s %d", i, WIFSIGNALED(status) ? "signal" : "exit status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            CHECK_NOTE(0, note);
        }
        usleep(1000);
    }
    CHECK(children_ok == rounds);
    alarm(60);   /* stopping and joining the workers, validate */
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (i = 0; i < num_workers; i++) {
        size_t k;
        pthread_join(workers[i].thread, NULL);
        for (k = 0; k < RING; k++) free(workers[i].ring[k]);
    }
    ovr.validate();
    printf("ALLOCS %zu\n", ovr.get_stats().num_allocs);
    return check_done("test_override_fork");
}
