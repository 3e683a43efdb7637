/* misuse_double_free_large.c — a 4 MiB block (a large block, kept in the
   large-block cache once freed) freed twice: "keel: double free of <p>",
   abort. */
#include "misuse.h"

int main(int argc, char** argv) {
    void* p = misuse_alloc((size_t)4 << 20);
    m_free(p);
    misuse_expect("double free of", p);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(p));
    return misuse_survived();
}
