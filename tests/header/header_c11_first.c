/* header_c11_first.c — vmem.h as a single header in strict C11: with its
   implementation, before any system header, and included twice more (the
   include guard and the implementation guard make that harmless). */
#define VMEM_IMPLEMENTATION
#include "keel/vmem.h"
#include "keel/vmem.h"
#include <stdio.h>
#include "keel/vmem.h"
#include "hcheck.h"
#include "hvmem.h"

int main(void) {
    hvmem_exercise();
    return hcheck_report("header_c11_first");
}
