/* vmem.h — cross-platform virtual memory: reserve address space, commit and
   decommit pages, release; page size and alignment helpers. Part of keel, and
   usable alone as an STB-style single header.

   USING IT ALONE
     In exactly one C or C++ file:
         #define VMEM_IMPLEMENTATION
         #include "vmem.h"
     Everywhere else include it without the define. Nothing to link on Linux
     (libc) or Windows (kernel32).

   OPTIONS (define before the include that has VMEM_IMPLEMENTATION)
     VMEM_IMPLEMENTATION   emit the implementation in this translation unit.
     VMEM_STATIC           give every function static linkage (private copy).
     VMEMDEF               override the linkage/visibility of every function.
     VMEM_FAULT_INJECTION  build the test-only fault seam (vmem_fault_inject);
                           without it the seam does not exist and costs nothing.

   MODEL
     reserve   claims address space only; touching a reserved page faults.
     commit    makes pages read-write; the first read of a page gives zero.
     decommit  gives the physical memory back AND makes the pages fault again
               (POSIX: mprotect PROT_NONE + madvise MADV_DONTNEED; Windows:
               MEM_DECOMMIT); committing again gives zero pages.
     reset     the cheap variant for allocators: contents discarded and memory
               given back, pages stay committed and accessible (no mapping is
               split); they then read as zero or as their old data.
     move      committed pages go to another reserved range without a copy,
               contents and access with them (Linux: mremap); the old range
               is decommitted. Elsewhere it says no, and the caller copies.
     release   gives the whole reservation back (pair of vmem_reserve[_aligned]).
     alloc/free reserve+commit in one step, and its pair.

   Every range function acts on the OS pages overlapping [ptr, ptr + num_bytes).
   Reservations are aligned to vmem_page_info.alloc_alignment (the page size on
   Linux, 64 KiB on Windows) and their sizes rounded up to it. Never assume
   4 KiB pages: arm64 kernels use 16 and 64 KiB too.

   ERRORS
     A failing call returns NULL/false (vmem_align_* return 0), leaves the
     memory as it was, and records why in a per-thread message read with
     vmem_get_error_message(), naming the OS error when there is one. Nothing
     asserts or aborts. The layer is stateless: it cannot tell a range that
     some other code mapped from one it reserved, so callers pass back what
     they were given. What the OS can check is checked: a release of memory
     that is not mapped fails instead of being ignored.

   COUNTERS
     vmem_get_usage_summary() reports exact process-wide counters of what went
     through this copy of vmem: reserve/release and alloc/free move
     reserved_bytes; commit/decommit and alloc/free move committed_bytes, in
     page-rounded sizes. Callers keep them balanced (decommit what they
     committed before vmem_release). Updates are relaxed atomics.

   THREADS
     Every function may be called from any thread. The error message is per
     thread.
*/
#ifndef KEEL_VMEM_H
#define KEEL_VMEM_H

#include <stddef.h>
#include <stdint.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif

#ifndef VMEMDEF
#  if defined(VMEM_STATIC) && defined(__GNUC__)
#    define VMEMDEF static __attribute__((unused))
#  elif defined(VMEM_STATIC)
#    define VMEMDEF static
#  else
#    define VMEMDEF extern
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmem_page_info {
    size_t page_size;        /* OS page: the unit of commit, decommit, protect      */
    size_t alloc_alignment;  /* granularity and alignment of reservations           */
} vmem_page_info;

typedef enum vmem_access { VMEM_NO_ACCESS, VMEM_READ, VMEM_READ_WRITE } vmem_access;

typedef struct vmem_usage {
    size_t reserved_bytes;          /* reserved through vmem and not yet released     */
    size_t committed_bytes;         /* committed through vmem and not decommitted     */
    size_t process_resident_bytes;  /* whole process, from the OS (RSS / working set) */
    size_t process_virtual_bytes;   /* whole process, from the OS                     */
} vmem_usage;

/* Page size and reservation granularity, powers of two. Never fails. */
VMEMDEF vmem_page_info vmem_get_page_info(void);
VMEMDEF size_t vmem_get_page_size(void);

/* Reserves at least num_bytes (rounded up to alloc_alignment) of address
   space, aligned to alloc_alignment. Pages are inaccessible until committed.
   NULL on failure (zero size, size overflow, OS refusal). */
VMEMDEF void* vmem_reserve(size_t num_bytes);

/* As vmem_reserve, aligned to `alignment` (a power of two; below
   alloc_alignment acts as alloc_alignment). Works on Windows too, where part
   of a reservation cannot be released. Release with vmem_release. */
VMEMDEF void* vmem_reserve_aligned(size_t num_bytes, size_t alignment);

/* Reserves and commits read-write in one step; pair with vmem_free. */
VMEMDEF void* vmem_alloc(size_t num_bytes);

/* Makes the pages overlapping [ptr, ptr+num_bytes) of a reservation
   read-write; fresh pages read as zero. False on failure, nothing changed. */
VMEMDEF bool vmem_commit(void* ptr, size_t num_bytes);

