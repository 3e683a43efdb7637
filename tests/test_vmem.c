/* test_vmem.c — every rule of DESIGN.md section 3 on this target: faults,
   zero pages, decommit, reset, protection, alignment, exact counters, and bad
   input that fails cleanly with a message. */
#define _DEFAULT_SOURCE
#include "keel/vmem.h"
#include "check.h"
#include "probe.h"

#include <stdint.h>
#include <stdlib.h>

#define MIB ((size_t)1 << 20)

static size_t page, gran;

static int is_pow2(size_t x) { return x && !(x & (x - 1)); }

static int all_bytes(const unsigned char* p, size_t n, unsigned char v) {
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

static vmem_usage usage(void) { return vmem_get_usage_summary(); }

/* The message names the OS error: errno text on POSIX, the Windows code. */
static int names_os_error(const char* msg) {
#if defined(_WIN32)
    return check_contains(msg, "Windows error");
#else
    return check_contains(msg, "(errno ");
#endif
}

static void test_page_info(void) {
    vmem_page_info info = vmem_get_page_info();
    page = info.page_size;
    gran = info.alloc_alignment;
    CHECK(is_pow2(page) && page >= 4096);
    CHECK(is_pow2(gran) && gran >= page);
    CHECK(vmem_get_page_size() == page);
#if defined(_WIN32)
    CHECK(gran == 64 * 1024);
#else
    CHECK(gran == page);
#endif
}

static void test_align_helpers(void) {
    CHECK(vmem_align_forward(0, 16) == 0);
    CHECK(vmem_align_forward(1, 16) == 16);
    CHECK(vmem_align_forward(16, 16) == 16);
    CHECK(vmem_align_forward(17, 4096) == 4096);
    CHECK(vmem_align_forward(12345, 1) == 12345);
    CHECK(vmem_align_backward(4095, 4096) == 0);
    CHECK(vmem_align_backward(8193, 4096) == 8192);
    CHECK(vmem_align_backward(UINTPTR_MAX, 2) == UINTPTR_MAX - 1);
    CHECK(vmem_align_forward(UINTPTR_MAX - 15, 16) == UINTPTR_MAX - 15);
    CHECK(vmem_align_forward(100, 3) == 0);
    CHECK(check_contains(vmem_get_error_message(), "vmem_align_forward: alignment is not a power of two"));
    CHECK(vmem_align_forward(100, 0) == 0);
    CHECK(vmem_align_backward(100, 24) == 0);
    CHECK(check_contains(vmem_get_error_message(), "vmem_align_backward: alignment is not a power of two"));
    CHECK(vmem_align_forward(UINTPTR_MAX - 3, 16) == 0);
    CHECK(check_contains(vmem_get_error_message(), "overflows"));
}

static void test_reserve_faults(void) {
    vmem_usage u0 = usage(), u1;
    size_t size = 3 * gran + 1, rounded = 4 * gran;
    char* p = (char*)vmem_reserve(size);
    CHECK_NOTE(p != NULL, vmem_get_error_message());
    if (!p) return;
    CHECK(((uintptr_t)p & (gran - 1)) == 0);
    u1 = usage();
    CHECK(u1.reserved_bytes - u0.reserved_bytes == rounded);
    CHECK(u1.committed_bytes == u0.committed_bytes);
    CHECK(probe_read_faults(p) == 1);
    CHECK(probe_write_faults(p + 2 * gran) == 1);
    CHECK(probe_read_faults(p + rounded - 1) == 1);
    CHECK(vmem_release(p, size));
    u1 = usage();
    CHECK(u1.reserved_bytes == u0.reserved_bytes);
    if (probe_unmapped_seen()) CHECK(probe_unmapped(p) == 1);
}

static void test_commit_zero_and_bounds(void) {
    vmem_usage u0 = usage(), u1;
    char* p = (char*)vmem_reserve(16 * page);
    char* start;
    CHECK_NOTE(p != NULL, vmem_get_error_message());
    if (!p) return;
    /* an unaligned range covering parts of pages 3..5 commits exactly those 3 pages */
    CHECK_NOTE(vmem_commit(p + 3 * page + 100, 2 * page), vmem_get_error_message());
    u1 = usage();
    CHECK(u1.committed_bytes - u0.committed_bytes == 3 * page);
    start = p + 3 * page;
    CHECK(all_bytes((unsigned char*)start, 3 * page, 0));
    memset(start, 0x5A, 3 * page);
    CHECK(all_bytes((unsigned char*)start, 3 * page, 0x5A));
    CHECK(probe_read_faults(start - 1) == 1);
    CHECK(probe_read_faults(start + 3 * page) == 1);
    CHECK(probe_write_faults(start) == 0);
    CHECK(probe_write_faults(start + 3 * page - 1) == 0);
    /* decommit makes them fault again; a new commit reads zero */
    CHECK_NOTE(vmem_decommit(start, 3 * page), vmem_get_error_message());
    CHECK(usage().committed_bytes == u0.committed_bytes);
    CHECK(probe_read_faults(start) == 1);
    CHECK(probe_read_faults(start + 3 * page - 1) == 1);
    CHECK(vmem_commit(start, 3 * page));
    CHECK(all_bytes((unsigned char*)start, 3 * page, 0));
    CHECK(vmem_decommit(start, 3 * page));
    CHECK(vmem_release(p, 16 * page));
    u1 = usage();
    CHECK(u1.reserved_bytes == u0.reserved_bytes && u1.committed_bytes == u0.committed_bytes);
}

/* Decommit really returns memory: the process's resident size falls. */
static void test_decommit_returns_memory(void) {
    size_t size = 64 * MIB;
    vmem_usage before, filled, after;
    char* p = (char*)vmem_reserve(size);
    CHECK(p != NULL);
    if (!p) return;
    CHECK(vmem_commit(p, size));
    before = usage();
    CHECK(before.process_resident_bytes > 0);
    CHECK(before.process_virtual_bytes >= before.process_resident_bytes);
    memset(p, 1, size);
    filled = usage();
    CHECK_NOTE(filled.process_resident_bytes >= before.process_resident_bytes + size * 3 / 4,
               "resident size did not grow by the committed and touched 64 MiB");
    CHECK(vmem_decommit(p, size));
    after = usage();
    CHECK_NOTE(after.process_resident_bytes + size * 3 / 4 <= filled.process_resident_bytes,
               "resident size did not fall after decommit");
    CHECK(vmem_release(p, size));
}

/* Reset: pages stay accessible, contents are zero or old data, memory goes back. */
static void test_reset(void) {
    size_t size = 32 * MIB, i, bad = 0;
    vmem_usage u0, filled, after;
    unsigned char* p = (unsigned char*)vmem_reserve(size);
    CHECK(p != NULL);
    if (!p) return;
    CHECK(vmem_commit(p, size));
    u0 = usage();
    memset(p, 0xC3, size);
    filled = usage();
    CHECK_NOTE(vmem_reset(p, size), vmem_get_error_message());
    after = usage();
    CHECK(after.committed_bytes == u0.committed_bytes); /* still committed */
    CHECK(probe_write_faults(p) == 0);
    CHECK(probe_write_faults(p + size - 1) == 0);
    for (i = 0; i < size; i += 64)
        if (p[i] != 0 && p[i] != 0xC3) bad++;
    CHECK(bad == 0);
#if !defined(_WIN32)
    CHECK_NOTE(after.process_resident_bytes + size / 2 <= filled.process_resident_bytes,
               "resident size did not fall after reset");
#else
    (void)filled;
#endif
    memset(p, 7, size); /* usable as before */
    CHECK(all_bytes(p, size, 7));
    CHECK(vmem_decommit(p, size));
    CHECK(vmem_release(p, size));
}

static void test_protect(void) {
    char* p = (char*)vmem_reserve(4 * page);
    CHECK(p != NULL);
    if (!p) return;
    CHECK(vmem_commit(p, 4 * page));
    p[0] = 42;
    CHECK_NOTE(vmem_protect(p, page, VMEM_READ), vmem_get_error_message());
    CHECK(probe_read_faults(p) == 0);
    CHECK(probe_write_faults(p) == 1);
    CHECK(p[0] == 42);
    CHECK(probe_write_faults(p + page) == 0); /* the next page is untouched */
    CHECK(vmem_protect(p, page, VMEM_NO_ACCESS));
    CHECK(probe_read_faults(p) == 1);
    CHECK(vmem_protect(p, page, VMEM_READ_WRITE));
    CHECK(probe_write_faults(p) == 0);
    CHECK(p[0] == 42);
    CHECK(!vmem_protect(p, page, (vmem_access)7));
    CHECK(check_contains(vmem_get_error_message(), "vmem_protect: access is not a vmem_access value"));
    CHECK(probe_write_faults(p) == 0);
    CHECK(vmem_decommit(p, 4 * page));
    CHECK(vmem_release(p, 4 * page));
}

/* Move: committed pages go to another reserved range with their contents
   and no new memory, the old range is decommitted (it faults, and commits
   again to zero), committed_bytes is the same. Linux 5.7 and later; on
   other systems vmem_move says no and nothing changes. qemu-user may not
   take MREMAP_DONTUNMAP: there either outcome, each checked. Refused, also
   on Linux: a range that is not one mapping; bad input. */
static void test_move(void) {
    size_t size = 8 * MIB, i, bad = 0;
    vmem_usage u0, u1;
    unsigned char* a = (unsigned char*)vmem_reserve(size);
    unsigned char* b = (unsigned char*)vmem_reserve(size);
    unsigned char* c;
    unsigned char* d;
    int moved;
    CHECK(a != NULL && b != NULL);
    if (!a || !b) return;
    CHECK(vmem_commit(a, size));
    for (i = 0; i < size; i += 512) a[i] = (unsigned char)(i / 512 * 7 + 1);
    u0 = usage();
    moved = vmem_move(b, a, size);
#if defined(__linux__)
    if (!getenv("KEELTEST_QEMU")) CHECK_NOTE(moved, vmem_get_error_message());
#else
    CHECK(!moved);
    CHECK(check_contains(vmem_get_error_message(), "vmem_move: the OS refused to move the pages"));
    CHECK(names_os_error(vmem_get_error_message()));
#endif
    u1 = usage();
    CHECK(u1.committed_bytes == u0.committed_bytes);
    if (moved) {
        for (i = 0; i < size; i += 512)
            if (b[i] != (unsigned char)(i / 512 * 7 + 1)) bad++;
        CHECK_NOTE(bad == 0, "the pages moved lost their contents");
        CHECK(probe_read_faults(a) == 1);   /* decommitted */
        CHECK(probe_read_faults(a + size - 1) == 1);
        CHECK_NOTE(u1.process_resident_bytes < u0.process_resident_bytes + size / 2, "the move copied the pages");
        CHECK(vmem_commit(a, page));   /* still reserved: commits again, to zero */
        CHECK(a[0] == 0);
        CHECK(vmem_decommit(a, page));
        CHECK(vmem_decommit(b, size));
    } else {
        for (i = 0; i < size; i += 512)
            if (a[i] != (unsigned char)(i / 512 * 7 + 1)) bad++;
        CHECK_NOTE(bad == 0, "a refused move changed the source");
        CHECK(probe_read_faults(b) == 1);   /* still reserved only */
        CHECK(vmem_decommit(a, size));
    }
    CHECK(vmem_release(a, size));
    CHECK(vmem_release(b, size));

    /* more than one mapping (the middle page read-only): Linux before 6.17
       refuses, and then nothing changed and the destination is still
       reserved (Linux unmaps it first: vmem puts it back); later kernels
       move the three, each with its access. Not under qemu-user: its own
       table of page access gives the whole moved range the first page's,
       and a write to the read-only page then faults forever (qemu 7.2). */
    c = (unsigned char*)vmem_reserve(4 * page);
    d = (unsigned char*)vmem_reserve(4 * page);
    CHECK(c != NULL && d != NULL);
    if (!c || !d) return;
    CHECK(vmem_commit(c, 4 * page));
    memset(c, 0x5a, 4 * page);
    CHECK(vmem_protect(c + page, page, VMEM_READ));
    if (getenv("KEELTEST_QEMU")) {
        CHECK(vmem_protect(c + page, page, VMEM_READ_WRITE));
        CHECK(vmem_decommit(c, 4 * page));
    } else if (moved && vmem_move(d, c, 4 * page)) {
        CHECK(all_bytes(d, 4 * page, 0x5a));
        CHECK(probe_write_faults(d + page) == 1 && probe_write_faults(d) == 0);
        CHECK(probe_read_faults(c) == 1 && probe_read_faults(c + page) == 1);
        CHECK(vmem_protect(d + page, page, VMEM_READ_WRITE));
        CHECK(vmem_decommit(d, 4 * page));
    } else {
        CHECK(check_contains(vmem_get_error_message(), "vmem_move: the OS refused to move the pages"));
        CHECK(all_bytes(c, 4 * page, 0x5a));
        CHECK(probe_read_faults(d) == 1);
        CHECK(vmem_commit(d, 4 * page));
        CHECK(all_bytes(d, 4 * page, 0));
        CHECK(vmem_decommit(d, 4 * page));
        CHECK(vmem_protect(c + page, page, VMEM_READ_WRITE));
        CHECK(vmem_decommit(c, 4 * page));
    }

    /* bad input: a clear message, nothing changed */
    CHECK(!vmem_move(NULL, c, page));
    CHECK(check_contains(vmem_get_error_message(), "vmem_move: destination pointer is NULL"));
    CHECK(!vmem_move(d, NULL, page));
    CHECK(check_contains(vmem_get_error_message(), "vmem_move: pointer is NULL"));
    CHECK(!vmem_move(d + 1, c, page));
    CHECK(check_contains(vmem_get_error_message(), "vmem_move: pointer is not page-aligned"));
    CHECK(!vmem_move(d, c, 0));
    CHECK(check_contains(vmem_get_error_message(), "vmem_move: size is zero"));
    CHECK(!vmem_move(c + page, c, 2 * page));
    CHECK(check_contains(vmem_get_error_message(), "vmem_move: the ranges overlap"));
    CHECK(probe_read_faults(c) == 1 && probe_read_faults(d) == 1);
    CHECK(vmem_release(c, 4 * page));
    CHECK(vmem_release(d, 4 * page));
}

static void test_alloc_free(void) {
    vmem_usage u0 = usage(), u1;
    size_t size = 5 * page + 3, rounded = vmem_align_forward(size, gran);
    unsigned char* p = (unsigned char*)vmem_alloc(size);
    CHECK_NOTE(p != NULL, vmem_get_error_message());
    if (!p) return;
    CHECK(((uintptr_t)p & (gran - 1)) == 0);
    u1 = usage();
    CHECK(u1.reserved_bytes - u0.reserved_bytes == rounded);
    CHECK(u1.committed_bytes - u0.committed_bytes == rounded);
    CHECK(all_bytes(p, rounded, 0));
    memset(p, 9, size);
    CHECK(vmem_free(p, size));
    u1 = usage();
    CHECK(u1.reserved_bytes == u0.reserved_bytes && u1.committed_bytes == u0.committed_bytes);
    if (probe_unmapped_seen()) CHECK(probe_unmapped(p) == 1);
}

static void test_reserve_aligned(void) {
    size_t aligns[] = {1, 4096, 64 * 1024, MIB, 4 * MIB, 16 * MIB, 64 * MIB};
    size_t i;
    for (i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        vmem_usage u0 = usage(), u1;
        size_t size = 3 * MIB + 5, rounded = vmem_align_forward(size, gran);
        char* p = (char*)vmem_reserve_aligned(size, aligns[i]);
        CHECK_NOTE(p != NULL, vmem_get_error_message());
        if (!p) continue;
        CHECK(((uintptr_t)p & (aligns[i] - 1)) == 0);
        CHECK(((uintptr_t)p & (gran - 1)) == 0);
        u1 = usage();
        CHECK(u1.reserved_bytes - u0.reserved_bytes == rounded);
        CHECK(probe_read_faults(p) == 1);
        CHECK(vmem_commit(p + MIB, page));
        CHECK(all_bytes((unsigned char*)p + MIB, page, 0));
        p[MIB] = 1;
        CHECK(vmem_decommit(p + MIB, page));
        CHECK_NOTE(vmem_release(p, size), vmem_get_error_message());
        u1 = usage();
        CHECK(u1.reserved_bytes == u0.reserved_bytes && u1.committed_bytes == u0.committed_bytes);
        if (probe_unmapped_seen()) CHECK(probe_unmapped(p) == 1);
    }
#if UINTPTR_MAX > 0xFFFFFFFFu
    {
        char* p = (char*)vmem_reserve_aligned(MIB, (size_t)1 << 32);
        CHECK_NOTE(p != NULL, vmem_get_error_message());
        CHECK(((uintptr_t)p & (((size_t)1 << 32) - 1)) == 0);
        if (p) CHECK(vmem_release(p, MIB));
    }
#endif
    CHECK(vmem_reserve_aligned(MIB, 0) == NULL);
    CHECK(check_contains(vmem_get_error_message(), "vmem_reserve_aligned: alignment is not a power of two"));
    CHECK(vmem_reserve_aligned(MIB, 3 * 4096) == NULL);
    CHECK(vmem_reserve_aligned(0, MIB) == NULL);
    CHECK(check_contains(vmem_get_error_message(), "vmem_reserve_aligned: size is zero"));
    CHECK(vmem_reserve_aligned(SIZE_MAX - 2, MIB) == NULL);
    CHECK(check_contains(vmem_get_error_message(), "overflow"));
    CHECK(vmem_reserve_aligned(SIZE_MAX - 4 * MIB, 64 * MIB) == NULL);
    CHECK(check_contains(vmem_get_error_message(), "overflow"));
}

/* Bad input: NULL/false, a message, counters and memory untouched. */
static void test_bad_input(void) {
    vmem_usage u0 = usage(), u1;
    char* gone;
    char* p;
    const char* msg;

    CHECK(vmem_reserve(0) == NULL);
    CHECK(strcmp(vmem_get_error_message(), "vmem_reserve: size is zero") == 0);
    CHECK(vmem_reserve(SIZE_MAX) == NULL);
    CHECK(strcmp(vmem_get_error_message(), "vmem_reserve: size overflows when rounded to the allocation granularity") == 0);
    CHECK(vmem_alloc(0) == NULL);
    CHECK(check_contains(vmem_get_error_message(), "vmem_alloc: size is zero"));
    CHECK(vmem_alloc(SIZE_MAX - 1) == NULL);
    CHECK(check_contains(vmem_get_error_message(), "vmem_alloc: size overflows"));
    /* rounds fine but no machine backs it: the OS says no, and we say why */
    CHECK(vmem_reserve(SIZE_MAX - 2 * gran) == NULL);
    msg = vmem_get_error_message();
    CHECK_NOTE(check_contains(msg, "vmem_reserve: the OS refused to reserve address space") && names_os_error(msg), msg);
    CHECK(vmem_alloc(SIZE_MAX - 2 * gran) == NULL);
    CHECK_NOTE(names_os_error(vmem_get_error_message()), vmem_get_error_message());

    CHECK(!vmem_commit(NULL, page));
    CHECK(strcmp(vmem_get_error_message(), "vmem_commit: pointer is NULL") == 0);
    CHECK(!vmem_decommit(NULL, page));
    CHECK(!vmem_reset(NULL, page));
    CHECK(!vmem_protect(NULL, page, VMEM_READ));
    CHECK(!vmem_release(NULL, page));
    CHECK(strcmp(vmem_get_error_message(), "vmem_release: pointer is NULL") == 0);
    CHECK(!vmem_free(NULL, page));

    p = (char*)vmem_reserve(4 * page);
    CHECK(p != NULL);
    if (!p) return;
    CHECK(!vmem_commit(p, 0));
    CHECK(strcmp(vmem_get_error_message(), "vmem_commit: size is zero") == 0);
    CHECK(!vmem_decommit(p, 0));
    CHECK(!vmem_reset(p, 0));
    CHECK(!vmem_protect(p, 0, VMEM_READ));
    CHECK(!vmem_release(p, 0));
    CHECK(strcmp(vmem_get_error_message(), "vmem_release: size is zero") == 0);
    CHECK(!vmem_commit(p, SIZE_MAX));
    CHECK(check_contains(vmem_get_error_message(), "vmem_commit: range overflows"));
    CHECK(!vmem_commit((void*)(UINTPTR_MAX - 100), 50));
    CHECK(check_contains(vmem_get_error_message(), "vmem_commit: range overflows"));
    CHECK(!vmem_release(p + 1, 4 * page));
    CHECK(check_contains(vmem_get_error_message(), "vmem_release: pointer is not the start of a reservation"));
    CHECK(!vmem_release(p, SIZE_MAX));
    CHECK(check_contains(vmem_get_error_message(), "overflow"));
    CHECK(probe_read_faults(p) == 1 && probe_unmapped(p) == 0); /* still reserved */
    CHECK(vmem_release(p, 4 * page));

    /* ranges outside any reservation: the OS refuses, nothing changes */
    gone = (char*)vmem_reserve(gran);
    CHECK(gone != NULL);
    if (!gone) return;
    CHECK(vmem_release(gone, gran));
    if (!probe_unmapped_seen()) {   /* qemu-i386: the range is still qemu's mapping */
        printf("test_vmem: note: calls on a released range not checked under qemu-i386\n");
        return;
    }
    u0 = usage();
    CHECK(!vmem_commit(gone, page));
    msg = vmem_get_error_message();
    CHECK_NOTE(check_contains(msg, "vmem_commit: the OS refused to commit") && names_os_error(msg), msg);
    CHECK(!vmem_decommit(gone, page));
    CHECK_NOTE(names_os_error(vmem_get_error_message()), vmem_get_error_message());
    if (getenv("KEELTEST_QEMU"))   /* qemu-user's madvise accepts unmapped ranges; Linux does not */
        printf("test_vmem: note: reset of an unmapped range not checked under qemu-user\n");
    else
        CHECK(!vmem_reset(gone, page));
    CHECK(!vmem_protect(gone, page, VMEM_READ_WRITE));
    CHECK(!vmem_release(gone, gran));   /* release of a pointer never (or no longer) reserved */
    msg = vmem_get_error_message();
    CHECK_NOTE(check_contains(msg, "vmem_release: not a reservation") && names_os_error(msg), msg);
    CHECK(!vmem_free(gone, gran));
    CHECK(probe_unmapped(gone) == 1);
    u1 = usage();
    CHECK(u1.reserved_bytes == u0.reserved_bytes && u1.committed_bytes == u0.committed_bytes);
}

/* Large reservations cost address space only (64-bit targets). */
static void test_large_reservation(void) {
#if UINTPTR_MAX > 0xFFFFFFFFu
    size_t size = (size_t)64 << 30;
    vmem_usage u0 = usage();
    char* p = (char*)vmem_reserve(size);
    CHECK_NOTE(p != NULL, vmem_get_error_message());
    if (!p) return;
    CHECK(usage().reserved_bytes - u0.reserved_bytes == size);
    CHECK(vmem_commit(p + size - page, page));
    p[size - 1] = 1;
    CHECK(vmem_decommit(p + size - page, page));
    CHECK(vmem_release(p, size));
    CHECK(usage().reserved_bytes == u0.reserved_bytes);
#else
    size_t size = (size_t)512 << 20;
    char* p = (char*)vmem_reserve(size);
    CHECK_NOTE(p != NULL, vmem_get_error_message());
    if (p) CHECK(vmem_release(p, size));
#endif
}

int main(void) {
    test_page_info();
    test_align_helpers();
    test_reserve_faults();
    test_commit_zero_and_bounds();
    test_decommit_returns_memory();
    test_reset();
    test_protect();
    test_alloc_free();
    test_move();
    test_reserve_aligned();
    test_bad_input();
    test_large_reservation();
    CHECK(vmem_get_usage_summary().committed_bytes == 0);
    CHECK(vmem_get_usage_summary().reserved_bytes == 0);
    return check_done("test_vmem");
}
