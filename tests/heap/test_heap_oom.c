/* test_heap_oom.c — out of memory (DESIGN.md section 4): the OS refusals come
   from the vmem fault seam (keel_fault library) and, on POSIX, from a real
   RLIMIT_AS in a forked child. NULL with ENOMEM, the handler called with the
   size asked for and outside any lock, retries, a heap intact afterwards. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "keel/vmem.h"
#include "check.h"
#include "heap_test.h"

#include <errno.h>
#include <stdint.h>

#ifndef VMEM_FAULT_INJECTION
#error "test_heap_oom needs the keel_fault library (VMEM_FAULT_INJECTION)"
#endif

#define NAME "test_heap_oom"
#define REFUSE_ALL (VMEM_FAULT_RESERVE | VMEM_FAULT_COMMIT)

typedef struct oom_state {
    int calls;
    size_t last_size;
    int fix_on_call;        /* on this call (and later ones) disarm the fault and return true; 0: never */
    bool answer;            /* what to return on calls that do not fix */
    void* reserve;          /* a keel block the fixing call frees: "I freed something" */
    int nested_failed;      /* keel calls made inside the handler that did not work */
} oom_state;

static oom_state state;

static bool on_oom(size_t num_bytes, void* user_data) {
    oom_state* s = (oom_state*)user_data;
    s->calls++;
    s->last_size = num_bytes;
    if (s->calls > 100) return false;   /* a retry loop that never ends would hang the test */
    if (s->fix_on_call && s->calls >= s->fix_on_call) {
        vmem_fault_inject(0, 0, 0);
        if (s->reserve) {   /* calling into keel here deadlocks if a lock is held */
            void* probe = keel_alloc(32);
            if (!probe) s->nested_failed++;
            keel_free(probe);
            keel_free(s->reserve);
            s->reserve = NULL;
        }
        return true;
    }
    return s->answer;
}

static void reset_state(int fix_on_call, bool answer) {
    memset(&state, 0, sizeof state);
    state.fix_on_call = fix_on_call;
    state.answer = answer;
}

/* Cached memory would satisfy requests without asking the OS: empty it, then
   make every reserve and commit fail. */
static void refuse_os(void) {
    (void)keel_trim();
    vmem_fault_inject(REFUSE_ALL, 1, VMEM_FAULT_FOREVER);
}

static void allow_os(void) { vmem_fault_inject(0, 0, 0); }

