/* misuse_double_free_small.c — a 64-byte block freed twice, the second
   time here or on another thread: "keel: double free of <p>", abort. */
#include "misuse.h"

int main(int argc, char** argv) {
    void* keep = misuse_alloc(64);   /* the page stays in use */
    void* p = misuse_alloc(64);
    m_free(p);
    misuse_expect("double free of", p);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(p));
    m_free(keep);
    return misuse_survived();
}
