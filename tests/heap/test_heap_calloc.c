/* test_heap_calloc.c — keel_calloc (DESIGN.md section 4): zeroed memory even
   when the block reuses a dirty one, overflow of count * size, zero counts. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "check.h"
#include "heap_test.h"

#include <errno.h>
#include <stdint.h>

#define NAME "test_heap_calloc"
#define PER_SIZE 24

/* Dirty PER_SIZE blocks of n bytes (0xAA over the usable size), free them,
   then calloc the same size in several count/size shapes: all zero. */
static void dirty_then_calloc(size_t n) {
    void* p[PER_SIZE];
    int i, not_zero = 0, null = 0;
    for (i = 0; i < PER_SIZE; i++) {
        p[i] = keel_alloc(n);
        if (p[i]) memset(p[i], 0xAA, keel_usable_size(p[i]));
    }
    for (i = PER_SIZE - 1; i >= 0; i--) keel_free(p[i]);
    for (i = 0; i < PER_SIZE; i++) {
        size_t count = 1, size = n;
        if (i % 3 == 1) { count = n; size = 1; }
        else if (i % 3 == 2 && n % 8 == 0) { count = 8; size = n / 8; }
        p[i] = keel_calloc(count, size);
        if (!p[i]) { null++; continue; }
        if (!ht_aligned(p[i], 16)) null++;
        if (!ht_all_bytes(p[i], n, 0)) not_zero++;
    }
    {
        char note[64];
        snprintf(note, sizeof note, "size %lu", (unsigned long)n);
        CHECK_NOTE(null == 0, note);
        CHECK_NOTE(not_zero == 0, note);
    }
    for (i = 0; i < PER_SIZE; i++) keel_free(p[i]);
}

static void test_zeroed(void) {
    size_t n;
    for (n = 1; n <= 1024; n++) dirty_then_calloc(n);
    for (n = 1040; n <= 64 * HT_KIB; n += n / 7) dirty_then_calloc(n);
    dirty_then_calloc(100000);
    dirty_then_calloc(256 * HT_KIB);
    dirty_then_calloc(HT_MIB + 16);
}

/* Large and huge blocks: one at a time, dirtied, freed, calloc'ed again. */
static void test_zeroed_large(void) {
    static const size_t sizes[] = {2 * HT_MIB, 5 * HT_MIB + 3, 17 * HT_MIB, 40 * HT_MIB};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int round;
        for (round = 0; round < 3; round++) {
            char* p = (char*)keel_alloc(sizes[i]);
            char* q;
            CHECK(p != NULL);
            if (p) memset(p, 0xAA, keel_usable_size(p));
            keel_free(p);
            q = (char*)keel_calloc(sizes[i] / 4, 4);
            CHECK(q != NULL);
            if (q) CHECK(ht_all_bytes(q, sizes[i] / 4 * 4, 0));
            keel_free(q);
        }
    }
}

static void expect_overflow(size_t count, size_t size, const char* what) {
    void* p;
    char note[128];
    errno = 0;
    p = keel_calloc(count, size);
    snprintf(note, sizeof note, "keel_calloc(%s) gave %p, errno %d", what, p, errno);
    CHECK_NOTE(p == NULL, note);
    CHECK_NOTE(errno == ENOMEM, note);
    if (p) keel_free(p);
}

static void test_overflow(void) {
    const size_t half_bits = (size_t)1 << (sizeof(size_t) * 4);   /* 2^32 on 64-bit, 2^16 on 32-bit */
    expect_overflow(SIZE_MAX / 2 + 1, 2, "SIZE_MAX/2+1, 2");
    expect_overflow(2, SIZE_MAX / 2 + 1, "2, SIZE_MAX/2+1");
    expect_overflow(SIZE_MAX, SIZE_MAX, "SIZE_MAX, SIZE_MAX");
    expect_overflow(SIZE_MAX, 2, "SIZE_MAX, 2");
    expect_overflow(3, SIZE_MAX / 3 + 1, "3, SIZE_MAX/3+1");
    expect_overflow(half_bits, half_bits, "2^(w/2), 2^(w/2): product wraps to 0");
    expect_overflow(half_bits + 1, half_bits, "2^(w/2)+1, 2^(w/2): product wraps to 2^(w/2)");
    expect_overflow(SIZE_MAX / 16 + 1, 16, "SIZE_MAX/16+1, 16: wraps to 0");
    /* no overflow, but impossible */
    expect_overflow(SIZE_MAX, 1, "SIZE_MAX, 1");
    expect_overflow(1, SIZE_MAX - 15, "1, SIZE_MAX-15");
    {
        void* p = keel_calloc(10, 10);   /* the heap still works */
        CHECK(p != NULL);
        keel_free(p);
    }
}

static void test_zero_counts(void) {
    void* a = keel_calloc(0, 16);
    void* b = keel_calloc(16, 0);
    void* c = keel_calloc(0, 0);
    void* d = keel_calloc(0, SIZE_MAX);
    void* e = keel_calloc(SIZE_MAX, 0);
    CHECK(a != NULL && b != NULL && c != NULL && d != NULL && e != NULL);
    CHECK(a != b && a != c && b != c && d != e && c != d);
    CHECK(ht_aligned(a, 16) && ht_aligned(b, 16) && ht_aligned(c, 16));
    keel_free(a);
    keel_free(b);
    keel_free(c);
    keel_free(d);
    keel_free(e);
}

int main(void) {
    keel_stats s0 = keel_get_stats(), s1;
    ht_unbuffered();
    test_zeroed();
    test_zeroed_large();
    test_overflow();
    test_zero_counts();
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    keel_validate();
    return check_done(NAME);
}
