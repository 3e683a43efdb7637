/* misuse_double_free_remote.c — a block freed first by another thread
   (onto the list of frees from other threads), then again by the thread
   that allocated it ("owner") or by a third thread ("thread"):
   "keel: double free of <p>", abort. */
#include "misuse.h"

int main(int argc, char** argv) {
    void* keep = misuse_alloc(96);
    void* p = misuse_alloc(96);
    misuse_in_thread(misuse_free_fn, p);   /* the first free */
    misuse_expect("double free of", p);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(p));
    m_free(keep);
    return misuse_survived();
}
