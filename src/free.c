/* free.c — keel_free and keel_usable_size. The fast path: a map lookup, a
   page index, an owner check, a push on local_free. Frees from other
   threads go on the page's a_thread_free stack; large blocks go back to the
   large cache. */
#include "free.h"
#include "profile.h"

#include <errno.h>

/* Start of the block that p points into (p itself unless the block was
   handed out at an aligned interior offset). Reads only fields fixed while
   the page is in use, so any thread may call it. */
void* keel__block_start(const keel_page* page, const void* p) {
    size_t off = (size_t)((const uint8_t*)p - page->start);
    return page->start + (off - off % page->block_size);
}

/* Whether p can be a block keel handed out in this small/medium page. Any
   thread: only fields fixed while the page is in use are read (a block
   being freed keeps its page in use). The owner also knows whether blocks
   were handed out at interior offsets and checks block boundaries exactly. */
static bool pointer_plausible(keel_page* page, const void* p, bool owner) {
    const uint8_t* b = (const uint8_t*)p;
    size_t off;
    if (!page->in_use || page->block_size == 0) return false;
    if (b < page->start || b >= page->start + (size_t)page->reserved * page->block_size) return false;
    off = (size_t)(b - page->start);
    if (!owner || keel__page_has_aligned(page)) return (off % KEEL_ALIGN) == 0;
    return off % page->block_size == 0;
}

/* Whether p is the live block of a large segment. */
static bool large_block_at(const keel_segment* seg, const void* p) {
    return (const uint8_t*)p == (const uint8_t*)seg + seg->large_offset && seg->pages[0].in_use;
}

/* Owner-side free of block b into page. */
static void free_local(keel_heap* heap, keel_page* page, keel_block* b) {
    uint32_t used = keel__page_used(page) - 1;
    keel__assert(keel__page_used(page) > 0 && keel__block_in_page(page, b));
    keel__link_set(b, page->local_free);
    page->local_free = b;
    keel__page_used_set(page, used);
    if (page->in_full) keel__page_unfull(heap, page);
    if (used == 0) keel__page_retire(heap, page);
}

void keel__free_slow(keel_segment* seg, keel_page* page, void* p) {
    keel_heap* heap = keel__tls_heap;
    keel_block* b;
    bool owner;
    int saved = errno;
    if (seg->kind == KEEL_SEGMENT_LARGE) {
        if (!large_block_at(seg, p)) {
            keel__report_invalid("free", p);
            return;
        }
        keel__ann_free(p);
        if (keel__profile_ever_on()) keel__profile_free_large(p);
        keel__large_free_span(seg);
        errno = saved;
        return;
    }
    /* relaxed: only this thread can have stored its own heap here */
    owner = atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == heap && heap != &keel__heap_empty;
    if (!pointer_plausible(page, p, owner)) {
        keel__report_invalid("free", p);
        return;
    }
    keel__ann_free(p);
    /* a division only for pages that handed out interior-aligned blocks */
    b = keel__page_has_aligned(page) ? (keel_block*)keel__block_start(page, p) : (keel_block*)p;
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
        /* release: the link is written before the block becomes visible to
           the owner, which exchanges the list with acquire */
        keel_block* head = atomic_load_explicit(&page->a_thread_free, memory_order_relaxed);
        size_t bsize = page->block_size;
        do {
            keel__link_set(b, head);   /* closed again before the push publishes it */
        } while (!atomic_compare_exchange_weak_explicit(&page->a_thread_free, &head, b,
                                                        memory_order_release, memory_order_relaxed));
        keel__stat_remote_free(heap, bsize);
    }
    errno = saved;
}

/* heap: the calling thread's (keel__tls_heap), read by the caller. A
   segment's owner is a heap or NULL, never keel__heap_empty, so the owner
   test alone tells a thread that has a heap. */
void keel__free_flagged(keel_segment* seg, keel_page* page, keel_heap* heap, void* p) {
    /* the owner test first: free_flags is the owner's to read */
    if (atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == heap &&
        page->free_flags == KEEL_FREE_FLAGS_SAMPLED && keel__profile_unsampled(page, p)) {
        keel__free_push_local(heap, page, p);
        return;
    }
    keel__free_slow(seg, page, p);
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
    if (seg->kind == KEEL_SEGMENT_LARGE) {
        if (!large_block_at(seg, p)) {
            keel__report_invalid(op, p);
            return 0;
        }
        return keel__large_usable(seg);
    }
    page = keel__page_of(seg, p);
    if (!pointer_plausible(page, p, atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == keel__tls_heap)) {
        keel__report_invalid(op, p);
        return 0;
    }
    return page->block_size - (size_t)((const uint8_t*)p - (const uint8_t*)keel__block_start(page, p));
}

size_t keel_usable_size(const void* ptr) {
    keel_segment* seg;
    if (!ptr) return 0;
    seg = keel__segment_of(ptr);
    if (!seg) {
        keel__report_invalid("usable_size", ptr);
        return 0;
    }
    /* under memcheck or ASan the whole usable size becomes the program's (annotate.h) */
    return keel__ann_usable((void*)(uintptr_t)ptr, keel__usable_size_checked(seg, ptr, "usable_size"));
}
