/* misuse_usable_size_interior.c — the usable size of a live block's
   address + 32: "keel: usable_size of invalid pointer <p+32>", abort. */
#include "misuse.h"

static void bad(void* q) { printf("usable size %zu\n", (size_t)m_usable(q)); }

int main(int argc, char** argv) {
    char* p = (char*)misuse_alloc(64);
    misuse_expect("usable_size of invalid pointer", p + 32);
    misuse_on(argc, argv, bad, misuse_launder(p + 32));
    m_free(p);
    return misuse_survived();
}
