/* misuse_write_after_free.c — a string written into a freed 48-byte block
   (freed here, or by another thread): keel never follows the damaged link;
   the allocations that reach the block abort with "keel: heap corruption:
   ...". */
#include "misuse.h"

int main(int argc, char** argv) {
    char* keep = (char*)misuse_alloc(48);
    char* b = (char*)misuse_alloc(48);
    int i;
    misuse_on(argc, argv, misuse_free_fn, b);
#if KEEL_HARDENED
    /* the hardened build (src/harden.h): freed here, b waits in the
       quarantine, marked; the frees below push it out, and its mark is
       checked. Freed by a thread that has exited since, it is on a free
       list already, and its link is checked when it is reached. */
    if (misuse_is_thread(argc, argv)) misuse_expect_prefix("keel: heap corruption: ");
    else misuse_expect("write after free detected at", b);
    misuse_scribble(b, "written after free", 19);
    for (i = 0; i < 100000; i++) m_free(m_alloc(48));
#else
    misuse_expect_prefix("keel: heap corruption: ");
    misuse_scribble(b, "written after free", 19);
#endif
    for (i = 0; i < 100000; i++) (void)m_alloc(48);
    m_free(keep);
    return misuse_survived();
}
