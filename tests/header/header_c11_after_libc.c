/* header_c11_after_libc.c — vmem.h in strict C11 after the usual libc
   headers, first as declarations, then again with the implementation (the
   STB pattern of a header that reached the file through another one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "keel/vmem.h"
#define VMEM_IMPLEMENTATION
#include "keel/vmem.h"
#include "keel/vmem.h"
#include "hcheck.h"
#include "hvmem.h"

int main(void) {
    void* p = malloc(16);            /* libc and vmem side by side */
    CHECK(p != NULL);
    free(p);
    errno = 0;
    hvmem_exercise();
    return hcheck_report("header_c11_after_libc");
}
