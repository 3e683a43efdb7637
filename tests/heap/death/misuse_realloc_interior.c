/* misuse_realloc_interior.c — realloc of a live block's address + 16:
   "keel: realloc of invalid pointer <p+16>", abort. */
#include "misuse.h"

static void* volatile sink;
static void bad(void* q) { sink = m_realloc(q, 200); }

int main(int argc, char** argv) {
    char* p = (char*)misuse_alloc(64);
    misuse_expect("realloc of invalid pointer", p + 16);
    misuse_on(argc, argv, bad, misuse_launder(p + 16));
    m_free(p);
    return misuse_survived();
}
