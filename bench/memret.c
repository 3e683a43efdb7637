/* memret.c — memory given back after a peak. Model: no classic benchmark
   measures this directly; it is the "spike, then idle" phase of a server
   that glibc's malloc_trim and the purge delays of jemalloc (decay) and
   mimalloc (purge_delay) are tuned for. One thread allocates 1 GiB
   (x SCALE) of small blocks (16..256 bytes, each written), frees every
   other one, then the rest, and then stays nearly idle for one second: one
   malloc+free of 64 bytes every 10 ms, as a quiet program still does (some
   allocators only purge from inside a call). No malloc_trim.
   Reports (BENCH lines):
     wall_s        the allocate+free phase alone (the idle second left out)
     rss_freed_kb  RSS right after the last free
     rss_after_kb  RSS one second later; the bar (DESIGN.md section 9) is
                   under 64 MiB after 1 GiB
   The pointer array is mapped apart from malloc and unmapped before RSS is
   read, so only the allocator's memory is left in it.
   The curve (make bench's "memory given back over time"): with BENCH_CURVE
   set to a file, the idle phase lasts BENCH_CURVE_MS milliseconds (2000 if
   unset) instead of one second, and RSS is read at every step, before its
   malloc+free, and appended to the file as "MS KB" lines: milliseconds
   since the last free and RSS then. A file that cannot be written fails
   the run. rss_after_kb is still the reading at one second.
   Usage: memret THREADS SCALE   (THREADS is ignored: one thread) */
#include "bench.h"

#include <sys/mman.h>

/* One point of the curve: ms since t_freed, and kb. */
static void curve_point(FILE* curve, double t_freed, long kb) {
    if (fprintf(curve, "%.0f %ld\n", (bench_now() - t_freed) * 1000, kb) < 0) bench_fail("BENCH_CURVE: writing the file failed");
}

int main(int argc, char** argv) {
    bench_args a = bench_parse(argc, argv, NULL);
    bench_rng r = bench_rng_seed(41);
    size_t target = (size_t)((double)((size_t)1 << 30) * a.scale), total = 0, n = 0, cap, i;
    void** ptr;
    double t0, t_work, t_freed;
    long rss_freed, rss_after = -1, steps = 100;
    const char* curve_path = getenv("BENCH_CURVE");
    FILE* curve = NULL;
    if (curve_path && *curve_path) {
        const char* ms = getenv("BENCH_CURVE_MS");
        long v = ms && *ms ? strtol(ms, NULL, 10) : 2000;
        if (v < 10 || v > 600000) bench_fail("BENCH_CURVE_MS: not a number of milliseconds from 10 to 600000");
        steps = v / 10;
        /* opened before the peak: no stdio buffer is allocated after it */
        curve = fopen(curve_path, "w");
        if (!curve) bench_fail("BENCH_CURVE: the file cannot be written");
        setvbuf(curve, NULL, _IONBF, 0);
    }
    cap = target / 16 + 1;
    ptr = (void**)mmap(NULL, cap * sizeof *ptr, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ptr == MAP_FAILED) bench_fail("mmap failed");

    t0 = bench_now();
    while (total < target && n < cap) {
        size_t sz = bench_range(&r, 2, 32) * 8;
        char* p = (char*)bench_malloc(sz);
        memset(p, (int)(n & 0x7f), sz);
        ptr[n++] = p;
        total += sz;
    }
    for (i = 0; i < n; i += 2) free(ptr[i]);
    for (i = 1; i < n; i += 2) free(ptr[i]);
    t_freed = bench_now();
    t_work = t_freed - t0;

    munmap(ptr, cap * sizeof *ptr);
    rss_freed = bench_rss_kb();
    for (i = 0; i < (size_t)steps; i++) {
        void* p;
        if (curve) curve_point(curve, t_freed, i ? bench_rss_kb() : rss_freed);
        p = bench_malloc(64);
        bench_touch(p, 64);
        free(p);
        bench_sleep_ms(10);
        if (i == 99) rss_after = bench_rss_kb();
    }
    if (curve) {
        curve_point(curve, t_freed, bench_rss_kb());
        if (fclose(curve) != 0) bench_fail("BENCH_CURVE: writing the file failed");
    }
    if (rss_after < 0) rss_after = bench_rss_kb();
    BENCH_REPORT("wall_s=%.6f", t_work);
    BENCH_REPORT("rss_freed_kb=%ld", rss_freed);
    BENCH_REPORT("rss_after_kb=%ld", rss_after);
    return 0;
}
