/* os.h — the heap's seam to the OS for everything but memory (memory is
   vmem.h's): locks, thread-exit hooks, fork hooks, time, stderr, abort.
   One implementation per OS: os_posix.c, os_windows.c. */
#ifndef KEEL_OS_H
#define KEEL_OS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A small lock for slow paths: spins briefly, then yields. Needs no OS
   object, so it is valid zero-initialised and trivially reset after fork. */
typedef struct keel_lock { atomic_flag a_held; } keel_lock;
#define KEEL_LOCK_INIT { ATOMIC_FLAG_INIT }

void keel__lock(keel_lock* lock);
bool keel__lock_try(keel_lock* lock);      /* true: taken; false: held, nothing waited */
void keel__unlock(keel_lock* lock);
void keel__lock_reset(keel_lock* lock);     /* in a forked child: the holder is gone */

/* Process-wide set-up, once: the thread-exit key and the fork handlers. */
typedef void (*keel_thread_exit_fn)(void* value);
typedef void (*keel_fork_fn)(void);
void keel__os_init(keel_thread_exit_fn on_thread_exit, keel_fork_fn prepare,
                   keel_fork_fn parent, keel_fork_fn child);
/* Arms the exit hook of the calling thread with value (NULL disarms). */
void keel__os_thread_exit_arm(void* value);

/* Physical memory plus swap (page file): no single block larger than this
   can ever be backed, so such requests fail at once. */
size_t keel__os_memory_limit(void);

/* How many bytes from p, up to max, are readable memory (the override's
   realloc of a block keel did not allocate, whose size is unknown). */
size_t keel__os_readable_bytes(const void* p, size_t max);

/* Puts a fresh reservation (no access, no memory) over [p, p + n), a range
   of ours that is decommitted already, in one call: mappings that pages
   moved in by vmem_move cut into it join their reserved neighbours again
   (decommitting alone leaves them cut). 0 when the OS refused (the range
   stays as it was, or is reserved again); aborts in the one case with no
   way back (the OS unmapped it, refused, and another mapping took it).
   Does nothing on Windows, where pages never move. */
int keel__os_rejoin(void* p, size_t n);

/* Whether the process's address space is limited (ulimit -v): then keel
   reserves no more than it needs. Asked each time; the limit can change. */
int keel__os_address_space_limited(void);

/* The process's environment ("NAME=value" strings, NULL-terminated), read
   in place: nothing is copied or allocated. */
char* const* keel__os_environ(void);

unsigned long long keel__os_pid(void);
/* 64 bits from the OS's random source (getrandom on Linux), mixed with the
   clock, the process id and an address where the OS has none: the hardened
   build's secrets (harden.c). Does not allocate. */
uint64_t keel__os_random_seed(void);
void keel__os_yield(void);
uint64_t keel__os_now_ms(void);
/* A monotonic clock in nanoseconds (its resolution is the OS's): what the
   guarded pool's system calls cost (guarded.c). */
uint64_t keel__os_now_ns(void);
void keel__os_sleep_ms(unsigned ms);
/* Runs fn on a new detached thread that takes no signals (POSIX: every
   signal blocked in it, so the program's handlers keep running on its own
   threads); 0 when the OS refuses. One fn per process (the purge thread). */
typedef void (*keel_thread_fn)(void);
int keel__os_thread_start(keel_thread_fn fn);
void keel__os_write_stderr(const char* text, size_t len);
_Noreturn void keel__os_abort(void);

/* The process's CPU time so far (user and system, microseconds) and the
   peak of its resident set (bytes): getrusage, GetProcessTimes and
   PeakWorkingSetSize. 0 (fields zero) where the OS does not say. */
typedef struct keel_os_usage { uint64_t user_us, system_us; size_t peak_resident; } keel_os_usage;
int keel__os_usage(keel_os_usage* u);

/* ---- the heap profile's OS work (profile.c) ----
   keel__os_profile_supported: whether this OS has the stack capture below
   (glibc: backtrace(3); elsewhere none, and the profiler stays off).
   keel__os_backtrace_init: loads what capturing needs (glibc's backtrace
   dlopens libgcc_s and allocates on its first call); called once, outside
   every lock, before the first capture. keel__os_backtrace: up to max
   return addresses of the calling thread, innermost first; does not
   allocate once initialised. thread_captures: how many stacks the thread
   captured before (an unwinder with a per-thread cache pays its set-up
   only in a thread that captures many). keel__os_code_range: the executable range of
   the shared object that holds fn, false when fn is in the main program
   (then nothing tells keel's frames from the program's by address). */
int keel__os_profile_supported(void);
void keel__os_backtrace_init(void);
int keel__os_backtrace(void** frames, int max, uint32_t thread_captures);
int keel__os_code_range(const void* fn, uintptr_t* lo, uintptr_t* hi);
/* Files for the profile dump, without the heap or stdio: create (truncate)
   gives a descriptor >= 0 or -1; write writes all len bytes; write_maps
   appends the process's memory map (/proc/self/maps). Each returns 0 or -1
   and leaves errno set as the OS did. */
int keel__os_file_create(const char* path);
int keel__os_file_write(int fd, const char* data, size_t len);
int keel__os_file_write_maps(int fd);
int keel__os_file_close(int fd);

/* Writes a string literal to stderr. */
#define KEEL_OS_SAY(literal) keel__os_write_stderr((literal), sizeof(literal) - 1)

#endif
