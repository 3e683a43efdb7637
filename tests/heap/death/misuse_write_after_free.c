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
    misuse_expect_prefix("keel: heap corruption: ");
    misuse_scribble(b, "written after free", 19);
    for (i = 0; i < 100000; i++) (void)m_alloc(48);
    m_free(keep);
    return misuse_survived();
}
