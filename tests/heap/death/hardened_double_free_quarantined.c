/* hardened_double_free_quarantined.c — the hardened build: a block freed
   twice while the first free holds it in the quarantine (freed here), or
   once it has left it (freed by a thread that has exited since): "keel:
   double free of <p>", abort. */
#include "misuse.h"

int main(int argc, char** argv) {
    void* keep = misuse_alloc(200);   /* the page stays in use */
    void* p = misuse_alloc(200);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(p));
    misuse_expect("double free of", p);
    m_free(p);
    m_free(keep);
    return misuse_survived();
}
