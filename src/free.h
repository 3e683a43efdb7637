/* free.h — the free fast path, shared by keel_free (free.c) and the
   override's free, which treats pointers of no segment differently. */
#ifndef KEEL_FREE_H
#define KEEL_FREE_H

#include "annotate.h"
#include "block_check.h"
#include "harden.h"
#include "internal.h"
#include "page_queue.h"
#include "profile.h"
#include "segment_map.h"

/* free_flags (in_full, has_aligned read as one word) of a page that is off
   the fast path only because it holds blocks the heap profile sampled. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define KEEL_FREE_FLAGS_SAMPLED ((uint16_t)KEEL_PAGE_SAMPLED)
#else
#define KEEL_FREE_FLAGS_SAMPLED ((uint16_t)(KEEL_PAGE_SAMPLED << 8))
#endif
_Static_assert(offsetof(keel_page, has_aligned) == offsetof(keel_page, in_full) + 1 &&
                   offsetof(keel_page, in_full) == offsetof(keel_page, free_flags),
               "free_flags is in_full then has_aligned");

/* The owner's free of block ptr into page, which is not in the full queue.
   top: called from the public free (not from inside keel: the hardened
   build's quarantine), so an emptied page's retire may start the purge
   thread (keel__purge_start_due). */
static inline __attribute__((always_inline)) void keel__free_push_local_at(keel_theap* heap, keel_page* page,
                                                                           void* ptr, bool top) {
    keel_block* b = (keel_block*)ptr;
    keel__assert(keel__page_used(page) > 0);
    keel__ann_free(ptr);
    keel__link_set_keyed(b, page->local_free, keel__page_link_key(page));
    page->local_free = b;
    /* an empty page goes back (the count last: its flags decide the branch) */
    if (KEEL_UNLIKELY(keel__page_used_dec_zero(page)) && !keel__page_keep_when_empty(page)) {
        if (top) keel__page_retire_top(heap, page);
        else keel__page_retire(heap, page);
    }
}
static inline void keel__free_push_local(keel_theap* heap, keel_page* page, void* ptr) {
    keel__free_push_local_at(heap, page, ptr, false);
}

/* The owner's tests of block_check.h before a push: p is a carved block's
   start and its words do not look free already. The fast path and the
   free of a page flagged only by the heap profile both make them. */
static inline bool keel__free_plain_ok(const keel_page* page, void* p) {
    return keel__block_start_ok(page, p) && !keel__link_maybe_free_keyed(p, keel__page_link_key(page));
}

/* Another thread's free of block p of page needs no more than the push:
   a small/medium/big segment of no first-class heap, a page with no
   aligned or sampled block, p the start of one of its carved blocks and
   its words not looking free (free.c, free_remote_plain). Reads only the
   page's third line and the segment's header. */
static inline bool keel__free_remote_plain_ok(const keel_segment* seg, const keel_page* page, void* p) {
    return seg->kind < KEEL_SEGMENT_LARGE && !seg->first_class &&
           __atomic_load_n(&page->remote_flags, __ATOMIC_RELAXED) == 0 && keel__block_remote_ok(page, p) &&
           !keel__link_maybe_free(p);
}

/* Frees of pages with a flag set (free.c): those of a page marked only
   because it holds blocks the heap profile sampled, by its owner, of a
   block that is not one of them, take the push above; the rest go on to
   keel__free_slow. A function of its own, so the fast path stays as it is.
   The page is found again there: passing it would keep a second register
   (and its computation) live on the fast path. */
KEEL_HIDDEN void keel__free_flagged(keel_segment* seg, keel_theap* heap, void* p);
KEEL_HIDDEN void keel__free_flagged_top(keel_segment* seg, keel_theap* heap, void* p);

/* The free of a pointer whose segment is known, for reuse at once: a page
   index, an owner check, the block-start and may-be-free tests
   (block_check.h), a push on local_free. top: as keel__free_push_local_at. */