/* Gives the physical memory of those pages back to the OS and makes them
   fault when touched; a later commit gives zero pages. */
VMEMDEF bool vmem_decommit(void* ptr, size_t num_bytes);

/* Discards the contents of committed pages and gives their memory back; the
   pages stay committed and accessible and read as zero or as old data. */
VMEMDEF bool vmem_reset(void* ptr, size_t num_bytes);

/* Changes the access of committed pages. */
VMEMDEF bool vmem_protect(void* ptr, size_t num_bytes, vmem_access access);

/* Moves committed pages without copying them: the pages overlapping
   [from, from+num_bytes) go to the same offsets from `to`, with their
   contents and access, and `from`'s pages are decommitted. `to` and `from`
   are page-aligned, the ranges do not overlap, and `to`'s pages are
   reserved and not committed (what they held is discarded). committed_bytes
   does not change. Linux 5.7 and later (mremap with MREMAP_DONTUNMAP); on
   other systems and older kernels false, nothing changed: copy instead.
   Linux before 6.17 also refuses (false, nothing changed) a `from` range
   that is not one mapping to it: pages moved in by an earlier vmem_move
   stay a mapping of their own until they are decommitted or released, and
   a range taking them together with their neighbours is more than one, as
   is one with parts of different access. One failure leaves a
   change behind: Linux unmaps `to` before it looks at `from`, and vmem
   reserves `to` again at once; should another thread have mapped something
   there in between, the message starts "vmem_move: lost" and `to` is no
   longer the caller's. */
VMEMDEF bool vmem_move(void* to, void* from, size_t num_bytes);

/* Releases a whole reservation: ptr and num_reserved_bytes as given to and
   returned by vmem_reserve / vmem_reserve_aligned. On POSIX systems a
   granule-aligned part of a reservation may also be released on its own
   (the rest stays reserved); Windows releases only whole reservations. */
VMEMDEF bool vmem_release(void* ptr, size_t num_reserved_bytes);

/* Releases a block from vmem_alloc (ptr and num_bytes as given). */
VMEMDEF bool vmem_free(void* ptr, size_t num_bytes);

/* Rounds address up / down to a multiple of align (a power of two). Return 0
   and record an error when align is not a power of two or rounding up
   overflows. */
VMEMDEF uintptr_t vmem_align_forward(uintptr_t address, size_t align);
VMEMDEF uintptr_t vmem_align_backward(uintptr_t address, size_t align);

/* The counters above plus the process's resident and virtual size from the
   OS (0 where the OS cannot say; then an error message is recorded). */
VMEMDEF vmem_usage vmem_get_usage_summary(void);

/* Why this thread's last failing vmem call failed ("" if none has). The
   message stays until the next failure on this thread. */
VMEMDEF const char* vmem_get_error_message(void);

#ifdef VMEM_FAULT_INJECTION
/* Test-only seam: makes OS calls fail on purpose, as if the OS refused with
   "out of memory". Operations counted: */
enum {
    VMEM_FAULT_RESERVE  = 1,   /* vmem_reserve, vmem_reserve_aligned, vmem_alloc */
    VMEM_FAULT_COMMIT   = 2,   /* vmem_commit                                   */
    VMEM_FAULT_DECOMMIT = 4,   /* vmem_decommit                                 */
    VMEM_FAULT_ALL      = 7
};
#define VMEM_FAULT_FOREVER ((unsigned long)-1)
/* From now on, counting calls of the operations in `ops` process-wide, the
   nth call (1-based) and the count-1 after it fail (count VMEM_FAULT_FOREVER:
   every call from the nth on). nth 0 disarms. */
VMEMDEF void vmem_fault_inject(unsigned ops, unsigned long nth, unsigned long count);
/* Number of calls failed by the seam since it was last armed. */
VMEMDEF unsigned long vmem_fault_injected(void);
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_VMEM_H */

/* ======================================================================== */
/*                              IMPLEMENTATION                              */
/* ======================================================================== */
#if defined(VMEM_IMPLEMENTATION) && !defined(VMEM__IMPLEMENTATION_DONE)
#define VMEM__IMPLEMENTATION_DONE

#if defined(_WIN32)
#  define VMEM__WINDOWS 1
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  ifndef NOMINMAX
#    define NOMINMAX
#  endif
#  include <windows.h>
#  ifndef PSAPI_VERSION
#    define PSAPI_VERSION 2   /* GetProcessMemoryInfo from kernel32, no psapi.lib */
#  endif
#  include <psapi.h>
#else
#  define VMEM__POSIX 1
#  include <sys/mman.h>
#  include <unistd.h>
#  include <fcntl.h>
#  include <errno.h>
   /* Strict ISO C (-std=c11 with no feature macro) hides the BSD/GNU parts of
      <sys/mman.h>. These are the Linux values on every architecture keel
      targets; elsewhere compile with _DEFAULT_SOURCE. */
#  if !defined(MAP_ANONYMOUS) || !defined(MAP_NORESERVE) || !defined(MADV_DONTNEED)
#    if defined(__linux__) && !defined(__cplusplus) && \
        (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__))
