/* hardened_double_free_quarantined_remote.c — the hardened build: a block
   its owner freed (so it waits, marked, in the owner's quarantine) freed
   again, here or by another thread (the lean path of another thread's
   free, src/harden.c keel__harden_free_plain, checks the mark too):
   "keel: double free of <p>", abort. */
#include "misuse.h"

int main(int argc, char** argv) {
    void* keep = misuse_alloc(200);   /* the page stays in use */
    void* p = misuse_alloc(200);
    m_free(p);   /* into this thread's quarantine */
    misuse_expect("double free of", p);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(p));
    m_free(keep);
    return misuse_survived();
}
