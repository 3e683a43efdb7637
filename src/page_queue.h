/* page_queue.h — a thread heap's page queues (page_queue.c), with the
   direct-table update and the move to the full queue inline: the
   allocation slow path runs them each time it changes pages. */
#ifndef KEEL_PAGE_QUEUE_H
#define KEEL_PAGE_QUEUE_H

#include "internal.h"

KEEL_HIDDEN void keel__queue_push(keel_page_queue* q, keel_page* page);
KEEL_HIDDEN void keel__queue_push_back(keel_page_queue* q, keel_page* page);
KEEL_HIDDEN void keel__queue_remove(keel_page_queue* q, keel_page* page);
/* page (of q, or NULL: nothing moves) becomes q's first; the pages before
   it go to the back, in their order. O(1). */
KEEL_HIDDEN void keel__queue_rotate_to(keel_page_queue* q, keel_page* page);
KEEL_HIDDEN void keel__page_unfull(keel_theap* heap, keel_page* page);     /* a block came back */
KEEL_HIDDEN void keel__page_retire(keel_theap* heap, keel_page* page);     /* empty: to its segment */
/* The same from the public free, where the purge thread may start after it (internal.h). */
KEEL_HIDDEN void keel__page_retire_top(keel_theap* heap, keel_page* page);
KEEL_HIDDEN void keel__heap_collect_all(keel_theap* heap, bool retire_all_empty);
/* Whether an empty page stays with its heap instead of retiring: the only
   small page of its class, so that one block allocated and freed in a loop
   does not take and give back a page every time. For a page that is not in
   the full queue (prev == NULL: it is the first of its queue). */
static inline bool keel__page_keep_when_empty(const keel_page* page) {
    return page->prev == NULL && page->next == NULL && page->block_size <= KEEL_SMALL_MAX;
}

/* Points the direct-table entries of class cls at its queue's first page. */
static inline void keel__heap_direct_update(keel_theap* heap, size_t cls) {
    size_t lo, hi, w;
    keel_page* page;
    if (keel__class_size[cls] > KEEL_DIRECT_MAX) return;
    page = heap->queues[cls].first ? heap->queues[cls].first : &keel__page_empty;
    lo = cls == 1 ? 0 : keel__class_size[cls - 1] / 16 + 1;
    hi = keel__class_size[cls] / 16;
    for (w = lo; w <= hi; w++) heap->direct[w] = page;
}

/* The page has no free block left: to the back of the class's full queue. */
static inline void keel__page_to_full(keel_theap* heap, keel_page* page) {
    size_t cls = page->class_index;
    keel__assert(!page->in_full && page->free == NULL);
    keel__queue_remove(&heap->queues[cls], page);
    keel__queue_push_back(&heap->full[cls], page);
    page->in_full = 1;
}

#endif /* KEEL_PAGE_QUEUE_H */
