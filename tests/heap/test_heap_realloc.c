/* test_heap_realloc.c — keel_realloc (DESIGN.md section 4): NULL and 0 as
   arguments, contents kept across every pair of block kinds (small, medium,
   large, huge), in-place cases, failure that leaves the block untouched, and
   exact statistics across a realloc. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "check.h"
#include "heap_test.h"

#include <errno.h>
#include <stdint.h>

#define NAME "test_heap_realloc"

static void test_null_and_zero(void) {
    static const size_t sizes[] = {0, 1, 16, 100, 5000, 300000, 2 * HT_MIB};
    keel_stats s0 = keel_get_stats(), s1;
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void* p = keel_realloc(NULL, sizes[i]);
        CHECK(p != NULL);
        if (!p) continue;
        CHECK(ht_aligned(p, 16));
        CHECK(keel_usable_size(p) >= sizes[i]);
        memset(p, 0x11, sizes[i]);
        keel_free(p);
    }
    {   /* realloc(NULL, 0) is keel_alloc(0): unique pointers */
        void* a = keel_realloc(NULL, 0);
        void* b = keel_realloc(NULL, 0);
        CHECK(a != NULL && b != NULL && a != b);
        keel_free(a);
        keel_free(b);
    }
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void* p = keel_alloc(sizes[i]);
        keel_stats before, after;
        size_t u;
        CHECK(p != NULL);
        if (!p) continue;
        u = keel_usable_size(p);
        before = keel_get_stats();
        CHECK(keel_realloc(p, 0) == NULL);   /* frees */
        after = keel_get_stats();
        CHECK(before.num_bytes_allocated - after.num_bytes_allocated == u);
        CHECK(after.num_live_blocks + 1 == before.num_live_blocks);
        CHECK(after.num_frees == before.num_frees + 1);
    }
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
}

/* One size from each range of block, and neighbours of the borders that a
   size-class scheme is likely to have. */
static const size_t matrix_sizes[] = {8, 24, 100, 128, 129, 1000, 1024, 4000, 9000, 33000, 70000, 140000,
                                      300000, 600000, 1100000};
#define NMATRIX (sizeof matrix_sizes / sizeof matrix_sizes[0])

static int verify(const void* p, size_t n, unsigned seed) {
    return n <= 2 * HT_MIB ? ht_check(p, n, seed) : ht_check_sampled(p, n, seed, 509);
}

/* alloc a, fill, realloc to b: the first min(a, b) bytes survive, the block
   is aligned and usable over b, and the byte count moves by exactly the
   difference of the usable sizes. */
static void realloc_pair(size_t a, size_t b, unsigned seed) {
    char* p = (char*)keel_alloc(a);
    char* q;
    size_t ua, ub;
    keel_stats s0, s1;
    char note[96];
    snprintf(note, sizeof note, "realloc %lu -> %lu", (unsigned long)a, (unsigned long)b);
    CHECK_NOTE(p != NULL, note);
    if (!p) return;
    ua = keel_usable_size(p);
    ht_fill(p, a, seed);
    s0 = keel_get_stats();
    q = (char*)keel_realloc(p, b);
    s1 = keel_get_stats();
    CHECK_NOTE(q != NULL, note);
    if (!q) { keel_free(p); return; }
    ub = keel_usable_size(q);
    CHECK_NOTE(ht_aligned(q, 16), note);
    CHECK_NOTE(ub >= b, note);
    CHECK_NOTE(verify(q, a < b ? a : b, seed), note);
    CHECK_NOTE(s1.num_bytes_allocated - s0.num_bytes_allocated == ub - ua, note);
    CHECK_NOTE(s1.num_live_blocks == s0.num_live_blocks, note);
    if (b > a) {
        memset(q + a, 0x5C, b - a);   /* the grown part is writable */
        CHECK_NOTE(verify(q, a, seed), note);
    }
    keel_free(q);
}

static void test_matrix(void) {
    size_t i, j;
    unsigned seed = 1;
    for (i = 0; i < NMATRIX; i++)
        for (j = 0; j < NMATRIX; j++)
            realloc_pair(matrix_sizes[i], matrix_sizes[j], seed++);
}

