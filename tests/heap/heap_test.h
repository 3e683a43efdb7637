/* heap_test.h — small helpers shared by the heap tests: position-dependent
   fill patterns, alignment, sleeping, and the environment the test runs in
   (sanitizers, qemu). Include after check.h, once per test program. */
#ifndef KEEL_TEST_HEAP_TEST_H
#define KEEL_TEST_HEAP_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when the library under test is built hardened (CMake
   KEEL_HARDENED_EVERYWHERE, or linked with libkeel-hardened: src/harden.h) */
#ifndef KEEL_HARDENED
#define KEEL_HARDENED 0
#endif
/* The block a 64-byte request takes: 64 bytes, or in the hardened build 80
   (its canary's 8 bytes take the next class). Bounds on how much of a
   budget small blocks fill are on blocks. */
#define HT_BLOCK64 (KEEL_HARDENED ? 80 : 64)

#include "keel/keel.h"

#include "keel/vmem.h"

#if defined(_WIN32)
#  include <windows.h>
#else
#  include <sys/resource.h>
#  include <time.h>
#endif

#define HT_KIB ((size_t)1 << 10)
#define HT_MIB ((size_t)1 << 20)

#if SIZE_MAX > 0xFFFFFFFFu
#  define HT_64BIT 1
#else
#  define HT_64BIT 0
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#  define HT_SANITIZED 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#    define HT_SANITIZED 1
#  endif
#endif
#ifndef HT_SANITIZED
#  define HT_SANITIZED 0
#endif

static inline int ht_aligned(const void* p, size_t alignment) {
    return ((uintptr_t)p & (alignment - 1)) == 0;
}

/* Minor page faults of the process so far (0 on Windows). */
static inline long ht_faults_now(void) {
#if defined(_WIN32)
    return 0;
#else
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
#endif
}

/* The process's mappings (lines of /proc/self/maps); -1 off Linux. */
static inline int ht_mappings(void) {
#if defined(__linux__)
    FILE* f = fopen("/proc/self/maps", "r");
    int n = 0, c;
    if (!f) return -1;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
#else
    return -1;
#endif
}

/* Whether this OS moves pages between reservations (vmem_move). */
static inline int ht_vmem_moves(void) {
    size_t n = vmem_get_page_size();
    unsigned char* a = (unsigned char*)vmem_reserve(n);
    unsigned char* b = (unsigned char*)vmem_reserve(n);
    int ok = 0;
    if (a && b && vmem_commit(a, n)) {
        ok = vmem_move(b, a, n);
        (void)vmem_decommit(ok ? b : a, n);
    }
    if (a) (void)vmem_release(a, n);
    if (b) (void)vmem_release(b, n);
    return ok;
}

/* Output not buffered: notes printed before a crash are not lost, and a
   fork copies no pending output. */
static inline void ht_unbuffered(void) { setvbuf(stdout, NULL, _IONBF, 0); }

static inline int ht_under_qemu(void) { return getenv("KEELTEST_QEMU") != NULL; }

/* Byte i of a block filled with seed: changes with the position so that a
   copy to the wrong offset or a block overlapping another is seen. */
static inline unsigned char ht_byte(size_t i, unsigned seed) {
    return (unsigned char)(seed ^ i ^ ((i >> 8) * 3u) ^ ((i >> 16) * 5u) ^ ((i >> 24) * 11u));
}

static inline void ht_fill(void* p, size_t n, unsigned seed) {
    unsigned char* b = (unsigned char*)p;
    size_t i;
    for (i = 0; i < n; i++) b[i] = ht_byte(i, seed);
}

/* 1 when [p, p+n) still holds the pattern of seed; else prints where not. */
static inline int ht_check(const void* p, size_t n, unsigned seed) {
    const unsigned char* b = (const unsigned char*)p;
    size_t i;
    for (i = 0; i < n; i++) {
        if (b[i] != ht_byte(i, seed)) {
            fprintf(stderr, "pattern %u broken at offset %lu of %lu (found 0x%02x, want 0x%02x)\n", seed,
                    (unsigned long)i, (unsigned long)n, b[i], ht_byte(i, seed));
            return 0;
        }
    }
    return 1;
}

