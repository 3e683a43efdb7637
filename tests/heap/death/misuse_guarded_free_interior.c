/* misuse_guarded_free_interior.c — free of a live guarded block's address
   + 16 (src/guarded.h, guarded_sample_rate 1): "keel: free of invalid
   pointer <p+16>", abort; the block stays live. */
#include "misuse.h"
#include "guarded_misuse.h"

int main(int argc, char** argv) {
    char* p = guarded_misuse_alloc(64);
    misuse_expect("free of invalid pointer", p + 16);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(p + 16));
    return misuse_survived();
}
