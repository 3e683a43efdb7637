/* hvmem.h — the calls every header test makes through whichever copy of vmem
   its translation unit sees: page size, reserve / commit / write / decommit /
   release with exact counters, bad arguments, and the OS error text of a
   failed release. Include after keel/vmem.h and hcheck.h. */
#ifndef KEEL_HVMEM_H
#define KEEL_HVMEM_H

#include <stdlib.h>   /* getenv */
#include <string.h>

static inline int hvmem_contains(const char* text, const char* part) {
    return text != NULL && strstr(text, part) != NULL;
}

static inline int hvmem_is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* Every byte of [p, p+n) equals value. */
static inline int hvmem_all(const char* p, size_t n, char value) {
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != value) return 0;
    return 1;
}

/* The OS's words for "not mapped", as the release of an unmapped range
   reports them: msync's ENOMEM on Linux, VirtualQuery's answer on Windows.
   A mixup of the GNU and XSI strerror_r gives garbage or "unknown error". */
static inline void hvmem_check_os_message(const char* msg) {
    CHECK_MSG(hvmem_contains(msg, "vmem_release"), msg);
#if defined(_WIN32)
    CHECK_MSG(hvmem_contains(msg, "Windows error"), msg);
#elif defined(__linux__)
    CHECK_MSG(hvmem_contains(msg, "errno 12"), msg);
    CHECK_MSG(hvmem_contains(msg, "Cannot allocate memory"), msg);
#else
    CHECK_MSG(hvmem_contains(msg, "errno "), msg);
#endif
    CHECK_MSG(!hvmem_contains(msg, "unknown error"), msg);
}

