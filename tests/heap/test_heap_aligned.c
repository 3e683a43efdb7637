/* test_heap_aligned.c — keel_alloc_aligned (DESIGN.md section 4): every power
   of two alignment up to 16 MiB (and beyond on 64-bit) times sizes from 0 to
   3 MiB, writable and freeable with keel_free; bad alignments fail with
   ENOMEM; realloc of an aligned block keeps its contents. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "check.h"
#include "heap_test.h"

#include <errno.h>
#include <stdint.h>

#define NAME "test_heap_aligned"

static const size_t sizes[] = {0, 1, 15, 16, 17, 100, 4096, 100000, 3 * HT_MIB};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void one_alignment(size_t alignment) {
    void* p[NSIZES];
    size_t u[NSIZES];
    size_t i;
    keel_stats s0 = keel_get_stats(), s1;
    size_t sum = 0;
    char note[96];
    for (i = 0; i < NSIZES; i++) {
        snprintf(note, sizeof note, "alignment %lu, size %lu", (unsigned long)alignment, (unsigned long)sizes[i]);
        errno = 0;
        p[i] = keel_alloc_aligned(sizes[i], alignment);
        u[i] = 0;
        CHECK_NOTE(p[i] != NULL, note);
        if (!p[i]) continue;
        CHECK_NOTE(ht_aligned(p[i], alignment < 16 ? 16 : alignment), note);
        u[i] = keel_usable_size(p[i]);
        CHECK_NOTE(u[i] >= sizes[i], note);
        CHECK_NOTE(u[i] > 0, note);   /* 0 is keel saying "not mine" */
        sum += u[i];
        ht_fill(p[i], u[i], (unsigned)(alignment + i));
    }
    snprintf(note, sizeof note, "alignment %lu", (unsigned long)alignment);
    s1 = keel_get_stats();
    CHECK_NOTE(s1.num_bytes_allocated - s0.num_bytes_allocated == sum, note);
    for (i = 0; i < NSIZES; i++) {
        if (!p[i]) continue;
        CHECK_NOTE(ht_check(p[i], u[i], (unsigned)(alignment + i)), note);
        keel_free(p[i]);
    }
    s1 = keel_get_stats();
    CHECK_NOTE(s1.num_bytes_allocated == s0.num_bytes_allocated, note);
    CHECK_NOTE(s1.num_live_blocks == s0.num_live_blocks, note);
}

static void test_alignments(void) {
    size_t a;
    for (a = 1; a <= 16 * HT_MIB; a <<= 1) one_alignment(a);
#if HT_64BIT
    one_alignment(32 * HT_MIB);
    one_alignment(64 * HT_MIB);
    one_alignment(128 * HT_MIB);
    {   /* keel.h: "up to 1 GiB in fact" */
        void* p = keel_alloc_aligned(100, (size_t)1 << 30);
        CHECK(p != NULL);
        if (p) {
            CHECK(ht_aligned(p, (size_t)1 << 30));
            memset(p, 1, 100);
        }
        keel_free(p);
    }
#else
    printf(NAME ": note: alignments above 16 MiB are checked on 64-bit targets only\n");
#endif
}

/* Many small aligned blocks at once: alignment must hold for every one. */
static void test_many_small(void) {
    enum { COUNT = 2000 };
    static void* p[COUNT];
    static const size_t aligns[] = {32, 64, 128, 256, 4096};
    size_t k, i;
    for (k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
        int bad = 0, null = 0, broken = 0;
        for (i = 0; i < COUNT; i++) {
            size_t n = 1 + (i * 37) % 300;
            p[i] = keel_alloc_aligned(n, aligns[k]);
            if (!p[i]) { null++; continue; }
            if (!ht_aligned(p[i], aligns[k])) bad++;
            ht_fill(p[i], n, (unsigned)i);
        }
        for (i = 0; i < COUNT; i++)
            if (p[i] && !ht_check(p[i], 1 + (i * 37) % 300, (unsigned)i)) broken++;
        CHECK(null == 0);
        CHECK(bad == 0);
        CHECK(broken == 0);
        for (i = 0; i < COUNT; i++) keel_free(p[i]);
    }
}

