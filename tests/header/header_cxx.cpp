// header_cxx.cpp — vmem.h as a single header in C++17 (-pedantic): with its
// implementation, first in the file and included again after the standard
// headers. C++ compilers see glibc's GNU strerror_r.
#define VMEM_IMPLEMENTATION
#include "keel/vmem.h"
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include "keel/vmem.h"
#include "hcheck.h"
#include "hvmem.h"

int main() {
    hvmem_exercise();
    return hcheck_report("header_cxx");
}
