/* guarded_misuse.h — for the misuse programs of guarded blocks
   (misuse_guarded_*.c; keel API only): turns guarded sampling on for every
   allocation and returns a block of n bytes that it guarded (keel built
   with ASan guards nothing; there the block is a plain one). */
#ifndef KEEL_TEST_GUARDED_MISUSE_H
#define KEEL_TEST_GUARDED_MISUSE_H

#include "keel/vmem.h"

static inline char* guarded_misuse_alloc(size_t n) {
    char* p;
    size_t len = KEEL_HARDENED ? keel__class_size[keel__class_of(n + 8)] : (n + 15) / 16 * 16;
    if (!keel_option_set("guarded_sample_rate", 1)) {
        printf("FAIL keel_option_set\n");
        exit(1);
    }
    p = (char*)misuse_alloc(n);
#ifndef MISUSE_ASAN
    if (((uintptr_t)p + len) % vmem_get_page_size() != 0) {
        printf("FAIL the block is not guarded (it does not end at a page boundary)\n");
        exit(1);
    }
#endif
    (void)len;
    return p;
}

#endif /* KEEL_TEST_GUARDED_MISUSE_H */
