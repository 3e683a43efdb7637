/* test_guarded.c — guarded sampling (src/guarded.h; DESIGN.md section 12,
   guarded_sample_rate), in every build. With the rate at 1 every block up
   to an OS page of a thread heap is guarded:
   - the page after it faults (an overflow past its end faults at once),
     its last byte does not; it faults after its free (use after free), and
     still after other guarded blocks came and went;
   - a freed slot is not reused before the pool's other free slots;
   - keel_usable_size, calloc (zero also in a reused slot), realloc in and
     out of the pool, keel_alloc_aligned, keel_get_stats and keel_validate
     treat it as any block; a block freed by another thread;
   - when every slot is live, further blocks are plain ones, and work;
   - keel_stats_print has a line of them;
   - a first-class heap's blocks are never guarded; neither are blocks
     larger than a page;
   with the rate at 1000, about one allocation in 1000 is guarded, for a
   fixed size and for mixed sizes (the cost cap set wide open); with 0,
   none;
   - the cost cap (N > 1): with a spent budget that earns nothing, no
     sample is guarded and each is counted as skipped, in the counts and in
     keel_stats_print's line; N = 1 ignores it; a budget that earns as time
     passes guards some and skips others; opened wide, every sample is
     guarded.
   Under ASan keel guards nothing (ASan sees every block): checked too. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "keel/vmem.h"
#include "check.h"
#include "heap_test.h"
#include "guarded.h"    /* the cost cap's settings and counts (white box) */
#include "internal.h"   /* KEEL_SEGMENT_SHIFT: the pool is one segment (white box) */
#include "probe.h"
#include "thread_shim.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NAME "test_guarded"

#if defined(__SANITIZE_ADDRESS__)
#define TG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_ASAN 1
#endif
#endif
#ifndef TG_ASAN
#define TG_ASAN 0
#endif

static size_t page;
static uintptr_t pool_chunk;   /* the pool segment's address >> KEEL_SEGMENT_SHIFT; 0 until seen */

static void rate(long long n) { CHECK(keel_option_set("guarded_sample_rate", n)); }

/* The first page boundary above p's first byte. */
static uint8_t* next_page(const void* p) { return (uint8_t*)(((uintptr_t)p / page + 1) * page); }

static int in_pool(const void* p) { return pool_chunk && ((uintptr_t)p >> KEEL_SEGMENT_SHIFT) == pool_chunk; }

/* A guarded block: usable up to the page boundary after it, which faults. */
static int guarded(void* p, size_t n) {
    uint8_t* end = next_page(p);
    return (size_t)(end - (uint8_t*)p) >= n && probe_faults(end, 1) == 1 && probe_faults(end - 1, 1) == 0;
}

static void test_off(void) {
    int i, any = 0;
    rate(0);
    for (i = 0; i < 8; i++) {
        void* p = keel_alloc(32);
        any |= probe_faults((uint8_t*)p + 32, 1) == 1;
        keel_free(p);
    }
    CHECK_NOTE(!any, "a block is guarded with guarded_sample_rate 0");
}

static void test_overflow_faults(void) {
    static const size_t sizes[] = {1, 16, 32, 100, 1000, 4000};
    size_t i;
    rate(1);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t* p = (uint8_t*)keel_alloc(n);
        if (!CHECK(p != NULL)) return;
        memset(p, 0x5a, n);
        CHECK_NOTE(guarded(p, n), "a block of the rate-1 sampler is not followed by a page that faults");
        CHECK_NOTE(next_page(p) - p - keel_usable_size(p) < 16 + (KEEL_HARDENED ? 24 + n / 8 : 0),
                   "the guard page is not right after the block's usable bytes");
        if (!pool_chunk) pool_chunk = (uintptr_t)p >> KEEL_SEGMENT_SHIFT;
        CHECK(in_pool(p));
        keel_free(p);
    }
    {   /* a block whose length is a multiple of 16 ends at the guard page */
        uint8_t* p = (uint8_t*)keel_alloc(64);
        if (!KEEL_HARDENED) CHECK_NOTE(p + 64 == next_page(p), "a 64-byte block does not end at its guard page");
        keel_free(p);
    }
    keel_validate();
}

