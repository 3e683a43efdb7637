/* free.h — the free fast path, shared by keel_free (free.c) and the
   override's free, which treats pointers of no segment differently. */
#ifndef KEEL_FREE_H
#define KEEL_FREE_H

#include "annotate.h"
#include "internal.h"
#include "page_queue.h"
#include "segment_map.h"

/* The body of keel_free for a pointer whose segment is known: a page
   index, an owner check, a push on local_free. */
static inline void keel__free_in_segment(keel_segment* seg, void* ptr) {
    keel_page* page = keel__page_of(seg, ptr);
    keel_heap* heap = keel__tls_heap;
    /* relaxed: only this thread can have stored its own heap here */
    if (KEEL_LIKELY(atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == heap && page->free_flags == 0)) {
        keel_block* b = (keel_block*)ptr;
        uint32_t used = keel__page_used(page) - 1;
        keel__assert(keel__page_used(page) > 0);
        keel__ann_free(ptr);
        keel__link_set(b, page->local_free);
        page->local_free = b;
        keel__page_used_set(page, used);
        /* an empty page goes back (free_flags == 0: not in the full queue) */
        if (KEEL_UNLIKELY(used == 0) && !keel__page_keep_when_empty(page)) keel__page_retire(heap, page);
        return;
    }
    keel__free_slow(seg, page, ptr);
}

#endif /* KEEL_FREE_H */
