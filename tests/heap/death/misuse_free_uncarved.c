/* misuse_free_uncarved.c — free of a slot of a live block's page that was
   never handed out (past the blocks carved so far): "keel: free of invalid
   pointer <q>", abort: at once from the owner; from another thread, when
   the owner takes in that thread's frees (its next allocations). */
#include "misuse.h"

int main(int argc, char** argv) {
    char* p = (char*)misuse_alloc(16);
    keel_segment* seg = (keel_segment*)((uintptr_t)p & ~(uintptr_t)(KEEL_SEGMENT_SIZE - 1));
    keel_page* page = &seg->pages[((uintptr_t)p - (uintptr_t)seg) >> seg->page_shift];
    char* q = (char*)page->start + (size_t)page->capacity * page->block_size;
    int i;
    if (page->capacity >= page->reserved) { printf("FAIL the page is carved whole\n"); return 1; }
    misuse_expect("free of invalid pointer", q);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(q));
    for (i = 0; i < 100000; i++) (void)m_alloc(16);   /* the owner takes in other threads' frees */
    return misuse_survived();
}
