/* test_big_blocks.c — white box (src/segment.c, src/alloc.c "big pages"):
   blocks above the medium classes up to KEEL_BIG_MAX (1 MiB) come from big
   pages, many to a segment, so that
   - 50,000 live blocks of 132 KiB, and of 1 MiB, all succeed and take a few
     hundred mappings (Linux: /proc/self/maps), not two each (the kernel
     stops at 65,530; before big pages the 32,750th block failed, and every
     allocation after it, malloc(100) too);
   - their usable size is their class's, their memory is theirs (written
     whole, read back), calloc's reused blocks are zero;
   - a free from another thread, realloc in and out of them, keel_validate
     and keel_get_stats work as for any page;
   - the memory goes back once they are freed (keel_trim).
   And big pages serve none of: a block realloc grows (a large span grows
   in place), a first-class heap's, a block above 1 MiB, one asked under
   keel_set_limit or (POSIX) ulimit -v, nor any in the hardened build (a
   guard page follows each large block there). */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "internal.h"
#include "segment_map.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#if !defined(_WIN32)
#include <sys/resource.h>
#endif

#define NAME "test_big_blocks"

static unsigned kind_of(void* p) { return keel__segment_of(p)->kind; }

/* the kind a block of n bytes from a thread heap should come from */
static unsigned expected_kind(size_t n) {
    return !KEEL_HARDENED && n > KEEL_MEDIUM_MAX && n <= KEEL_BIG_MAX ? KEEL_SEGMENT_BIG
           : n > KEEL_MEDIUM_MAX                                      ? KEEL_SEGMENT_LARGE
                                                                      : KEEL_SEGMENT_MEDIUM;
}

static void check_sizes(void) {
    static const size_t sizes[] = {KEEL_MEDIUM_MAX + 1, 132 * HT_KIB, 200 * HT_KIB, 512 * HT_KIB - 1,
                                   512 * HT_KIB,        700 * HT_KIB, KEEL_BIG_MAX, KEEL_BIG_MAX + 1};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char* a = (unsigned char*)keel_alloc(n);
        unsigned char* b = (unsigned char*)keel_alloc(n);
        char note[96];
        snprintf(note, sizeof note, "blocks of %lu bytes", (unsigned long)n);
        if (!CHECK_NOTE(a && b, note)) continue;
        CHECK_NOTE(kind_of(a) == expected_kind(n) && kind_of(b) == expected_kind(n), note);
        CHECK_NOTE(((uintptr_t)a & 15) == 0 && ((uintptr_t)b & 15) == 0, note);
        CHECK_NOTE(keel_usable_size(a) >= n && keel_usable_size(b) >= n, note);
        if (expected_kind(n) == KEEL_SEGMENT_BIG) {
            CHECK_NOTE(keel_usable_size(a) == keel__class_size[keel__class_of(n)], note);
            CHECK_NOTE(keel__segment_of(a) == keel__segment_of(b), "two blocks of a class share their big page");
            CHECK_NOTE(a + keel_usable_size(a) <= b || b + keel_usable_size(b) <= a, note);
        }
        memset(a, 0xA5, keel_usable_size(a));
        memset(b, 0x5A, keel_usable_size(b));
        CHECK_NOTE(a[0] == 0xA5 && a[keel_usable_size(a) - 1] == 0xA5 && b[0] == 0x5A, note);
        keel_free(a);
        keel_free(b);
    }
}

/* calloc of a block that was written and freed is zero; realloc moves
   contents in and out of big pages */
