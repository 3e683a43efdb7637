/* free.c — keel_free and keel_usable_size. The fast path (free.h): a map
   lookup, a page index, an owner check, the block-start and may-be-free
   tests of block_check.h, a push on local_free. Frees from other threads
   go on the page's a_thread_free stack; large blocks go back to the large
   cache; a pointer that is not a live block's start ends the program
   (live_block, large_live). */
#include "free.h"
#include "guarded.h"
#include "profile.h"

#include <errno.h>

/* Start of the block that p points into (p itself unless the block was
   handed out at an aligned interior offset). Reads only fields fixed while
   the page is in use, so any thread may call it. */
void* keel__block_start(const keel_page* page, const void* p) {
    size_t off = (size_t)((const uint8_t*)p - page->start);
    return page->start + (off - off % page->block_size);
}

/* Whether p, inside an aligned-block page, is a pointer keel_alloc_aligned
   can have returned for the block starting at b: b itself, or an offset
   below p's own alignment (p - b < that alignment, which is above
   KEEL_ALIGN). */
static bool aligned_position_ok(const uint8_t* b, const uint8_t* p) {
    uintptr_t a = (uintptr_t)p & (0 - (uintptr_t)p);   /* p's alignment */
    return p == b || (a > KEEL_ALIGN && (uintptr_t)(p - b) < a);
}

/* Whether b is on one of the page's free lists: the owner's two and the
   stack other threads push to (its nodes change only when the owner takes
   them, so the owner may walk it). Bounded by the page's capacity. */
static bool list_holds(const keel_page* page, const keel_block* list, const keel_block* b) {
    uint32_t n;
    for (n = 0; list && n <= page->capacity; list = keel__link_get(list), n++)
        if (list == b) return true;
    return false;
}
static bool owner_lists_hold(const keel_page* page, const keel_block* b) {
    /* acquire: pairs with the release push, so the pushed links are visible */
    return list_holds(page, page->free, b) || list_holds(page, page->local_free, b) ||
           list_holds(page,
                      keel__thread_free_top(page->start,
                                            atomic_load_explicit(&page->a_thread_free, memory_order_acquire)),
                      b);
}

/* Whether the block b, whose words hold a link and its check word, is
   free (block_check.h): the owner finds it on a list; another thread,
   which cannot read the owner's lists, takes a link that is itself a block
   of the page (or a list's end) as proof. */
static bool block_is_free(const keel_page* page, const keel_block* b, bool owner) {
    keel_block* next;
    if (owner) return owner_lists_hold(page, b);
    next = keel__link_get(b);
    return next == NULL || keel__block_reserved_ok(page, next);
}

/* The start of the live block of a small/medium page that p points to (p
   itself unless it was handed out at an aligned offset); any other pointer
   into the page ends the program (DESIGN.md section 10): "<op> of invalid
   pointer", or "double free of" when op is free and the block is free.
   Any thread: the owner checks against the carved blocks, other threads
   against the copy of the carved area that the owner stores as it carves
   (block_check.h). */
static keel_block* live_block(keel_page* page, void* p, bool owner, const char* op) {
    uint8_t* b = (uint8_t*)p;
    if (!page->in_use || page->block_size == 0) keel__misuse_invalid(op, p);
    if (keel__page_has_aligned(page)) {
        if (b < page->start) keel__misuse_invalid(op, p);
        b = (uint8_t*)keel__block_start(page, p);
        if (!aligned_position_ok(b, (const uint8_t*)p)) keel__misuse_invalid(op, p);
    }
    if (!(owner ? keel__block_start_ok(page, b) : keel__block_remote_ok(page, b))) keel__misuse_invalid(op, p);
    /* memcheck: reading a live block's words would change what memcheck
       knows of them; it reports a use after free itself */
    if (KEEL_VALGRIND && op[0] != 'f') return (keel_block*)b;
    if (keel__link_maybe_free(b) && block_is_free(page, (keel_block*)b, owner)) {
        if (op[0] == 'f') keel__misuse_double_free(p);
        keel__misuse_invalid(op, p);
    }
    return (keel_block*)b;
}

/* The large block at p, in use; else the same ends as live_block. */
static void large_live(keel_segment* seg, const void* p, const char* op) {
    if ((const uint8_t*)p != (const uint8_t*)seg + seg->large_offset) keel__misuse_invalid(op, p);
    if (!seg->pages[0].in_use) {   /* in the large cache: freed already */
        if (op[0] == 'f') keel__misuse_double_free(p);
        keel__misuse_invalid(op, p);
    }
}

