/* test_heap_large_grow.c — white box (src/large.c, "Growing blocks"): a
   block that realloc moves into a large span takes the cached span with
   the most memory and keeps it as slack, so a vector grown again after one
   was freed reuses that memory (Linux: almost no page faults the second
   time); its usable size stays the size asked (rounded to OS pages); a
   realloc that shrinks keeps the memory as slack within the slack budget
   and gives it back past it; the slack of all live blocks stays within
   its budget; a plain malloc of a bigger cached span keeps its memory
   within that budget, past it no more than four times its size. Contents
   survive every move. The hardened build keeps the same slack, with its
   guard: the page after each block's usable size faults, at every step
   (protected inside the slack). A realloc that moves a large block gives
   the old block's memory back as it copies (Linux: the peak RSS). */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "internal.h"
#include "segment_map.h"
#include "check.h"
#include "heap_test.h"
#include "probe.h"

#define TOP ((size_t)16 << 20)

static size_t page_size;

static size_t round_page(size_t n) { return (n + page_size - 1) & ~(page_size - 1); }

static keel_segment* seg_of(void* p) { return keel__segment_of(p); }

/* A vector of bytes grown x1.5 by realloc from 100 KiB to at least `top`,
   the new part of each step written, the old part's marks checked. */
static unsigned char* grow_vector(size_t top, size_t* len_out, int* intact) {
    unsigned char* v = NULL;
    size_t len = 0, cap = 100 * HT_KIB;
    *intact = 1;
    for (;;) {
        size_t i;
        unsigned char* q = (unsigned char*)keel_realloc(v, cap);
        if (!q) { keel_free(v); return NULL; }
        v = q;
        for (i = 0; i < len; i += 4096)
            if (v[i] != (unsigned char)(i / 4096 * 7 + 1)) *intact = 0;
        for (i = len; i < cap; i += 4096) v[i] = (unsigned char)(i / 4096 * 7 + 1);
        len = cap;   /* the marks lie on multiples of 4096 below len */
        len -= len % 4096;
        if (cap >= top) break;
        cap += cap / 2;
    }
    *len_out = cap;
    return v;
}

/* The hardened build's guard (src/large.c, guard_bytes): the page right
   after a large block's usable size faults, also where its span keeps
   committed slack past it (that page is then protected), and the block's
   last byte is still its own. Nothing to check in the other builds. */
static void guard_check(unsigned char* p, const char* where) {
#if KEEL_HARDENED
    keel_segment* seg = seg_of(p);
    size_t u = keel_usable_size(p);
    CHECK(u == seg->large_usable);
    CHECK(seg->reserved - seg->large_offset >= u + page_size);   /* room for the guard */
    p[u - 1] = (unsigned char)(p[u - 1] + 1);
    p[u - 1] = (unsigned char)(p[u - 1] - 1);
    CHECK_NOTE(probe_faults(p + u, 1) == 1, where);
#else
    (void)p;
    (void)where;
#endif
}

#if defined(__linux__)
/* A field of /proc/self/status in KiB (VmRSS, VmHWM), -1 if unreadable. */
static long status_kib(const char* field) {
    char line[256];
    long v = -1;
    FILE* f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, strlen(field)) == 0) v = strtol(line + strlen(field), NULL, 10);
    fclose(f);
    return v;
}
#endif

/* A realloc that moves a large block (past its reservation) gives the old
   block's memory back as it copies (keel__large_copy_out): the peak RSS of
   the move stays well below old + new. Linux (the peak is reset through
   /proc/self/clear_refs), not under qemu, nor under a sanitizer (whose
   shadow of the new block grows the peak: ASan 18 MiB, TSan 130 MiB). */
