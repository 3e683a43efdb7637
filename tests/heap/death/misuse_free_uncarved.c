/* misuse_free_uncarved.c — free of a slot of a live block's page that was
   never handed out (past the blocks carved so far): "keel: free of invalid
   pointer <q>", abort, at once: the owner tests against the carved blocks,
   another thread against the copy of the carved area the owner keeps in
   the page's third line (src/block_check.h). The owner takes other
   threads' frees in without reading them (src/page.c), so a later catch
   would be too late. */
#include "misuse.h"

int main(int argc, char** argv) {
    char* p = (char*)misuse_alloc(16);
    keel_segment* seg = (keel_segment*)((uintptr_t)p & ~(uintptr_t)(KEEL_SEGMENT_SIZE - 1));
    keel_page* page = &seg->pages[((uintptr_t)p - (uintptr_t)seg) >> seg->page_shift];
    char* q = (char*)page->start + (size_t)page->capacity * page->block_size;
    if (page->capacity >= page->reserved) { printf("FAIL the page is carved whole\n"); return 1; }
    misuse_expect("free of invalid pointer", q);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(q));
    return misuse_survived();
}
