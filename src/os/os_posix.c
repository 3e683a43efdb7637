/* os_posix.c — the OS seam on POSIX: pthread keys for thread exit,
   pthread_atfork, sched_yield, clock_gettime, write(2). */
#if !defined(_WIN32)
#define _DEFAULT_SOURCE
#include "os.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/sysinfo.h>
#endif

static pthread_key_t os_exit_key;
static keel_thread_exit_fn os_on_exit;

static void os_exit_trampoline(void* value) {
    if (value && os_on_exit) os_on_exit(value);
}

void keel__os_init(keel_thread_exit_fn on_thread_exit, keel_fork_fn prepare,
                   keel_fork_fn parent, keel_fork_fn child) {
    os_on_exit = on_thread_exit;
    if (pthread_key_create(&os_exit_key, os_exit_trampoline) != 0)
        KEEL_OS_SAY("keel: pthread_key_create failed; thread heaps will not be handed over at exit\n");
    if (pthread_atfork(prepare, parent, child) != 0)
        KEEL_OS_SAY("keel: pthread_atfork failed\n");
}

void keel__os_thread_exit_arm(void* value) {
    (void)pthread_setspecific(os_exit_key, value);
}

size_t keel__os_memory_limit(void) {
    static _Atomic(size_t) a_limit;
    size_t limit = atomic_load_explicit(&a_limit, memory_order_relaxed);
    if (limit == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        unsigned long long bytes = pages > 0 && page > 0 ? (unsigned long long)pages * (unsigned long long)page : 0;
#if defined(__linux__)
        struct sysinfo si;
        if (sysinfo(&si) == 0) bytes += (unsigned long long)si.totalswap * si.mem_unit;
#endif
        limit = bytes == 0 || bytes > (unsigned long long)SIZE_MAX ? SIZE_MAX : (size_t)bytes;
        atomic_store_explicit(&a_limit, limit, memory_order_relaxed);
    }
    return limit;
}

static int maps_hex(const char** s, uintptr_t* out) {
    uintptr_t v = 0;
    int n = 0;
    for (;; (*s)++, n++) {
        char c = **s;
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16u;
        if (d == 16u) break;
        v = v * 16 + d;
    }
    *out = v;
    return n > 0;
}

/* Walks /proc/self/maps (read into a stack buffer: no allocation) for the
   readable mappings that run on without a gap from p. */
size_t keel__os_readable_bytes(const void* p, size_t max) {
    uintptr_t at = (uintptr_t)p, want = max > UINTPTR_MAX - at ? UINTPTR_MAX : at + max;
    char buf[4096];
    size_t have = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), done = 0;
    if (fd < 0) {   /* the page holding p is readable, as the block starts there */
        long page = sysconf(_SC_PAGESIZE);
        size_t to_end = (size_t)page - (at & (uintptr_t)(page - 1));
        return to_end < max ? to_end : max;
    }
    while (!done && at < want) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        char* line = buf;
        char* nl;
        if (n <= 0) break;
        have += (size_t)n;
        buf[have] = '\0';
        while (!done && (nl = memchr(line, '\n', have - (size_t)(line - buf))) != NULL) {
            const char* s = line;
            uintptr_t lo, hi;
            if (maps_hex(&s, &lo) && *s++ == '-' && maps_hex(&s, &hi) && *s++ == ' ') {
                if (lo > at) done = 1;                        /* a gap: stop */
                else if (hi > at) {
                    if (s[0] != 'r') done = 1;               /* not readable: stop */
                    else at = hi;
                    if (at >= want) done = 1;
                }
            }
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == sizeof buf - 1) have = 0;   /* a line longer than the buffer: drop it */
    }
    close(fd);
    if (at > want) at = want;
    return at > (uintptr_t)p ? (size_t)(at - (uintptr_t)p) : 0;
}

int keel__os_address_space_limited(void) {
    struct rlimit rl;
    return getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

extern char** environ;
char* const* keel__os_environ(void) { return environ; }

unsigned long long keel__os_pid(void) { return (unsigned long long)getpid(); }

void keel__os_yield(void) { sched_yield(); }

uint64_t keel__os_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void keel__os_write_stderr(const char* text, size_t len) {
    while (len > 0) {
        ssize_t n = write(2, text, len);
        if (n <= 0) return;    /* fd 2 closed or broken: say nothing */
        text += n;
        len -= (size_t)n;
    }
}

_Noreturn void keel__os_abort(void) { abort(); }

#else
typedef int keel_os_posix_unused; /* ISO C: a translation unit needs a declaration */
#endif
