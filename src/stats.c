/* stats.c — keel_get_stats. Live bytes are not counted on
   the fast paths; they are derived when asked:
     live = sum over pages in use of used * block_size   (owners' view)
          - bytes freed into other threads' pages        (counted by the freer)
          + bytes collected from thread_free lists       (counted by the owner)
          - interior offsets of live aligned blocks
   Each term is exact at any moment no thread is allocating, so the sum is
   what DESIGN.md asks: exact whenever no other thread is allocating. */
#include "internal.h"
#include "segment_map.h"

#include <string.h>

keel_stats keel_get_stats(void) {
    keel_stats st;
    keel_segment* seg;
    keel_heap* h;
    keel_counters c;
    size_t page_bytes = 0, page_blocks = 0;
    memset(&st, 0, sizeof st);
    /* registry first, then segments: the order fork_prepare takes them in */
    keel__registry_lock();
    keel__counters_read(&c);   /* under the registry lock: no heap folds into them meanwhile */
    for (h = keel__registry; h; h = h->reg_next) {
        c.remote_bytes += atomic_load_explicit(&h->a_remote_freed_bytes, memory_order_relaxed);
        c.remote_blocks += atomic_load_explicit(&h->a_remote_freed_blocks, memory_order_relaxed);
        c.collected_bytes += atomic_load_explicit(&h->a_collected_bytes, memory_order_relaxed);
        c.collected_blocks += atomic_load_explicit(&h->a_collected_blocks, memory_order_relaxed);
        c.aligned_offset += atomic_load_explicit(&h->a_aligned_offset_bytes, memory_order_relaxed);
        c.allocs += atomic_load_explicit(&h->a_allocs, memory_order_relaxed);
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
    st.num_bytes_allocated = page_bytes - c.remote_bytes + c.collected_bytes - c.aligned_offset;
    st.num_live_blocks = page_blocks - c.remote_blocks + c.collected_blocks;
    st.num_allocs = c.allocs;
    st.num_frees = c.allocs - st.num_live_blocks;
    st.virtual_memory_size = c.committed;
    st.peak_virtual_memory_size = c.peak_committed;
    st.reserved_bytes = c.reserved;
    st.cached_bytes = c.cached;
    return st;
}