#      ifndef MAP_ANONYMOUS
#        define MAP_ANONYMOUS 0x20
#      endif
#      ifndef MAP_NORESERVE
#        define MAP_NORESERVE 0x4000
#      endif
#      ifndef MADV_DONTNEED
#        define MADV_DONTNEED 4
         extern int madvise(void* addr, size_t len, int advice);
         extern int mincore(void* addr, size_t len, unsigned char* vec);
#      endif
#    else
#      error "vmem.h: define _DEFAULT_SOURCE before any system header"
#    endif
#  endif
#endif

#if defined(VMEM__POSIX) && defined(__linux__)
   /* mremap and its flags are GNU extensions of <sys/mman.h>; the values are
      Linux's on every architecture keel targets. */
#  ifndef MREMAP_MAYMOVE
#    define MREMAP_MAYMOVE 1
#  endif
#  ifndef MREMAP_FIXED
#    define MREMAP_FIXED 2
#  endif
#  ifndef MREMAP_DONTUNMAP
#    define MREMAP_DONTUNMAP 4
#  endif
#  ifndef MAP_FIXED_NOREPLACE
#    define MAP_FIXED_NOREPLACE 0x100000
#  endif
#  if !defined(__USE_GNU) && !defined(__cplusplus)
     extern void* mremap(void* old_address, size_t old_size, size_t new_size, int flags, ...);
#  endif
#endif

#include <string.h>

#ifdef __cplusplus
#  define VMEM__THREAD_LOCAL thread_local
#elif defined(_MSC_VER)
#  define VMEM__THREAD_LOCAL __declspec(thread)
#else
#  define VMEM__THREAD_LOCAL _Thread_local
#endif

/* Counters and caches are relaxed atomics: they order nothing else, they only
   need to be exact sums and free of data races. */
#if defined(__GNUC__) || defined(__clang__)
#  define VMEM__LOAD(p)       __atomic_load_n((p), __ATOMIC_RELAXED)
#  define VMEM__STORE(p, v)   __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#  define VMEM__ADD(p, v)     ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELAXED))
#  define VMEM__SUB(p, v)     ((void)__atomic_fetch_sub((p), (v), __ATOMIC_RELAXED))
#  define VMEM__INC(p)        __atomic_add_fetch((p), 1, __ATOMIC_RELAXED)
#elif defined(_MSC_VER) && defined(_WIN64)
#  include <intrin.h>
#  define VMEM__LOAD(p)       (*(volatile size_t*)(p))
#  define VMEM__STORE(p, v)   (*(volatile size_t*)(p) = (v))
#  define VMEM__ADD(p, v)     ((void)_InterlockedExchangeAdd64((volatile __int64*)(p), (__int64)(v)))
#  define VMEM__SUB(p, v)     ((void)_InterlockedExchangeAdd64((volatile __int64*)(p), -(__int64)(v)))
#  define VMEM__INC(p)        ((unsigned long)_InterlockedIncrement((volatile long*)(p)))
#else
#  error "vmem.h: no atomics for this compiler"
#endif

static size_t vmem__reserved_bytes;
static size_t vmem__committed_bytes;
static size_t vmem__page_size_cache;
static size_t vmem__alloc_alignment_cache;
static VMEM__THREAD_LOCAL char vmem__error_text[256];

/* ---- error messages: no stdio and no heap, so allocators can use vmem ---- */

typedef struct vmem__text { char* buf; size_t cap; size_t len; } vmem__text;

static void vmem__text_add(vmem__text* t, const char* s) {
    while (*s && t->len + 1 < t->cap) t->buf[t->len++] = *s++;
    t->buf[t->len] = '\0';
}

static void vmem__text_add_uint(vmem__text* t, unsigned long long v) {
    char digits[24];
    int n = 0;
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n > 0 && t->len + 1 < t->cap) t->buf[t->len++] = digits[--n];
    t->buf[t->len] = '\0';
}

static vmem__text vmem__error_start(const char* func, const char* what) {
    vmem__text t;
    t.buf = vmem__error_text;
    t.cap = sizeof vmem__error_text;
    t.len = 0;
    vmem__text_add(&t, func);
    vmem__text_add(&t, ": ");
    vmem__text_add(&t, what);
    return t;
}

/* A failure that is the caller's (bad argument): no OS error to name. */
static void vmem__fail(const char* func, const char* what) {
    (void)vmem__error_start(func, what);
}

static void vmem__os_describe(vmem__text* t, unsigned long code);

/* A failure the OS reported; `code` is errno or GetLastError(). */
static void vmem__fail_os(const char* func, const char* what, unsigned long code, bool injected) {
    vmem__text t = vmem__error_start(func, what);
    vmem__text_add(&t, ": ");
    vmem__os_describe(&t, code);
    if (injected) vmem__text_add(&t, " [injected by vmem_fault_inject]");
}

/* ---- fault injection seam (test builds only) ---- */

