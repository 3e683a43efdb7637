/* aligned.c — aligned allocation, one thread. Model: larson's slot
   replacement (see larson.c) with posix_memalign, aligned_alloc and
   memalign in place of malloc, at the alignments programs ask for: 16..128
   (SIMD vectors, cache lines) most often, 256..4096 (pages, DMA buffers)
   less, 64 KiB now and then; sizes 8 bytes .. 16 KiB, rounded up to the
   alignment for aligned_alloc. Stresses: the aligned path (can it use the
   size classes, or does it over-allocate and split), and the memory wasted
   on padding (peak RSS). A misaligned result is counted, not fatal, and
   reported as the column `misaligned` (Debian's mimalloc 2.0.9 returns
   some for size == alignment in 256..1024: microsoft/mimalloc#700).
   Fixed work: STEPS replacements over 2000 slots.
   Usage: aligned THREADS SCALE   (THREADS is ignored: one thread) */
#include "bench.h"

#include <malloc.h>

#define AL_SLOTS 2000

static size_t al_misaligned;

static size_t al_alignment(bench_rng* r) {
    uint64_t x = bench_rand(r) % 100;
    if (x < 70) return (size_t)16 << bench_range(r, 0, 3);   /* 16..128 */
    if (x < 98) return (size_t)256 << bench_range(r, 0, 4);  /* 256..4096 */
    return (size_t)64 << 10;
}

static void* al_alloc(bench_rng* r) {
    size_t align = al_alignment(r);
    size_t sz = bench_log_range(r, 8, 16384);
    void* p = NULL;
    switch (bench_rand(r) % 3) {
    case 0:
        if (posix_memalign(&p, align, sz) != 0) p = NULL;
        break;
    case 1:
        sz = (sz + align - 1) & ~(align - 1);
        p = aligned_alloc(align, sz);
        break;
    default:
        p = memalign(align, sz);
        break;
    }
    if (!p) bench_fail("aligned allocation failed");
    if ((uintptr_t)p & (align - 1)) al_misaligned++;
    bench_touch(p, sz);
    return p;
}

int main(int argc, char** argv) {
    bench_args a = bench_parse(argc, argv, NULL);
    bench_rng r = bench_rng_seed(21);
    void** slot = (void**)bench_malloc(AL_SLOTS * sizeof *slot);
    size_t steps = bench_scaled(6000000, a.scale, 1000), i;
    for (i = 0; i < AL_SLOTS; i++) slot[i] = al_alloc(&r);
    for (i = 0; i < steps; i++) {
        size_t k = (size_t)(bench_rand(&r) % AL_SLOTS);
        free(slot[k]);
        slot[k] = al_alloc(&r);
    }
    for (i = 0; i < AL_SLOTS; i++) free(slot[i]);
    free(slot);
    BENCH_REPORT("misaligned=%zu", al_misaligned);
    return 0;
}
