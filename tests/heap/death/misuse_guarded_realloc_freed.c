/* misuse_guarded_realloc_freed.c — realloc of a freed guarded block
   (src/guarded.h, guarded_sample_rate 1): "keel: realloc of invalid pointer
   <p>", abort; its inaccessible page is never read. */
#include "misuse.h"
#include "guarded_misuse.h"

static void realloc_fn(void* p) { (void)m_realloc(p, 100); }

int main(int argc, char** argv) {
    char* p = guarded_misuse_alloc(64);
    misuse_expect("realloc of invalid pointer", p);
    m_free(p);
    misuse_on(argc, argv, realloc_fn, misuse_launder(p));
    return misuse_survived();
}
