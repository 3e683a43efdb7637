/* test_arena.c — arenas (DESIGN.md section 5): bump allocation, alignment,
   commit on growth, pop_to, clear keeping 1 MiB, push_zero, exhaustion, bad
   input, and release restoring vmem's counters. */
#define _DEFAULT_SOURCE
#include "keel/arena.h"
#include "keel/vmem.h"
#include "check.h"
#include "probe.h"

#include <errno.h>
#include <stdint.h>

#define MIB ((size_t)1 << 20)

static size_t page, gran;

static int aligned_to(const void* p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static int all_bytes(const unsigned char* p, size_t n, unsigned char v) {
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

static void test_init(void) {
    keel_arena a;
    vmem_usage u0 = vmem_get_usage_summary(), u1;
    memset(&a, 0xAA, sizeof a);
    errno = 0;
    CHECK(!keel_arena_init(&a, 0));
    CHECK(errno == EINVAL);
    CHECK(a.base == NULL && a.reserved == 0 && a.committed == 0 && a.pos == 0);
    CHECK(!keel_arena_init(NULL, MIB));
    CHECK(!keel_arena_init(&a, SIZE_MAX));
    CHECK(errno == ENOMEM && a.base == NULL);
    CHECK(!keel_arena_init(&a, SIZE_MAX - 2 * gran));   /* rounds fine, the OS refuses */
    CHECK(errno == ENOMEM && a.base == NULL);

    CHECK(keel_arena_init(&a, 64 * MIB + 1));
    CHECK(a.base != NULL && aligned_to(a.base, gran));
    CHECK(a.reserved == vmem_align_forward(64 * MIB + 1, gran));
    CHECK(a.committed == 0 && a.pos == 0 && keel_arena_pos(&a) == 0);
    CHECK(a.keep_on_clear == MIB);
    u1 = vmem_get_usage_summary();
    CHECK(u1.reserved_bytes - u0.reserved_bytes == a.reserved);
    CHECK(u1.committed_bytes == u0.committed_bytes);   /* init commits nothing */
    CHECK(probe_read_faults(a.base) == 1);
    keel_arena_release(&a);
    u1 = vmem_get_usage_summary();
    CHECK(u1.reserved_bytes == u0.reserved_bytes && u1.committed_bytes == u0.committed_bytes);
}

static void test_push_and_align(void) {
    keel_arena a;
    char* prev_end;
    size_t align;
    CHECK(keel_arena_init(&a, 64 * MIB));
    {
        char* x = (char*)keel_arena_push(&a, 100, 16);
        char* y;
        CHECK(x == a.base);
        CHECK(a.pos == 100 && keel_arena_pos(&a) == 100);
        CHECK(a.committed >= 100 && a.committed % page == 0 && a.committed <= a.reserved);
        CHECK(all_bytes((unsigned char*)x, 100, 0));    /* fresh pages read zero */
        memset(x, 0x11, 100);
        y = (char*)keel_arena_push(&a, 10, 64);
        CHECK(y == a.base + 128 && aligned_to(y, 64));
        memset(y, 0x22, 10);
        CHECK(all_bytes((unsigned char*)x, 100, 0x11));
        CHECK(a.pos == 138);
    }
    prev_end = a.base + a.pos;
    for (align = 1; align <= 4 * MIB; align <<= 1) {
        char* p = (char*)keel_arena_push(&a, 24, align);
        CHECK(p != NULL && aligned_to(p, align));
        CHECK(p >= prev_end);
        if (p) {
            memset(p, (int)align, 24);
            prev_end = p + 24;
        }
    }
    CHECK(a.pos == (size_t)(prev_end - a.base));
    CHECK(a.pos <= a.committed && a.committed <= a.reserved);
    {
        size_t pos = a.pos;
        char* z = (char*)keel_arena_push(&a, 0, 16);
        CHECK(z != NULL && aligned_to(z, 16));           /* zero bytes: a valid pointer */
        CHECK(keel_arena_push(&a, 10, 0) == NULL && errno == EINVAL);
        CHECK(keel_arena_push(&a, 10, 3) == NULL && errno == EINVAL);
        CHECK(keel_arena_push(&a, 10, 48) == NULL && errno == EINVAL);
        CHECK(keel_arena_push_zero(&a, 10, 6) == NULL && errno == EINVAL);
        CHECK(a.pos == pos || a.pos == (size_t)(z - a.base));
    }
    /* the page after the committed end still faults */
    if (a.committed < a.reserved) CHECK(probe_read_faults(a.base + a.committed) == 1);
    keel_arena_release(&a);
}

/* Growth commits in steps that grow with the arena: O(log n) commits. */
static void test_commit_growth(void) {
    keel_arena a;
    size_t last = 0, commits = 0, i;
    vmem_usage u0 = vmem_get_usage_summary();
    CHECK(keel_arena_init(&a, 256 * MIB));
    for (i = 0; i < 64 * 1024; i++) {                  /* 64 MiB in 1 KiB pushes */
        char* p = (char*)keel_arena_push(&a, 1024, 8);
        if (!p) { CHECK(p != NULL); break; }
        p[0] = 1;
        p[1023] = 2;
        if (a.committed != last) { commits++; last = a.committed; }
    }
    CHECK(a.pos == 64 * MIB);
    CHECK(commits >= 5 && commits <= 40);
    CHECK(vmem_get_usage_summary().committed_bytes - u0.committed_bytes == a.committed);
    CHECK(a.committed <= a.pos + a.pos / 4 + 64 * 1024 + page);
    keel_arena_release(&a);
}

static void test_pop_to(void) {
    keel_arena a;
    size_t mark;
    char* x;
    char* y;
    CHECK(keel_arena_init(&a, 8 * MIB));
    CHECK(keel_arena_push(&a, 1000, 16) != NULL);
    mark = keel_arena_pos(&a);
    x = (char*)keel_arena_push(&a, 5000, 16);
    CHECK(x != NULL);
    keel_arena_pop_to(&a, mark);
    CHECK(keel_arena_pos(&a) == mark);
    y = (char*)keel_arena_push(&a, 5000, 16);
    CHECK(y == x);                                     /* the same space again */
    errno = 0;
    keel_arena_pop_to(&a, a.pos + 1);                  /* beyond the position: nothing changes */
    CHECK(errno == EINVAL && a.pos == mark + 5000 + (size_t)(x - (a.base + mark)));
    keel_arena_pop_to(&a, 0);
    CHECK(a.pos == 0);
    CHECK(keel_arena_push(&a, 1, 1) == a.base);
    keel_arena_release(&a);
}

static void test_push_zero(void) {
    keel_arena a;
    unsigned char* p;
    CHECK(keel_arena_init(&a, 8 * MIB));
    p = (unsigned char*)keel_arena_push(&a, 3 * page, 16);
    CHECK(p != NULL);
    if (!p) return;
    memset(p, 0xAB, 3 * page);
    keel_arena_pop_to(&a, page);
    /* half of the block overlaps dirty bytes, half is fresh */
    p = (unsigned char*)keel_arena_push_zero(&a, 4 * page, 16);
    CHECK(p == (unsigned char*)a.base + page);
    CHECK(p && all_bytes(p, 4 * page, 0));
    CHECK(a.base[page - 1] == (char)0xAB);              /* bytes before the block kept */
    keel_arena_pop_to(&a, 0);
    p = (unsigned char*)keel_arena_push_zero(&a, 100, 64);
    CHECK(p == (unsigned char*)a.base && all_bytes(p, 100, 0));
    keel_arena_release(&a);
}

static void test_clear(void) {
    keel_arena a;
    vmem_usage u0, u1;
    char* p;
    CHECK(keel_arena_init(&a, 64 * MIB));
    p = (char*)keel_arena_push(&a, 8 * MIB, 16);
    CHECK(p != NULL);
    if (!p) return;
    memset(p, 3, 8 * MIB);
    u0 = vmem_get_usage_summary();
    keel_arena_clear(&a);
    u1 = vmem_get_usage_summary();
    CHECK(a.pos == 0);
    CHECK(a.committed == vmem_align_forward(MIB, page));
    CHECK(u0.committed_bytes - u1.committed_bytes >= 7 * MIB);
    CHECK(probe_read_faults(a.base + a.committed) == 1);   /* given back */
    CHECK(probe_read_faults(a.base + 8 * MIB - 1) == 1);
    CHECK(probe_write_faults(a.base + a.committed - 1) == 0);
    /* memory past the kept part comes back zero; the kept part is reused */
    p = (char*)keel_arena_push_zero(&a, 2 * MIB, 16);
    CHECK(p == a.base && p && p[MIB - 1] == 0 && p[2 * MIB - 1] == 0);
    /* clearing an arena below the limit decommits nothing */
    keel_arena_pop_to(&a, 0);
    u0 = vmem_get_usage_summary();
    keel_arena_release(&a);
    CHECK(keel_arena_init(&a, 64 * MIB));
    CHECK(keel_arena_push(&a, 100 * 1024, 16) != NULL);
    u0 = vmem_get_usage_summary();
    keel_arena_clear(&a);
    CHECK(vmem_get_usage_summary().committed_bytes == u0.committed_bytes && a.pos == 0);
    /* keep_on_clear is the caller's to set: 0 keeps nothing */
    a.keep_on_clear = 0;
    keel_arena_clear(&a);
    CHECK(a.committed == 0);
    CHECK(probe_read_faults(a.base) == 1);
    CHECK(keel_arena_push(&a, 10, 16) == a.base);
    keel_arena_release(&a);
}

static void test_exhaustion_and_overflow(void) {
    keel_arena a;
    vmem_usage u0 = vmem_get_usage_summary();
    size_t pushed = 0;
    CHECK(keel_arena_init(&a, MIB));
    for (;;) {
        char* p = (char*)keel_arena_push(&a, 1000, 8);
        if (!p) break;
        pushed += 1000;
        p[999] = 1;
    }
    CHECK(errno == ENOMEM);
    CHECK(pushed + 1000 > a.reserved && pushed <= a.reserved);
    CHECK(a.pos == pushed && a.committed == a.reserved);
    /* still usable: a smaller push that fits, and after pop_to, more */
    if (a.reserved - a.pos >= 8) CHECK(keel_arena_push(&a, a.reserved - a.pos, 1) != NULL);
    CHECK(keel_arena_push(&a, 1, 1) == NULL && errno == ENOMEM);
    keel_arena_pop_to(&a, 0);
    CHECK(keel_arena_push(&a, a.reserved, 1) == a.base);
    keel_arena_pop_to(&a, 10);
    /* sizes and alignments that overflow give NULL, never a wrapped pointer */
    CHECK(keel_arena_push(&a, SIZE_MAX, 1) == NULL && errno == ENOMEM);
    CHECK(keel_arena_push(&a, SIZE_MAX - 5, 16) == NULL);
    CHECK(keel_arena_push_zero(&a, SIZE_MAX, 16) == NULL);
    CHECK(keel_arena_push(&a, 1, (size_t)1 << (sizeof(size_t) * 8 - 1)) == NULL);
    CHECK(keel_arena_push(&a, a.reserved, 1) == NULL);
    CHECK(a.pos == 10);
    keel_arena_release(&a);
    CHECK(vmem_get_usage_summary().reserved_bytes == u0.reserved_bytes);
    CHECK(vmem_get_usage_summary().committed_bytes == u0.committed_bytes);
}

static void test_release(void) {
    keel_arena a;
    vmem_usage u0 = vmem_get_usage_summary(), u1;
    char* base;
    CHECK(keel_arena_init(&a, 32 * MIB));
    CHECK(keel_arena_push(&a, 5 * MIB, 16) != NULL);
    base = a.base;
    keel_arena_release(&a);
    u1 = vmem_get_usage_summary();
    CHECK(u1.reserved_bytes == u0.reserved_bytes && u1.committed_bytes == u0.committed_bytes);
    CHECK(a.base == NULL && a.reserved == 0 && a.committed == 0 && a.pos == 0);
    if (probe_unmapped_seen()) CHECK(probe_unmapped(base) == 1);
    keel_arena_release(&a);                             /* again: a no-op */
    keel_arena_release(NULL);
    keel_arena_clear(&a);
    errno = 0;
    CHECK(keel_arena_push(&a, 1, 1) == NULL && errno == EINVAL);
    CHECK(keel_arena_push(NULL, 1, 1) == NULL);
    CHECK(keel_arena_pos(NULL) == 0);
    u1 = vmem_get_usage_summary();
    CHECK(u1.reserved_bytes == u0.reserved_bytes && u1.committed_bytes == u0.committed_bytes);
}

static void test_big_arena(void) {
#if UINTPTR_MAX > 0xFFFFFFFFu
    size_t size = (size_t)64 << 30;
#else
    size_t size = (size_t)512 << 20;
#endif
    keel_arena a;
    char* p;
    vmem_usage u0 = vmem_get_usage_summary();
    CHECK(keel_arena_init(&a, size));
    CHECK(a.reserved == size && a.committed == 0);
    CHECK(vmem_get_usage_summary().reserved_bytes - u0.reserved_bytes == size);
    p = (char*)keel_arena_push(&a, 3 * MIB, 16);
    CHECK(p == a.base);
    if (p) p[3 * MIB - 1] = 1;
    CHECK(a.committed >= 3 * MIB && a.committed < 4 * MIB);  /* commit follows use, not the reservation */
    keel_arena_pop_to(&a, 0);
    a.keep_on_clear = 0;
    keel_arena_clear(&a);
    CHECK(a.committed == 0);
    keel_arena_release(&a);
    CHECK(vmem_get_usage_summary().reserved_bytes == u0.reserved_bytes);
}

int main(void) {
    vmem_page_info info = vmem_get_page_info();
    page = info.page_size;
    gran = info.alloc_alignment;
    test_init();
    test_push_and_align();
    test_commit_growth();
    test_pop_to();
    test_push_zero();
    test_clear();
    test_exhaustion_and_overflow();
    test_release();
    test_big_arena();
    return check_done("test_arena");
}
