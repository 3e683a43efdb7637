/* header_c11_posix_source.c — vmem.h with _POSIX_C_SOURCE 200809L before any
   include, so glibc declares the XSI strerror_r (it returns an int and fills
   the buffer), and <sys/mman.h> hides MAP_ANONYMOUS and MADV_DONTNEED. */
#define _POSIX_C_SOURCE 200809L
#define VMEM_IMPLEMENTATION
#include "keel/vmem.h"
#include "keel/vmem.h"
#include "hcheck.h"
#include "hvmem.h"

int main(void) {
    hvmem_exercise();
    return hcheck_report("header_c11_posix_source");
}