/* num_bytes 0 gives a unique pointer, as keel_alloc(0) does. */
static void test_zero_size(void) {
    static const size_t aligns[] = {1, 16, 64, 4096, 65536, HT_MIB};
    size_t k;
    for (k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
        void* a = keel_alloc_aligned(0, aligns[k]);
        void* b = keel_alloc_aligned(0, aligns[k]);
        CHECK(a != NULL && b != NULL && a != b);
        CHECK(ht_aligned(a, aligns[k] < 16 ? 16 : aligns[k]) && ht_aligned(b, aligns[k] < 16 ? 16 : aligns[k]));
        keel_free(a);
        keel_free(b);
    }
    /* a zero-size aligned block is a block of its own: it never lies on a
       neighbour's start (blocks of 16 around it, every alignment 32..4096) */
    for (k = 32; k <= 4096; k <<= 1) {
        void* before = keel_alloc(1);
        void* a = keel_alloc_aligned(0, k);
        void* after = keel_alloc(1);
        CHECK(a != NULL && a != before && a != after);
        CHECK(keel_usable_size(a) >= 1);
        keel_free(a);
        keel_free(before);
        keel_free(after);
        keel_validate();   /* aborts on a block freed twice */
    }
}

static void expect_enomem(size_t n, size_t alignment, const char* what) {
    void* p;
    char note[128];
    errno = 0;
    p = keel_alloc_aligned(n, alignment);
    snprintf(note, sizeof note, "keel_alloc_aligned(%lu, %s) gave %p, errno %d", (unsigned long)n, what, p, errno);
    CHECK_NOTE(p == NULL, note);
    CHECK_NOTE(errno == ENOMEM, note);
    if (p) keel_free(p);
}

static void test_bad_alignments(void) {
    static const size_t ns[] = {0, 1, 100, 100000};
    size_t i;
    for (i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        expect_enomem(ns[i], 0, "0");
        expect_enomem(ns[i], 3, "3");
        expect_enomem(ns[i], 24, "24");
        expect_enomem(ns[i], 48, "48");
        expect_enomem(ns[i], 4097, "4097");
        expect_enomem(ns[i], SIZE_MAX, "SIZE_MAX");
        expect_enomem(ns[i], SIZE_MAX / 2, "SIZE_MAX/2");
#if HT_64BIT
        expect_enomem(ns[i], (SIZE_MAX >> 1) + 1, "2^63");   /* a power of two no address space can honour */
#endif
    }
    /* sizes that cannot be had, with a fine alignment */
    expect_enomem(SIZE_MAX, 64, "64");
    expect_enomem(SIZE_MAX - 100, 4096, "4096");
    expect_enomem(SIZE_MAX - HT_MIB, HT_MIB, "1 MiB");
    expect_enomem(SIZE_MAX / 2 + 1, 16, "16");
}

static void test_realloc_aligned(void) {
    struct { size_t n, alignment, to; } cases[] = {
        {1000, 4096, 100000}, {1000, 4096, 50}, {100, 64, 1000}, {3 * HT_MIB, HT_MIB, 5 * HT_MIB},
        {3 * HT_MIB, HT_MIB, 1000}, {200000, 65536, 2000000}, {16, 256, 16},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char* p = (char*)keel_alloc_aligned(cases[i].n, cases[i].alignment);
        char* q;
        size_t keep = cases[i].n < cases[i].to ? cases[i].n : cases[i].to;
        CHECK(p != NULL);
        if (!p) continue;
        ht_fill(p, cases[i].n, (unsigned)i);
        q = (char*)keel_realloc(p, cases[i].to);
        CHECK(q != NULL);
        if (!q) { keel_free(p); continue; }
        CHECK(ht_aligned(q, 16));
        CHECK(keel_usable_size(q) >= cases[i].to);
        CHECK(ht_check(q, keep, (unsigned)i));
        keel_free(q);
    }
}

int main(void) {
    keel_stats s0 = keel_get_stats(), s1;
    ht_unbuffered();
    test_alignments();
    test_many_small();
    test_zero_size();
    test_bad_alignments();
    test_realloc_aligned();
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    keel_validate();
    return check_done(NAME);
}
