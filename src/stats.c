/* stats.c — keel_get_stats. Live bytes are not counted on the fast paths;
   they are derived when asked:
     live = sum over pages in use of used * block_size   (owners' view)
          - bytes freed into other threads' pages        (counted by the freer)
          + bytes collected from thread_free lists       (counted by the owner)
          - interior offsets of live aligned blocks
   Each term is exact at any moment no thread is allocating, so the sum is
   what DESIGN.md asks: exact whenever no other thread is allocating. */
#include "internal.h"

#include <string.h>

static _Atomic(size_t) a_committed;           /* held committed, bookkeeping included */
static _Atomic(size_t) a_peak_committed;
static _Atomic(size_t) a_reserved;
static _Atomic(size_t) a_cached;
/* counters of retired heaps and of threads that have no heap */
static _Atomic(size_t) a_allocs;
static _Atomic(size_t) a_remote_bytes, a_remote_blocks, a_collected_bytes, a_collected_blocks, a_aligned_offset;

/* Relaxed read-modify-writes: sums, ordering nothing; these run on slow
   paths only (commit, decommit, reset, release). */
void keel__stat_committed(ptrdiff_t delta) {
    size_t now = atomic_fetch_add_explicit(&a_committed, (size_t)delta, memory_order_relaxed) + (size_t)delta;
    size_t peak = atomic_load_explicit(&a_peak_committed, memory_order_relaxed);
    while (delta > 0 && now > peak &&
           !atomic_compare_exchange_weak_explicit(&a_peak_committed, &peak, now, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

size_t keel__stat_committed_now(void) { return atomic_load_explicit(&a_committed, memory_order_relaxed); }

void keel__stat_reserved(ptrdiff_t delta) {
    atomic_fetch_add_explicit(&a_reserved, (size_t)delta, memory_order_relaxed);
}

void keel__stat_cached(ptrdiff_t delta) {
    atomic_fetch_add_explicit(&a_cached, (size_t)delta, memory_order_relaxed);
}

void keel__stat_remote_free(keel_heap* heap, size_t bytes) {
    if (heap != &keel__heap_empty) {
        keel__counter_add(&heap->a_remote_freed_bytes, bytes);
        keel__counter_add(&heap->a_remote_freed_blocks, 1);
    } else {
        atomic_fetch_add_explicit(&a_remote_bytes, bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&a_remote_blocks, 1, memory_order_relaxed);
    }
}

void keel__stat_collected_global(size_t blocks, size_t bytes) {
    atomic_fetch_add_explicit(&a_collected_blocks, blocks, memory_order_relaxed);
    atomic_fetch_add_explicit(&a_collected_bytes, bytes, memory_order_relaxed);
}

void keel__stat_aligned_offset_global(size_t delta) {
    atomic_fetch_add_explicit(&a_aligned_offset, delta, memory_order_relaxed);
}

/* Caller holds the registry lock; the heap is leaving it. */
void keel__stat_fold_heap(keel_heap* heap) {
    atomic_fetch_add_explicit(&a_allocs, atomic_load_explicit(&heap->a_allocs, memory_order_relaxed), memory_order_relaxed);
    atomic_fetch_add_explicit(&a_remote_bytes, atomic_load_explicit(&heap->a_remote_freed_bytes, memory_order_relaxed), memory_order_relaxed);
    atomic_fetch_add_explicit(&a_remote_blocks, atomic_load_explicit(&heap->a_remote_freed_blocks, memory_order_relaxed), memory_order_relaxed);
    atomic_fetch_add_explicit(&a_collected_bytes, atomic_load_explicit(&heap->a_collected_bytes, memory_order_relaxed), memory_order_relaxed);
    atomic_fetch_add_explicit(&a_collected_blocks, atomic_load_explicit(&heap->a_collected_blocks, memory_order_relaxed), memory_order_relaxed);
    atomic_fetch_add_explicit(&a_aligned_offset, atomic_load_explicit(&heap->a_aligned_offset_bytes, memory_order_relaxed), memory_order_relaxed);
}

keel_stats keel_get_stats(void) {
    keel_stats st;
    keel_segment* seg;
    keel_heap* h;
    size_t page_bytes = 0, page_blocks = 0;
    size_t remote_bytes, remote_blocks, collected_bytes, collected_blocks, offsets, allocs;
    memset(&st, 0, sizeof st);
    /* registry first, then segments: the order fork_prepare takes them in */
    keel__registry_lock();
    remote_bytes = atomic_load_explicit(&a_remote_bytes, memory_order_relaxed);
    remote_blocks = atomic_load_explicit(&a_remote_blocks, memory_order_relaxed);
    collected_bytes = atomic_load_explicit(&a_collected_bytes, memory_order_relaxed);
    collected_blocks = atomic_load_explicit(&a_collected_blocks, memory_order_relaxed);
    offsets = atomic_load_explicit(&a_aligned_offset, memory_order_relaxed);
    allocs = atomic_load_explicit(&a_allocs, memory_order_relaxed);
    for (h = keel__registry; h; h = h->reg_next) {
        remote_bytes += atomic_load_explicit(&h->a_remote_freed_bytes, memory_order_relaxed);
        remote_blocks += atomic_load_explicit(&h->a_remote_freed_blocks, memory_order_relaxed);
        collected_bytes += atomic_load_explicit(&h->a_collected_bytes, memory_order_relaxed);
        collected_blocks += atomic_load_explicit(&h->a_collected_blocks, memory_order_relaxed);
        offsets += atomic_load_explicit(&h->a_aligned_offset_bytes, memory_order_relaxed);
        allocs += atomic_load_explicit(&h->a_allocs, memory_order_relaxed);
        st.num_heaps++;
    }
    keel__segments_lock();
    /* only atomics of other threads' segments are read: exact when no
       thread is allocating, free of data races always */
    for (seg = keel__segments; seg; seg = seg->all_next) {
        uint32_t i, n = atomic_load_explicit(&seg->a_stat_pages, memory_order_relaxed);
        st.num_segments++;
        for (i = 0; i < n; i++) {
            const keel_page* pg = &seg->pages[i];
            size_t used = keel__page_used(pg);
            page_blocks += used;
            page_bytes += used * atomic_load_explicit(&pg->a_stat_block_size, memory_order_relaxed);
        }
    }
    keel__segments_unlock();
    keel__registry_unlock();
    st.num_bytes_allocated = page_bytes - remote_bytes + collected_bytes - offsets;
    st.num_live_blocks = page_blocks - remote_blocks + collected_blocks;
    st.num_allocs = allocs;
    st.num_frees = allocs - st.num_live_blocks;
    st.virtual_memory_size = atomic_load_explicit(&a_committed, memory_order_relaxed);
    st.peak_virtual_memory_size = atomic_load_explicit(&a_peak_committed, memory_order_relaxed);
    st.reserved_bytes = atomic_load_explicit(&a_reserved, memory_order_relaxed);
    st.cached_bytes = atomic_load_explicit(&a_cached, memory_order_relaxed);
    return st;
}