static void test_no_handler(void) {
    keel_stats s0, s1;
    char* small = (char*)keel_alloc(100);
    void* p;
    CHECK(small != NULL);
    if (!small) return;
    ht_fill(small, 100, 5);
    keel_set_out_of_memory_handler(NULL, NULL);
    s0 = keel_get_stats();
    refuse_os();

    errno = 0;
    p = keel_alloc(64 * HT_MIB);
    CHECK(p == NULL);
    CHECK(errno == ENOMEM);
    CHECK_NOTE(vmem_fault_injected() > 0, "keel_alloc(64 MiB) did not ask the OS");
    errno = 0;
    CHECK(keel_alloc_aligned(32 * HT_MIB, 2 * HT_MIB) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(keel_calloc(16 * HT_MIB, 4) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(keel_realloc(small, 80 * HT_MIB) == NULL);
    CHECK(errno == ENOMEM);
    CHECK(ht_check(small, 100, 5));   /* untouched by the failed realloc */
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    allow_os();

    p = keel_alloc(64 * HT_MIB);   /* the same request works once the OS agrees */
    CHECK(p != NULL);
    if (p) memset(p, 1, 64 * HT_MIB);
    keel_free(p);
    keel_free(small);
    keel_validate();
}

static void test_handler_declines(void) {
    void* p;
    keel_stats s0;
    reset_state(0, false);
    keel_set_out_of_memory_handler(on_oom, &state);
    s0 = keel_get_stats();
    refuse_os();
    errno = 0;
    p = keel_alloc(64 * HT_MIB + 1);
    CHECK(p == NULL);
    CHECK(errno == ENOMEM);
    CHECK_NOTE(state.calls == 1, "a handler returning false is called once");
    CHECK(state.last_size == 64 * HT_MIB + 1);

    /* the size asked for, whichever call asked */
    state.calls = 0;
    CHECK(keel_calloc(3 * HT_MIB, 7) == NULL);
    CHECK(state.calls == 1 && state.last_size == 21 * HT_MIB);
    state.calls = 0;
    CHECK(keel_alloc_aligned(24 * HT_MIB, 4 * HT_MIB) == NULL);
    CHECK(state.calls == 1 && state.last_size == 24 * HT_MIB);
    allow_os();
    {
        char* small = (char*)keel_alloc(1000);
        CHECK(small != NULL);
        if (small) {
            ht_fill(small, 1000, 8);
            refuse_os();
            state.calls = 0;
            errno = 0;
            CHECK(keel_realloc(small, 50 * HT_MIB) == NULL);
            CHECK(errno == ENOMEM);
            CHECK(state.calls == 1 && state.last_size == 50 * HT_MIB);
            allow_os();
            CHECK(ht_check(small, 1000, 8));
            keel_free(small);
        }
    }
    CHECK(keel_get_stats().num_bytes_allocated == s0.num_bytes_allocated);
    keel_set_out_of_memory_handler(NULL, NULL);
}

/* The handler frees something (and calls keel itself: it runs outside any
   lock), returns true, and the allocation succeeds. */
static void test_handler_fixes(void) {
    char* p;
    reset_state(1, false);
    state.reserve = keel_alloc(HT_MIB);
    CHECK(state.reserve != NULL);
    keel_set_out_of_memory_handler(on_oom, &state);
    refuse_os();
    p = (char*)keel_alloc(48 * HT_MIB);
    allow_os();
    CHECK(p != NULL);
    CHECK(state.calls == 1);
    CHECK(state.last_size == 48 * HT_MIB);
    CHECK(state.reserve == NULL);
    CHECK(state.nested_failed == 0);
    if (p) {
        CHECK(keel_usable_size(p) >= 48 * HT_MIB);
        memset(p, 2, 48 * HT_MIB);
    }
    keel_free(p);
    keel_free(state.reserve);
    keel_set_out_of_memory_handler(NULL, NULL);
    keel_validate();
}

/* true without fixing twice: retried each time; fixed on the third call. */
static void test_handler_retries(void) {
    void* p;
    reset_state(3, true);
    keel_set_out_of_memory_handler(on_oom, &state);
    refuse_os();
    errno = 0;
    p = keel_alloc(40 * HT_MIB);
    allow_os();
    CHECK(p != NULL);
    CHECK_NOTE(state.calls == 3, "the handler is called again on each retry");
    CHECK(state.last_size == 40 * HT_MIB);
    if (p) memset(p, 3, 40 * HT_MIB);
    keel_free(p);

    /* the same through realloc and calloc */
    {
        char* small = (char*)keel_alloc(64);
        char* q;
        CHECK(small != NULL);
        if (small) {
            ht_fill(small, 64, 9);
            reset_state(2, true);
            refuse_os();
            q = (char*)keel_realloc(small, 20 * HT_MIB);
            allow_os();
            CHECK(q != NULL);
            CHECK(state.calls == 2 && state.last_size == 20 * HT_MIB);
            if (q) {
                CHECK(ht_check(q, 64, 9));
                small = q;
            }
            keel_free(small);
        }
        reset_state(2, true);
        refuse_os();
        q = (char*)keel_calloc(HT_MIB, 24);
        allow_os();
        CHECK(q != NULL);
        CHECK(state.calls == 2 && state.last_size == 24 * HT_MIB);
        if (q) CHECK(ht_all_bytes(q, 24 * HT_MIB, 0));
        keel_free(q);
    }
    keel_set_out_of_memory_handler(NULL, NULL);
}

/* Small blocks: once the committed pages are full, a new page needs the OS. */
static void test_small_blocks_run_out(void) {
    enum { CAP = 1 << 20 };
    void** p = (void**)malloc(CAP * sizeof(void*));   /* the C heap: not refused by the seam */
    keel_stats s0;
    long n = 0, i;
    int err = 0;
    CHECK(p != NULL);
    if (!p) return;
    reset_state(0, false);
    keel_set_out_of_memory_handler(on_oom, &state);
    s0 = keel_get_stats();
    refuse_os();
    while (n < CAP) {
        errno = 0;
        p[n] = keel_alloc(16);
        if (!p[n]) { err = errno; break; }
        n++;
    }
    allow_os();
    printf(NAME ": with the OS refusing, %ld small blocks came from memory already held\n", n);
    CHECK_NOTE(n < CAP, "a million 16-byte blocks without asking the OS");
    CHECK(err == ENOMEM);
    CHECK(state.calls >= 1 && state.last_size == 16);
    keel_validate();
    for (i = 0; i < 1000; i++) {   /* the heap works again */
        void* q = keel_alloc(16);
        CHECK(q != NULL);
        keel_free(q);
    }
    for (i = 0; i < n; i++) keel_free(p[i]);
    free(p);
    CHECK(keel_get_stats().num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(keel_get_stats().num_live_blocks == s0.num_live_blocks);
    keel_set_out_of_memory_handler(NULL, NULL);
}

/* ---- a real limit: RLIMIT_AS in a forked child ---- */
#if !defined(_WIN32)
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int child_failures;

static void child_check(int ok, const char* what) {
    if (ok) return;
    child_failures++;
    fprintf(stderr, NAME ": rlimit child: %s\n", what);
}

static void rlimit_child(void) {
    enum { MAXB = 4096 };
    static char* blocks[MAXB];
    struct rlimit rl;
    vmem_usage u;
    keel_stats s0, s1;
    int n = 0, i, err = 0;
    alarm(60);
    keel_free(keel_alloc(1));
    s0 = keel_get_stats();
    u = vmem_get_usage_summary();
    if (u.process_virtual_bytes == 0 || getrlimit(RLIMIT_AS, &rl) != 0) _exit(77);
    rl.rlim_cur = (rlim_t)(u.process_virtual_bytes + 256 * HT_MIB);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur) _exit(77);
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(77);
    printf(NAME ": rlimit child: RLIMIT_AS %.0f MiB (virtual size %.0f MiB + 256)\n", ht_mib((size_t)rl.rlim_cur),
           ht_mib(u.process_virtual_bytes));
    fflush(stdout);

    reset_state(0, false);
    keel_set_out_of_memory_handler(on_oom, &state);
    while (n < MAXB) {
        errno = 0;
        blocks[n] = (char*)keel_alloc(HT_MIB);
        if (!blocks[n]) { err = errno; break; }
        blocks[n][0] = 1;
        blocks[n][HT_MIB - 1] = 1;
        n++;
    }
    printf(NAME ": rlimit child: %d blocks of 1 MiB before NULL; handler called %d times\n", n, state.calls);
    fflush(stdout);
    child_check(n < MAXB, "never ran out under RLIMIT_AS");
    child_check(n >= 64, "ran out with far less than 256 MiB allocated");
    child_check(err == ENOMEM, "errno is not ENOMEM");
    child_check(state.calls >= 1, "the handler was not called");
    child_check(state.last_size == HT_MIB, "the handler did not get the size asked for");
    for (i = 0; i < n; i += 2) {
        keel_free(blocks[i]);
        blocks[i] = NULL;
    }
    for (i = 0; i < 8 && i * 2 < n; i++) {   /* room again: these must succeed */
        blocks[i * 2] = (char*)keel_alloc(HT_MIB);
        child_check(blocks[i * 2] != NULL, "no 1 MiB block after freeing half");
        if (blocks[i * 2]) memset(blocks[i * 2], 4, HT_MIB);
    }
    {
        void* small[64];
        for (i = 0; i < 64; i++) {
            small[i] = keel_alloc((size_t)(16 + i * 16));
            child_check(small[i] != NULL, "no small block after freeing half");
        }
        for (i = 0; i < 64; i++) keel_free(small[i]);
    }
    keel_validate();
    for (i = 0; i < n; i++) keel_free(blocks[i]);
    s1 = keel_get_stats();
    child_check(s1.num_bytes_allocated == s0.num_bytes_allocated, "stats not back after freeing all");
    keel_validate();
    fflush(stdout);
    _exit(child_failures > 100 ? 100 : child_failures);
}

/* At least 90% of an address-space limit's headroom is usable in blocks
   of one size (DESIGN.md section 9: growth reservations give way under
   ulimit -v). Exits 0 when met, 1 when not, 77 when no limit can be set. */
static void rlimit_usable_child(size_t block) {
    enum { MAXB = 2048 };
    static char* blocks[MAXB];
    const size_t room = (size_t)1 << 30;
    struct rlimit rl;
    vmem_usage u;
    size_t n = 0;
    alarm(60);
    keel_free(keel_alloc(1));
    u = vmem_get_usage_summary();
    if (u.process_virtual_bytes == 0 || getrlimit(RLIMIT_AS, &rl) != 0) _exit(77);
    rl.rlim_cur = (rlim_t)(u.process_virtual_bytes + room);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur) _exit(77);
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(77);
    while (n < MAXB && (blocks[n] = (char*)keel_alloc(block)) != NULL) {
        blocks[n][0] = 1;
        blocks[n][block - 1] = 1;
        n++;
    }
    printf(NAME ": rlimit child: %zu blocks of %zu MiB in 1024 MiB of address space (%.0f%%; bar 90%%)\n", n,
           block / HT_MIB, 100.0 * (double)(n * block) / (double)room);
    fflush(stdout);
    _exit(n * block >= room / 10 * 9 ? 0 : 1);
}

static void test_rlimit_usable(size_t block) {
    pid_t pid;
    int status = 0;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    CHECK(pid >= 0);
    if (pid < 0) return;
    if (pid == 0) rlimit_usable_child(block);
    CHECK(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        printf(NAME ": note: could not set RLIMIT_AS here, not checked\n");
        return;
    }
    CHECK_NOTE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "under RLIMIT_AS less than 90% of the headroom was usable in large blocks");
}

