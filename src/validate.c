/* validate.c — keel_validate: the calling thread's heap in full, abandoned
   segments in full, the caches, and of other threads' pages what does not
   change under them (segment and page headers). Any broken invariant ends
   in keel__corruption ("keel: heap corruption: <what>", abort). */
#include "annotate.h"
#include "guarded.h"
#include "harden.h"
#include "internal.h"
#include "segment_map.h"

static void expect(bool ok, const char* what) {
    if (!ok) keel__corruption(what);
}

/* Walks a block list of the page; returns its length. Every link must be a
   block start inside the carved part of the page, with its check word
   (block_check.h); a list longer than the page's capacity has a cycle. */
static size_t walk_list(const keel_page* page, const keel_block* b, const char* what) {
    size_t n = 0;
    for (; b; b = keel__link_get(b)) {
        expect(keel__block_in_page(page, b), what);
        if (!keel__link_intact(b)) (void)keel__free_block_damaged(b);
        expect(++n <= page->capacity, "free list longer than its page (a cycle)");
    }
    return n;
}

/* Full check of a page whose lists this thread may read: its owner's, or
   one in an abandoned segment (under the abandoned lock). */
static void check_page_full(const keel_page* page) {
    size_t n_free, n_local, n_thread;
    uint64_t tf;
    expect(page->in_use, "a queued page is not in use");
    expect(page->class_index > 0 && page->class_index < KEEL_CLASS_COUNT, "page size class out of range");
    expect(page->block_size == keel__class_size[page->class_index], "page block size does not match its class");
    expect(page->capacity <= page->reserved, "page carved beyond its end");
    expect((size_t)page->reserved * page->block_size <= page->slot_size, "page blocks overflow its slot");
    n_free = walk_list(page, page->free, "free list link out of its page");
    n_local = walk_list(page, page->local_free, "local free list link out of its page");
    /* acquire: the links of blocks pushed by other threads are visible */
    tf = atomic_load_explicit(&page->a_thread_free, memory_order_acquire);
    n_thread = walk_list(page, keel__thread_free_top(page->start, tf), "thread free list link out of its page");
    expect(n_thread == keel__thread_free_count(tf), "count of blocks freed by other threads is wrong");
    expect(n_free + n_local + keel__page_used(page) == page->capacity,
           "page block count does not add up (a block lost or freed twice)");
    expect(n_thread <= keel__page_used(page), "more blocks freed by other threads than are in use");
}

/* Fields of any segment that no thread changes while it is registered:
   written before registration, which took the segments lock. */
static void check_segment_fixed(const keel_segment* seg) {
    size_t off;
    expect(seg->cookie == KEEL_SEGMENT_COOKIE, "segment header damaged (cookie)");
    expect(((uintptr_t)seg & (KEEL_SEGMENT_SIZE - 1)) == 0, "segment not aligned");
    /* by offset: a span may end at the top of the address space (32-bit) */
    for (off = 0; off < seg->reserved; off += KEEL_SEGMENT_SIZE)
        expect(keel__segment_of((const uint8_t*)seg + off) == seg, "segment map does not lead to its segment");
}

/* All of a segment's header: for segments this thread owns, abandoned
   segments (abandoned lock held) and large ones (fixed while in use). */
static void check_segment_header(const keel_segment* seg) {
    check_segment_fixed(seg);
    expect(seg->kind <= KEEL_SEGMENT_LARGE, "segment kind out of range");
    if (seg->kind != KEEL_SEGMENT_LARGE) {
        uint32_t i, used = 0;
        expect(seg->page_count == (KEEL_SEGMENT_SIZE >> seg->page_shift), "segment page count wrong");
        for (i = 0; i < seg->page_count; i++) used += seg->pages[i].in_use;
        expect(used == seg->used_pages, "segment count of pages in use is wrong");
    } else {
        expect(seg->large_offset + seg->large_committed <= seg->reserved, "large block committed beyond its reservation");
        expect(keel__large_pieces_ok((keel_segment*)(uintptr_t)seg), "a large block's table of pieces is damaged");
    }
}

/* sample: the heap profile's queue of the class (alloc.c), never full */
static void check_queue(keel_theap* heap, const keel_page_queue* q, size_t cls, bool full, bool sample) {
    const keel_page* prev = NULL;
    const keel_page* page;
    for (page = q->first; page; prev = page, page = page->next) {
        keel_segment* seg = keel__segment_of_page((keel_page*)page);
        expect(page->prev == prev, "page queue links broken");
        expect(seg->cookie == KEEL_SEGMENT_COOKIE, "queued page in a damaged segment");
        expect(atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == heap, "queued page in a segment the heap does not own");
        expect(page->class_index == cls, "page queued under the wrong size class");
        expect((page->in_full != 0) == full, "page full flag disagrees with its queue");
        expect(keel__page_sample_only(page) == sample, "a page in the wrong queue (the heap profile's or not)");
        if (sample) expect(page->block_size <= KEEL_SMALL_MAX, "a heap profile page of a medium class");
        check_page_full(page);
    }
    expect(q->last == prev, "page queue tail broken");
}

/* A slot's memory state agrees with its use: a page in use holds committed
   memory (keel__slot_holds_memory), a slot the header ate (size 0) was
   never committed. */
