/* page_queue.c — a thread heap's pages by size class: a queue per class of
   pages that may have free blocks (its first page is what the direct table
   serves), a queue per class of full pages, moving pages between them, and
   retiring empty pages to their segment (the heap profile's pages too:
   heap->sample_pages, alloc.c). Entry points: keel__page_retire,
   keel__page_unfull, keel__heap_collect_all; page_queue.h has the inline
   ones the allocation slow path uses. Calls down only: page.c, segment.c. */
#include "page_queue.h"

#include <errno.h>

void keel__queue_push(keel_page_queue* q, keel_page* page) {
    page->prev = NULL;
    page->next = q->first;
    if (q->first) q->first->prev = page;
    else q->last = page;
    q->first = page;
}

void keel__queue_push_back(keel_page_queue* q, keel_page* page) {
    page->next = NULL;
    page->prev = q->last;
    if (q->last) q->last->next = page;
    else q->first = page;
    q->last = page;
}

void keel__queue_remove(keel_page_queue* q, keel_page* page) {
    keel__assert(page->prev ? page->prev->next == page : q->first == page);
    keel__assert(page->next ? page->next->prev == page : q->last == page);
    if (page->prev) page->prev->next = page->next;
    else q->first = page->next;
    if (page->next) page->next->prev = page->prev;
    else q->last = page->prev;
    page->next = page->prev = NULL;
}

void keel__queue_rotate_to(keel_page_queue* q, keel_page* page) {
    keel_page* head = q->first;
    keel_page* before;
    if (!page || page == head) return;
    keel__assert(page->prev && page->prev->next == page && q->last);
    before = page->prev;   /* the last page of the prefix that moves */
    q->last->next = head;
    head->prev = q->last;
    before->next = NULL;
    page->prev = NULL;
    q->first = page;
    q->last = before;
}

void keel__page_unfull(keel_theap* heap, keel_page* page) {
    size_t cls = page->class_index;
    keel__assert(page->in_full);
    keel__queue_remove(&heap->full[cls], page);
    keel__queue_push_back(&heap->queues[cls], page);
    page->in_full = 0;
    if (heap->queues[cls].first == page) keel__heap_direct_update(heap, cls);
}

/* An empty page leaves its queue (and the direct table) for its segment. */
static void retire_now(keel_theap* heap, keel_page* page) {
    size_t cls = page->class_index;
    bool in_full = page->in_full != 0;
    if (keel__page_sample_only(page)) {   /* the heap profile's (alloc.c): no direct entry */
        keel__queue_remove(&heap->sample_pages[cls], page);
    } else {
        keel__queue_remove(in_full ? &heap->full[cls] : &heap->queues[cls], page);
        if (!in_full) keel__heap_direct_update(heap, cls);
    }
    (void)keel__segment_page_free(heap, page);
}

void keel__page_retire(keel_theap* heap, keel_page* page) {
    int saved;
    keel__assert(page->in_use && keel__page_used(page) == 0);
    /* the only page of its queue stays (the heap profile's too: a class
       sampled now and then does not take a page each time) */
    if (!page->in_full && keel__page_keep_when_empty(page)) return;
    /* keel_free keeps errno, and giving the page's memory back may set it */
    saved = errno;
    retire_now(heap, page);
    errno = saved;
}

void keel__page_retire_top(keel_theap* heap, keel_page* page) {
    keel__page_retire(heap, page);
    keel__purge_start_due();
}

/* Collects every page of the heap and retires the empty ones. */
void keel__heap_collect_all(keel_theap* heap, bool retire_all_empty) {
    size_t cls;
    for (cls = 1; cls < KEEL_CLASS_COUNT; cls++) {
        int k;
        /* the heap profile's pages (k == 2) are never full */
        for (k = 0; k < 3; k++) {
            keel_page_queue* q = k == 0 ? &heap->queues[cls] : k == 1 ? &heap->full[cls] : &heap->sample_pages[cls];
            keel_page* page = q->first;
            while (page) {
                keel_page* next = page->next;
                (void)keel__page_collect(heap, page);
                if (keel__page_used(page) == 0) {
                    if (retire_all_empty) retire_now(heap, page);
                    else keel__page_retire(heap, page);
                } else if (k == 1 && page->free) {
                    keel__page_unfull(heap, page);
                }
                page = next;
            }
        }
    }
}
