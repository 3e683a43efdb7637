/* profile.h — the heap profile's hooks for the allocation and free paths
   (profile.c holds the samples and writes the file; its top comment says
   how it works). */
#ifndef KEEL_PROFILE_H
#define KEEL_PROFILE_H

#include "internal.h"

/* Set once a heap drew a countdown for profile_sample > 0 (never cleared):
   from then on frees of large blocks ask the profiler to forget them. */
extern KEEL_HIDDEN _Atomic(int) keel__profile_was_on;

/* Called by the allocating thread at a sampling event (alloc.c), with the
   bytes allocated since the last one (this allocation's included): counts
   them down from heap->profile_left, draws the next countdown when it runs
   out (or profile_sample changed), and says whether this allocation is to
   be sampled (not when the countdown was drawn for another rate, or inside
   the profiler). */
KEEL_HIDDEN bool keel__profile_countdown(keel_theap* heap, ptrdiff_t used);
/* A countdown that never runs out (profile_left while profiling is off,
   sample_left while neither sampler is on). */
#define KEEL_SAMPLE_OFF (PTRDIFF_MAX / 2)

/* Records `block` (its start; `size` bytes asked for) with the current
   call stack, after keel__profile_countdown said so. `page`: the block's
   page (owned by heap), NULL for a large block. `caller`: the return
   address of the public entry point that allocated (where the program's
   frames begin). Returns before the block escapes, so a free from any
   thread finds it. */
KEEL_HIDDEN void keel__profile_record(keel_theap* heap, keel_page* page, void* block, size_t size, void* caller);

/* A block of a page marked KEEL_PAGE_SAMPLED is being freed (block: its
   start; owner: the caller owns the page). Forgets the block if it was
   sampled; called before the block can be reused. */
KEEL_HIDDEN void keel__profile_free_in_page(keel_page* page, const void* block, bool owner);

/* A large block is being freed (profiling was on at some time). */
KEEL_HIDDEN void keel__profile_free_large(const void* block);

/* A first-class heap is destroyed: forgets every sample of a block of a
   segment it owns (they are still its, segment map included). */
KEEL_HIDDEN void keel__profile_forget_heap(const keel_theap* heap);

/* The profiler's lock, for the fork handlers (heap.c). */
KEEL_HIDDEN void keel__profile_lock(void);
KEEL_HIDDEN void keel__profile_unlock(void);
KEEL_HIDDEN void keel__profile_child_reset(void);

/* A block's mark in its page's a_sampled: its offset + 1 (0: none). */
static inline uint32_t keel__profile_page_tag(const keel_page* page, const void* block) {
    return (uint32_t)((const uint8_t*)block - page->start) + 1;
}

/* Whether block (a block start of page) is certainly not sampled: it is
   neither of the page's two recorded samples and the page has no more. */
static inline bool keel__profile_unsampled(const keel_page* page, const void* block) {
    uint32_t tag = keel__profile_page_tag(page, block);
    return atomic_load_explicit(&page->a_sampled_more, memory_order_relaxed) == 0 &&
           atomic_load_explicit(&page->a_sampled[0], memory_order_relaxed) != tag &&
           atomic_load_explicit(&page->a_sampled[1], memory_order_relaxed) != tag;
}

static inline bool keel__profile_ever_on(void) {
    return atomic_load_explicit(&keel__profile_was_on, memory_order_relaxed) != 0;
}

#endif /* KEEL_PROFILE_H */
