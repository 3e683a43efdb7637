/* bench.h — what every workload of the suite shares: the command line
   (THREADS and SCALE), a fixed-seed random generator, size distributions,
   clocks, touching memory, threads, and the `BENCH key=value` lines through
   which a workload hands extra measures to bench/runner.c.

   Every workload calls plain malloc/free (never keel's API), so one binary
   runs under each allocator: glibc as is, the others by LD_PRELOAD.
   Conventions of the suite (bench/README.md):
     program THREADS SCALE [mode]   THREADS >= 1, SCALE > 0 multiplies the work
     exit 0 on success; a failed allocation prints one line on stderr, exits 1
     stdout: only `BENCH key=value` lines; runner.c turns them into columns.
     `BENCH wall_s=` replaces the runner's wall time (used where a workload
     sleeps on purpose, so that lower is still better). */
#ifndef BENCH_H
#define BENCH_H

#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bench_args {
    int threads;   /* worker threads; each workload says how it uses them */
    double scale;  /* 1.0: the full run; QUICK and callgrind use less */
    const char* mode;  /* optional third argument, NULL if none */
} bench_args;

static inline void bench_fail(const char* what) {
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

static inline bench_args bench_parse(int argc, char** argv, const char* usage) {
    bench_args a;
    a.threads = argc > 1 ? atoi(argv[1]) : 2;
    a.scale = argc > 2 ? strtod(argv[2], NULL) : 1.0;
    a.mode = argc > 3 ? argv[3] : NULL;
    if (argc < 3 || a.threads < 1 || a.threads > 1024 || !(a.scale > 0.0)) {
        fprintf(stderr, "usage: %s THREADS SCALE%s\n", argv[0], usage ? usage : "");
        exit(2);
    }
    return a;
}

/* A count of work items scaled by SCALE, never below `floor`. */
static inline size_t bench_scaled(double base, double scale, size_t floor) {
    double v = base * scale;
    return v < (double)floor ? floor : (size_t)v;
}

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void bench_sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {}
}

/* ---- random numbers: xorshift64*, one state per thread, fixed seeds ---- */

typedef struct bench_rng { uint64_t s; } bench_rng;

static inline bench_rng bench_rng_seed(uint64_t seed) {
    bench_rng r;
    r.s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (r.s == 0) r.s = 1;
    return r;
}

static inline uint64_t bench_rand(bench_rng* r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [lo, hi]. */
static inline size_t bench_range(bench_rng* r, size_t lo, size_t hi) {
    return lo + (size_t)(bench_rand(r) % (uint64_t)(hi - lo + 1));
}

/* Log-uniform in [lo, hi], hi/lo a power of two: as many sizes between
   64 KiB and 128 KiB as between 16 MiB and 32 MiB, the way real size
   distributions spread. */
static inline size_t bench_log_range(bench_rng* r, size_t lo, size_t hi) {
    unsigned bits = 0;
    size_t v;
    while ((lo << (bits + 1)) <= hi) bits++;
    if (bits == 0) return bench_range(r, lo, hi);
    v = lo << bench_range(r, 0, bits - 1);  /* a power-of-two band ... */
    v += (size_t)(bench_rand(r) % v);        /* ... anywhere inside it */
    return v > hi ? hi : v;
}

/* Small object sizes as programs make them: half 8..64 bytes, a quarter
   64..256, the last quarter log-uniform from 256 to max (> 256). */
static inline size_t bench_small_size(bench_rng* r, size_t max) {
    uint64_t x = bench_rand(r);
    switch (x & 3) {
    case 0: case 1: return 8 + (size_t)((x >> 8) % 57);
    case 2: return 64 + (size_t)((x >> 8) % 193);
    default: return bench_log_range(r, 256, max);
    }
}

/* ---- memory ---- */

/* Write the first and last byte: the block is used, the compiler cannot
   drop the allocation, and the cost stays small beside the allocator's. */
static inline void bench_touch(void* p, size_t n) {
    volatile char* c = (volatile char*)p;
    c[0] = (char)n;
    c[n - 1] = (char)n;
}

/* Write one byte in every 4 KiB page: what filling a large buffer costs in
   page faults, without the memory bandwidth of filling it. */
static inline void bench_touch_pages(void* p, size_t n) {
    volatile char* c = (volatile char*)p;
    size_t i;
    for (i = 0; i < n; i += 4096) c[i] = (char)i;
    c[n - 1] = 1;
}

static inline void* bench_malloc(size_t n) {
    void* p = malloc(n);
    if (!p) bench_fail("malloc failed");
    return p;
}

/* Resident set of this process now, from /proc/self/statm, in KiB. */
static inline long bench_rss_kb(void) {
    long pages = 0, resident = 0;
    FILE* f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * 4;
}

/* ---- threads ---- */

static inline void bench_start(pthread_t* t, void* (*fn)(void*), void* arg) {
    if (pthread_create(t, NULL, fn, arg) != 0) bench_fail("pthread_create failed");
}

static inline void bench_join(pthread_t t) {
    if (pthread_join(t, NULL) != 0) bench_fail("pthread_join failed");
}

/* The result line for runner.c. */
#define BENCH_REPORT(fmt, ...) printf("BENCH " fmt "\n", __VA_ARGS__)

#endif
