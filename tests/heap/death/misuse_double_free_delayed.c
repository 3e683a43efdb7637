/* misuse_double_free_delayed.c — a 64-byte block freed, then thousands of
   allocations and frees of other sizes, then freed again (here or on
   another thread): "keel: double free of <p>", abort. */
#include "misuse.h"

int main(int argc, char** argv) {
    void* keep = misuse_alloc(64);
    void* p = misuse_alloc(64);
    void* other[2000];
    int i, round;
    m_free(p);
    for (round = 0; round < 3; round++) {
        for (i = 0; i < 2000; i++) other[i] = misuse_alloc((size_t)(100 + i % 900));
        for (i = 0; i < 2000; i++) m_free(other[i]);
    }
    misuse_expect("double free of", p);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(p));
    m_free(keep);
    return misuse_survived();
}
