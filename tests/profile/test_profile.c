/* test_profile.c — keel_profile_dump's contract: EINVAL before profiling
   was ever on; sampled blocks (small, aligned, large) in the in-use totals
   while live and out of them once freed, also when another thread frees
   them, also while threads sample at once; more live samples than the
   tables hold; an unwritable path fails with the OS's errno; a forked
   child can still allocate and dump. On Windows: false + ENOSYS. */
#include "check.h"
#include "thread_shim.h"

#include <errno.h>
#include <stdint.h>
#include <keel/keel.h>
#if !defined(_WIN32)
#include <sys/wait.h>
#include <unistd.h>
#endif

#define RATE 4096
#define N 4096

static char path[512];

#if !defined(_WIN32)
/* The header's in-use bytes; -1 when the file is not a heap profile. */
static long long inuse_bytes(const char* file) {
    char line[256];
    unsigned long long objs, bytes;
    FILE* f = fopen(file, "r");
    long long r = -1;
    if (!f) return -1;
    if (fgets(line, sizeof line, f) && sscanf(line, "heap profile: %llu: %llu [", &objs, &bytes) == 2 &&
        strstr(line, "@ heapprofile"))
        r = (long long)bytes;
    while (r >= 0 && fgets(line, sizeof line, f))
        if (strncmp(line, "MAPPED_LIBRARIES:", 17) == 0) break;
    if (feof(f)) r = -1;   /* no memory map section */
    fclose(f);
    return r;
}

static long long dump_inuse(void) {
    bool ok = keel_profile_dump(path);
    CHECK_NOTE(ok, strerror(errno));
    return ok ? inuse_bytes(path) : -1;
}

/* within 25% of want */
static int within_quarter(long long got, double want) {
    return got >= 0 && (double)got > want * 0.75 && (double)got < want * 1.25;
}

static void* blocks[N];

static void alloc_blocks(void* arg) {
    size_t i;
    (void)arg;
    for (i = 0; i < N; i++) blocks[i] = keel_alloc(1000);
}

/* Threads that sample at once, and free each other's sampled blocks
   while they sample (the profiler's shards and its stack table). */
#define THREADS 4
#define PER_THREAD 2048
static void* sets[2][THREADS][PER_THREAD];

static void fill_set(void* arg) {
    size_t t = (size_t)(uintptr_t)arg, i;
    for (i = 0; i < PER_THREAD; i++) sets[0][t][i] = keel_alloc(1000);
}

static void swap_sets(void* arg) {
    size_t t = (size_t)(uintptr_t)arg, i;
    for (i = 0; i < PER_THREAD; i++) {
        keel_free(sets[0][(t + 1) % THREADS][i]);
        sets[1][t][i] = keel_alloc(1000);
    }
}

static void run_threads(shim_fn fn) {
    shim_thread t[THREADS];
    shim_start st[THREADS];
    size_t k;
    for (k = 0; k < THREADS; k++) {
        st[k].fn = fn;
        st[k].arg = (void*)(uintptr_t)k;
        CHECK(shim_create(&t[k], &st[k]));
    }
    for (k = 0; k < THREADS; k++) shim_join(t[k]);
}

/* More live samples than the tables hold (KEEL_PROFILE_SAMPLES_MAX,
   49152): the ones past it are dropped, the rest stay counted, and once
   the blocks are freed the tables take samples again. */
#define MANY 80000
static void* many[MANY];
#endif

