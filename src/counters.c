/* counters.c — the process-wide counters behind keel_get_stats: memory
   held committed (and its peak), reserved and cached, moved by every layer
   that commits, reserves or caches; and the counters of retired heaps and
   of threads that have no heap. A leaf: it calls nothing. */
#include "internal.h"

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

void keel__counters_read(keel_counters* c) {
    c->committed = atomic_load_explicit(&a_committed, memory_order_relaxed);
    c->peak_committed = atomic_load_explicit(&a_peak_committed, memory_order_relaxed);
    c->reserved = atomic_load_explicit(&a_reserved, memory_order_relaxed);
    c->cached = atomic_load_explicit(&a_cached, memory_order_relaxed);
    c->allocs = atomic_load_explicit(&a_allocs, memory_order_relaxed);
    c->remote_bytes = atomic_load_explicit(&a_remote_bytes, memory_order_relaxed);
    c->remote_blocks = atomic_load_explicit(&a_remote_blocks, memory_order_relaxed);
    c->collected_bytes = atomic_load_explicit(&a_collected_bytes, memory_order_relaxed);
    c->collected_blocks = atomic_load_explicit(&a_collected_blocks, memory_order_relaxed);
    c->aligned_offset = atomic_load_explicit(&a_aligned_offset, memory_order_relaxed);
}
