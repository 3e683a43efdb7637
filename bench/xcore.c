/* xcore.c — what a cache line costs to move between two threads now: two
   threads pass a counter back and forth through one line, and the median
   round trip of several rounds is printed as xcore_ns=N (run.sh adds it to
   each run of a multi-threaded workload, and the report shows it).

   Why: on a shared VM the host places the two vCPUs where it likes, and
   the price of a line moving between them changes with that placement
   (here about 90 ns or about 430 ns a round trip, for minutes at a time).
   Every workload where threads share memory follows it: xmalloc takes
   0.5 s or 2.3 s under one allocator and the same build, and so do the
   peers. A run's figure read beside its round trip says which machine it
   ran on. No allocation is measured: the probe calls no allocator.
   Usage: xcore [ROUNDS]   (default 7 rounds of 20000 round trips) */
#include "bench.h"

#include <stdatomic.h>
#include <unistd.h>

#define XC_TRIPS 20000

static _Alignas(64) atomic_uint xc_token;   /* odd: the other thread's turn */
static unsigned xc_rounds;

static void* xc_other(void* arg) {
    unsigned i, n = xc_rounds * XC_TRIPS;
    (void)arg;
    for (i = 0; i < n; i++) {
        while (atomic_load_explicit(&xc_token, memory_order_acquire) != 2 * i + 1) {
        }
        atomic_store_explicit(&xc_token, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

static int xc_cmp(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

int main(int argc, char** argv) {
    pthread_t other;
    double ns[64];
    unsigned r, i, k = 0;
    xc_rounds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 7;
    if (xc_rounds == 0 || xc_rounds > 64) bench_fail("xcore: ROUNDS is 1..64");
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) return 0;   /* one CPU: no line moves; nothing to say */
    atomic_init(&xc_token, 0);
    bench_start(&other, xc_other, NULL);
    for (r = 0; r < xc_rounds; r++) {
        double t0 = bench_now();
        for (i = 0; i < XC_TRIPS; i++, k++) {
            atomic_store_explicit(&xc_token, 2 * k + 1, memory_order_release);
            while (atomic_load_explicit(&xc_token, memory_order_acquire) != 2 * k + 2) {
            }
        }
        ns[r] = (bench_now() - t0) * 1e9 / XC_TRIPS;
    }
    bench_join(other);
    qsort(ns, xc_rounds, sizeof ns[0], xc_cmp);
    printf("xcore_ns=%.0f\n", ns[xc_rounds / 2]);
    return 0;
}
