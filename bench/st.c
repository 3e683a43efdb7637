/* st.c — the single-thread fast path, timed (fastpath.c counts the same path
   in instructions). Model: glibc's benchtests bench-malloc-simple — batches
   of blocks allocated then freed, one thread — in two forms:
     fixed  32-byte blocks in batches of 1, 10, 100, 1000 and 10000, freed
            last-in-first-out on even rounds and first-in-first-out on odd
            ones: the thread-local free list at its best and in order.
     mixed  8..4096 bytes (most under 256), batches of 10..10000 freed in a
            shuffled order: size-class lookup, many pages in use at once, and
            frees that do not come back in allocation order.
   Usage: st THREADS SCALE fixed|mixed   (THREADS is ignored: one thread) */
#include "bench.h"

#define ST_BATCHES 5
static const size_t st_batch[ST_BATCHES] = {1, 10, 100, 1000, 10000};
#define ST_MAX_BATCH 10000
#define ST_SIZES 65536u /* a table of sizes: the generator stays out of the loop */

static void* st_ptr[ST_MAX_BATCH];
static unsigned st_order[ST_BATCHES][ST_MAX_BATCH]; /* a shuffle of 0..n-1 per batch size */
static unsigned st_size[ST_SIZES];

static void st_fixed(size_t rounds) {
    size_t r, b, i;
    for (r = 0; r < rounds; r++) {
        for (b = 0; b < ST_BATCHES; b++) {
            size_t n = st_batch[b];
            for (i = 0; i < n; i++) {
                char* p = (char*)bench_malloc(32);
                p[0] = (char)i;
                st_ptr[i] = p;
            }
            if (r & 1) for (i = 0; i < n; i++) free(st_ptr[i]);
            else for (i = n; i-- > 0;) free(st_ptr[i]);
        }
    }
}

static void st_mixed(size_t rounds) {
    size_t r, b, i, k = 0;
    for (r = 0; r < rounds; r++) {
        for (b = 1; b < ST_BATCHES; b++) {
            size_t n = st_batch[b];
            /* the shuffle rotated: a different order each round */
            size_t shift = (r * 7919 + b) % n;
            for (i = 0; i < n; i++, k++) {
                size_t sz = st_size[k & (ST_SIZES - 1)];
                char* p = (char*)bench_malloc(sz);
                bench_touch(p, sz);
                st_ptr[i] = p;
            }
            for (i = 0; i < n; i++) free(st_ptr[(st_order[b][i] + shift) % n]);
        }
    }
}

int main(int argc, char** argv) {
    bench_args a = bench_parse(argc, argv, " fixed|mixed");
    bench_rng rng = bench_rng_seed(1);
    size_t i, b;
    if (!a.mode || (strcmp(a.mode, "fixed") && strcmp(a.mode, "mixed"))) bench_fail("st: mode is fixed or mixed");
    for (i = 0; i < ST_SIZES; i++) st_size[i] = (unsigned)bench_small_size(&rng, 4096);
    for (b = 0; b < ST_BATCHES; b++) {
        unsigned* o = st_order[b];
        for (i = 0; i < st_batch[b]; i++) o[i] = (unsigned)i;
        for (i = st_batch[b] - 1; i > 0; i--) {
            size_t j = bench_range(&rng, 0, i);
            unsigned t = o[i];
            o[i] = o[j];
            o[j] = t;
        }
    }
    if (a.mode[0] == 'f') st_fixed(bench_scaled(8000, a.scale, 1));
    else st_mixed(bench_scaled(3000, a.scale, 1));
    return 0;
}
