// header_cxx_static_b.cpp — the second private copy of vmem; see
// header_cxx_static_a.cpp.
#define VMEM_STATIC
#define VMEM_IMPLEMENTATION
#include "keel/vmem.h"
#include "hcheck.h"
#include "hvmem.h"
#include "hstatic.h"

void hstatic_b_run(size_t a_reserved, int* passed, int* failed) {
    CHECK(a_reserved > 0);
    // File a's reservation is not in this copy's counters.
    CHECK(vmem_get_usage_summary().reserved_bytes == 0);
    hvmem_exercise();
    CHECK(vmem_get_usage_summary().reserved_bytes == 0);
    *passed += hcheck_passed;
    *failed += hcheck_failed;
}
