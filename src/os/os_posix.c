/* os_posix.c — the OS seam on POSIX: pthread keys for thread exit,
   pthread_atfork, sched_yield, clock_gettime, write(2), getrusage. */
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
#include <sys/syscall.h>
#endif
#if defined(__linux__)
#include <sys/sysinfo.h>
#endif
#include <errno.h>
#if defined(__GLIBC__)
#include <dlfcn.h>
#include <execinfo.h>   /* backtrace(3): in libc itself */
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

static keel_thread_fn os_thread_fn;

static void* os_thread_trampoline(void* unused) {
    (void)unused;
    os_thread_fn();
    return NULL;
}

int keel__os_thread_start(keel_thread_fn fn) {
    pthread_attr_t attr;
    pthread_t t;
    sigset_t all, old;
    int ok;
    os_thread_fn = fn;
    if (pthread_attr_init(&attr) != 0) return 0;
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    (void)pthread_attr_setstacksize(&attr, (size_t)64 << 10);
    /* the new thread inherits the mask: all blocked while it is created */
    sigfillset(&all);
    (void)pthread_sigmask(SIG_SETMASK, &all, &old);
    ok = pthread_create(&t, &attr, os_thread_trampoline, NULL) == 0;
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    (void)pthread_attr_destroy(&attr);
    return ok;
}

void keel__os_sleep_ms(unsigned ms) {
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
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

/* Calls visit(lo, hi, rest, ctx) for each mapping of /proc/self/maps
   (rest: the line after "lo-hi ", without its newline), read through a
   stack buffer: no allocation. visit returns nonzero to stop. -1 when the
   file cannot be opened, else 0. */
typedef int (*maps_visit_fn)(uintptr_t lo, uintptr_t hi, const char* rest, void* ctx);
static int maps_walk(maps_visit_fn visit, void* ctx) {
    char buf[4096];
    size_t have = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), done = 0;
    if (fd < 0) return -1;
    while (!done) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        char* line = buf;
        char* nl;
        if (n <= 0) break;
        have += (size_t)n;
        buf[have] = '\0';
        while (!done && (nl = memchr(line, '\n', have - (size_t)(line - buf))) != NULL) {
            const char* s = line;
            uintptr_t lo, hi;
            *nl = '\0';
            if (maps_hex(&s, &lo) && *s++ == '-' && maps_hex(&s, &hi) && *s++ == ' ') done = visit(lo, hi, s, ctx);
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == sizeof buf - 1) have = 0;   /* a line longer than the buffer: drop it */
    }
    close(fd);
    return 0;
}

typedef struct readable_walk { uintptr_t at, want; } readable_walk;

static int readable_visit(uintptr_t lo, uintptr_t hi, const char* rest, void* ctx) {
    readable_walk* w = (readable_walk*)ctx;
    if (lo > w->at) return 1;           /* a gap: stop */
    if (hi <= w->at) return 0;
    if (rest[0] != 'r') return 1;       /* not readable: stop */
    w->at = hi;
    return w->at >= w->want;
}

/* The readable mappings that run on without a gap from p. */
size_t keel__os_readable_bytes(const void* p, size_t max) {
    readable_walk w;
    w.at = (uintptr_t)p;
    w.want = max > UINTPTR_MAX - w.at ? UINTPTR_MAX : w.at + max;
    if (maps_walk(readable_visit, &w) < 0) {   /* the page holding p is readable, as the block starts there */
        long page = sysconf(_SC_PAGESIZE);
        size_t to_end = (size_t)page - ((uintptr_t)p & (uintptr_t)(page - 1));
        return to_end < max ? to_end : max;
    }
    if (w.at > w.want) w.at = w.want;
    return w.at > (uintptr_t)p ? (size_t)(w.at - (uintptr_t)p) : 0;
}

