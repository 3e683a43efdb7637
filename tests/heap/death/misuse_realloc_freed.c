/* misuse_realloc_freed.c — realloc of a freed block: "keel: realloc of
   invalid pointer <p>", abort. */
#include "misuse.h"

static void* volatile sink;
static void bad(void* q) { sink = m_realloc(q, 200); }

int main(int argc, char** argv) {
    void* keep = misuse_alloc(64);
    void* p = misuse_alloc(64);
    m_free(p);
    misuse_expect("realloc of invalid pointer", p);
    misuse_on(argc, argv, bad, misuse_launder(p));
    m_free(keep);
    return misuse_survived();
}
