/* hardened_sized_delete_mismatch.c — the hardened override only: C++'s
   sized operator delete (_ZdlPvm, delete(void*, size_t) where size_t is
   unsigned long) of a 100-byte block with 64, as a delete through a base
   class without a virtual destructor does: "keel: sized free mismatch at
   <p>", abort. */
#include "misuse.h"

#include <dlfcn.h>

static void (*sized_delete)(void*, size_t);
static void bad(void* q) { sized_delete(q, 64); }

int main(int argc, char** argv) {
    void* p = misuse_alloc(100);
    *(void**)&sized_delete = dlsym(RTLD_DEFAULT, SIZE_MAX == 0xFFFFFFFFu ? "_ZdlPvj" : "_ZdlPvm");
    if (!sized_delete) { printf("FAIL the sized operator delete is not exported\n"); return 1; }
    misuse_expect("sized free mismatch at", p);
    misuse_on(argc, argv, bad, misuse_launder(p));
    return misuse_survived();
}