#include <sys/mman.h>
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0x4000
#endif
int keel__os_rejoin(void* p, size_t n) {
    unsigned char probe;
    void* again;
    if (mmap(p, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == p) return 1;
    if (mincore(p, (size_t)sysconf(_SC_PAGESIZE), &probe) == 0) return 0;   /* never unmapped */
    again = mmap(p, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (again == p) return 0;
    KEEL_OS_SAY("keel: fatal: a refused mmap gave away address space keel had reserved\n");
    keel__os_abort();
}

int keel__os_address_space_limited(void) {
    struct rlimit rl;
    return getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

extern char** environ;
char* const* keel__os_environ(void) { return environ; }

unsigned long long keel__os_pid(void) { return (unsigned long long)getpid(); }

uint64_t keel__os_random_seed(void) {
    uint64_t v = 0;
    struct timespec ts;
#if defined(__linux__) && defined(SYS_getrandom)
    /* GRND_NONBLOCK (1): never wait for the pool at early boot */
    if (syscall(SYS_getrandom, &v, sizeof v, 1) == (long)sizeof v && v != 0) return v;
#endif
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    v ^= (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15u ^ (uint64_t)ts.tv_sec << 32;
    v ^= (uint64_t)getpid() << 17 ^ (uint64_t)(uintptr_t)&v;
    return v ? v : 0x6b65656c68617264u;
}

void keel__os_yield(void) { sched_yield(); }

uint64_t keel__os_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t keel__os_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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

int keel__os_usage(keel_os_usage* u) {
    struct rusage ru;
    memset(u, 0, sizeof *u);
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    u->user_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec;
    u->system_us = (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
#if defined(__APPLE__)
    u->peak_resident = (size_t)ru.ru_maxrss;           /* bytes on macOS */
#else
    u->peak_resident = (size_t)ru.ru_maxrss * 1024u;   /* KiB on Linux and the BSDs */
#endif
    return 1;
}

/* ---- the heap profile's OS work ---- */

#if defined(__GLIBC__)
int keel__os_profile_supported(void) { return 1; }

/* The unwinder: libunwind's unw_backtrace when the system has it (Debian
   package libunwind8; it caches what it learns of each frame, so a capture
   costs about 900 instructions for six frames against glibc's 13,500, whose
   libgcc unwinder reads the DWARF rules again each time), loaded RTLD_LOCAL
   so that its own backtrace and _Unwind_Backtrace replace nobody's; else
   glibc's backtrace. Chosen once, when profiling starts; neither is loaded
   before.
   libunwind's cache is per thread, and a thread's first capture sets it up:
   about 82,000 instructions to clear the buckets of a fresh 256 KiB
   mapping, its 64 page faults, and an munmap at thread exit. A thread that
   takes a few samples and ends (a pool's short task; mean 512 KiB between
   samples) would pay that each time, so a thread's first
   UNWIND_CACHE_AFTER captures use glibc's backtrace, which keeps no
   per-thread state; only a thread that goes on sampling sets the cache up.
   (libunwind's first capture: the cache set-up plus 7 cold frames; glibc's
   about 13,500 a capture: the cache repays itself after about 16.) */
#define UNWIND_CACHE_AFTER 16u
typedef int (*backtrace_fn)(void** frames, int max);
static backtrace_fn unwinder = backtrace;

/* Not under ThreadSanitizer: libunwind frees its per-thread cache from a
   thread-specific-data destructor that locks a mutex after TSan has torn
   the exiting thread's state down, and TSan's interceptor crashes there. */
#if defined(__SANITIZE_THREAD__)
#define KEEL_OS_LIBUNWIND 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KEEL_OS_LIBUNWIND 0
#endif
#endif
#ifndef KEEL_OS_LIBUNWIND
#define KEEL_OS_LIBUNWIND 1
#endif

void keel__os_backtrace_init(void) {
    void* frames[4];
    void* lib = KEEL_OS_LIBUNWIND ? dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL) : NULL;
    backtrace_fn fn = lib ? (backtrace_fn)(uintptr_t)dlsym(lib, "unw_backtrace") : NULL;
    (void)backtrace(frames, 4);   /* glibc's loads libgcc_s on its first call */
    if (fn && fn(frames, 4) > 0) unwinder = fn;
}

int keel__os_backtrace(void** frames, int max, uint32_t thread_captures) {
    return (thread_captures < UNWIND_CACHE_AFTER ? backtrace : unwinder)(frames, max);
}
#else
int keel__os_profile_supported(void) { return 0; }

void keel__os_backtrace_init(void) {}

int keel__os_backtrace(void** frames, int max, uint32_t thread_captures) {
    (void)frames;
    (void)max;
    (void)thread_captures;
    return 0;
}
#endif

typedef struct code_walk {
    uintptr_t at, lo, hi;
    const char* exe;   /* the program's path, or "" */
    int found;         /* 1: in a shared object; 2: in the main program */
} code_walk;

static int code_visit(uintptr_t lo, uintptr_t hi, const char* rest, void* ctx) {
    code_walk* w = (code_walk*)ctx;
    const char* path;
    if (lo > w->at || w->at >= hi) return 0;
    path = strchr(rest, '/');
    /* in the main program: its frames and keel's share the range */
    w->found = path && w->exe[0] && strcmp(path, w->exe) == 0 ? 2 : 1;
    w->lo = lo;
    w->hi = hi;
    return 1;
}

/* The mapping of /proc/self/maps that holds fn, when it is a shared
   object's (keel as libkeel.so or the preloaded override). */
int keel__os_code_range(const void* fn, uintptr_t* lo_out, uintptr_t* hi_out) {
    char exe[1024];
    ssize_t exe_len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    code_walk w;
    exe[exe_len > 0 ? exe_len : 0] = '\0';
    w.at = (uintptr_t)fn;
    w.exe = exe;
    w.found = 0;
    if (maps_walk(code_visit, &w) < 0 || w.found != 1) return 0;
    *lo_out = w.lo;
    *hi_out = w.hi;
    return 1;
}

int keel__os_file_create(const char* path) {
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

int keel__os_file_write(int fd, const char* data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = EIO;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int keel__os_file_write_maps(int fd) {
    char buf[4096];
    int in = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (in < 0) return -1;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || keel__os_file_write(fd, buf, (size_t)n) != 0) {
            int e = errno;
            close(in);
            errno = e;
            return n == 0 ? 0 : -1;
        }
    }
}

int keel__os_file_close(int fd) { return close(fd); }

#else
typedef int keel_os_posix_unused; /* ISO C: a translation unit needs a declaration */
#endif