#ifdef VMEM_FAULT_INJECTION
static unsigned vmem__fault_ops;
static unsigned long vmem__fault_nth, vmem__fault_count, vmem__fault_seen, vmem__fault_hits;

VMEMDEF void vmem_fault_inject(unsigned ops, unsigned long nth, unsigned long count) {
    VMEM__STORE(&vmem__fault_ops, 0u);
    VMEM__STORE(&vmem__fault_seen, 0ul);
    VMEM__STORE(&vmem__fault_hits, 0ul);
    VMEM__STORE(&vmem__fault_nth, nth);
    VMEM__STORE(&vmem__fault_count, count);
    VMEM__STORE(&vmem__fault_ops, nth ? ops : 0u);
}

VMEMDEF unsigned long vmem_fault_injected(void) { return VMEM__LOAD(&vmem__fault_hits); }

static bool vmem__fault_now(unsigned op) {
    unsigned long seen, nth;
    if (!(VMEM__LOAD(&vmem__fault_ops) & op)) return false;
    seen = VMEM__INC(&vmem__fault_seen);
    nth = VMEM__LOAD(&vmem__fault_nth);
    if (seen < nth || seen - nth >= VMEM__LOAD(&vmem__fault_count)) return false;
    (void)VMEM__INC(&vmem__fault_hits);
    return true;
}
#  define VMEM__FAULT(op) vmem__fault_now(op)
#  define VMEM__FAULT_RESERVE  VMEM_FAULT_RESERVE
#  define VMEM__FAULT_COMMIT   VMEM_FAULT_COMMIT
#  define VMEM__FAULT_DECOMMIT VMEM_FAULT_DECOMMIT
#else
#  define VMEM__FAULT(op) 0
#endif

/* ======================== POSIX backend ================================= */
#if defined(VMEM__POSIX)

#define VMEM__OUT_OF_MEMORY ENOMEM

static void vmem__os_describe(vmem__text* t, unsigned long code) {
    char buf[128];
    const char* s;
    int e = (int)code;
#if defined(__GLIBC__) && defined(__USE_GNU)
    s = strerror_r(e, buf, sizeof buf);             /* GNU: returns the text */
#elif defined(__GLIBC__) && !defined(__USE_XOPEN2K)
    (void)buf;
    s = strerror(e);                                /* strict ISO C: no strerror_r */
#else
    s = strerror_r(e, buf, sizeof buf) == 0 ? buf : "unknown error";   /* XSI */
#endif
    vmem__text_add(t, s ? s : "unknown error");
    vmem__text_add(t, " (errno ");
    vmem__text_add_uint(t, code);
    vmem__text_add(t, ")");
}

static unsigned long vmem__os_last_error(void) { return (unsigned long)errno; }

