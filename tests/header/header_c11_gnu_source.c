/* header_c11_gnu_source.c — vmem.h with _GNU_SOURCE defined before any
   include, so glibc declares the GNU strerror_r (it returns the text, which
   may not be the buffer). The message of a failed release must still carry
   the OS's words. */
#define _GNU_SOURCE
#define VMEM_IMPLEMENTATION
#include "keel/vmem.h"
#include "keel/vmem.h"
#include "hcheck.h"
#include "hvmem.h"

int main(void) {
    hvmem_exercise();
    return hcheck_report("header_c11_gnu_source");
}