/* One block walked up through every range to 64 MiB and back down; other
   blocks alive around it so a move has neighbours to damage. */
static void test_chain(void) {
    static const size_t up[] = {8, 40, 200, 3000, 20000, 100000, 700000, 3 * HT_MIB, 12 * HT_MIB,
                                33 * HT_MIB, 64 * HT_MIB};
    const int n = (int)(sizeof up / sizeof up[0]);
    void* neighbours[64];
    size_t cur = 0;
    char* p = NULL;
    int i, step;
    unsigned seed = 77;
    for (i = 0; i < 64; i++) {
        neighbours[i] = keel_alloc((size_t)(16 << (i % 12)));
        if (neighbours[i]) ht_fill(neighbours[i], (size_t)(16 << (i % 12)), (unsigned)i);
    }
    for (step = 0; step < 2 * n - 1; step++) {
        size_t next = up[step < n ? step : 2 * n - 2 - step];
        char* q = (char*)keel_realloc(p, next);
        char note[64];
        snprintf(note, sizeof note, "chain %lu -> %lu", (unsigned long)cur, (unsigned long)next);
        CHECK_NOTE(q != NULL, note);
        if (!q) break;
        if (p) CHECK_NOTE(verify(q, cur < next ? cur : next, seed), note);
        CHECK_NOTE(keel_usable_size(q) >= next, note);
        if (next > cur) {   /* extend the pattern over the new part */
            size_t k;
            for (k = cur; k < next; k++) q[k] = (char)ht_byte(k, seed);
        }
        p = q;
        cur = next;
        /* keep the neighbours alive through allocations in between */
        keel_free(keel_alloc(next / 2));
    }
    keel_free(p);
    for (i = 0; i < 64; i++) {
        if (neighbours[i]) CHECK(ht_check(neighbours[i], (size_t)(16 << (i % 12)), (unsigned)i));
        keel_free(neighbours[i]);
    }
}

/* realloc p to n, which must leave it where it is; returns the block to
   go on with either way (a moved p has been freed). */
static char* same_place(char* p, size_t n, const char* note, const char* what) {
    char* q;
    char line[160];
    if (!p) return NULL;
    q = (char*)keel_realloc(p, n);
    snprintf(line, sizeof line, "%s: realloc to %lu (%s) moved the block", note, (unsigned long)n, what);
    CHECK_NOTE(q == p, line);
    return q;
}

/* The same size, or any size within the usable size, stays where it is. */
static void test_in_place(void) {
    static const size_t sizes[] = {1, 16, 17, 100, 129, 1000, 5000, 70000, 600000, 3 * HT_MIB, 40 * HT_MIB};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], u;
        char* p = (char*)keel_alloc(n);
        char note[64];
        snprintf(note, sizeof note, "size %lu", (unsigned long)n);
        CHECK_NOTE(p != NULL, note);
        if (!p) continue;
        u = keel_usable_size(p);
        ht_fill(p, n, (unsigned)i);
        p = same_place(p, n, note, "the same size");
        p = same_place(p, u, note, "the whole usable size");
        if (p) CHECK_NOTE(keel_usable_size(p) == u, note);
        if (u > n) p = same_place(p, n + (u - n) / 2, note, "between asked and usable");
        p = same_place(p, n, note, "back down to the size asked");
        if (p) CHECK_NOTE(ht_check(p, n, (unsigned)i), note);
        keel_free(p);
    }

    {   /* a modest shrink of a large block (past the big classes): 2 MiB -> 1800 KiB stays in place */
        char* p = (char*)keel_alloc(2 * HT_MIB);
        char* q;
        CHECK(p != NULL);
        if (p) {
            ht_fill(p, 2 * HT_MIB, 9);
            q = (char*)keel_realloc(p, 1800 * HT_KIB);
            CHECK(q != NULL);
            CHECK_NOTE(q == p, "2 MiB -> 1800 KiB moved");
            if (q) {
                CHECK(ht_check(q, 1800 * HT_KIB, 9));
                p = q;
            }
            keel_free(p);
        }
    }
    {   /* a huge block grows in place: it is reserved beyond its size (max(size,
           32 MiB) on 64-bit, half its size under ulimit -v or on 32-bit) */
        char* p = (char*)keel_alloc(32 * HT_MIB);
        char* q;
        CHECK(p != NULL);
        if (p) {
            ht_fill(p, 32 * HT_MIB, 10);
            q = (char*)keel_realloc(p, 40 * HT_MIB);
            CHECK(q != NULL);
            if (q) {
                CHECK_NOTE(q == p, "32 MiB -> 40 MiB moved: it did not grow into its reservation");
                CHECK(verify(q, 32 * HT_MIB, 10));
                memset(q + 32 * HT_MIB, 1, 8 * HT_MIB);
                p = q;
                q = (char*)keel_realloc(p, 36 * HT_MIB);   /* and shrink back */
                CHECK(q != NULL);
                if (q) {
                    CHECK_NOTE(q == p, "40 MiB -> 36 MiB moved: a modest shrink must stay in place");
                    CHECK(verify(q, 32 * HT_MIB, 10));
                    p = q;
                }
            }
            keel_free(p);
        }
    }
}