static void move_gives_back(void) {
#if defined(__linux__)
    const size_t n = (size_t)32 << 20;
    unsigned char* a;
    unsigned char* b;
    long before, peak;
    FILE* f;
    size_t i, bad = 0;
    if (ht_under_qemu() || HT_SANITIZED) return;
    a = (unsigned char*)keel_alloc(n);
    if (!CHECK(a != NULL)) return;
    for (i = 0; i < n; i++) a[i] = (unsigned char)(i * 7 + (i >> 12));
    f = fopen("/proc/self/clear_refs", "w");
    if (!f) {   /* no way to reset the peak here */
        keel_free(a);
        return;
    }
    fputs("5", f);   /* VmHWM := VmRSS */
    fclose(f);
    before = status_kib("VmRSS:");
    b = (unsigned char*)keel_realloc(a, 4 * n);   /* past n + its headroom: moves */
    peak = status_kib("VmHWM:");
    if (!CHECK(b != NULL)) return;
    CHECK(b != a);
    for (i = 0; i < n; i++) bad += b[i] != (unsigned char)(i * 7 + (i >> 12));
    CHECK(bad == 0);
    if (!CHECK(before > 0 && peak > 0 && peak - before < (long)(n >> 10) / 2))
        fprintf(stderr, "  the move of a %zu MiB block raised the peak RSS by %ld KiB\n", n >> 20, peak - before);
    keel_free(b);
#endif
}

