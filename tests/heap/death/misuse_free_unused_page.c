/* misuse_free_unused_page.c — free of an address in a page of a live
   block's segment that serves no size class: "keel: free of invalid
   pointer <q>", abort. */
#include "misuse.h"

int main(int argc, char** argv) {
    char* p = (char*)misuse_alloc(64);
    keel_segment* seg = (keel_segment*)((uintptr_t)p & ~(uintptr_t)(KEEL_SEGMENT_SIZE - 1));
    char* q = NULL;
    uint32_t i;
    for (i = seg->page_count; i-- > 1;)
        if (!seg->pages[i].in_use) { q = (char*)seg + ((size_t)i << seg->page_shift) + 64; break; }
    if (!q) { printf("FAIL no unused page in the segment\n"); return 1; }
    misuse_expect("free of invalid pointer", q);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(q));
    m_free(p);
    return misuse_survived();
}
