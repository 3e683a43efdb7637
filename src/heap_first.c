/* heap_first.c — first-class heaps (DESIGN.md section 11; the design is
   docs/heaps.md): created and destroyed by the program, usable by any
   thread, thrown away whole. Entry points: keel_heap_new, keel_heap_destroy,
   keel_heap_of, keel_heap_get_stats, keel_heap_visit; the allocation calls
   (keel_heap_alloc and its family) are alloc.c's, beside keel_alloc's.

   A heap is a thread heap (keel_theap) behind a lock. Its segments come
   from the same places as a thread's (the segment cache, then vmem) and
   carry a first_class mark, so that keel_heap_of and realloc find the heap
   from any block; it never adopts segments of exited threads (their blocks
   are not its to destroy). Its large blocks are listed on the heap, under
   a lock of their own, since any thread may free one.

   Locks, in the order they are taken: the list lock (`heaps_lock`), a
   heap's `lock`, its `large_lock`, then the locks of the layers below
   (registry, abandoned, large cache, segments, profile). fork_prepare
   takes them all in that order. */
#include "annotate.h"
#include "harden.h"
#include "internal.h"
#include "page_queue.h"
#include "profile.h"
#include "segment_map.h"

#include <errno.h>
#include <string.h>

_Static_assert(KEEL_REGION_ALIGNMENT == KEEL_SEGMENT_SIZE, "a region is cut into segment-sized chunks");

static keel_lock heaps_lock = KEEL_LOCK_INIT;
static keel_heap* heaps;   /* every live first-class heap */

void keel__first_class_list_lock(void) { keel__lock(&heaps_lock); }
bool keel__first_class_list_lock_try(void) { return keel__lock_try(&heaps_lock); }
void keel__first_class_list_unlock(void) { keel__unlock(&heaps_lock); }

/* The heap structure's own memory: whole OS pages from vmem, counted as
   keel's bookkeeping (committed, never in the live bytes). */
static size_t heap_struct_bytes(void) {
    size_t page = vmem_get_page_size();
    return (sizeof(keel_heap) + page - 1) & ~(page - 1);
}

/* The list of heaps gains one, set up (its memory reads as zero). */
static keel_heap* heap_start(keel_heap* heap) {
    size_t i;
    for (i = 0; i < KEEL_DIRECT_COUNT; i++) heap->theap.direct[i] = &keel__page_empty;
    heap->theap.first_class = heap;
    keel__lock(&heaps_lock);
    heap->next = heaps;
    if (heaps) heaps->prev = heap;
    heaps = heap;
    keel__unlock(&heaps_lock);
    return heap;
}