static void check_slot_states(const keel_segment* seg) {
    uint32_t i;
    for (i = 0; i < seg->page_count; i++) {
        const keel_page* pg = &seg->pages[i];
        expect(pg->slot_state <= KEEL_SLOT_RESET, "page slot state out of range");
        if (pg->slot_size == 0) expect(pg->in_use && pg->slot_state == KEEL_SLOT_DECOMMITTED, "a slot eaten by the header is in use");
        else if (pg->in_use) expect(keel__slot_holds_memory(pg->slot_state), "a page in use is not committed");
    }
}

void keel__validate_theap(keel_theap* heap) {
    size_t cls, w;
    int k;
    for (cls = 1; cls < KEEL_CLASS_COUNT; cls++) {
        check_queue(heap, &heap->queues[cls], cls, false, false);
        check_queue(heap, &heap->full[cls], cls, true, false);
        check_queue(heap, &heap->sample_pages[cls], cls, false, true);
    }
    for (w = 0; w < KEEL_DIRECT_COUNT; w++) {
        keel_page* page = heap->direct[w];
        size_t cls2 = keel__class_of(w == 0 ? 1 : w * 16);
        expect(page == &keel__page_empty || page == heap->queues[cls2].first, "direct table points at the wrong page");
    }
    for (k = 0; k < KEEL_PAGE_KINDS; k++) {
        keel_segment* seg = heap->segments[k].first;
        keel_segment* prev = NULL;
        for (; seg; prev = seg, seg = seg->heap_next) {
            expect(seg->heap_prev == prev, "a heap's segment list links broken");
            check_segment_header(seg);
            expect(atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == heap, "heap lists a segment it does not own");
            expect(seg->kind == (uint32_t)k, "segment listed under the wrong kind");
            check_slot_states(seg);
        }
        expect(heap->segments[k].last == prev, "a heap's segment list tail broken");
    }
    expect(heap->empty_cached_bytes == keel__heap_empty_committed(heap), "the heap's count of empty committed memory is wrong");
#if KEEL_HARDENED
    keel__harden_quarantine_validate(heap);
#endif
}

/* Every first-class heap, fully, each under its lock. */
static void check_first_class_heaps(void) {
    keel_heap* heap;
    keel__first_class_list_lock();
    for (heap = keel__first_class_first(); heap; heap = heap->next) {
        keel_segment* seg;
        keel__lock(&heap->lock);
        if (heap->theap.first_class != heap) keel__corruption("a first-class heap's structure is damaged");
        keel__validate_theap(&heap->theap);
        keel__lock(&heap->large_lock);
        for (seg = heap->large; seg; seg = seg->heap_next) {
            if (seg->cookie != KEEL_SEGMENT_COOKIE || seg->kind != KEEL_SEGMENT_LARGE || !seg->pages[0].in_use)
                keel__corruption("a first-class heap lists a damaged large block");
            if (!seg->first_class || atomic_load_explicit(&seg->a_heap, memory_order_relaxed) != &heap->theap)
                keel__corruption("a first-class heap lists a large block it does not own");
            if (seg->heap_next && seg->heap_next->heap_prev != seg)
                keel__corruption("a first-class heap's large block list is broken");
        }
        keel__unlock(&heap->large_lock);
        keel__unlock(&heap->lock);
    }
    keel__first_class_list_unlock();
}

void keel_validate(void) {
    keel_theap* me = keel__tls_heap;
    keel_segment* seg;
    expect(keel__page_empty.free == NULL && keel__page_empty.local_free == NULL, "the shared empty page was written");
    if (me != &keel__heap_empty) keel__validate_theap(me);
    check_first_class_heaps();

    keel__abandoned_lock();
    {
        size_t empty = 0;
        for (seg = keel__abandoned_first(); seg; seg = seg->heap_next) {
            uint32_t i;
            check_segment_header(seg);
            expect(atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == NULL, "abandoned segment has an owner");
            expect(seg->empty_committed == keel__segment_empty_committed(seg),
                   "an abandoned segment's count of empty committed memory is wrong");
            empty += seg->empty_committed;
            check_slot_states(seg);
            for (i = 0; i < seg->page_count; i++)
                if (seg->pages[i].in_use && seg->pages[i].block_size) check_page_full(&seg->pages[i]);
        }
        expect(empty == keel__abandoned_empty_bytes(), "the abandoned segments' total of empty committed memory is wrong");
    }
    keel__abandoned_unlock();

    keel__segments_lock();
    for (seg = keel__segments; seg; seg = seg->all_next) {
        keel_theap* owner = atomic_load_explicit(&seg->a_heap, memory_order_relaxed);
        expect(seg->all_next == NULL || seg->all_next->all_prev == seg, "segment list links broken");
        if (owner == me && me != &keel__heap_empty) continue;   /* checked in full above */
        /* another live thread's, abandoned or cached: what cannot change under us */
        check_segment_fixed(seg);
    }
    for (seg = keel__segment_cache_first(); seg; seg = seg->heap_next) {
        uint32_t i;
        expect(seg->cookie == KEEL_SEGMENT_COOKIE, "cached segment header damaged");
        expect(atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == NULL, "cached segment has an owner");
        for (i = 0; i < seg->page_count; i++)
            expect(!seg->pages[i].in_use || seg->pages[i].slot_size == 0, "cached segment has a page in use");
        check_slot_states(seg);
        expect(seg->empty_committed == keel__segment_empty_committed(seg),
               "a cached segment's count of empty committed memory is wrong");
    }
    expect(keel__segment_cache_counts_agree(), "segment cache counters out of step");
    keel__segments_unlock();

    keel__large_validate();
    keel__guarded_validate();
}
