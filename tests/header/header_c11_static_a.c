/* header_c11_static_a.c — VMEM_STATIC: this file and header_c11_static_b.c
   each compile a private copy of vmem into one program. A clash of symbols
   fails the link; separate counters show the copies are separate. */
#define VMEM_STATIC
#define VMEM_IMPLEMENTATION
#include "keel/vmem.h"
#include "keel/vmem.h"
#include "hcheck.h"
#include "hvmem.h"
#include "hstatic.h"

int main(void) {
    const size_t mib = (size_t)1 << 20;
    int b_passed = 0, b_failed = 0;
    void* held;

    hvmem_exercise();
    held = vmem_reserve(mib);             /* counted by this copy only */
    CHECK_MSG(held != NULL, vmem_get_error_message());
    CHECK(vmem_get_usage_summary().reserved_bytes >= mib);
    hstatic_b_run(vmem_get_usage_summary().reserved_bytes, &b_passed, &b_failed);
    if (held != NULL) CHECK_MSG(vmem_release(held, mib), vmem_get_error_message());
    CHECK(vmem_get_usage_summary().reserved_bytes == 0);

    hcheck_passed += b_passed;
    hcheck_failed += b_failed;
    return hcheck_report("header_c11_static");
}