int main(void) {
#if defined(_WIN32)
    snprintf(path, sizeof path, "keel_test_profile.heap");
    errno = 0;
    CHECK(!keel_profile_dump(path));
    CHECK(errno == ENOSYS);
    CHECK(keel_option_set("profile_sample", RATE));
    keel_free(keel_alloc(100));
    errno = 0;
    CHECK(!keel_profile_dump(path) && errno == ENOSYS);
    return check_done("test_profile");
#else
    long long before, with, after;
    size_t i;
    snprintf(path, sizeof path, "%s/keel_test_profile_%ld.heap",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    /* never on */
    errno = 0;
    CHECK(!keel_profile_dump(path));
    CHECK(errno == EINVAL);
    errno = 0;
    CHECK(!keel_profile_dump(NULL) && errno == EINVAL);
    CHECK(keel_option_set("profile_sample", RATE));
    keel_free(keel_alloc(100));   /* a slow path: the heap sees the rate */
    before = dump_inuse();
    CHECK(before >= 0);

    /* small blocks: 4 MB live, then freed */
    alloc_blocks(NULL);
    with = dump_inuse();
    CHECK_NOTE(within_quarter(with - before, 1000.0 * N), "4 MB of small blocks");
    for (i = 0; i < N; i++) keel_free(blocks[i]);
    after = dump_inuse();
    CHECK(after >= 0 && after - before < 1000 * N / 20);

    /* interior-aligned blocks: freed through their interior pointer */
    for (i = 0; i < N; i++) blocks[i] = keel_alloc_aligned(1000, 256);
    with = dump_inuse();
    CHECK_NOTE(with - before > 1000 * N / 2, "aligned blocks are sampled");
    for (i = 0; i < N; i++) keel_free(blocks[i]);
    after = dump_inuse();
    CHECK(after >= 0 && after - before < 1000 * N / 20);

    /* 1 MiB blocks: each is sampled (weight about 1) */
    for (i = 0; i < 16; i++) blocks[i] = keel_alloc((size_t)1 << 20);
    with = dump_inuse();
    CHECK_NOTE(within_quarter(with - before, 16.0 * (1 << 20)), "16 MiB of 1 MiB blocks");
    for (i = 0; i < 16; i++) keel_free(blocks[i]);
    after = dump_inuse();
    CHECK(after >= 0 && after - before < (1 << 20));

    /* sampled by one thread, freed by another */
    {
        shim_thread t;
        shim_start st = {alloc_blocks, NULL};
        CHECK(shim_create(&t, &st));
        shim_join(t);
        with = dump_inuse();
        CHECK_NOTE(within_quarter(with - before, 1000.0 * N), "another thread's blocks");
        for (i = 0; i < N; i++) keel_free(blocks[i]);
        after = dump_inuse();
        CHECK(after >= 0 && after - before < 1000 * N / 20);
    }

    /* threads sampling at once */
    {
        size_t t;
        run_threads(fill_set);
        with = dump_inuse();
        CHECK_NOTE(within_quarter(with - before, 1000.0 * THREADS * PER_THREAD), "threads sampling at once");
        run_threads(swap_sets);
        with = dump_inuse();
        CHECK_NOTE(within_quarter(with - before, 1000.0 * THREADS * PER_THREAD), "freed by another thread meanwhile");
        for (t = 0; t < THREADS; t++)
            for (i = 0; i < PER_THREAD; i++) keel_free(sets[1][t][i]);
        after = dump_inuse();
        CHECK(after >= 0 && after - before < 1000 * THREADS * PER_THREAD / 20);
    }

    /* the tables full: about 63,000 samples of 100-byte blocks at rate 64 */
    CHECK(keel_option_set("profile_sample", 64));
    for (i = 0; i < MANY; i++) many[i] = keel_alloc(100);
    with = dump_inuse();
    /* at most the 49152 kept of about 63,000 (each stands for 1.27
       blocks): between half and all of the 8 MB */
    CHECK_NOTE(with - before > 100LL * MANY / 2 && with - before < 100LL * MANY * 5 / 4, "a full table");
    for (i = 0; i < MANY; i++) keel_free(many[i]);
    after = dump_inuse();
    CHECK(after >= 0 && after - before < 100 * MANY / 20);
    for (i = 0; i < N; i++) many[i] = keel_alloc(100);
    with = dump_inuse();
    CHECK_NOTE(within_quarter(with - before, 100.0 * N), "room again once freed");
    for (i = 0; i < N; i++) keel_free(many[i]);
    CHECK(keel_option_set("profile_sample", RATE));

    /* an unwritable path: the open's errno */
    errno = 0;
    CHECK(!keel_profile_dump("/nonexistent-keel-dir/x.heap") && errno == ENOENT);
    errno = 0;
    CHECK(!keel_profile_dump("/proc/self/keel.heap") && errno != 0);

    /* fork: the child allocates and dumps */
    {
        pid_t pid = fork();
        int status = 0;
        if (pid == 0) {
            char child_path[600];
            int ok;
            for (i = 0; i < N; i++) blocks[i] = keel_alloc(1000);
            snprintf(child_path, sizeof child_path, "%s.child", path);
            ok = keel_profile_dump(child_path) && within_quarter(inuse_bytes(child_path) - before, 1000.0 * N);
            remove(child_path);
            _exit(ok ? 0 : 1);
        }
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK(inuse_bytes(path) >= 0 && keel_profile_dump(path));
    }

    /* off again: nothing new is sampled, but the dump still works */
    CHECK(keel_option_set("profile_sample", 0));
    for (i = 0; i < N; i++) keel_free(keel_alloc(1000));
    after = dump_inuse();
    CHECK(after >= 0 && after - before < 1000 * N / 20);
    remove(path);
    return check_done("test_profile");
#endif
}
