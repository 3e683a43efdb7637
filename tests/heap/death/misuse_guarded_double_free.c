/* misuse_guarded_double_free.c — a second free of a guarded block (src/guarded.h,
   guarded_sample_rate 1), whose page is inaccessible since its first free:
   "keel: double free of <p>", abort, from the owner and from another
   thread; the page is never touched. */
#include "misuse.h"
#include "guarded_misuse.h"

int main(int argc, char** argv) {
    char* p = guarded_misuse_alloc(64);
    misuse_expect("double free of", p);
    m_free(p);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(p));
    return misuse_survived();
}
