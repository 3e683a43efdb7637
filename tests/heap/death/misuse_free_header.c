/* misuse_free_header.c — free of the first byte of a segment (its header)
   holding a live block: "keel: free of invalid pointer <segment>", abort. */
#include "misuse.h"

int main(int argc, char** argv) {
    char* p = (char*)misuse_alloc(64);
    void* seg = (void*)((uintptr_t)p & ~(uintptr_t)(KEEL_SEGMENT_SIZE - 1));
    misuse_expect("free of invalid pointer", seg);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(seg));
    m_free(p);
    return misuse_survived();
}