static size_t vmem__os_page_size(void) {
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

static size_t vmem__os_alloc_alignment(void) { return vmem__os_page_size(); }

static void* vmem__os_map(size_t size, int prot) {
    void* p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void* vmem__os_reserve(size_t size) { return vmem__os_map(size, PROT_NONE); }

static void* vmem__os_alloc(size_t size) { return vmem__os_map(size, PROT_READ | PROT_WRITE); }

/* Over-reserve by alignment - granularity, then unmap the unaligned head and
   the tail: exactly `size` stays reserved. */
static void* vmem__os_reserve_aligned(size_t size, size_t alignment, size_t granularity) {
    size_t over = size + (alignment - granularity);
    char* p = (char*)vmem__os_map(over, PROT_NONE);
    char* aligned;
    size_t head, tail;
    if (!p) return NULL;
    aligned = (char*)(((uintptr_t)p + (alignment - 1)) & ~(uintptr_t)(alignment - 1));
    head = (size_t)(aligned - p);
    tail = over - head - size;
    if (head) munmap(p, head);
    if (tail) munmap(aligned + size, tail);
    return aligned;
}

static bool vmem__os_commit(void* p, size_t size) {
    return mprotect(p, size, PROT_READ | PROT_WRITE) == 0;
}

/* Protection first: if it fails (unmapped range, VMA limit) nothing changed. */
static bool vmem__os_decommit(void* p, size_t size) {
    int e;
    if (mprotect(p, size, PROT_NONE) != 0) return false;
    if (madvise(p, size, MADV_DONTNEED) == 0) return true;
    e = errno;
    (void)mprotect(p, size, PROT_READ | PROT_WRITE);
    errno = e;
    return false;
}

static bool vmem__os_reset(void* p, size_t size) {
    return madvise(p, size, MADV_DONTNEED) == 0;
}

static bool vmem__os_protect(void* p, size_t size, vmem_access access) {
    int prot = access == VMEM_READ_WRITE ? PROT_READ | PROT_WRITE
             : access == VMEM_READ ? PROT_READ : PROT_NONE;
    return mprotect(p, size, prot) == 0;
}

/* 1 moved; 0 refused, nothing changed (errno set); -1 refused and `to`
   lost (see vmem_move). MREMAP_DONTUNMAP leaves `from` mapped and empty;
   a fresh reservation put over it (MAP_FIXED replaces in one call) is its
   decommit, and lets it join reserved neighbours again. Where the kernel
   refused after unmapping `to` (MREMAP_FIXED does that first), mincore of
   its first page fails and `to` is reserved again (MAP_FIXED_NOREPLACE:
   never over a stranger's mapping). */
static int vmem__os_move(void* to, void* from, size_t size) {
#if defined(__linux__)
    unsigned char probe;
    int e;
    void* again;
    if (mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to) == to) {
        if (mmap(from, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != from)
            (void)vmem__os_decommit(from, size);   /* the pages are gone already: only the access stays to take */
        return 1;
    }
    e = errno;
    if (mincore(to, vmem_get_page_size(), &probe) == 0) { errno = e; return 0; }
    again = mmap(to, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (again == to) { errno = e; return 0; }
    if (again != MAP_FAILED) (void)munmap(again, size);   /* a kernel before 4.17 took the flag as a hint */
    errno = e;
    return -1;
#else
    (void)to;
    (void)from;
    (void)size;
    errno = ENOSYS;
    return 0;
#endif
}

/* munmap of an unmapped range succeeds silently; mincore fails with ENOMEM
   when any page of the range is unmapped, so a release of memory nobody
   mapped is an error, not a no-op. msync(MS_ASYNC) says the same, and is
   asked only when mincore refuses: Valgrind's memcheck reads msync's range
   and reports every reserved, inaccessible page of it as an error, while
   qemu-user's mincore refuses inaccessible pages that are mapped. The range
   goes 256 pages at a time: mincore writes one byte per page. */
static bool vmem__os_release(void* p, size_t size) {
    unsigned char vec[256];
    size_t step = sizeof vec * vmem_get_page_size(), off;
    for (off = 0; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        if (mincore((char*)p + off, n, vec) != 0 && msync((char*)p + off, n, MS_ASYNC) != 0) return false;
    }
    return munmap(p, size) == 0;
}

static bool vmem__os_process_usage(size_t* resident, size_t* virt) {
#if defined(__linux__)
    char buf[128];
    ssize_t n;
    size_t vals[2] = {0, 0};
    int i = 0, fd;
    const char* s;
#  ifdef O_CLOEXEC
    fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
#  else
    fd = open("/proc/self/statm", O_RDONLY);
#  endif
    if (fd < 0) return false;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    for (s = buf; i < 2 && *s; i++) {
        while (*s == ' ') s++;
        if (*s < '0' || *s > '9') return false;
        while (*s >= '0' && *s <= '9') vals[i] = vals[i] * 10 + (size_t)(*s++ - '0');
    }
    if (i < 2) return false;
    *virt = vals[0] * vmem__os_page_size();
    *resident = vals[1] * vmem__os_page_size();
    return true;
#else
    (void)resident; (void)virt;
    errno = ENOSYS;
    return false;
#endif
}

static void vmem__os_set_out_of_memory(void) { errno = ENOMEM; }

#endif /* VMEM__POSIX */

/* ======================== Windows backend =============================== */
#if defined(VMEM__WINDOWS)

#define VMEM__OUT_OF_MEMORY ERROR_NOT_ENOUGH_MEMORY

static void vmem__os_describe(vmem__text* t, unsigned long code) {
    char buf[160];
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                             NULL, (DWORD)code, 0, buf, (DWORD)sizeof buf, NULL);
    while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '.')) n--;
    buf[n] = '\0';
    vmem__text_add(t, n ? buf : "unknown error");
    vmem__text_add(t, " (Windows error ");
    vmem__text_add_uint(t, code);
    vmem__text_add(t, ")");
}

static unsigned long vmem__os_last_error(void) { return (unsigned long)GetLastError(); }

static size_t vmem__os_page_size(void) {
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwPageSize;
}

static size_t vmem__os_alloc_alignment(void) {
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwAllocationGranularity;
}

static void* vmem__os_reserve(size_t size) {
    return VirtualAlloc(NULL, size, MEM_RESERVE, PAGE_NOACCESS);
}

