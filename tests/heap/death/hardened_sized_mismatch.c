/* hardened_sized_mismatch.c — the hardened override only (it exports the
   sized frees): free_sized of a 48-byte block with 47, here or from
   another thread: "keel: sized free mismatch at <p>", abort. */
#include "misuse.h"

#include <dlfcn.h>

static void (*sized)(void*, size_t);
static void bad(void* q) { sized(q, 47); }

int main(int argc, char** argv) {
    void* p = misuse_alloc(48);
    *(void**)&sized = dlsym(RTLD_DEFAULT, "free_sized");
    if (!sized) { printf("FAIL free_sized is not exported\n"); return 1; }
    misuse_expect("sized free mismatch at", p);
    misuse_on(argc, argv, bad, misuse_launder(p));
    return misuse_survived();
}