static void check_calloc_realloc(void) {
    size_t n = 300 * HT_KIB, i, bad = 0;
    unsigned char* p = (unsigned char*)keel_alloc(n);
    unsigned char* q;
    CHECK(p != NULL);
    if (!p) return;
    memset(p, 0xEE, n);
    keel_free(p);
    p = (unsigned char*)keel_calloc(1, n);
    CHECK(p != NULL);
    if (!p) return;
    for (i = 0; i < n; i++) bad += p[i] != 0;
    CHECK_NOTE(bad == 0, "a reused big block came back from calloc with old bytes");
    ht_fill(p, n, 7);
    /* grows: a large span (it grows in place from there), contents kept */
    q = (unsigned char*)keel_realloc(p, 600 * HT_KIB);
    CHECK(q != NULL && kind_of(q) == KEEL_SEGMENT_LARGE);
    CHECK(q && ht_check(q, n, 7));
    /* a small block grown into the big range is a growing one too */
    p = (unsigned char*)keel_realloc(keel_alloc(100), 200 * HT_KIB);
    CHECK(p != NULL && kind_of(p) == KEEL_SEGMENT_LARGE);
    keel_free(p);
    /* shrunk a lot: a big page's block */
    p = (unsigned char*)keel_alloc(900 * HT_KIB);
    CHECK(p != NULL);
    if (p) {
        ht_fill(p, 200 * HT_KIB, 9);
        p = (unsigned char*)keel_realloc(p, 200 * HT_KIB);
        CHECK(p != NULL && ht_check(p, 200 * HT_KIB, 9));
        CHECK(p && kind_of(p) == expected_kind(200 * HT_KIB));
        keel_free(p);
    }
    keel_free(q);
}

/* which paths big pages do not serve */
static void check_not_served(void) {
    keel_heap* h = keel_heap_new();
    void* p;
    CHECK(h != NULL);
    if (h) {
        p = keel_heap_alloc(h, 200 * HT_KIB);
        CHECK_NOTE(p && kind_of(p) == KEEL_SEGMENT_LARGE, "a first-class heap's block came from a big page");
        keel_heap_destroy(h);
    }
    p = keel_alloc_aligned(200 * HT_KIB, 4096);
    CHECK(p != NULL && ((uintptr_t)p & 4095) == 0);
    keel_free(p);
    {   /* under a cap on committed memory: a span, which commits what it needs */
        size_t cap = keel_get_stats().virtual_memory_size + 64 * HT_MIB;
        CHECK(keel_set_limit(cap));
        p = keel_alloc(200 * HT_KIB);
        CHECK_NOTE(p && kind_of(p) == KEEL_SEGMENT_LARGE, "a block under keel_set_limit came from a big page");
        keel_free(p);
        CHECK(keel_set_limit(0));
        p = keel_alloc(200 * HT_KIB);
        CHECK(p && kind_of(p) == expected_kind(200 * HT_KIB));
        keel_free(p);
    }
#if !defined(_WIN32) && !HT_SANITIZED
    {   /* under ulimit -v (the soft limit, raised back after) */
        struct rlimit old, lim, now;
        if (getrlimit(RLIMIT_AS, &old) == 0 && old.rlim_cur == RLIM_INFINITY) {
            lim = old;
            lim.rlim_cur = (rlim_t)1 << (HT_64BIT ? 40 : 31);
            /* qemu-user takes the call but keeps no such limit: asked back, it says so */
            if (setrlimit(RLIMIT_AS, &lim) == 0 && getrlimit(RLIMIT_AS, &now) == 0 && now.rlim_cur == lim.rlim_cur) {
                p = keel_alloc(200 * HT_KIB);
                CHECK_NOTE(p && kind_of(p) == KEEL_SEGMENT_LARGE, "a block under ulimit -v came from a big page");
                keel_free(p);
                CHECK(setrlimit(RLIMIT_AS, &old) == 0);
            }
        }
    }
#endif
}

typedef struct remote_job { unsigned char** blocks; size_t count; } remote_job;
static void remote_free(void* arg) {
    remote_job* job = (remote_job*)arg;
    size_t i;
    for (i = 0; i < job->count; i++) keel_free(job->blocks[i]);
}

