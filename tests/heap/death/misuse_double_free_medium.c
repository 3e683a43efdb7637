/* misuse_double_free_medium.c — a 20,000-byte block (a medium class)
   freed twice: "keel: double free of <p>", abort. */
#include "misuse.h"

int main(int argc, char** argv) {
    void* keep = misuse_alloc(20000);
    void* p = misuse_alloc(20000);
    m_free(p);
    misuse_expect("double free of", p);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(p));
    m_free(keep);
    return misuse_survived();
}