keel_heap* keel_heap_new(void) {
    size_t bytes = heap_struct_bytes();
    keel_heap* heap;
    keel__process_init();
    if (!keel__commit_charge(bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    heap = (keel_heap*)vmem_alloc(bytes);
    if (!heap) {
        keel__stat_committed(-(ptrdiff_t)bytes);
        errno = ENOMEM;
        return NULL;
    }
    keel__stat_reserved((ptrdiff_t)bytes);
    return heap_start(heap);   /* vmem_alloc's memory reads as zero */
}

/* A heap inside [memory, memory + num_bytes): its first chunk is the home
   segment, whose header holds, after the segment's own header, the heap
   and the region's chunk bitmap; the segment map's leaves for the range
   are made now if missing (shared, never freed: the only memory outside
   the region keel may commit for it, 64 KiB per 32 GiB of address space,
   and none where keel's map already covers the addresses). */
keel_heap* keel_heap_new_in(void* memory, size_t num_bytes) {
    uintptr_t at = (uintptr_t)memory;
    size_t chunks, bitmap, heap_at, header, page = vmem_get_page_size();
    keel_segment* home = (keel_segment*)memory;
    keel_heap* heap;
    if (!memory || num_bytes == 0 || at % KEEL_REGION_ALIGNMENT || num_bytes % KEEL_REGION_ALIGNMENT ||
        num_bytes > UINTPTR_MAX - at) {
        errno = EINVAL;
        return NULL;
    }
    keel__process_init();
    chunks = num_bytes / KEEL_SEGMENT_SIZE;
    bitmap = (chunks + 63) / 64 * sizeof(uint64_t);
    heap_at = (keel__segment_header_bytes() + 63) & ~(size_t)63;
    header = (heap_at + sizeof(keel_heap) + bitmap + page - 1) & ~(page - 1);
    if (header > KEEL_SEGMENT_SIZE / 4) {   /* a bitmap of a quarter chunk: a region of terabytes */
        errno = EINVAL;
        return NULL;
    }
    if (!keel__segment_map_prepare(memory, num_bytes) || !keel__segment_home_init(home, header)) {
        errno = ENOMEM;
        return NULL;
    }
    heap = (keel_heap*)((uint8_t*)home + heap_at);
    heap->region.base = (uint8_t*)memory;
    heap->region.chunk_count = chunks;
    heap->region.used = (uint64_t*)(heap + 1);
    heap->region.used[0] = 1;   /* the home chunk */
    heap->region.used_count = 1;
    heap_start(heap);
    atomic_store_explicit(&home->a_heap, &heap->theap, memory_order_relaxed);
    home->first_class = KEEL_FIRST_CLASS_HOME;
    keel__heap_take_segment(&heap->theap, home);
    keel__first_class_committed(heap, (ptrdiff_t)header);
    return heap;
}

/* ---- large blocks ---- */

/* A large span that is no longer a heap's block goes where its memory
   came from: the heap's region, or large.c's cache. */
static void large_release(keel_heap* heap, keel_segment* seg) {
    if (heap->region.base) keel__large_free_in(&heap->region, seg);
    else keel__large_free_span(seg);
}

bool keel__first_class_large_add(keel_heap* heap, void* block) {
    keel_segment* seg = keel__segment_of(block);
    if (!keel__first_class_charge(heap, seg->header_size + seg->large_committed)) {
        large_release(heap, seg);
        return false;
    }
    atomic_store_explicit(&seg->a_heap, &heap->theap, memory_order_relaxed);
    seg->first_class = 1;
    keel__lock(&heap->large_lock);
    seg->heap_prev = NULL;
    seg->heap_next = heap->large;
    if (heap->large) heap->large->heap_prev = seg;
    heap->large = seg;
    keel__unlock(&heap->large_lock);
    return true;
}

/* Unlinks seg from its heap's list; caller holds heap->large_lock. */
static void large_unlink_locked(keel_heap* heap, keel_segment* seg) {
    if (seg->heap_prev) seg->heap_prev->heap_next = seg->heap_next;
    else heap->large = seg->heap_next;
    if (seg->heap_next) seg->heap_next->heap_prev = seg->heap_prev;
    seg->heap_next = seg->heap_prev = NULL;
    keel__first_class_committed(heap, -(ptrdiff_t)(seg->header_size + seg->large_committed));
    seg->first_class = 0;
    atomic_store_explicit(&seg->a_heap, NULL, memory_order_relaxed);
}

/* A large block of a first-class heap is being freed (any thread): it
   leaves the heap, then its span goes back. */
void keel__first_class_large_free(keel_segment* seg) {
    keel_heap* heap = keel__first_class_of(seg);
    keel__lock(&heap->large_lock);
    large_unlink_locked(heap, seg);
    keel__unlock(&heap->large_lock);
    large_release(heap, seg);
}

/* ---- counters ---- */

void keel__first_class_counters_locked(keel_counters* c) {
    keel_heap* heap;
    for (heap = heaps; heap; heap = heap->next) keel__theap_counters_add(&heap->theap, c);
}

/* ---- destroy ---- */

/* O(segments): every page and large block goes at once, no block is
   looked at. The counters of its blocks fold into the process's (so the
   totals count them as freed); the interior offsets of its aligned blocks
   go with the blocks. */
void keel_heap_destroy(keel_heap* heap) {
    keel_theap* t;
    keel_segment* home = NULL;
    int k;
    if (!heap) return;
    if (heap->theap.first_class != heap) keel__fatal("keel_heap_destroy of something that is not a heap");
    /* The purge thread first (when it is wanted and idle), so that the
       segments below enter the segment cache within its busy bounds and
       stay warm for the next heap until purge_delay gives them back.
       Started after them, as before, the plain bounds (4 segments, 8 MiB)
       decommitted nearly everything and the next heap faulted it in again:
       bench_heap 0.2 keel_heap, 8 rounds of a 200,000-node tree, 42,559
       page faults and 2.90 s -> 7,287 and 1.53 s (mi_heap: 7,485, 1.55 s).
       A heap in a region gives its segments back to the region instead. */
    if (!heap->region.base && atomic_load_explicit(&heap->a_committed, memory_order_relaxed) != 0) keel__purge_start();
    keel__lock(&heaps_lock);
    keel__lock(&heap->lock);
    t = &heap->theap;
    /* frees other threads pushed: counted as collected, as the freers
       counted them as remote frees */
    keel__heap_collect_all(t, false);
    if (keel__profile_ever_on()) keel__profile_forget_heap(t);
    keel__lock(&heap->large_lock);
    while (heap->large) {
        keel_segment* seg = heap->large;
        large_unlink_locked(heap, seg);
        keel__ann_free((uint8_t*)seg + seg->large_offset);
        large_release(heap, seg);
    }
    keel__unlock(&heap->large_lock);
    for (k = 0; k < KEEL_PAGE_KINDS; k++) {
        keel_segment_list* list = &t->segments[k];
        while (list->first) {
            keel_segment* seg = list->first;
            keel__heap_drop_segment(t, seg);
            if (seg->first_class == KEEL_FIRST_CLASS_HOME) home = seg;   /* its pages go; it goes last */
            keel__segment_discard(t, seg);
        }
    }
    atomic_store_explicit(&t->a_aligned_offset_bytes, 0, memory_order_relaxed);
#if KEEL_HARDENED
    atomic_store_explicit(&t->a_hidden_bytes, 0, memory_order_relaxed);   /* canaries and quarantine, gone too */
    atomic_store_explicit(&t->a_quarantined_blocks, 0, memory_order_relaxed);
#endif
    keel__stat_fold_heap(t);
    if (heap->prev) heap->prev->next = heap->next;
    else heaps = heap->next;
    if (heap->next) heap->next->prev = heap->prev;
    keel__unlock(&heaps_lock);
    /* no keel__unlock(&heap->lock): the memory goes now */
    if (home) {   /* in a region: the heap is inside its home segment's header */
        keel__segment_home_release(home);
    } else {
        size_t bytes = heap_struct_bytes();
        if (!vmem_free(heap, bytes)) keel__fatal("the OS refused to release a heap's structure");
        keel__stat_committed(-(ptrdiff_t)bytes);
        keel__stat_reserved(-(ptrdiff_t)bytes);
    }
    keel__purge_start_due();   /* its segments went to the cache */
}

/* ---- lookups and walks ---- */

keel_heap* keel_heap_of(const void* ptr) {
    keel_segment* seg;
    if (!ptr) return NULL;
    seg = keel__segment_of(ptr);
    return seg ? keel__first_class_of(seg) : NULL;
}

/* Walks the heap's segments cut into pages. */
#define FOR_EACH_SEGMENT(t, seg, k)                                                        \
    for (k = 0; k < KEEL_PAGE_KINDS; k++)                                                  \
        for (seg = (t)->segments[k].first; seg; seg = seg->heap_next)

keel_stats keel_heap_get_stats(const keel_heap* cheap) {
    keel_heap* heap = (keel_heap*)(uintptr_t)cheap;   /* the lock and a collection: state, not contents */
    keel_stats st;
    keel_theap* t;
    keel_segment* seg;
    int k;
    size_t blocks = 0, bytes = 0;
    memset(&st, 0, sizeof st);
    if (!heap) return st;
    keel__lock(&heap->lock);
    t = &heap->theap;
    keel__heap_collect_all(t, false);   /* frees of other threads count */
    FOR_EACH_SEGMENT(t, seg, k) {
        uint32_t i;
        st.num_segments++;
        st.reserved_bytes += seg->reserved;
        for (i = 0; i < seg->page_count; i++) {
            const keel_page* pg = &seg->pages[i];
            if (!pg->in_use || pg->block_size == 0) continue;
            blocks += keel__page_used(pg);
            bytes += (size_t)keel__page_used(pg) * pg->block_size;
        }
    }
    keel__lock(&heap->large_lock);
    for (seg = heap->large; seg; seg = seg->heap_next) {
        st.num_segments++;
        st.reserved_bytes += seg->reserved;
        blocks++;
        bytes += keel__large_usable(seg);
    }
    keel__unlock(&heap->large_lock);
#if KEEL_HARDENED
    /* canaries and the quarantine are not the program's (harden.h) */
    bytes -= atomic_load_explicit(&t->a_hidden_bytes, memory_order_relaxed);
    blocks -= atomic_load_explicit(&t->a_quarantined_blocks, memory_order_relaxed);
#endif
    st.num_bytes_allocated = bytes - atomic_load_explicit(&t->a_aligned_offset_bytes, memory_order_relaxed);
    st.num_live_blocks = blocks;
    st.num_allocs = atomic_load_explicit(&t->a_allocs, memory_order_relaxed);
    st.num_frees = st.num_allocs - blocks;
    st.virtual_memory_size = atomic_load_explicit(&heap->a_committed, memory_order_relaxed);
    st.peak_virtual_memory_size = atomic_load_explicit(&heap->a_peak_committed, memory_order_relaxed);
    st.cached_bytes = t->empty_cached_bytes;
    st.num_heaps = 1;
    keel__unlock(&heap->lock);
    return st;
}

/* The blocks of a page that are free (its lists, after a collection), as
   a bitmap of block indexes. */
#define VISIT_BITS (((size_t)1 << KEEL_SMALL_PAGE_SHIFT) / KEEL_ALIGN)
static void mark_list(const keel_page* page, const keel_block* b, uint64_t* bits) {
    uint32_t n;
    for (n = 0; b && n <= page->capacity; b = keel__link_get(b), n++) {
        size_t i = (size_t)((const uint8_t*)b - page->start) / page->block_size;
        bits[i / 64] |= (uint64_t)1 << (i % 64);
    }
}

bool keel_heap_visit(keel_heap* heap, keel_block_visitor visit, void* user_data) {
    keel_theap* t;
    keel_segment* seg;
    bool go = true;
    int k;
    if (!heap || !visit) {
        errno = EINVAL;
        return false;
    }
    keel__lock(&heap->lock);
    t = &heap->theap;
    keel__heap_collect_all(t, false);   /* blocks freed before the call are on the lists now */
    FOR_EACH_SEGMENT(t, seg, k) {
        uint32_t i;
        for (i = 0; go && i < seg->page_count; i++) {
            keel_page* pg = &seg->pages[i];
            uint64_t bits[VISIT_BITS / 64];
            uint32_t b;
            if (!pg->in_use || pg->block_size == 0 || keel__page_used(pg) == 0) continue;
            memset(bits, 0, sizeof bits);
            mark_list(pg, pg->free, bits);
            mark_list(pg, pg->local_free, bits);
            for (b = 0; go && b < pg->capacity; b++) {
                uint8_t* block = pg->start + (size_t)b * pg->block_size;
                size_t bytes = pg->block_size;
                if (bits[b / 64] & ((uint64_t)1 << (b % 64))) continue;
#if KEEL_HARDENED
                /* the program's bytes; a block in the quarantine is free */
                if ((bytes = keel__harden_block_bytes(block, bytes)) == 0) continue;
#endif
                go = visit(block, bytes, user_data);
            }
        }
        if (!go) break;
    }
    if (go) {
        keel__lock(&heap->large_lock);
        for (seg = heap->large; go && seg; seg = seg->heap_next)
            go = visit((uint8_t*)seg + seg->large_offset, keel__large_usable(seg), user_data);
        keel__unlock(&heap->large_lock);
    }
    keel__unlock(&heap->lock);
    return go;
}

/* ---- the rest of keel: fork, validate, trim ---- */

void keel__first_class_fork_prepare(void) {
    keel_heap* heap;
    keel__lock(&heaps_lock);
    for (heap = heaps; heap; heap = heap->next) {
        keel__lock(&heap->lock);
        keel__lock(&heap->large_lock);
        keel__lock(&heap->region.lock);   /* a large block's free gives chunks back under it alone */
    }
}

void keel__first_class_fork_parent(void) {
    keel_heap* heap;
    for (heap = heaps; heap; heap = heap->next) {
        keel__unlock(&heap->region.lock);
        keel__unlock(&heap->large_lock);
        keel__unlock(&heap->lock);
    }
    keel__unlock(&heaps_lock);
}

/* In the child every heap stays usable: no thread was inside one at the
   fork (the prepare handler held every lock). */
void keel__first_class_fork_child(void) {
    keel_heap* heap;
    for (heap = heaps; heap; heap = heap->next) {
        keel__lock_reset(&heap->region.lock);
        keel__lock_reset(&heap->large_lock);
        keel__lock_reset(&heap->lock);
    }
    keel__lock_reset(&heaps_lock);
}

/* For validate.c: the first heap of the list (caller holds the list lock). */
keel_heap* keel__first_class_first(void) { return heaps; }

/* keel_trim: every heap's empty pages go back. */
void keel__first_class_trim(void) {
    keel_heap* heap;
    keel__lock(&heaps_lock);
    for (heap = heaps; heap; heap = heap->next) {
        keel__lock(&heap->lock);
#if KEEL_HARDENED
        keel__harden_quarantine_flush(&heap->theap);
#endif
        keel__heap_collect_all(&heap->theap, true);
        (void)keel__segment_purge_heap(&heap->theap, true);
        keel__unlock(&heap->lock);
    }
    keel__unlock(&heaps_lock);
}
