/* test_vmem_threads.c — vmem from many threads at once: counters stay exact
   and error messages stay per thread. Threads and rounds from the environment
   (KEELTEST_THREADS, KEELTEST_SCALE). Run under TSan in CI. */
#define _DEFAULT_SOURCE
#include "keel/vmem.h"
#include "check.h"
#include "thread_shim.h"

#define MAX_THREADS 64

typedef struct worker {
    int id;
    long rounds;
    long failures;          /* operations that failed unexpectedly */
    int own_message_kept;   /* this thread's error message survived the others' */
} worker;

static void work(void* arg) {
    worker* w = (worker*)arg;
    size_t page = vmem_get_page_size();
    long r;
    /* a failure of our own, whose message must not be overwritten by others */
    if (vmem_reserve(0) != NULL) w->failures++;
    for (r = 0; r < w->rounds; r++) {
        size_t n = (size_t)(1 + (r + w->id) % 7) * page;
        char* p = (char*)vmem_reserve(4 * n);
        char* q;
        if (!p) { w->failures++; continue; }
        if (!vmem_commit(p + n, n)) w->failures++;
        else {
            p[n] = (char)w->id;
            p[2 * n - 1] = (char)r;
            if (p[n] != (char)w->id) w->failures++;
            if (!vmem_decommit(p + n, n)) w->failures++;
        }
        if (!vmem_release(p, 4 * n)) w->failures++;
        q = (char*)vmem_reserve_aligned(n, (size_t)1 << 20);
        if (!q || ((size_t)q & (((size_t)1 << 20) - 1))) { w->failures++; }
        if (q && !vmem_release(q, n)) w->failures++;
        q = (char*)vmem_alloc(n);
        if (!q) { w->failures++; continue; }
        q[0] = 1;
        if (!vmem_free(q, n)) w->failures++;
    }
    w->own_message_kept = strcmp(vmem_get_error_message(), "vmem_reserve: size is zero") == 0;
}

int main(void) {
    long threads = check_env_long("KEELTEST_THREADS", 4);
    long rounds = 200 * check_env_long("KEELTEST_SCALE", 1);
    worker workers[MAX_THREADS];
    shim_start starts[MAX_THREADS];
    shim_thread handles[MAX_THREADS];
    vmem_usage u0, u1;
    long i, failures = 0, kept = 0, started = 0;
    if (threads > MAX_THREADS) threads = MAX_THREADS;

    (void)vmem_get_page_info();
    u0 = vmem_get_usage_summary();
    CHECK(vmem_reserve_aligned(1, 3) == NULL); /* main thread's own message */
    for (i = 0; i < threads; i++) {
        workers[i].id = (int)i;
        workers[i].rounds = rounds;
        workers[i].failures = 0;
        workers[i].own_message_kept = 0;
        starts[i].fn = work;
        starts[i].arg = &workers[i];
        if (shim_create(&handles[i], &starts[i])) started++;
        else break;
    }
    CHECK(started == threads);
    for (i = 0; i < started; i++) shim_join(handles[i]);
    for (i = 0; i < started; i++) {
        failures += workers[i].failures;
        kept += workers[i].own_message_kept;
    }
    CHECK(failures == 0);
    CHECK(kept == started);
    CHECK(strcmp(vmem_get_error_message(), "vmem_reserve_aligned: alignment is not a power of two") == 0);
    u1 = vmem_get_usage_summary();
    CHECK(u1.reserved_bytes == u0.reserved_bytes);
    CHECK(u1.committed_bytes == u0.committed_bytes);
    return check_done("test_vmem_threads");
}