int main(void) {
    size_t len;
    int intact;
    unsigned char* v;
    long f1, f2;
    page_size = vmem_get_page_size();
    /* nothing leaves the cache by age while the test runs (qemu, wine) */
    CHECK(keel_option_set("purge_delay", -1));

    /* first vector: its memory is faulted in; freed, its span is cached */
    f1 = ht_faults_now();
    v = grow_vector(TOP, &len, &intact);
    f1 = ht_faults_now() - f1;
    CHECK(v != NULL && intact);
    if (!v) return check_done("test_heap_large_grow");
    CHECK(keel_usable_size(v) == round_page(len));
    keel_free(v);

    /* second vector: takes that span when it becomes large, keeps it all */
    {
        unsigned char* w = (unsigned char*)keel_alloc(100 * HT_KIB);
        unsigned char* q;
        keel_segment* seg;
        CHECK(w != NULL);
        memset(w, 0x5a, 100 * HT_KIB);
        q = (unsigned char*)keel_realloc(w, 200 * HT_KIB);   /* medium -> large, growing */
        CHECK(q != NULL && q[0] == 0x5a && q[100 * HT_KIB - 1] == 0x5a);
        seg = seg_of(q);
        CHECK(seg->kind == KEEL_SEGMENT_LARGE);
        CHECK_NOTE(seg->large_committed >= TOP, "a growing block keeps the cached span's memory");
        CHECK(keel_usable_size(q) == round_page(200 * HT_KIB));
        CHECK(seg->large_usable == round_page(200 * HT_KIB));
        keel_free(q);
    }
    f2 = ht_faults_now();
    v = grow_vector(TOP, &len, &intact);
    f2 = ht_faults_now() - f2;
    CHECK(v != NULL && intact);
    if (!v) return check_done("test_heap_large_grow");
    if (!HT_SANITIZED && !ht_under_qemu() && f1 > 0) {
        char note[128];
        snprintf(note, sizeof note, "the second vector faults memory in again: %ld faults, the first %ld", f2, f1);
        CHECK_NOTE(f2 * 4 < f1, note);
    }
    /* only now: a probe forks, and a fork makes the parent's next writes fault */
    guard_check(v, "no guard after a block grown by realloc");

    /* a realloc that shrinks keeps the memory as slack while the slack of
       all live blocks stays within its budget (large_cache_bytes, 32 MiB,
       or a quarter of the memory in use), and grows back into it. Where
       pages move (src/large.c, span_shed: Linux, not the hardened build)
       the memory goes to the cache instead, in a span of its own, and the
       block growing back takes it from there: no page faults either way. */
    {
        keel_segment* seg = seg_of(v);
        size_t committed = seg->large_committed;
        keel_stats before = keel_get_stats(), after;
        int moves = !KEEL_HARDENED && sizeof(void*) == 8 && ht_vmem_moves();   /* span_shed: 64-bit */
        long f;
        unsigned char* q = (unsigned char*)keel_realloc(v, 2 * HT_MIB);
        CHECK(q == v);   /* in place */
        CHECK(committed >= TOP);
        after = keel_get_stats();
        if (moves) {
            CHECK_NOTE(seg->large_committed < committed, "a shrink kept its memory as slack, though pages move");
            CHECK_NOTE(after.cached_bytes >= before.cached_bytes + (committed - seg->large_committed),
                       "the memory a shrink shed is not in the cache");
            CHECK(after.virtual_memory_size <= before.virtual_memory_size + HT_MIB / 8);   /* moved, not made */
        } else {
            CHECK_NOTE(seg->large_committed == committed, "a shrink within the slack budget gave memory back");
        }
        CHECK(keel_usable_size(q) == 2 * HT_MIB);
        CHECK(q[0] == 1 && q[2 * HT_MIB - 4096] == (unsigned char)((2 * HT_MIB - 4096) / 4096 * 7 + 1));
        guard_check(q, "no guard after a block shrunk within its slack");
        f = ht_faults_now();
        v = (unsigned char*)keel_realloc(q, TOP);
        memset(v + 2 * HT_MIB, 3, TOP - 2 * HT_MIB);   /* what a growing buffer does */
        f = ht_faults_now() - f;
        CHECK(v == q);
        if (moves) CHECK(seg->large_committed >= TOP);
        else CHECK_NOTE(seg->large_committed == committed, "a block grown back into its slack committed again");
        if (!KEEL_HARDENED && !HT_SANITIZED && !ht_under_qemu()) {   /* the hardened build clears a shrunk tail */
            char note[128];
            snprintf(note, sizeof note, "a block grown back faulted its memory in again: %ld faults", f);
            CHECK_NOTE((size_t)f * page_size * 8 < TOP, note);
        }
        CHECK(keel_usable_size(v) == TOP);
        CHECK(v[0] == 1);
        guard_check(v, "no guard after a block grown back into its slack");
    }

    /* past the budget (large_cache_bytes 0: none) a realloc that shrinks
       gives back what is past a quarter more */
    {
        long long cache_bytes = keel_option_get("large_cache_bytes");
        keel_stats before, after;
        keel_segment* seg = seg_of(v);
        unsigned char* q;
        CHECK(keel_option_set("large_cache_bytes", 0));
        before = keel_get_stats();
        q = (unsigned char*)keel_realloc(v, HT_MIB);
        after = keel_get_stats();
        CHECK(q == v);   /* in place */
        CHECK(seg->large_committed <= HT_MIB + HT_MIB / 4 + page_size);
        CHECK(before.virtual_memory_size - after.virtual_memory_size >= TOP - 2 * HT_MIB);
        CHECK(keel_usable_size(q) == HT_MIB);
        guard_check(q, "no guard after a block shrunk by realloc");
        keel_free(q);
        CHECK(keel_option_set("large_cache_bytes", cache_bytes));
    }

    /* the slack of all live blocks stays within large_cache_bytes (24 MiB
       here): a second growing block past it keeps what a reused span keeps */
    CHECK(keel_option_set("large_cache_bytes", (long long)24 << 20));
    {
        unsigned char *a, *b, *c;
        keel_segment *sa, *sb;
        a = (unsigned char*)keel_alloc(TOP);
        CHECK(a != NULL);
        if (a) memset(a, 1, TOP);
        keel_free(a);   /* cached: 16 MiB */
        a = (unsigned char*)keel_realloc(keel_alloc(100 * HT_KIB), 200 * HT_KIB);
        CHECK(a != NULL);
        sa = seg_of(a);
        CHECK(sa->large_committed >= TOP);   /* slack about 16 MiB: within 24 */
        b = (unsigned char*)keel_alloc(TOP);
        CHECK(b != NULL);
        if (b) memset(b, 2, TOP);
        keel_free(b);   /* cached: 16 MiB more */
        b = (unsigned char*)keel_realloc(keel_alloc(100 * HT_KIB), 200 * HT_KIB);
        CHECK(b != NULL);
        sb = seg_of(b);
        CHECK_NOTE(sb->large_committed <= 4 * round_page(200 * HT_KIB) + HT_MIB,
                   "slack past large_cache_bytes is given back");
        CHECK(sa->large_committed >= TOP);   /* the first keeps its own */
        guard_check(a, "no guard after a growing block from the cache");
        guard_check(b, "no guard after a growing block past the slack bound");
        keel_free(a);
        keel_free(b);

        /* a plain malloc of a bigger cached span keeps its memory as
           slack within the slack budget (24 MiB here) */
        (void)keel_trim();   /* the cache empty: the next span is the only one */
        c = (unsigned char*)keel_alloc(TOP);
        CHECK(c != NULL);
        if (c) memset(c, 3, TOP);
        keel_free(c);
        c = (unsigned char*)keel_alloc(2 * HT_MIB);   /* past the big classes: a span */
        CHECK(c != NULL);
        CHECK(seg_of(c)->kind == KEEL_SEGMENT_LARGE);
        CHECK_NOTE(seg_of(c)->large_committed >= TOP, "a reused span within the slack budget gave memory back");
        CHECK(keel_usable_size(c) == round_page(2 * HT_MIB));
        guard_check(c, "no guard after a block from a bigger cached span");
        keel_free(c);
    }
    /* past the slack budget (8 MiB here: large_cache_bytes, more than a
       quarter of the 10 MiB in use) it gives back what is past its size
       when that is more than three times its size; the cache (twice the
       memory in use, 20 MiB) still holds the span */
    CHECK(keel_option_set("large_cache_bytes", (long long)8 << 20));
    {
        unsigned char* live;
        unsigned char* c;
        unsigned char* big;
        (void)keel_trim();
        live = (unsigned char*)keel_alloc(10 * HT_MIB);
        CHECK(live != NULL);
        if (live) memset(live, 5, 10 * HT_MIB);
        big = (unsigned char*)keel_alloc(TOP);
        CHECK(big != NULL);
        if (big) memset(big, 3, TOP);
        keel_free(big);
        c = (unsigned char*)keel_alloc(2 * HT_MIB);
        CHECK(c != NULL);
        CHECK(seg_of(c)->kind == KEEL_SEGMENT_LARGE);
        CHECK_NOTE(c == big, "the cached span was not reused");
        CHECK_NOTE(seg_of(c)->large_committed == round_page(2 * HT_MIB),
                   "a reused span past the slack budget kept more than its block");
        guard_check(c, "no guard after a block from a bigger cached span past the slack budget");
        keel_free(c);
        keel_free(live);
    }
    CHECK(keel_option_set("large_cache_bytes", (long long)24 << 20));
    /* grown in place within its slack: the old guard's page is the
       block's now, every byte of it writable; the guard moves along, and
       back when the block shrinks */
    {
        unsigned char* w = (unsigned char*)keel_alloc(TOP);
        unsigned char* q;
        keel_segment* seg;
        CHECK(w != NULL);
        if (w) memset(w, 4, TOP);
        keel_free(w);   /* cached */
        w = (unsigned char*)keel_alloc(100 * HT_KIB);
        CHECK(w != NULL);
        if (w) memset(w, 0x5a, 100 * HT_KIB);
        q = (unsigned char*)keel_realloc(w, 200 * HT_KIB);   /* takes the cached span, keeps its memory */
        CHECK(q != NULL);
        if (!q) return check_done("test_heap_large_grow");
        seg = seg_of(q);
        CHECK(seg->kind == KEEL_SEGMENT_LARGE && seg->large_committed >= TOP);
        guard_check(q, "no guard after a block that keeps slack");
        w = (unsigned char*)keel_realloc(q, HT_MIB);
        CHECK(w == q);
        if (w == q) {
            CHECK(seg->large_committed >= TOP && w[0] == 0x5a && w[100 * HT_KIB - 1] == 0x5a);
            memset(w + 100 * HT_KIB, 0x6b, HT_MIB - 100 * HT_KIB);
            CHECK(w[HT_MIB - 1] == 0x6b);
            guard_check(w, "no guard after a block grown within its slack");
            q = (unsigned char*)keel_realloc(w, 900 * HT_KIB);
            CHECK(q == w && q[900 * HT_KIB - 1] == 0x6b);
            guard_check(q, "no guard after a block shrunk in place");
        }
        keel_free(q);
    }
    move_gives_back();
    keel_validate();
    return check_done("test_heap_large_grow");
}