static void* vmem__os_alloc(size_t size) {
    return VirtualAlloc(NULL, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}

/* Windows cannot release part of a reservation. Reserve more, note an aligned
   address inside, give it all back and reserve exactly there; another thread
   may take the spot in between, so try a few times. If that keeps losing,
   keep the larger reservation and hand out its aligned interior: release
   finds the true base through VirtualQuery. */
static void* vmem__os_reserve_aligned(size_t size, size_t alignment, size_t granularity) {
    size_t over = size + (alignment - granularity);
    int attempt;
    for (attempt = 0; attempt < 16; attempt++) {
        char* p = (char*)VirtualAlloc(NULL, over, MEM_RESERVE, PAGE_NOACCESS);
        char* aligned;
        void* q;
        if (!p) return NULL;
        aligned = (char*)(((uintptr_t)p + (alignment - 1)) & ~(uintptr_t)(alignment - 1));
        if (aligned == p) {
            if (VirtualFree(p, 0, MEM_RELEASE) && (q = VirtualAlloc(p, size, MEM_RESERVE, PAGE_NOACCESS)) != NULL)
                return q;
            continue;
        }
        if (attempt == 15) return aligned;   /* keep the oversized reservation */
        if (!VirtualFree(p, 0, MEM_RELEASE)) return NULL;
        q = VirtualAlloc(aligned, size, MEM_RESERVE, PAGE_NOACCESS);
        if (q) return q;
    }
    SetLastError(ERROR_NOT_ENOUGH_MEMORY);
    return NULL;
}

static bool vmem__os_commit(void* p, size_t size) {
    return VirtualAlloc(p, size, MEM_COMMIT, PAGE_READWRITE) != NULL;
}

static bool vmem__os_decommit(void* p, size_t size) {
    return VirtualFree(p, size, MEM_DECOMMIT) != 0;
}

/* MEM_RESET drops the contents without decommitting; VirtualUnlock of pages
   that are not locked then trims them from the working set at once (it
   reports ERROR_NOT_LOCKED, which is expected). */
static bool vmem__os_reset(void* p, size_t size) {
    if (VirtualAlloc(p, size, MEM_RESET, PAGE_READWRITE) == NULL) return false;
    (void)VirtualUnlock(p, size);
    return true;
}

static bool vmem__os_protect(void* p, size_t size, vmem_access access) {
    DWORD old;
    DWORD prot = access == VMEM_READ_WRITE ? PAGE_READWRITE
               : access == VMEM_READ ? PAGE_READONLY : PAGE_NOACCESS;
    return VirtualProtect(p, size, prot, &old) != 0;
}

/* The range must lie inside one reservation; MEM_RELEASE takes its base. */
/* Windows has no way to move pages between reservations. */
static int vmem__os_move(void* to, void* from, size_t size) {
    (void)to;
    (void)from;
    (void)size;
    SetLastError(ERROR_NOT_SUPPORTED);
    return 0;
}

static bool vmem__os_release(void* p, size_t size) {
    MEMORY_BASIC_INFORMATION first, last;
    if (VirtualQuery(p, &first, sizeof first) == 0) return false;
    if (VirtualQuery((char*)p + size - 1, &last, sizeof last) == 0) return false;
    if (first.State == MEM_FREE || last.State == MEM_FREE || first.AllocationBase != last.AllocationBase) {
        SetLastError(ERROR_INVALID_ADDRESS);
        return false;
    }
    return VirtualFree(first.AllocationBase, 0, MEM_RELEASE) != 0;
}

/* Virtual size: the sum of the regions that are not free, walked with
   VirtualQuery (GlobalMemoryStatusEx's figure is not reliable under wine). It
   costs one call per region, fine for a statistics call. */
static bool vmem__os_process_usage(size_t* resident, size_t* virt) {
    PROCESS_MEMORY_COUNTERS pmc;
    MEMORY_BASIC_INFORMATION mbi;
    SYSTEM_INFO si;
    const char* at;
    const char* end;
    size_t total = 0;
    memset(&pmc, 0, sizeof pmc);
    pmc.cb = sizeof pmc;
    if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc)) return false;
    GetSystemInfo(&si);
    at = (const char*)si.lpMinimumApplicationAddress;
    end = (const char*)si.lpMaximumApplicationAddress;
    while (at < end && VirtualQuery(at, &mbi, sizeof mbi) != 0 && mbi.RegionSize != 0) {
        if (mbi.State != MEM_FREE) total += mbi.RegionSize;
        at = (const char*)mbi.BaseAddress + mbi.RegionSize;
    }
    *resident = (size_t)pmc.WorkingSetSize;
    *virt = total;
    return true;
}

static void vmem__os_set_out_of_memory(void) { SetLastError(ERROR_NOT_ENOUGH_MEMORY); }

#endif /* VMEM__WINDOWS */

/* ======================== the contract, on either backend ================ */

VMEMDEF vmem_page_info vmem_get_page_info(void) {
    vmem_page_info info;
    info.page_size = VMEM__LOAD(&vmem__page_size_cache);
    info.alloc_alignment = VMEM__LOAD(&vmem__alloc_alignment_cache);
    if (info.page_size == 0 || info.alloc_alignment == 0) {
        info.page_size = vmem__os_page_size();
        info.alloc_alignment = vmem__os_alloc_alignment();
        if (info.alloc_alignment < info.page_size) info.alloc_alignment = info.page_size;
        VMEM__STORE(&vmem__alloc_alignment_cache, info.alloc_alignment);
        VMEM__STORE(&vmem__page_size_cache, info.page_size);
    }
    return info;
}

VMEMDEF size_t vmem_get_page_size(void) { return vmem_get_page_info().page_size; }

static bool vmem__is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

VMEMDEF uintptr_t vmem_align_forward(uintptr_t address, size_t align) {
    if (!vmem__is_pow2(align)) { vmem__fail("vmem_align_forward", "alignment is not a power of two"); return 0; }
    if (address > UINTPTR_MAX - (align - 1)) { vmem__fail("vmem_align_forward", "address overflows when aligned"); return 0; }
    return (address + (align - 1)) & ~(uintptr_t)(align - 1);
}