/* Impossible sizes: NULL, ENOMEM, the old block untouched and still owned. */
static void test_failure_keeps_block(void) {
    static const size_t sizes[] = {24, 3000, 200000, 20 * HT_MIB};
    size_t bad[5];
    size_t i, j;
    bad[0] = SIZE_MAX;
    bad[1] = SIZE_MAX - 15;
    bad[2] = SIZE_MAX - 4096;
    bad[3] = (size_t)PTRDIFF_MAX + 1;
    bad[4] = SIZE_MAX / 4 * 3;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], u;
        char* p = (char*)keel_alloc(n);
        keel_stats s0, s1;
        CHECK(p != NULL);
        if (!p) continue;
        u = keel_usable_size(p);
        ht_fill(p, n, (unsigned)(i + 50));
        s0 = keel_get_stats();
        for (j = 0; j < sizeof bad / sizeof bad[0]; j++) {
            void* q;
            char note[96];
            errno = 0;
            q = keel_realloc(p, bad[j]);
            snprintf(note, sizeof note, "realloc(%lu-byte block, %lu) gave %p, errno %d", (unsigned long)n,
                     (unsigned long)bad[j], q, errno);
            CHECK_NOTE(q == NULL, note);
            CHECK_NOTE(errno == ENOMEM, note);
            if (q) { p = (char*)q; break; }
        }
        s1 = keel_get_stats();
        CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
        CHECK(s1.num_live_blocks == s0.num_live_blocks);
        CHECK(keel_usable_size(p) == u);
        CHECK(verify(p, n, (unsigned)(i + 50)));
        {   /* still a live, working block */
            char* q = (char*)keel_realloc(p, n + 1);
            CHECK(q != NULL);
            if (q) {
                CHECK(verify(q, n, (unsigned)(i + 50)));
                p = q;
            }
            keel_free(p);
        }
    }
}

/* A block grown a few bytes at a time: when it outgrows its class it gets
   an eighth more than it had, so above 1 KiB (classes 12.5% apart) it
   moves at about every second class, not at each; a block that grows by
   more gets the class of the size asked (alloc.c, realloc_ask). Contents
   kept at every move. */