static void test_rlimit(void) {
    pid_t pid;
    int status = 0;
    if (HT_SANITIZED) {
        printf(NAME ": note: RLIMIT_AS not checked under ASan/TSan (their shadow memory needs the address space)\n");
        return;
    }
    if (ht_under_qemu()) {
        printf(NAME ": note: RLIMIT_AS not checked under qemu-user (it maps guest memory itself)\n");
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    CHECK(pid >= 0);
    if (pid < 0) return;
    if (pid == 0) rlimit_child();
    CHECK(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        printf(NAME ": note: could not set RLIMIT_AS here, not checked\n");
        return;
    }
    if (WIFSIGNALED(status)) printf(NAME ": rlimit child killed by signal %d\n", WTERMSIG(status));
    CHECK_NOTE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the RLIMIT_AS child failed");
    test_rlimit_usable(HT_MIB);
    test_rlimit_usable(8 * HT_MIB);
    test_rlimit_usable(64 * HT_MIB);
}
#else
static void test_rlimit(void) {
    printf(NAME ": note: RLIMIT_AS is POSIX; not checked on Windows\n");
}
#endif

/* keel_free keeps errno even when giving an emptied page's or segment's
   memory back fails (here: every decommit refused) on its fast path. */
static void test_free_keeps_errno(void) {
    enum { N = 12 * 64 * 15 };   /* 12 segments' worth of 4 KiB blocks */
    static void* b[N];
    size_t i, n = 0, changed = 0;
    (void)keel_trim();
    for (i = 0; i < N; i++) {
        b[i] = keel_alloc(4096);
        if (!b[i]) break;
        memset(b[i], 5, 64);
        n++;
    }
    CHECK(n == N);
    vmem_fault_inject(VMEM_FAULT_DECOMMIT, 1, VMEM_FAULT_FOREVER);
    for (i = 0; i < n; i++) {
        errno = 4242;
        keel_free(b[i]);
        if (errno != 4242) changed++;
    }
    vmem_fault_inject(0, 0, 0);
    CHECK_NOTE(changed == 0, "keel_free changed errno when the OS refused to take memory back");
    keel_validate();
    (void)keel_trim();
    keel_validate();
}

int main(void) {
    keel_stats s0, s1;
    ht_unbuffered();
    keel_free(keel_alloc(1));   /* the thread's heap exists before the first refusal */
    s0 = keel_get_stats();
    test_no_handler();
    test_handler_declines();
    test_handler_fixes();
    test_handler_retries();
    test_small_blocks_run_out();
    test_free_keeps_errno();
    keel_validate();
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    test_rlimit();
    return check_done(NAME);
}