VMEMDEF uintptr_t vmem_align_backward(uintptr_t address, size_t align) {
    if (!vmem__is_pow2(align)) { vmem__fail("vmem_align_backward", "alignment is not a power of two"); return 0; }
    return address & ~(uintptr_t)(align - 1);
}

/* Size of a new reservation, rounded to the granularity; 0 after an error. */
static size_t vmem__reservation_size(const char* func, size_t num_bytes, size_t granularity) {
    if (num_bytes == 0) { vmem__fail(func, "size is zero"); return 0; }
    if (num_bytes > SIZE_MAX - (granularity - 1)) {
        vmem__fail(func, "size overflows when rounded to the allocation granularity");
        return 0;
    }
    return (num_bytes + (granularity - 1)) & ~(granularity - 1);
}

/* The pages overlapping [ptr, ptr+num_bytes): false after an error. */
static bool vmem__page_range(const char* func, void* ptr, size_t num_bytes, char** start, size_t* size) {
    size_t page = vmem_get_page_size();
    uintptr_t lo = (uintptr_t)ptr, hi;
    if (!ptr) { vmem__fail(func, "pointer is NULL"); return false; }
    if (num_bytes == 0) { vmem__fail(func, "size is zero"); return false; }
    if (lo > UINTPTR_MAX - num_bytes || lo + num_bytes > UINTPTR_MAX - (page - 1)) {
        vmem__fail(func, "range overflows the address space when rounded to pages");
        return false;
    }
    hi = (lo + num_bytes + (page - 1)) & ~(uintptr_t)(page - 1);
    lo &= ~(uintptr_t)(page - 1);
    *start = (char*)lo;
    *size = (size_t)(hi - lo);
    return true;
}

static void* vmem__reserve_common(const char* func, size_t num_bytes, bool commit) {
    size_t size = vmem__reservation_size(func, num_bytes, vmem_get_page_info().alloc_alignment);
    void* p;
    if (!size) return NULL;
    if (VMEM__FAULT(VMEM__FAULT_RESERVE)) {
        vmem__os_set_out_of_memory();
        vmem__fail_os(func, "the OS refused to reserve address space", VMEM__OUT_OF_MEMORY, true);
        return NULL;
    }
    p = commit ? vmem__os_alloc(size) : vmem__os_reserve(size);
    if (!p) { vmem__fail_os(func, "the OS refused to reserve address space", vmem__os_last_error(), false); return NULL; }
    VMEM__ADD(&vmem__reserved_bytes, size);
    if (commit) VMEM__ADD(&vmem__committed_bytes, size);
    return p;
}

VMEMDEF void* vmem_reserve(size_t num_bytes) {
    return vmem__reserve_common("vmem_reserve", num_bytes, false);
}

VMEMDEF void* vmem_alloc(size_t num_bytes) {
    return vmem__reserve_common("vmem_alloc", num_bytes, true);
}

VMEMDEF void* vmem_reserve_aligned(size_t num_bytes, size_t alignment) {
    static const char func[] = "vmem_reserve_aligned";
    size_t gran = vmem_get_page_info().alloc_alignment, size;
    void* p;
    if (!vmem__is_pow2(alignment)) { vmem__fail(func, "alignment is not a power of two"); return NULL; }
    if (alignment <= gran) return vmem__reserve_common(func, num_bytes, false);
    size = vmem__reservation_size(func, num_bytes, gran);
    if (!size) return NULL;
    if (size > SIZE_MAX - (alignment - gran)) {
        vmem__fail(func, "size plus alignment overflows");
        return NULL;
    }
    if (VMEM__FAULT(VMEM__FAULT_RESERVE)) {
        vmem__os_set_out_of_memory();
        vmem__fail_os(func, "the OS refused to reserve address space", VMEM__OUT_OF_MEMORY, true);
        return NULL;
    }
    p = vmem__os_reserve_aligned(size, alignment, gran);
    if (!p) { vmem__fail_os(func, "the OS refused to reserve address space", vmem__os_last_error(), false); return NULL; }
    VMEM__ADD(&vmem__reserved_bytes, size);
    return p;
}

VMEMDEF bool vmem_commit(void* ptr, size_t num_bytes) {
    char* start;
    size_t size;
    if (!vmem__page_range("vmem_commit", ptr, num_bytes, &start, &size)) return false;
    if (VMEM__FAULT(VMEM__FAULT_COMMIT)) {
        vmem__os_set_out_of_memory();
        vmem__fail_os("vmem_commit", "the OS refused to commit", VMEM__OUT_OF_MEMORY, true);
        return false;
    }
    if (!vmem__os_commit(start, size)) {
        vmem__fail_os("vmem_commit", "the OS refused to commit", vmem__os_last_error(), false);
        return false;
    }
    VMEM__ADD(&vmem__committed_bytes, size);
    return true;
}