/* Another thread's free of block b: pushed on the page's a_thread_free
   with the count the word carries (internal.h). Reads only the page's
   third line and the segment's header. Release: the link is written
   before the block becomes visible to the owner, which exchanges the word
   with acquire.
   A push onto an empty stack also tells the owner, once, that other
   threads free into its pages (a_freed_into: its allocation then scans its
   full pages for such frees, alloc.c page_from_full). The owner is read
   before the push: once the block is published the owner may take it,
   empty the page and free the segment. The flag is written after it,
   into a thread heap's struct (never unmapped: heap.c; first-class heaps
   scan every time, since one may be destroyed once its last block is
   back), and only while clear: it is never cleared, so its line stays
   shared in every core's cache. The owner read may be out of date (the
   segment abandoned and adopted meanwhile): the new owner's periodic scan
   (KEEL_FULL_SCAN_EVERY) finds what that missed. */
static inline void thread_free_push(keel_segment* seg, keel_page* page, keel_block* b) {
    const uint8_t* start = page->remote_start;
    keel_theap* owner = seg->first_class ? NULL : atomic_load_explicit(&seg->a_heap, memory_order_relaxed);
    uint64_t w = atomic_load_explicit(&page->a_thread_free, memory_order_relaxed);
    do {
        keel__link_set_keyed(b, keel__thread_free_top(start, w), keel__page_link_key(page));   /* again if the exchange fails */
    } while (!atomic_compare_exchange_weak_explicit(&page->a_thread_free, &w, keel__thread_free_pushed(start, w, b),
                                                    memory_order_release, memory_order_relaxed));
    if ((uint32_t)w == 0 && owner && !atomic_load_explicit(&owner->a_freed_into, memory_order_relaxed))
        atomic_store_explicit(&owner->a_freed_into, 1, memory_order_relaxed);
}

/* Owner-side free of block b into page. */
static void free_local(keel_theap* heap, keel_page* page, keel_block* b) {
    uint32_t used = keel__page_used(page) - 1;
    keel__assert(keel__page_used(page) > 0 && keel__block_in_page(page, b));
    keel__link_set_keyed(b, page->local_free, keel__page_link_key(page));
    page->local_free = b;
    keel__page_used_set(page, used);
    if (page->in_full) keel__page_unfull(heap, page);
    if (used == 0) keel__page_retire(heap, page);
}

/* The free of small/medium block p of page, by heap (the freeing thread's,
   or a first-class heap's theap whose lock the caller holds) as its owner
   or as another thread. */
static void free_block(keel_page* page, void* p, keel_theap* heap, bool owner) {
    keel_block* b = live_block(page, p, owner, "free");
    keel__ann_free(p);
    if ((void*)b != p) {
        size_t off = (size_t)((uint8_t*)p - (uint8_t*)b);
        if (heap != &keel__heap_empty) keel__counter_add(&heap->a_aligned_offset_bytes, (size_t)0 - off);
        else keel__stat_aligned_offset_global((size_t)0 - off);
    }
    /* a sampled block leaves the heap profile before it can be reused */
    if (keel__page_has_sampled(page)) keel__profile_free_in_page(page, b, owner);
    if (owner) {
        free_local(heap, page, b);
    } else {
        size_t bsize = page->remote_block_size;
        thread_free_push(keel__segment_of_page(page), page, b);
        keel__stat_remote_free(heap, bsize);
    }
}

void keel__free_first_class_locked(keel_segment* seg, void* p) {
    keel_heap* first_class = keel__first_class_of(seg);
    int saved = errno;
    if (seg->kind == KEEL_SEGMENT_LARGE) {
        keel__free_slow(seg, &seg->pages[0], p);   /* under its large_lock, not its lock */
        return;
    }
    free_block(keel__page_of(seg, p), p, &first_class->theap, true);
    errno = saved;
}

