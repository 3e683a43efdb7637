/* test_heap_fork.c — fork while other threads allocate (DESIGN.md section 8:
   "a fork leaves the child with a working heap"): the child allocates and
   frees, frees the parent's blocks, validates and exits 0. POSIX only; a child
   that hangs is killed by alarm(). KEELTEST_SCALE scales the forks.
   The program's own fork handlers, registered before its first keel_alloc,
   allocate large and small blocks: in the parent before keel's prepare
   handler takes its locks, in the child after keel's child handler has
   released them (keel registers its handlers before main; otherwise glibc
   would run its prepare handler first and its child handler last, and these
   allocations would wait forever on keel's locks). */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "internal.h"
#include "check.h"
#include "heap_test.h"

#define NAME "test_heap_fork"

#if defined(_WIN32)

int main(void) {
    ht_unbuffered();
    printf(NAME ": note: no fork on Windows, nothing checked\n");
    return check_done(NAME);
}

#else

#include "thread_shim.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUSY_THREADS 3
#define PARENT_BLOCKS 2000

static atomic_int stop_busy;
static void* parent_blocks[PARENT_BLOCKS];

static size_t parent_size(int i) {
    return i % 200 == 0 ? 300000 : (size_t)(1 + (i * 53) % 3000);
}

static void busy(void* arg) {
    unsigned rng = 777u + (unsigned)(uintptr_t)arg;
    void* keep[16] = {0};
    while (!atomic_load_explicit(&stop_busy, memory_order_relaxed)) {
        unsigned k = ht_rand(&rng) % 16;
        size_t n = ht_rand(&rng) % 100 == 0 ? 200000 + ht_rand(&rng) % 3000000 : ht_rand(&rng) % 2000;
        keel_free(keep[k]);
        keep[k] = keel_alloc(n);
        if (keep[k]) memset(keep[k], 0x3C, n < 64 ? n : 64);
    }
    {
        int i;
        for (i = 0; i < 16; i++) keel_free(keep[i]);
    }
}

/* Failures are written with write(2): stdio after fork in a threaded parent is
   not safe. The count becomes the exit status. */
static int child_failures;

static void child_fail(const char* what) {
    static const char prefix[] = NAME ": child: ";
    child_failures++;
    (void)!write(2, prefix, sizeof prefix - 1);
    (void)!write(2, what, strlen(what));
    (void)!write(2, "\n", 1);
}

/* The program's fork handlers: each allocates blocks that need keel's locks
   (large blocks: the large-block lock; many pages: the segment list). */
enum { HANDLER_BLOCKS = 64 };
static void* handler_blocks[HANDLER_BLOCKS];

static int handler_alloc(void) {
    int i, ok = 1;
    for (i = 0; i < HANDLER_BLOCKS; i++) {
        size_t n = i % 8 == 0 ? ((size_t)i + 1) << 16 : (size_t)(i + 1) * 3000;
        handler_blocks[i] = keel_alloc(n);
        if (!handler_blocks[i]) ok = 0;
        else memset(handler_blocks[i], 0x5A, n);
    }
    return ok;
}
static void handler_free(void) {
    int i;
    for (i = 0; i < HANDLER_BLOCKS; i++) { keel_free(handler_blocks[i]); handler_blocks[i] = NULL; }
}
static int handler_failed;
static void on_prepare(void) { if (!handler_alloc()) handler_failed = 1; }
static void on_parent(void) { handler_free(); }
static void on_child(void) {
    handler_free();
    if (!handler_alloc()) handler_failed = 1;   /* child_main checks and frees them */
}

static void child_main(int round) {
    enum { COUNT = 5000 };
    static void* p[COUNT];
    unsigned rng = 31u + (unsigned)round;
    int i, pass;
    alarm(20);
    if (handler_failed) child_fail("an allocation in a fork handler failed");
    handler_free();
    /* the parent's blocks came across intact and can be freed here */
    for (i = round % 2; i < PARENT_BLOCKS; i += 2) {
        if (!ht_check(parent_blocks[i], parent_size(i), (unsigned)i)) { child_fail("a parent block is damaged"); break; }
        keel_free(parent_blocks[i]);
    }
    for (pass = 0; pass < 3; pass++) {
        for (i = 0; i < COUNT; i++) {
            size_t n = i % 500 == 0 ? 1000000 + ht_rand(&rng) % 5000000 : ht_rand(&rng) % (i % 10 ? 512 : 20000);
            p[i] = keel_alloc(n);
            if (!p[i]) { child_fail("keel_alloc returned NULL"); continue; }
            ht_fill(p[i], n < 256 ? n : 256, (unsigned)i);
        }
        for (i = 0; i < COUNT; i += 3) {
            size_t n = ht_rand(&rng) % 4000;
            void* q = keel_realloc(p[i], n);
            if (!q && n) { child_fail("keel_realloc returned NULL"); continue; }
            p[i] = q;
        }
        keel_validate();
        for (i = 0; i < COUNT; i++) keel_free(p[i]);
    }
    {   /* calloc of fresh or reused memory is zero in the child too */
        void* b = keel_calloc(100, 100);
        if (!b || !ht_all_bytes(b, 10000, 0)) child_fail("keel_calloc in the child");
        keel_free(b);
    }
    (void)keel_trim();
    keel_validate();
    _exit(child_failures > 100 ? 100 : child_failures);
}

/* ---- the child takes nothing from another thread's segments ---- */

enum { HOLD = 600, HOLD_SEGS = 16, CHILD_BLOCKS = 20000 };
static void* held[HOLD];
static keel_segment* held_segs[HOLD_SEGS];
static int held_seg_count;
static atomic_int holder_ready, holder_go;

static size_t held_size(int i) { return (size_t)(1 + (i * 37) % 3000); }