VMEMDEF bool vmem_decommit(void* ptr, size_t num_bytes) {
    char* start;
    size_t size;
    if (!vmem__page_range("vmem_decommit", ptr, num_bytes, &start, &size)) return false;
    if (VMEM__FAULT(VMEM__FAULT_DECOMMIT)) {
        vmem__os_set_out_of_memory();
        vmem__fail_os("vmem_decommit", "the OS refused to decommit", VMEM__OUT_OF_MEMORY, true);
        return false;
    }
    if (!vmem__os_decommit(start, size)) {
        vmem__fail_os("vmem_decommit", "the OS refused to decommit", vmem__os_last_error(), false);
        return false;
    }
    VMEM__SUB(&vmem__committed_bytes, size);
    return true;
}

VMEMDEF bool vmem_reset(void* ptr, size_t num_bytes) {
    char* start;
    size_t size;
    if (!vmem__page_range("vmem_reset", ptr, num_bytes, &start, &size)) return false;
    if (!vmem__os_reset(start, size)) {
        vmem__fail_os("vmem_reset", "the OS refused to reset", vmem__os_last_error(), false);
        return false;
    }
    return true;
}

VMEMDEF bool vmem_protect(void* ptr, size_t num_bytes, vmem_access access) {
    char* start;
    size_t size;
    if (!vmem__page_range("vmem_protect", ptr, num_bytes, &start, &size)) return false;
    if (access != VMEM_NO_ACCESS && access != VMEM_READ && access != VMEM_READ_WRITE) {
        vmem__fail("vmem_protect", "access is not a vmem_access value");
        return false;
    }
    if (!vmem__os_protect(start, size, access)) {
        vmem__fail_os("vmem_protect", "the OS refused to change protection", vmem__os_last_error(), false);
        return false;
    }
    return true;
}

VMEMDEF bool vmem_move(void* to, void* from, size_t num_bytes) {
    char* src;
    size_t size, page = vmem_get_page_size();
    int r;
    if (!to) { vmem__fail("vmem_move", "destination pointer is NULL"); return false; }
    if (((uintptr_t)to | (uintptr_t)from) & (page - 1)) {
        vmem__fail("vmem_move", "pointer is not page-aligned");
        return false;
    }
    if (!vmem__page_range("vmem_move", from, num_bytes, &src, &size)) return false;
    if ((uintptr_t)to > UINTPTR_MAX - size) { vmem__fail("vmem_move", "range overflows the address space"); return false; }
    if ((uintptr_t)to < (uintptr_t)src + size && (uintptr_t)src < (uintptr_t)to + size) {
        vmem__fail("vmem_move", "the ranges overlap");
        return false;
    }
    r = vmem__os_move(to, src, size);
    if (r == 1) return true;
    vmem__fail_os("vmem_move",
                  r < 0 ? "lost: the OS refused after unmapping the destination, and another mapping took it"
                        : "the OS refused to move the pages (not one mapping, or not supported here)",
                  vmem__os_last_error(), false);
    return false;
}

static bool vmem__release_common(const char* func, void* ptr, size_t num_bytes, bool committed) {
    size_t gran = vmem_get_page_info().alloc_alignment, size;
    if (!ptr) { vmem__fail(func, "pointer is NULL"); return false; }
    if ((uintptr_t)ptr & (gran - 1)) { vmem__fail(func, "pointer is not the start of a reservation"); return false; }
    size = vmem__reservation_size(func, num_bytes, gran);
    if (!size) return false;
    if ((uintptr_t)ptr > UINTPTR_MAX - size) { vmem__fail(func, "range overflows the address space"); return false; }
    if (!vmem__os_release(ptr, size)) {
        vmem__fail_os(func, "not a reservation, or the OS refused to release it", vmem__os_last_error(), false);
        return false;
    }
    VMEM__SUB(&vmem__reserved_bytes, size);
    if (committed) VMEM__SUB(&vmem__committed_bytes, size);
    return true;
}

VMEMDEF bool vmem_release(void* ptr, size_t num_reserved_bytes) {
    return vmem__release_common("vmem_release", ptr, num_reserved_bytes, false);
}

VMEMDEF bool vmem_free(void* ptr, size_t num_bytes) {
    return vmem__release_common("vmem_free", ptr, num_bytes, true);
}

VMEMDEF vmem_usage vmem_get_usage_summary(void) {
    vmem_usage u;
    u.reserved_bytes = VMEM__LOAD(&vmem__reserved_bytes);
    u.committed_bytes = VMEM__LOAD(&vmem__committed_bytes);
    u.process_resident_bytes = 0;
    u.process_virtual_bytes = 0;
    if (!vmem__os_process_usage(&u.process_resident_bytes, &u.process_virtual_bytes)) {
        vmem__fail_os("vmem_get_usage_summary", "the OS did not report process memory", vmem__os_last_error(), false);
        u.process_resident_bytes = 0;
        u.process_virtual_bytes = 0;
    }
    return u;
}

VMEMDEF const char* vmem_get_error_message(void) { return vmem__error_text; }

#endif /* VMEM_IMPLEMENTATION */