void keel__free_slow(keel_segment* seg, keel_page* page, void* p) {
    keel_theap* heap = keel__tls_heap;
    keel_heap* first_class = NULL;
    bool owner;
    int saved = errno;
    if (seg->kind == KEEL_SEGMENT_GUARDED) {
        keel__guarded_free(p);
        return;
    }
    if (seg->kind == KEEL_SEGMENT_LARGE) {
        large_live(seg, p, "free");
        keel__ann_free(p);
        if (keel__profile_ever_on()) keel__profile_free_large(p);
        if (seg->first_class) keel__first_class_large_free(seg);   /* to its region or the cache */
        else keel__large_free_span(seg);
        errno = saved;
        return;
    }
    /* relaxed: only this thread can have stored its own heap here */
    owner = atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == heap && heap != &keel__heap_empty;
    /* a first-class heap's block: freed as its owner would while its lock
       is free (nothing to collect later), else pushed as another thread's
       block is. A try: this thread may hold that lock already (realloc). */
    if (seg->first_class) {
        first_class = keel__first_class_of(seg);
        if (keel__lock_try(&first_class->lock)) {
            heap = &first_class->theap;
            owner = true;
        } else {
            first_class = NULL;
        }
    }
    free_block(page, p, heap, owner);
    if (first_class) keel__heap_unlock(first_class);
    errno = saved;
}

/* The free of block p of page by a thread that does not own it, when
   nothing asks for more than the push: a small/medium/big segment of no
   first-class heap, a page with no aligned or sampled block, p the start of
   one of its carved blocks and its words not looking free. The rest
   (false) takes keel__free_slow, which tells every other case apart and
   ends the program on a misuse. free_block's push and statistics, without
   the slow path's tests of the cases already excluded (callgrind, xmalloc
   2 0.02, where every block is freed by another thread: 174 -> 99
   instructions a remote free, free's own included), reading only the
   page's third line, the one other threads' frees have to themselves
   (internal.h), and the segment's header.
   heap: the freeing thread's, or keel__heap_empty. */
static bool free_remote_plain(keel_segment* seg, keel_page* page, void* p, keel_theap* heap) {
    keel_block* b = (keel_block*)p;
    size_t bsize = page->remote_block_size;
    if (!keel__free_remote_plain_ok(seg, page, p)) return false;
    keel__ann_free(p);
    thread_free_push(seg, page, b);
    keel__stat_remote_free(heap, bsize);
    return true;
}

/* heap: the calling thread's (keel__tls_heap), read by the caller. A
   segment's owner is a heap or NULL, never keel__heap_empty, so the owner
   test alone tells a thread that has a heap. */
void keel__free_flagged(keel_segment* seg, keel_theap* heap, void* p) {
    keel_page* page = keel__page_of(seg, p);
    /* the owner test first: free_flags is the owner's to read */
    if (atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == heap) {
        if (page->free_flags == KEEL_FREE_FLAGS_SAMPLED && keel__free_plain_ok(page, p) &&
            keel__profile_unsampled(page, p)) {
            keel__free_push_local(heap, page, p);
            return;
        }
    } else if (free_remote_plain(seg, page, p, heap)) {
        return;
    }
    keel__free_slow(seg, page, p);
}

void keel__free_flagged_top(keel_segment* seg, keel_theap* heap, void* p) {
    keel__free_flagged(seg, heap, p);
    keel__purge_start_due();   /* a large block cached, a segment emptied: the free is whole */
}

void keel_free(void* ptr) {
    keel_segment* seg = keel__segment_of(ptr);
    if (KEEL_UNLIKELY(seg == NULL)) {
        if (ptr) keel__report_invalid("free", ptr);
        return;
    }
    keel__free_in_segment(seg, ptr);
}

size_t keel__usable_size_checked(keel_segment* seg, const void* p, const char* op) {
    keel_page* page;
    keel_theap* heap = keel__tls_heap;
    keel_block* b;
    if (seg->kind == KEEL_SEGMENT_LARGE) {
        large_live(seg, p, op);
        return keel__large_usable(seg);
    }
    if (seg->kind == KEEL_SEGMENT_GUARDED) return keel__guarded_usable(p, op);
    page = keel__page_of(seg, p);
    b = live_block(page, (void*)(uintptr_t)p, atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == heap &&
                                                  heap != &keel__heap_empty, op);
    return page->block_size - (size_t)((const uint8_t*)p - (const uint8_t*)b);
}

size_t keel_usable_size(const void* ptr) {
    keel_segment* seg;
    if (!ptr) return 0;
    seg = keel__segment_of(ptr);
    if (!seg) {
        keel__report_invalid("usable_size", ptr);
        return 0;
    }
    return keel__usable_size_in(seg, ptr);
}