/* blocks freed by another thread come back to their page */
static void check_remote(void) {
    enum { N = 40 };
    unsigned char* blocks[N];
    size_t i, ok = 0;
    remote_job job;
    shim_thread t;
    shim_start s;
    for (i = 0; i < N; i++) {
        blocks[i] = (unsigned char*)keel_alloc(160 * HT_KIB);
        if (blocks[i]) ht_fill(blocks[i], 160 * HT_KIB, (unsigned)i);
    }
    for (i = 0; i < N; i++) ok += blocks[i] && ht_check(blocks[i], 160 * HT_KIB, (unsigned)i);
    CHECK(ok == N);
    job.blocks = blocks;
    job.count = N;
    s.fn = remote_free;
    s.arg = &job;
    CHECK(shim_create(&t, &s));
    shim_join(t);
    keel_validate();
    for (i = 0; i < N; i++) blocks[i] = (unsigned char*)keel_alloc(160 * HT_KIB);
    for (i = 0, ok = 0; i < N; i++) ok += blocks[i] != NULL;
    CHECK(ok == N);
    keel_validate();
    for (i = 0; i < N; i++) keel_free(blocks[i]);
}

/* count blocks of n bytes live at once: all succeed, each keeps what was
   written into it, the mappings stay few, and the memory goes back */
static void check_many(size_t n, size_t count) {
    unsigned char** blocks = (unsigned char**)malloc(count * sizeof *blocks);
    size_t i, made = 0, intact = 0;
    int maps_before = ht_mappings(), maps_held;
    keel_stats st0 = keel_get_stats(), st1;
    void* small;
    char note[160];
    CHECK(blocks != NULL);
    if (!blocks) return;
    for (i = 0; i < count; i++) {
        blocks[i] = (unsigned char*)keel_alloc(n);
        if (!blocks[i]) break;
        blocks[i][0] = (unsigned char)i;
        blocks[i][n - 1] = (unsigned char)(i >> 8);
        made++;
    }
    maps_held = ht_mappings();
    small = keel_alloc(100);
    st1 = keel_get_stats();
    for (i = 0; i < made; i++)
        intact += blocks[i][0] == (unsigned char)i && blocks[i][n - 1] == (unsigned char)(i >> 8);
    snprintf(note, sizeof note, "%lu of %lu blocks of %lu bytes made, %d mappings before, %d held",
             (unsigned long)made, (unsigned long)count, (unsigned long)n, maps_before, maps_held);
    printf(NAME ": %s\n", note);
    CHECK_NOTE(made == count && intact == made, note);
    CHECK_NOTE(small != NULL, "malloc(100) failed while the blocks were held");
    CHECK_NOTE(st1.num_bytes_allocated - st0.num_bytes_allocated >= made * n, note);
    if (maps_held >= 0 && !KEEL_HARDENED && n <= KEEL_BIG_MAX && HT_64BIT)
        CHECK_NOTE(maps_held - maps_before <= 2000, note);
    keel_free(small);
    for (i = 0; i < made; i++) keel_free(blocks[i]);
    free(blocks);
    (void)keel_trim();
    st1 = keel_get_stats();
    snprintf(note, sizeof note, "after freeing %lu blocks of %lu bytes: %lu KiB committed (%lu before)",
             (unsigned long)made, (unsigned long)n, (unsigned long)(st1.virtual_memory_size >> 10),
             (unsigned long)(st0.virtual_memory_size >> 10));
    CHECK_NOTE(st1.virtual_memory_size <= st0.virtual_memory_size + 16 * HT_MIB, note);
    if (maps_held >= 0) CHECK_NOTE(ht_mappings() <= maps_before + 16, "mappings left after the blocks went");
}

int main(void) {
    /* 50,000 of each where the address space and the test's time allow:
       64-bit, native, not under a sanitizer (whose shadow memory each block
       touches), not on Windows (wine commits each page slot whole: 65 GB),
       and not in the hardened build, whose large blocks each have their
       guard page, so a mapping each (as hardened_malloc's) */
    int full = HT_64BIT && !HT_SANITIZED && !ht_under_qemu() && !KEEL_HARDENED;
#if defined(_WIN32)
    full = 0;
#endif
    check_sizes();
    check_calloc_realloc();
    check_not_served();
    check_remote();
    /* the hardened build's spans each take a 4 MiB-aligned slot of
       address space: on 32-bit about 1,000 fit */
    check_many(132 * HT_KIB, full ? 50000 : KEEL_HARDENED && !HT_64BIT ? 500 : 2000);
    check_many(HT_MIB, full ? 50000 : 300);
    keel_validate();
    return check_done(NAME);
}