static void test_grow_by_a_little(void) {
    size_t n = 1024, moves = 0, classes = 0, last_class = 0;
    unsigned char* p = (unsigned char*)keel_alloc(n);
    CHECK(p != NULL);
    if (!p) return;
    memset(p, 7, n);
    while (n < 64 * HT_KIB) {
        size_t add = 1 + n % 13;
        unsigned char* q = (unsigned char*)keel_realloc(p, n + add);
        CHECK(q != NULL);
        if (!q) break;
        if (q != p) {
            moves++;
            CHECK_NOTE(q[0] == 7 && q[n / 2] == 7 && q[n - 1] == 7, "a block that moved lost its contents");
        }
        memset(q + n, 7, add);
        n += add;
        p = q;
        {   /* the classes a block asked for with this size would have crossed */
            void* f = keel_alloc(n);
            size_t c = f ? keel_usable_size(f) : 0;
            CHECK(f != NULL);
            if (c != last_class) classes++;
            last_class = c;
            keel_free(f);
        }
    }
    printf(NAME ": grown from 1 KiB to 64 KiB a few bytes at a time: %lu moves for %lu classes\n",
           (unsigned long)moves, (unsigned long)classes);
    CHECK_NOTE(moves >= 2, "the block never moved");
    CHECK_NOTE(moves * 3 <= classes * 2, "a block growing by a little moved at (nearly) every class");
    if (p) {
        size_t i;
        for (i = 0; i < n; i++)
            if (p[i] != 7) break;
        CHECK_NOTE(i == n, "contents lost while growing");
        keel_free(p);
    }
    {   /* a larger growth gets the size asked: the usable size of a new block of that size */
        unsigned char* a = (unsigned char*)keel_alloc(3000);
        unsigned char* b;
        size_t u;
        CHECK(a != NULL);
        if (a) {
            u = keel_usable_size(a);
            b = (unsigned char*)keel_realloc(a, 3 * u);
            CHECK(b != NULL);
            if (b) {
                void* f = keel_alloc(3 * u);
                CHECK(f != NULL);
                CHECK_NOTE(keel_usable_size(b) == keel_usable_size(f), "a block grown threefold got more than the class asked");
                keel_free(f);
                a = b;
            }
            keel_free(a);
        }
    }
}

static int grow_handler_calls;
static bool grow_handler(size_t size, void* user) {
    (void)size;
    (void)user;
    grow_handler_calls++;
    return false;
}

/* The eighth more is a wish, not a need: in a heap at its limit, where the
   size asked fits (a page of its class has room) and the eighth more would
   take a new page, the realloc succeeds with the size asked. */
static void test_grow_at_the_limit(void) {
    keel_heap* h = keel_heap_new();
    unsigned char *a, *b, *q;
    CHECK(h != NULL);
    if (!h) return;
    a = (unsigned char*)keel_heap_alloc(h, 1100);    /* the 1152-byte class */
    b = (unsigned char*)keel_heap_alloc(h, 1200);    /* 1280: where 1160 bytes go */
    CHECK(a != NULL && b != NULL);
    if (a && b) {
        CHECK(keel_heap_set_limit(h, keel_heap_get_stats(h).virtual_memory_size));
        {   /* the limit holds: a class with no page gets none */
            void* c = keel_heap_alloc(h, 1400);
            CHECK_NOTE(c == NULL, "a new page was committed past the heap's limit");
            keel_free(c);
        }
        memset(a, 9, 1100);
        grow_handler_calls = 0;
        keel_set_out_of_memory_handler(grow_handler, NULL);
        errno = 0;
        q = (unsigned char*)keel_heap_realloc(h, a, 1160);   /* an eighth more: 1296, the 1408 class */
        keel_set_out_of_memory_handler(NULL, NULL);
        CHECK_NOTE(q != NULL, "a realloc that fits failed because of its eighth more");
        if (q) {
            CHECK(q[0] == 9 && q[1099] == 9);
            CHECK_NOTE(errno == 0, "a realloc that succeeded left errno set");
            CHECK_NOTE(grow_handler_calls == 0, "the out-of-memory handler was asked for the eighth more");
            a = q;
        }
        printf(NAME ": at the heap's limit, realloc 1100 -> 1160 %s; the out-of-memory handler called %d times\n",
               q ? "succeeded" : "failed", grow_handler_calls);
    }
    keel_heap_destroy(h);
}

int main(void) {
    keel_stats s0 = keel_get_stats(), s1;
    ht_unbuffered();
    test_null_and_zero();
    test_matrix();
    test_chain();
    test_in_place();
    test_failure_keeps_block();
    test_grow_by_a_little();
    test_grow_at_the_limit();
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    keel_validate();
    return check_done(NAME);
}