static inline __attribute__((always_inline)) void keel__free_now_at(keel_segment* seg, void* ptr, bool top) {
    keel_page* page = keel__page_of(seg, ptr);
    keel_theap* heap = keel__tls_heap;
#if defined(__GNUC__) || defined(__clang__)
    /* one register for the page: else GCC addresses some fields from
       seg + index x 128 and others from the page, and computes both */
    __asm__("" : "+r"(page));
#endif
    /* relaxed: only this thread can have stored its own heap here */
    if (KEEL_LIKELY(atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == heap && page->free_flags == 0 &&
                    keel__free_plain_ok(page, ptr))) {
        keel__free_push_local_at(heap, page, ptr, top);
        return;
    }
    if (top) keel__free_flagged_top(seg, heap, ptr);
    else keel__free_flagged(seg, heap, ptr);
}
/* From inside keel (the hardened build's quarantine): starts no thread. */
static inline void keel__free_now(keel_segment* seg, void* ptr) { keel__free_now_at(seg, ptr, false); }

/* The body of keel_free for a pointer whose segment is known: freed now,
   or in the hardened build checked, zeroed and quarantined (harden.h).
   The public free's own: the purge thread may start at its end. */
static inline void keel__free_in_segment(keel_segment* seg, void* ptr) {
#if KEEL_HARDENED
    keel_theap* heap = keel__tls_heap;
    /* a plain page's block (the tests of the free fast path, or those of
       another thread's free): the lean case; the rest takes every check */
    if (KEEL_LIKELY(seg->kind < KEEL_SEGMENT_LARGE)) {
        keel_page* page = keel__page_of(seg, ptr);
        if (KEEL_LIKELY(atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == heap)) {
            if (KEEL_LIKELY(page->free_flags == 0 && keel__free_plain_ok(page, ptr))) {
                keel__harden_free_plain(heap, ptr, page->block_size);
                keel__purge_start_due();
                return;
            }
        } else if (heap != &keel__heap_empty && keel__free_remote_plain_ok(seg, page, ptr)) {
            keel__harden_free_plain(heap, ptr, page->remote_block_size);
            keel__purge_start_due();
            return;
        }
    }
    keel__harden_free(seg, ptr);
    keel__purge_start_due();
#else
    keel__free_now_at(seg, ptr, true);
#endif
}

/* keel_usable_size of ptr, a block of seg (any kind), for the public
   calls (keel_usable_size, the override's malloc_usable_size): a block of
   the caller's own page with no aligned block needs only the free fast
   path's two tests (its start, and words that do not look free; not under
   memcheck, where reading a live block's words would change what memcheck
   knows of them); the rest goes through keel__usable_size_checked, which
   ends the program on a misuse. Programs that count their memory (redis)
   ask at every allocation and free. */
static inline size_t keel__usable_size_in(keel_segment* seg, const void* ptr) {
#if KEEL_HARDENED
    if (seg->kind != KEEL_SEGMENT_LARGE) {   /* it ends where the canary begins (harden.h) */
        size_t room;
        return keel__harden_live(seg, ptr, "usable_size", &room);
    }
#else
    if (seg->kind < KEEL_SEGMENT_LARGE) {   /* small, medium or big: pages of size classes */
        keel_page* page = keel__page_of(seg, ptr);
        /* relaxed: only this thread can have stored its own heap here */
        if (KEEL_LIKELY(atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == keel__tls_heap &&
                        !keel__page_has_aligned(page) && keel__block_start_ok(page, ptr) &&
                        (KEEL_VALGRIND || !keel__link_maybe_free((void*)(uintptr_t)ptr))))
            return keel__ann_usable((void*)(uintptr_t)ptr, page->block_size);
    }
#endif
    /* under memcheck or ASan the whole usable size becomes the program's (annotate.h) */
    return keel__ann_usable((void*)(uintptr_t)ptr, keel__usable_size_checked(seg, ptr, "usable_size"));
}

#endif /* KEEL_FREE_H */