static void test_use_after_free_faults(void) {
    uint8_t* p;
    int i;
    rate(1);
    p = (uint8_t*)keel_alloc(64);
    memset(p, 1, 64);
    CHECK(probe_faults(p, 1) == 0);
    keel_free(p);
    CHECK_NOTE(probe_faults(p, 0) == 1, "reading a freed guarded block does not fault");
    CHECK_NOTE(probe_faults(p, 1) == 1, "writing a freed guarded block does not fault");
    for (i = 0; i < 50; i++) keel_free(keel_alloc(48));   /* other slots come and go */
    CHECK_NOTE(probe_faults(p, 0) == 1, "a freed guarded block became accessible while other slots were free");
}

static void test_reuse_order(void) {
    /* 100 < the pool's slots (255 with 4 KiB pages, 127 with 16 KiB) */
    enum { N = 100 };
    void* seen[N];
    int i, j, dup = 0;
    rate(1);
    for (i = 0; i < N; i++) {
        seen[i] = keel_alloc(80);
        keel_free(seen[i]);
        for (j = 0; j < i; j++) dup |= seen[j] == seen[i];
    }
    CHECK_NOTE(!dup, "a freed slot was reused before the pool's other free slots");
}

static void test_calloc_and_reuse(void) {
    enum { N = 300 };
    int i, dirty = 0;
    size_t k;
    rate(1);
    for (i = 0; i < N; i++) {   /* every slot written, then freed */
        uint8_t* p = (uint8_t*)keel_alloc(200);
        memset(p, 0xAA, 200);
        keel_free(p);
    }
    for (i = 0; i < N; i++) {
        uint8_t* p = (uint8_t*)keel_calloc(10, 20);
        if (!CHECK(p != NULL)) return;
        for (k = 0; k < 200; k++) dirty |= p[k];
        keel_free(p);
    }
    CHECK_NOTE(!dirty, "calloc of a reused guarded slot is not zero");
}

static void test_realloc(void) {
    char* p;
    rate(1);
    p = (char*)keel_alloc(10);
    strcpy(p, "guarded");
    CHECK(in_pool(p));
    p = (char*)keel_realloc(p, 3000);
    if (!CHECK(p != NULL)) return;
    CHECK(strcmp(p, "guarded") == 0 && keel_usable_size(p) >= 3000 && guarded(p, 3000));
    memset(p + 8, 'x', 2990);
    p = (char*)keel_realloc(p, 3 * page);   /* past a page: a plain block */
    if (!CHECK(p != NULL)) return;
    CHECK(memcmp(p, "guarded", 8) == 0 && p[2997] == 'x' && !in_pool(p));
    p = (char*)keel_realloc(p, 20);   /* back into the pool */
    if (!CHECK(p != NULL)) return;
    CHECK(memcmp(p, "guarded", 8) == 0 && p[19] == 'x');
    keel_free(p);
    keel_validate();
}

static void test_aligned(void) {
    static const size_t aligns[] = {32, 64, 256, 1024};
    size_t i;
    rate(1);
    for (i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        uint8_t* p = (uint8_t*)keel_alloc_aligned(100, aligns[i]);
        if (!CHECK(p != NULL)) return;
        CHECK(((uintptr_t)p & (aligns[i] - 1)) == 0 && keel_usable_size(p) >= 100);
        memset(p, 3, 100);
        CHECK_NOTE(in_pool(p) && guarded(p, 100), "an aligned block of the rate-1 sampler is not guarded");
        keel_validate();
        keel_free(p);
    }
    keel_validate();
}

static void test_stats(void) {
    keel_stats s0, s1, s2;
    void* p;
    rate(1);
    s0 = keel_get_stats();
    p = keel_alloc(100);
    s1 = keel_get_stats();
    CHECK(in_pool(p));
    CHECK_NOTE(s1.num_live_blocks == s0.num_live_blocks + 1, "a guarded block is not counted live");
    CHECK_NOTE(s1.num_bytes_allocated >= s0.num_bytes_allocated + 100 &&
                   s1.num_bytes_allocated <= s0.num_bytes_allocated + 112,
               "a guarded block's bytes are not counted");
    CHECK(s1.num_allocs == s0.num_allocs + 1);
    keel_free(p);
    s2 = keel_get_stats();
    CHECK(s2.num_live_blocks == s0.num_live_blocks && s2.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s2.num_frees == s0.num_frees + 1);
}

