/* fastpath.c — the allocation fast path, counted in instructions: N
   malloc+free pairs of one pattern, run under callgrind by fastpath.sh,
   which runs it twice (N1 and N2 pairs) and divides the difference in
   instructions by N2 - N1 so that start-up, warm-up and exit cancel out.

   One source, built twice: with FASTPATH_KEEL it calls keel_alloc/keel_free
   (fastpath_keel, linked with libkeel.a); without it malloc/free
   (fastpath_malloc: glibc as is, a peer or keel's override by LD_PRELOAD).
   The work around each pair is the same in both builds: a size from a
   table, a NULL check, an empty asm that makes the pointer escape so the
   compiler cannot drop the pair.

   Usage: fastpath PATTERN[-live] PAIRS     (batch100: PAIRS % 100 == 0)
     fixed32   allocate 32 bytes, free it, again
     mixed     the same with sizes 8..255 from a fixed pseudo-random sequence
     batch100  allocate 100 blocks of mixed sizes, then free the 100 in
               allocation order; counts as 100 pairs
   keel's build also has heap32 and heapmixed: fixed32 and mixed on a
   first-class heap (keel_heap_alloc, then keel_free), for the bar of
   DESIGN.md section 11 (fastpath.sh compares the allocation calls).
   With -live, one block of every size 8..255 is allocated first and kept
   to the end: no page the pattern uses ever becomes empty, so an allocator
   that gives empty pages back (or keeps them by a rule) is measured
   without that work. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FASTPATH_KEEL
#include "keel/keel.h"
#define FASTPATH_ALLOC(n) keel_alloc(n)
#define FASTPATH_FREE(p) keel_free(p)
#else
#define FASTPATH_ALLOC(n) malloc(n)
#define FASTPATH_FREE(p) free(p)
#endif

#define FASTPATH_SIZES 4096u   /* power of two: the index is masked, not divided */
#define FASTPATH_BATCH 100u
#define FASTPATH_WARMUP 20000u /* pairs before the counted ones, the same in every run */

static unsigned fastpath_sizes[FASTPATH_SIZES];

#if defined(__GNUC__)
/* The pointer leaves through an asm the compiler cannot see into: the pair
   is kept, and it costs no instruction. */
static inline void fastpath_escape(void* p) { __asm__ volatile("" : : "r"(p) : "memory"); }
#else
static void* volatile fastpath_sink;
static void fastpath_escape(void* p) { fastpath_sink = p; }
#endif

static void fastpath_fail(void) {
    fputs("fastpath: allocation failed\n", stderr);
    exit(1);
}

static void fastpath_fixed32(size_t pairs) {
    size_t i;
    for (i = 0; i < pairs; i++) {
        void* p = FASTPATH_ALLOC(32);
        if (!p) fastpath_fail();
        fastpath_escape(p);
        FASTPATH_FREE(p);
    }
}

static void fastpath_mixed(size_t pairs) {
    size_t i;
    for (i = 0; i < pairs; i++) {
        void* p = FASTPATH_ALLOC(fastpath_sizes[i & (FASTPATH_SIZES - 1)]);
        if (!p) fastpath_fail();
        fastpath_escape(p);
        FASTPATH_FREE(p);
    }
}

static void fastpath_batch100(size_t pairs) {
    void* ptrs[FASTPATH_BATCH];
    size_t k = 0, b, j;
    for (b = 0; b < pairs / FASTPATH_BATCH; b++) {
        for (j = 0; j < FASTPATH_BATCH; j++, k++) {
            void* p = FASTPATH_ALLOC(fastpath_sizes[k & (FASTPATH_SIZES - 1)]);
            if (!p) fastpath_fail();
            ptrs[j] = p;
        }
        fastpath_escape(ptrs);
        for (j = 0; j < FASTPATH_BATCH; j++) FASTPATH_FREE(ptrs[j]);
    }
}

#ifdef FASTPATH_KEEL
static keel_heap* fastpath_heap;

static void fastpath_heap32(size_t pairs) {
    size_t i;
    for (i = 0; i < pairs; i++) {
        void* p = keel_heap_alloc(fastpath_heap, 32);
        if (!p) fastpath_fail();
        fastpath_escape(p);
        keel_free(p);
    }
}

static void fastpath_heapmixed(size_t pairs) {
    size_t i;
    for (i = 0; i < pairs; i++) {
        void* p = keel_heap_alloc(fastpath_heap, fastpath_sizes[i & (FASTPATH_SIZES - 1)]);
        if (!p) fastpath_fail();
        fastpath_escape(p);
        keel_free(p);
    }
}
#endif

int main(int argc, char** argv) {
    void (*run)(size_t) = NULL;
    unsigned long long pairs;
    char* end;
    unsigned x = 2463534242u; /* xorshift32, fixed seed: every run sees the same sizes */
    size_t i, name_len = 0;
    int live = 0;
    static void* kept[256];

    if (argc == 3) {
        name_len = strcspn(argv[1], "-");
        live = strcmp(argv[1] + name_len, "-live") == 0;
        if (argv[1][name_len] && !live) name_len = 0;
        if (name_len == 7 && strncmp(argv[1], "fixed32", 7) == 0) run = fastpath_fixed32;
        else if (name_len == 5 && strncmp(argv[1], "mixed", 5) == 0) run = fastpath_mixed;
        else if (name_len == 8 && strncmp(argv[1], "batch100", 8) == 0) run = fastpath_batch100;
#ifdef FASTPATH_KEEL
        else if (name_len == 6 && strncmp(argv[1], "heap32", 6) == 0) run = fastpath_heap32;
        else if (name_len == 9 && strncmp(argv[1], "heapmixed", 9) == 0) run = fastpath_heapmixed;
        if (run == fastpath_heap32 || run == fastpath_heapmixed) {
            fastpath_heap = keel_heap_new();
            if (!fastpath_heap) fastpath_fail();
        }
#endif
    }
    pairs = run ? strtoull(argv[2], &end, 10) : 0;
    if (!run || *end || pairs == 0 || (run == fastpath_batch100 && pairs % FASTPATH_BATCH)) {
        fputs("usage: fastpath fixed32|mixed|batch100[-live] PAIRS   (batch100: PAIRS a multiple of 100)\n", stderr);
        return 2;
    }
    if (live) {   /* one live block of every size the patterns use, kept to the end */
        for (i = 8; i < 256; i++) {
#ifdef FASTPATH_KEEL
            kept[i] = fastpath_heap ? keel_heap_alloc(fastpath_heap, i) : FASTPATH_ALLOC(i);
#else
            kept[i] = FASTPATH_ALLOC(i);
#endif
            if (!kept[i]) fastpath_fail();
            fastpath_escape(kept[i]);
        }
    }
    for (i = 0; i < FASTPATH_SIZES; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        fastpath_sizes[i] = 8 + x % 248; /* 8..255 */
    }

    /* Warm-up: first-call binding, thread heap set-up, pages of every size
       class the pattern touches. The counted pairs then run in steady state. */
    run(FASTPATH_WARMUP);
    run((size_t)pairs);
    return 0;
}
