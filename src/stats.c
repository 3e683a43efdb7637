/* stats.c — keel_get_stats, and the walk behind it that keel_stats_print's
   table and the override's mallinfo2/malloc_info share. Live bytes are not
   counted on the fast paths; they are derived when asked:
     live = sum over pages in use of used * block_size   (owners' view)
          - bytes freed into other threads' pages        (counted by the freer)
          + bytes collected from thread_free lists       (counted by the owner)
          - interior offsets of live aligned blocks
          - bytes that are not the program's in the hardened build: canaries,
            and blocks in quarantines (freed for the program)
   Each term is exact at any moment no thread is allocating, so the sum is
   what DESIGN.md asks: exact whenever no other thread is allocating.
   Every reading also feeds the sampled peak of live bytes (counters.c). */
#include "guarded.h"
#include "internal.h"
#include "options.h"
#include "segment_map.h"

#include <string.h>

/* Bytes of page slot i of a small/medium segment cut into n pages: what
   segment_init_pages gives it, from the segment's geometry only (the
   slot_size field is the owner's to write; header_size is fixed while the
   segment is registered). */
static size_t stats_slot_bytes(uint32_t i, uint32_t n, size_t header) {
    size_t lo, hi;
    keel__slot_bounds(i, KEEL_SEGMENT_SIZE / n, header, &lo, &hi);
    return hi - lo;
}

/* One page of the walk into its class's row; reads only the page's atomics
   (n is the segment's page count; large: a large segment's one block). */
static void stats_count_class(keel_class_usage* classes, uint32_t i, uint32_t n, bool large, size_t used,
                              size_t bsize, size_t header) {
    keel_class_usage* u;
    if (bsize == 0) return;   /* not in use, or the header's */
    if (large) {
        u = &classes[0];
        u->committed += bsize;
    } else {
        if (bsize > KEEL_BIG_MAX || n == 0) return;   /* a torn read of a segment being re-cut */
        u = &classes[keel__class_of(bsize)];
        u->committed += stats_slot_bytes(i, n, header);
    }
    u->pages++;
    u->blocks += used;
    u->bytes += used * bsize;
}

/* The walk; wait: false when a lock is busy (the walk is skipped, *out
   untouched), for the allocation path's sample, which must never wait: it
   can run in another library's fork-child handler before keel's has freed
   the locks its fork-prepare handler took. */
static bool stats_walk(keel_class_usage* classes, bool wait, keel_stats* out) {
    keel_stats st;
    keel_segment* seg;
    keel_theap* h;
    keel_counters c;
    size_t page_bytes = 0, page_blocks = 0;
    memset(&st, 0, sizeof st);
    /* first-class heaps, registry, then segments: the order fork_prepare
       takes them in */
    if (wait) {
        keel__first_class_list_lock();
        keel__registry_lock();
    } else if (!keel__first_class_list_lock_try()) {
        return false;
    } else if (!keel__registry_lock_try()) {
        keel__first_class_list_unlock();
        return false;
    }
    /* under both locks: no heap folds into them meanwhile */
    keel__counters_read(&c);
    keel__first_class_counters_locked(&c);
    for (h = keel__registry; h; h = h->reg_next) {
        keel__theap_counters_add(h, &c);
        st.num_heaps++;
    }
    if (wait) {
        keel__segments_lock();
    } else if (!keel__segments_lock_try()) {
        keel__registry_unlock();
        keel__first_class_list_unlock();
        return false;
    }
    /* only atomics of other threads' segments are read: exact when no
       thread is allocating, free of data races always */
    for (seg = keel__segments; seg; seg = seg->all_next) {
        uint32_t i, n = atomic_load_explicit(&seg->a_stat_pages, memory_order_relaxed);
        bool large = (n & KEEL_STAT_LARGE) != 0;
        n &= ~KEEL_STAT_LARGE;
        st.num_segments++;
        for (i = 0; i < n; i++) {
            const keel_page* pg = &seg->pages[i];
            size_t used = keel__page_used(pg);
            size_t bsize = atomic_load_explicit(&pg->a_stat_block_size, memory_order_relaxed);
            page_blocks += used;
            page_bytes += used * bsize;
            if (classes) stats_count_class(classes, i, n, large, used, bsize, seg->header_size);
        }
    }
    keel__segments_unlock();
    keel__registry_unlock();
    keel__first_class_list_unlock();
    {   /* guarded blocks (guarded.h) are in no page */
        size_t blocks, bytes;
        keel__guarded_live(&blocks, &bytes);
        page_blocks += blocks;
        page_bytes += bytes;
    }
    /* while threads allocate, the counters and the pages are read at
       different moments: a sum that would be negative reads as 0 */
    {
        size_t plus = page_bytes + c.collected_bytes, minus = c.remote_bytes + c.aligned_offset + c.hidden_bytes;
        st.num_bytes_allocated = plus > minus ? plus - minus : 0;
        plus = page_blocks + c.collected_blocks;
        minus = c.remote_blocks + c.quarantined_blocks;
        st.num_live_blocks = plus > minus ? plus - minus : 0;
    }
    st.num_allocs = c.allocs;
    st.num_frees = c.allocs - st.num_live_blocks;
    st.virtual_memory_size = c.committed;
    st.peak_virtual_memory_size = c.peak_committed;
    st.reserved_bytes = c.reserved;
    st.cached_bytes = c.cached;
    keel__stat_live_seen(st.num_bytes_allocated);
    *out = st;
    return true;
}

keel_stats keel__stats_read(keel_class_usage* classes) {
    keel_stats st;
    (void)stats_walk(classes, true, &st);
    return st;
}

keel_stats keel_get_stats(void) { return keel__stats_read(NULL); }

/* Called after the slow path obtained a fresh page or a large block. A
   sample that finds a lock busy is skipped: the next growth asks again. */
void keel__stats_sample(void) {
    keel_stats st;
    if (keel__stat_sample_take()) (void)stats_walk(NULL, false, &st);
}

#if defined(__GNUC__)
/* KEEL_SHOW_STATS=1: keel_stats_print's report at exit, in the override and
   in programs linked with libkeel. Here rather than in stats_print.c: a
   static link takes an archive member only when something references it,
   and every program that allocates references this one (keel__stats_sample,
   from alloc.c). A destructor of a preloaded library runs in _dl_fini,
   after the program's atexit handlers, so the numbers include their frees;
   nothing is torn down, so later frees keep working. */
__attribute__((destructor)) static void stats_at_exit(void) {
    if (keel__option(KEEL_OPT_SHOW_STATS)) keel__stats_report(NULL, NULL, "stats at exit");
}
#endif