static char report[8192];
static size_t report_len;
static void collect(const char* text, void* user_data) {
    size_t n = strlen(text);
    (void)user_data;
    if (report_len + n < sizeof report) {
        memcpy(report + report_len, text, n + 1);
        report_len += n;
    }
}

/* keel_stats_print's line: "guarded N blocks, L live (B); S samples skipped, the pool full" */
static void test_report(void) {
    void* p;
    rate(1);
    p = keel_alloc(64);
    report_len = 0;
    keel_stats_print(collect, NULL);
    CHECK_NOTE(check_contains(report, "guarded ") && check_contains(report, KEEL_HARDENED ? " blocks, 1 live (80 B); " : " blocks, 1 live (64 B); "),
               "keel_stats_print has no line of guarded blocks");
    keel_free(p);
}

static void test_pool_full(void) {
    enum { N = 400 };
    static void* p[N];
    int i, pooled = 0, ok = 1;
    rate(1);
    for (i = 0; i < N; i++) {
        p[i] = keel_alloc(48);
        if (!p[i]) { ok = 0; break; }
        memset(p[i], i & 0xff, 48);
        pooled += in_pool(p[i]);
    }
    CHECK_NOTE(ok, "allocations fail when the guarded pool is full");
    CHECK_NOTE(pooled >= 100 && pooled < N, "the pool did not fill, or blocks past it were not plain ones");
    keel_validate();
    for (i = 0; i < N && p[i]; i++) {
        ok &= ((uint8_t*)p[i])[47] == (uint8_t)(i & 0xff);
        keel_free(p[i]);
    }
    CHECK(ok);
    keel_validate();
}

static void test_not_guarded(void) {
    keel_heap* h;
    int i, pooled = 0;
    void* big;
    rate(1);
    h = keel_heap_new();
    if (!CHECK(h != NULL)) return;
    for (i = 0; i < 50; i++) pooled += in_pool(keel_heap_alloc(h, 64));
    CHECK_NOTE(pooled == 0, "a first-class heap's block is guarded");
    keel_heap_destroy(h);
    big = keel_alloc(2 * page);
    CHECK_NOTE(big && !in_pool(big), "a block larger than a page is guarded");
    keel_free(big);
}

static void* remote_block;
static void free_remote(void* arg) {
    (void)arg;
    keel_free(remote_block);
}
static void alloc_in_thread(void* arg) {
    int i;
    (void)arg;
    for (i = 0; i < 20; i++) {
        void* p = keel_alloc(24);
        memset(p, 1, 24);
        keel_free(p);
    }
}

static void test_threads(void) {
    shim_thread t;
    shim_start s = {free_remote, NULL};
    shim_start s2 = {alloc_in_thread, NULL};
    rate(1);
    remote_block = keel_alloc(40);
    CHECK(in_pool(remote_block));
    if (!CHECK(shim_create(&t, &s))) return;
    shim_join(t);
    CHECK_NOTE(probe_faults(remote_block, 0) == 1, "a guarded block freed by another thread stays accessible");
    if (!CHECK(shim_create(&t, &s2))) return;
    shim_join(t);
    keel_validate();
}

/* About one allocation in 1000: n allocations (each freed at once) of
   size `size`, or mixed sizes for 0; returns how many were guarded. */
static int count_guarded(int n, size_t size) {
    unsigned rng = 7;
    int i, pooled = 0;
    for (i = 0; i < n; i++) {
        size_t sz = size ? size : 16 + (size_t)(ht_rand(&rng) % 1000);
        void* p = keel_alloc(sz);
        pooled += in_pool(p);
        keel_free(p);
    }
    return pooled;
}

static void test_rate(void) {
    int fixed, mixed;
    char note[96];
    keel__guarded_cost_cap(INT64_MAX / 4, 1);   /* the rate alone: a budget no sample spends */
    rate(1000);
    fixed = count_guarded(200000, 64);
    mixed = count_guarded(200000, 0);
    snprintf(note, sizeof note, "guarded %d and %d of 200000, want about 200", fixed, mixed);
    printf("guarded %d (64 bytes) and %d (mixed) of 200000 at rate 1000\n", fixed, mixed);
    CHECK_NOTE(fixed >= 140 && fixed <= 260, note);
    CHECK_NOTE(mixed >= 140 && mixed <= 260, note);
    rate(0);
    CHECK_NOTE(count_guarded(20000, 64) == 0, "guarded blocks with the rate back at 0");
    keel__guarded_cost_cap(-1, 0);
}

