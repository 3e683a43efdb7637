/* large.c — large blocks, one thread, every page of each block written (one
   byte per 4 KiB page: the page faults of filling a buffer without the
   memory bandwidth). Model: malloc-large from mimalloc-bench, and the
   large-buffer reuse that DESIGN.md section 9 names.
     mixed  32 slots; each step frees a random slot and puts a block of
            64 KiB .. 32 MiB (log-uniform) in its place: the mapping, caching
            and returning of large spans.
     reuse  20 buffers of 5 .. 25 MiB live at once, each step reallocs a
            random one to a new size in that range and writes it: whether
            freed large spans are kept and reused, or given back to the OS
            and faulted in again every time (kernel time).
   Fixed work: STEPS steps.
   Usage: large THREADS SCALE mixed|reuse   (THREADS is ignored: one thread) */
#include "bench.h"

#define LG_MIXED_SLOTS 32
#define LG_REUSE_SLOTS 20
#define MIB ((size_t)1 << 20)

static void lg_mixed(size_t steps) {
    void* slot[LG_MIXED_SLOTS] = {0};
    bench_rng r = bench_rng_seed(11);
    size_t i;
    for (i = 0; i < steps; i++) {
        size_t k = (size_t)(bench_rand(&r) % LG_MIXED_SLOTS);
        size_t sz = bench_log_range(&r, (size_t)64 << 10, 32 * MIB);
        free(slot[k]);
        slot[k] = bench_malloc(sz);
        bench_touch_pages(slot[k], sz);
    }
    for (i = 0; i < LG_MIXED_SLOTS; i++) free(slot[i]);
}

static void lg_reuse(size_t steps) {
    void* slot[LG_REUSE_SLOTS];
    bench_rng r = bench_rng_seed(12);
    size_t i;
    for (i = 0; i < LG_REUSE_SLOTS; i++) {
        size_t sz = bench_range(&r, 5 * MIB, 25 * MIB);
        slot[i] = bench_malloc(sz);
        bench_touch_pages(slot[i], sz);
    }
    for (i = 0; i < steps; i++) {
        size_t k = (size_t)(bench_rand(&r) % LG_REUSE_SLOTS);
        size_t sz = bench_range(&r, 5 * MIB, 25 * MIB);
        void* p = realloc(slot[k], sz);
        if (!p) bench_fail("realloc failed");
        bench_touch_pages(p, sz);
        slot[k] = p;
    }
    for (i = 0; i < LG_REUSE_SLOTS; i++) free(slot[i]);
}

int main(int argc, char** argv) {
    bench_args a = bench_parse(argc, argv, " mixed|reuse");
    if (!a.mode || (strcmp(a.mode, "mixed") && strcmp(a.mode, "reuse"))) bench_fail("large: mode is mixed or reuse");
    if (a.mode[0] == 'm') lg_mixed(bench_scaled(1500, a.scale, 20));
    else lg_reuse(bench_scaled(1000, a.scale, 20));
    return 0;
}