static inline void hvmem_exercise(void) {
    const size_t mib = (size_t)1 << 20;
    const vmem_page_info info = vmem_get_page_info();
    const size_t page = vmem_get_page_size();
    size_t rounded, i;
    vmem_usage before, now;
    char* p;
    char* q;
    int ok;

    /* Page size and granularity. */
    CHECK(hvmem_is_pow2(page));
    CHECK(page == info.page_size);
    CHECK(hvmem_is_pow2(info.alloc_alignment));
    CHECK(info.alloc_alignment >= page);
    CHECK(vmem_align_forward((uintptr_t)page + 1, page) == (uintptr_t)(2 * page));
    CHECK(vmem_align_forward((uintptr_t)page, page) == (uintptr_t)page);
    CHECK(vmem_align_backward((uintptr_t)(2 * page) - 1, page) == (uintptr_t)page);

    /* Reserve 1 MiB: reserved_bytes moves by the rounded size, nothing committed. */
    rounded = (size_t)vmem_align_forward((uintptr_t)mib, info.alloc_alignment);
    CHECK(rounded >= mib);
    before = vmem_get_usage_summary();
    p = (char*)vmem_reserve(mib);
    CHECK_MSG(p != NULL, vmem_get_error_message());
    if (p == NULL) return;
    CHECK(((uintptr_t)p & (info.alloc_alignment - 1)) == 0);
    now = vmem_get_usage_summary();
    CHECK(now.reserved_bytes == before.reserved_bytes + rounded);
    CHECK(now.committed_bytes == before.committed_bytes);

    /* Commit [page+1, 3*page+1): the three pages it overlaps. */
    CHECK_MSG(vmem_commit(p + page + 1, 2 * page), vmem_get_error_message());
    now = vmem_get_usage_summary();
    CHECK(now.committed_bytes == before.committed_bytes + 3 * page);
    CHECK(now.reserved_bytes == before.reserved_bytes + rounded);
    CHECK(hvmem_all(p + page, 3 * page, 0));          /* fresh pages read as zero */
    for (i = 0; i < 3 * page; i++) p[page + i] = (char)(i * 7 + 1);
    ok = 1;
    for (i = 0; i < 3 * page; i++)
        if (p[page + i] != (char)(i * 7 + 1)) ok = 0;
    CHECK(ok);

    /* Protect, reset: succeed on committed pages. */
    CHECK_MSG(vmem_protect(p + page, page, VMEM_READ), vmem_get_error_message());
    CHECK(p[page + 1] == (char)8);
    CHECK_MSG(vmem_protect(p + page, page, VMEM_READ_WRITE), vmem_get_error_message());
    p[page] = 42;
    CHECK(p[page] == 42);
    CHECK_MSG(vmem_reset(p + page, page), vmem_get_error_message());
    now = vmem_get_usage_summary();
    CHECK(now.committed_bytes == before.committed_bytes + 3 * page);

    /* Decommit the same range, commit again: zero pages. */
    CHECK_MSG(vmem_decommit(p + page + 1, 2 * page), vmem_get_error_message());
    now = vmem_get_usage_summary();
    CHECK(now.committed_bytes == before.committed_bytes);
    CHECK_MSG(vmem_commit(p + 2 * page, page), vmem_get_error_message());
    CHECK(hvmem_all(p + 2 * page, page, 0));
    CHECK_MSG(vmem_decommit(p + 2 * page, page), vmem_get_error_message());
    now = vmem_get_usage_summary();
    CHECK(now.committed_bytes == before.committed_bytes);

    /* Release: the counter returns. */
    CHECK_MSG(vmem_release(p, mib), vmem_get_error_message());
    now = vmem_get_usage_summary();
    CHECK(now.reserved_bytes == before.reserved_bytes);
    CHECK(now.committed_bytes == before.committed_bytes);

    /* Releasing it again fails, names the OS error, and moves nothing. Not
       under qemu-i386, which keeps a 32-bit program's whole address space
       mapped: the kernel cannot tell the range is gone (tests/probe.h). */
    if (getenv("KEELTEST_QEMU_RESERVED") == NULL) {
        CHECK(!vmem_release(p, mib));
        hvmem_check_os_message(vmem_get_error_message());
        now = vmem_get_usage_summary();
        CHECK(now.reserved_bytes == before.reserved_bytes);
    }

    /* alloc/free move both counters. */
    q = (char*)vmem_alloc(3 * page);
    CHECK_MSG(q != NULL, vmem_get_error_message());
    if (q != NULL) {
        size_t size = (size_t)vmem_align_forward((uintptr_t)(3 * page), info.alloc_alignment);
        now = vmem_get_usage_summary();
        CHECK(now.reserved_bytes == before.reserved_bytes + size);
        CHECK(now.committed_bytes == before.committed_bytes + size);
        CHECK(hvmem_all(q, 3 * page, 0));
        memset(q, 0x5a, 3 * page);
        CHECK(hvmem_all(q, 3 * page, 0x5a));
        CHECK_MSG(vmem_free(q, 3 * page), vmem_get_error_message());
        now = vmem_get_usage_summary();
        CHECK(now.reserved_bytes == before.reserved_bytes);
        CHECK(now.committed_bytes == before.committed_bytes);
    }

    /* Bad calls fail with a message and never abort. */
    CHECK(vmem_reserve(0) == NULL);
    CHECK_MSG(hvmem_contains(vmem_get_error_message(), "vmem_reserve: size is zero"), vmem_get_error_message());
    CHECK(!vmem_commit(NULL, 1));
    CHECK_MSG(hvmem_contains(vmem_get_error_message(), "vmem_commit: pointer is NULL"), vmem_get_error_message());
    CHECK(vmem_align_forward(5, 3) == 0);
    CHECK_MSG(hvmem_contains(vmem_get_error_message(), "not a power of two"), vmem_get_error_message());
    CHECK(vmem_reserve_aligned(mib, 3) == NULL);
    CHECK_MSG(hvmem_contains(vmem_get_error_message(), "vmem_reserve_aligned"), vmem_get_error_message());
    CHECK(vmem_reserve((size_t)-1) == NULL);
    CHECK_MSG(hvmem_contains(vmem_get_error_message(), "overflow"), vmem_get_error_message());
    now = vmem_get_usage_summary();
    CHECK(now.reserved_bytes == before.reserved_bytes);
    CHECK(now.committed_bytes == before.committed_bytes);

#if defined(__linux__) || defined(_WIN32)
    CHECK_MSG(now.process_resident_bytes > 0, vmem_get_error_message());
    CHECK_MSG(now.process_virtual_bytes > 0, vmem_get_error_message());
#endif
}

#endif /* KEEL_HVMEM_H */