/* The rate at n from this thread's next allocation on: a heap notices a
   new rate on its next slow path (src/alloc.c), which a block past the
   direct table takes (small: its size is the mean the heap aims with). */
static void rate_now(long long n) {
    rate(n);
    keel_free(keel_alloc(KEEL_DIRECT_MAX + 16));
}

static void test_cost_cap(void) {
    size_t taken0, skipped0, cost0, taken1, skipped1, cost1;
    int pooled;
    void* p;
    char note[128];
    keel__guarded_counts(&taken0, &skipped0, &cost0);
    keel__guarded_cost_cap(0, (uint64_t)1 << 62);   /* nothing saved, and it earns nothing */
    rate_now(2);
    pooled = count_guarded(2000, 64);
    keel__guarded_counts(&taken1, &skipped1, &cost1);
    snprintf(note, sizeof note, "budget spent: %d guarded, %zu skipped by the cap of about 1000 samples",
             pooled, cost1 - cost0);
    CHECK_NOTE(pooled == 0 && taken1 == taken0, note);
    CHECK_NOTE(cost1 - cost0 >= 500 && cost1 - cost0 <= 2000, note);
    CHECK_NOTE(skipped1 == skipped0, "the cost cap's skips counted as the pool's");
    /* refused about 1000 times in a row: the heap's gaps are at their longest */
    CHECK_NOTE(keel__tls_heap->guard_backoff == KEEL_GUARDED_BACKOFF_MAX, "no back-off while the cost cap refuses");
    report_len = 0;
    keel_stats_print(collect, NULL);
    snprintf(note, sizeof note, "; %zu skipped, the cost cap", cost1);
    CHECK_NOTE(check_contains(report, note), "keel_stats_print does not count the cost cap's skips");

    rate_now(1);   /* every block, whatever it costs */
    p = keel_alloc(64);
    CHECK_NOTE(in_pool(p) && guarded(p, 64), "N = 1 is held back by the cost cap");
    keel_free(p);

    /* earning half the time that passes, saving 1 µs at most: at rate 2
       the protects take nearly all of the loop's time, so some samples
       are guarded and some skipped */
    keel__guarded_cost_cap(1000, 2);
    rate_now(2);
    keel__guarded_counts(&taken0, &skipped0, &cost0);
    pooled = count_guarded(2000, 64);
    keel__guarded_counts(&taken1, &skipped1, &cost1);
    snprintf(note, sizeof note, "a budget that earns: %d guarded, %zu skipped", pooled, cost1 - cost0);
    CHECK_NOTE(pooled >= 1 && cost1 - cost0 >= 1, note);

    keel__guarded_cost_cap(INT64_MAX / 4, 1);   /* wide open: every sample */
    keel__guarded_counts(&taken0, &skipped0, &cost0);
    pooled = count_guarded(2000, 64);
    keel__guarded_counts(&taken1, &skipped1, &cost1);
    snprintf(note, sizeof note, "wide open: %d guarded of 2000 at rate 2, %zu skipped", pooled, cost1 - cost0);
    CHECK_NOTE(pooled >= 500 && pooled <= 1500 && cost1 == cost0, note);
    CHECK_NOTE(keel__tls_heap->guard_backoff == 0, "the back-off stays once samples are taken again");

    keel__guarded_cost_cap(-1, 0);
    rate(0);
}

int main(void) {
    page = vmem_get_page_size();
    if (TG_ASAN) {   /* keel built with ASan guards nothing: ASan sees every block */
        void* p;
        rate(1);
        p = keel_alloc(32);
        CHECK_NOTE(probe_faults((uint8_t*)p + 32, 1) != 1, "keel guarded a block under ASan");
        keel_free(p);
        return check_done(NAME);
    }
    test_off();
    test_overflow_faults();
    if (!pool_chunk) return check_done(NAME);
    test_use_after_free_faults();
    test_reuse_order();
    test_calloc_and_reuse();
    test_realloc();
    test_aligned();
    test_stats();
    test_report();
    test_pool_full();
    test_not_guarded();
    test_threads();
    test_rate();
    test_cost_cap();
    keel_validate();
    return check_done(NAME);
}
