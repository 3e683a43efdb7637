/* misuse_usable_size_freed.c — the usable size of a freed block: "keel:
   usable_size of invalid pointer <p>", abort. The block's page stays in
   use (another block is kept), so the answer comes from the page's own
   tests: the owner's fast path finds the freed block's words and sends it
   to the full check, another thread takes the full check at once. */
#include "misuse.h"

static void bad(void* q) { printf("usable size %zu\n", (size_t)m_usable(q)); }

int main(int argc, char** argv) {
    void* keep = misuse_alloc(64);
    void* p = misuse_alloc(64);
    m_free(p);
    misuse_expect("usable_size of invalid pointer", p);
    misuse_on(argc, argv, bad, misuse_launder(p));
    m_free(keep);
    return misuse_survived();
}
