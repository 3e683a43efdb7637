/* test_vmem_faults.c — the test-only fault seam (VMEM_FAULT_INJECTION): the
   Nth reserve/commit/decommit fails like an OS refusal, nothing is lost, and
   the layers above (arenas) stay usable and exact. */
#define _DEFAULT_SOURCE
#include "keel/vmem.h"
#include "keel/arena.h"
#include "check.h"
#include "probe.h"

#include <errno.h>

#ifndef VMEM_FAULT_INJECTION
#error "test_vmem_faults needs the keel_fault library (VMEM_FAULT_INJECTION)"
#endif

static size_t page;

static int injected_message(void) {
    return check_contains(vmem_get_error_message(), "[injected by vmem_fault_inject]");
}

static void test_reserve_faults(void) {
    vmem_usage u0 = vmem_get_usage_summary();
    void* p;
    vmem_fault_inject(VMEM_FAULT_RESERVE, 1, 1);
    CHECK(vmem_reserve(page) == NULL);
    CHECK(injected_message());
    CHECK(check_contains(vmem_get_error_message(), "vmem_reserve: the OS refused to reserve address space"));
    CHECK(vmem_fault_injected() == 1);
    p = vmem_reserve(page);           /* only the first call failed */
    CHECK(p != NULL);
    if (p) CHECK(vmem_release(p, page));
    CHECK(vmem_fault_injected() == 1);

    vmem_fault_inject(VMEM_FAULT_RESERVE, 2, 1);
    p = vmem_alloc(page);             /* 1st: fine */
    CHECK(p != NULL);
    CHECK(vmem_reserve_aligned(page, (size_t)1 << 20) == NULL);  /* 2nd fails */
    CHECK(check_contains(vmem_get_error_message(), "vmem_reserve_aligned"));
    if (p) CHECK(vmem_free(p, page));
    vmem_fault_inject(0, 0, 0);
    {
        vmem_usage u1 = vmem_get_usage_summary();
        CHECK(u1.reserved_bytes == u0.reserved_bytes && u1.committed_bytes == u0.committed_bytes);
    }
}

static void test_commit_window(void) {
    char* p = (char*)vmem_reserve(8 * page);
    vmem_usage u0;
    int i;
    bool ok[6];
    CHECK(p != NULL);
    if (!p) return;
    u0 = vmem_get_usage_summary();
    /* commits 3 and 4 fail; reserves are not counted */
    vmem_fault_inject(VMEM_FAULT_COMMIT, 3, 2);
    for (i = 0; i < 6; i++) ok[i] = vmem_commit(p + (size_t)i * page, page);
    CHECK(ok[0] && ok[1] && !ok[2] && !ok[3] && ok[4] && ok[5]);
    CHECK(vmem_fault_injected() == 2);
    CHECK(vmem_get_usage_summary().committed_bytes - u0.committed_bytes == 4 * page);
    CHECK(probe_read_faults(p + 2 * page) == 1);   /* a failed commit changed nothing */
    CHECK(probe_write_faults(p + 4 * page) == 0);
    vmem_fault_inject(0, 0, 0);
    for (i = 0; i < 6; i++)          /* undo exactly what was committed */
        if (ok[i]) CHECK(vmem_decommit(p + (size_t)i * page, page));
    CHECK(vmem_get_usage_summary().committed_bytes == u0.committed_bytes);
    CHECK(vmem_release(p, 8 * page));
}

static void test_decommit_fault_keeps_data(void) {
    char* p = (char*)vmem_alloc(4 * page);
    vmem_usage u0;
    CHECK(p != NULL);
    if (!p) return;
    memset(p, 0x77, 4 * page);
    u0 = vmem_get_usage_summary();
    vmem_fault_inject(VMEM_FAULT_DECOMMIT, 1, VMEM_FAULT_FOREVER);
    CHECK(!vmem_decommit(p, 4 * page));
    CHECK(!vmem_decommit(p, page));
    CHECK(injected_message());
    CHECK(vmem_fault_injected() == 2);
    CHECK(p[0] == 0x77 && p[4 * page - 1] == 0x77);   /* nothing lost */
    CHECK(vmem_get_usage_summary().committed_bytes == u0.committed_bytes);
    vmem_fault_inject(0, 0, 0);
    CHECK(vmem_fault_injected() == 0);
    CHECK(vmem_free(p, 4 * page));
}