/* Allocates blocks of many classes, frees every other one (its pages keep
   free blocks a child could take), and waits while the main thread forks. */
static void holder(void* arg) {
    int i;
    (void)arg;
    for (i = 0; i < HOLD; i++) {
        held[i] = keel_alloc(held_size(i));
        if (held[i]) ht_fill(held[i], held_size(i), (unsigned)i);
    }
    for (i = 0; i < HOLD; i += 2) { keel_free(held[i]); held[i] = NULL; }
    for (i = 1; i < HOLD; i += 2) {
        keel_segment* seg;
        int k;
        if (!held[i]) continue;
        seg = keel__segment_at(held[i]);
        for (k = 0; k < held_seg_count && held_segs[k] != seg; k++) {}
        if (k == held_seg_count && held_seg_count < HOLD_SEGS) held_segs[held_seg_count++] = seg;
    }
    atomic_store(&holder_ready, 1);
    while (!atomic_load(&holder_go)) ht_sleep_ms(1);
    for (i = 1; i < HOLD; i += 2) keel_free(held[i]);
}

static void child_of_holder(void) {
    static void* p[CHILD_BLOCKS];
    int i, k, theirs = 0;
    alarm(20);
    handler_free();
    for (i = 0; i < CHILD_BLOCKS; i++) {
        p[i] = keel_alloc(held_size(i));
        if (!p[i]) { child_fail("keel_alloc returned NULL"); continue; }
        for (k = 0; k < held_seg_count; k++)
            if (keel__segment_at(p[i]) == held_segs[k]) theirs++;
        ht_fill(p[i], held_size(i), (unsigned)i);
    }
    if (theirs) child_fail("a block was handed out from another thread's segment");
    /* the holder's blocks came across intact, and the child may free them */
    for (i = 1; i < HOLD; i += 2) {
        if (held[i] && !ht_check(held[i], held_size(i), (unsigned)i)) child_fail("a block of the other thread is damaged");
        keel_free(held[i]);
    }
    for (i = 0; i < CHILD_BLOCKS; i++) {
        if (p[i] && !ht_check(p[i], held_size(i), (unsigned)i)) child_fail("a block of the child is damaged");
        keel_free(p[i]);
    }
    keel_validate();
    _exit(child_failures > 100 ? 100 : child_failures);
}

static void fork_beside_holder(void) {
    shim_thread t;
    shim_start start = {holder, NULL};
    pid_t pid;
    int status = 0;
    if (!CHECK(shim_create(&t, &start))) return;
    while (!atomic_load(&holder_ready)) ht_sleep_ms(1);
    CHECK(held_seg_count > 0 && held_seg_count < HOLD_SEGS);
    alarm(60);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) child_of_holder();
    if (pid > 0) {
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK_NOTE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child beside a holding thread reported failures");
    }
    alarm(0);
    atomic_store(&holder_go, 1);
    shim_join(t);
}

int main(void) {
    const long forks = 5 * check_env_long("KEELTEST_SCALE", 1);
    shim_thread threads[BUSY_THREADS];
    shim_start starts[BUSY_THREADS];
    keel_stats s0, s1;
    long f;
    int i, started = 0;

    ht_unbuffered();   /* nothing buffered is copied into the children */
    /* before any keel call of this program: keel's handlers must still run
       around these (prepare last, child first) */
    CHECK(pthread_atfork(on_prepare, on_parent, on_child) == 0);
    s0 = keel_get_stats();
    for (i = 0; i < PARENT_BLOCKS; i++) {
        parent_blocks[i] = keel_alloc(parent_size(i));
        CHECK(parent_blocks[i] != NULL);
        if (parent_blocks[i]) ht_fill(parent_blocks[i], parent_size(i), (unsigned)i);
    }
    fork_beside_holder();   /* before the busy threads: one other thread, still */
    for (i = 0; i < BUSY_THREADS; i++) {
        starts[i].fn = busy;
        starts[i].arg = (void*)(uintptr_t)i;
        if (shim_create(&threads[i], &starts[i])) started++;
    }
    CHECK(started == BUSY_THREADS);

    for (f = 0; f < forks; f++) {
        pid_t pid;
        int status = 0;
        ht_sleep_ms(20);   /* let the busy threads get going */
        fflush(stdout);
        fflush(stderr);
        /* a hang in a fork handler, the parent's or the child's (whose
           alarm() starts in child_main, after the handlers), ends here */
        alarm(60);
        pid = fork();
        CHECK(pid >= 0);
        if (pid < 0) break;
        if (pid == 0) child_main((int)f);
        CHECK(waitpid(pid, &status, 0) == pid);
        alarm(0);
        if (WIFSIGNALED(status)) {
            printf(NAME ": fork %ld: child killed by signal %d%s\n", f, WTERMSIG(status),
                   WTERMSIG(status) == SIGALRM ? " (it hung: alarm)" : "");
            CHECK(!WIFSIGNALED(status));
        } else {
            CHECK_NOTE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child reported failures");
        }
        CHECK(!handler_failed);
        /* the parent's heap is unaffected */
        CHECK(ht_check(parent_blocks[f % PARENT_BLOCKS], parent_size((int)(f % PARENT_BLOCKS)), (unsigned)(f % PARENT_BLOCKS)));
    }

    atomic_store(&stop_busy, 1);
    for (i = 0; i < started; i++) shim_join(threads[i]);
    {
        int broken = 0;
        for (i = 0; i < PARENT_BLOCKS; i++) {
            if (parent_blocks[i] && !ht_check(parent_blocks[i], parent_size(i), (unsigned)i)) broken++;
            keel_free(parent_blocks[i]);
        }
        CHECK(broken == 0);
    }
    keel_validate();
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    return check_done(NAME);
}

#endif