/* Pattern check of a large block: every stride-th byte plus both ends. */
static inline int ht_check_sampled(const void* p, size_t n, unsigned seed, size_t stride) {
    const unsigned char* b = (const unsigned char*)p;
    size_t i, ends = n < 4096 ? n : 4096;
    for (i = 0; i < ends; i++)
        if (b[i] != ht_byte(i, seed) || b[n - 1 - i] != ht_byte(n - 1 - i, seed)) goto broken;
    for (i = 0; i < n; i += stride)
        if (b[i] != ht_byte(i, seed)) goto broken;
    return 1;
broken:
    fprintf(stderr, "pattern %u broken in a block of %lu bytes\n", seed, (unsigned long)n);
    return 0;
}

/* Every byte of [p, p+n) is v: the first is, and each equals the next
   (memcmp, which is fast everywhere, sanitizers and emulators included). */
static inline int ht_all_bytes(const void* p, size_t n, unsigned char v) {
    const unsigned char* b = (const unsigned char*)p;
    if (n == 0) return 1;
    return b[0] == v && (n == 1 || memcmp(b, b + 1, n - 1) == 0);
}

/* Large blocks: one byte value everywhere and, every 256 bytes, a marker
   holding its own offset mixed with the seed. Written with memset and
   checked with memcmp, so 64 MiB costs little even under TSan or qemu, and a
   copy to the wrong offset still shows. */
static inline size_t ht_marker(size_t off, unsigned seed) { return off ^ ((size_t)seed * 0x9E3779B1u); }

static inline void ht_fill_big(void* p, size_t n, unsigned seed) {
    unsigned char* b = (unsigned char*)p;
    size_t off;
    memset(b, (unsigned char)seed, n);
    for (off = 0; off + sizeof(size_t) <= n; off += 256) {
        size_t m = ht_marker(off, seed);
        memcpy(b + off, &m, sizeof m);
    }
}

static inline int ht_check_big(const void* p, size_t n, unsigned seed) {
    const unsigned char* b = (const unsigned char*)p;
    size_t off;
    for (off = 0; off + sizeof(size_t) <= n; off += 256) {
        size_t got, end = n - off < 256 ? n : off + 256;
        memcpy(&got, b + off, sizeof got);
        if (got != ht_marker(off, seed) || !ht_all_bytes(b + off + sizeof(size_t), end - off - sizeof(size_t), (unsigned char)seed))
            goto broken;
    }
    if (off < n && !ht_all_bytes(b + off, n - off, (unsigned char)seed)) goto broken;
    return 1;
broken:
    fprintf(stderr, "big pattern %u broken near offset %lu of %lu\n", seed, (unsigned long)off, (unsigned long)n);
    return 0;
}

static inline void ht_sleep_ms(unsigned ms) {
#if defined(_WIN32)
    Sleep(ms);
#else
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {}
#endif
}

/* Small deterministic generator (xorshift32), one state per thread. */
static inline unsigned ht_rand(unsigned* state) {
    unsigned x = *state ? *state : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static inline double ht_mib(size_t n) { return (double)n / (double)HT_MIB; }

static inline void ht_print_stats(const char* test, const char* when, keel_stats s) {
    printf("%s: %s: allocated %lu B, virtual %.1f MiB (peak %.1f), reserved %.1f MiB, cached %.1f MiB, "
           "allocs %lu, frees %lu, live %lu, segments %lu, heaps %lu\n",
           test, when, (unsigned long)s.num_bytes_allocated, ht_mib(s.virtual_memory_size),
           ht_mib(s.peak_virtual_memory_size), ht_mib(s.reserved_bytes), ht_mib(s.cached_bytes),
           (unsigned long)s.num_allocs, (unsigned long)s.num_frees, (unsigned long)s.num_live_blocks,
           (unsigned long)s.num_segments, (unsigned long)s.num_heaps);
}

#endif