static void test_forever_and_mask(void) {
    void* p;
    vmem_fault_inject(VMEM_FAULT_COMMIT | VMEM_FAULT_DECOMMIT, 1, VMEM_FAULT_FOREVER);
    p = vmem_reserve(page);            /* reserve is not in the mask */
    CHECK(p != NULL);
    if (!p) return;
    CHECK(!vmem_commit(p, page));
    CHECK(!vmem_commit(p, page));
    CHECK(vmem_fault_injected() == 2);
    vmem_fault_inject(VMEM_FAULT_ALL, 0, 5);   /* nth 0 disarms */
    CHECK(vmem_commit(p, page));
    CHECK(vmem_decommit(p, page));
    CHECK(vmem_release(p, page));
}

static void test_arena_under_faults(void) {
    vmem_usage u0 = vmem_get_usage_summary(), u1;
    keel_arena a;
    char* x;
    char* y;
    size_t pos, committed;

    vmem_fault_inject(VMEM_FAULT_RESERVE, 1, 1);
    CHECK(!keel_arena_init(&a, (size_t)16 << 20));
    CHECK(errno == ENOMEM);
    CHECK(a.base == NULL && a.reserved == 0 && a.committed == 0 && a.pos == 0);
    vmem_fault_inject(0, 0, 0);

    CHECK(keel_arena_init(&a, (size_t)16 << 20));
    vmem_fault_inject(VMEM_FAULT_COMMIT, 1, 1);
    errno = 0;
    CHECK(keel_arena_push(&a, 100, 16) == NULL);        /* the first commit fails */
    CHECK(errno == ENOMEM);
    CHECK(a.pos == 0 && a.committed == 0);
    x = (char*)keel_arena_push(&a, 100, 16);            /* and the arena is still usable */
    CHECK(x == a.base);
    if (x) memset(x, 1, 100);
    pos = a.pos;
    committed = a.committed;
    vmem_fault_inject(VMEM_FAULT_COMMIT, 1, VMEM_FAULT_FOREVER);
    CHECK(keel_arena_push(&a, committed, 16) == NULL);  /* needs a commit: refused */
    CHECK(a.pos == pos && a.committed == committed);
    y = (char*)keel_arena_push(&a, 64, 16);             /* fits in what is committed */
    CHECK(y != NULL && y >= x + 100);
    vmem_fault_inject(0, 0, 0);
    CHECK(keel_arena_push(&a, (size_t)4 << 20, 16) != NULL);

    /* clear with a failing decommit: everything stays committed and usable */
    committed = a.committed;
    vmem_fault_inject(VMEM_FAULT_DECOMMIT, 1, 1);
    keel_arena_clear(&a);
    CHECK(a.pos == 0 && a.committed == committed);
    CHECK(keel_arena_push(&a, 1000, 16) == a.base);
    vmem_fault_inject(0, 0, 0);

    /* release with a failing decommit: the arena is left as it was */
    vmem_fault_inject(VMEM_FAULT_DECOMMIT, 1, 1);
    keel_arena_release(&a);
    CHECK(a.base != NULL && a.committed == committed);
    CHECK(keel_arena_push(&a, 10, 16) != NULL);
    vmem_fault_inject(0, 0, 0);
    keel_arena_release(&a);                             /* a later release finishes */
    CHECK(a.base == NULL);
    u1 = vmem_get_usage_summary();
    CHECK(u1.reserved_bytes == u0.reserved_bytes && u1.committed_bytes == u0.committed_bytes);
}

int main(void) {
    page = vmem_get_page_size();
    test_reserve_faults();
    test_commit_window();
    test_decommit_fault_keeps_data();
    test_forever_and_mask();
    test_arena_under_faults();
    return check_done("test_vmem_faults");
}
