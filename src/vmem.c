/* vmem.c — the library's copy of the virtual-memory layer: include/keel/vmem.h
   compiled with its implementation, its functions exported. */
#include "config.h"

#define VMEMDEF extern KEEL__EXPORT
#define VMEM_IMPLEMENTATION
#include "keel/vmem.h"
