/* counters.c — the process-wide counters behind keel_get_stats: memory
   held committed (and its peak), reserved and cached, moved by every layer
   that commits, reserves or caches; the counters of retired heaps and of
   threads that have no heap; the sampled peak of live bytes, the heaps ever
   created and the start time for keel_stats_print. A leaf: it calls
   nothing but the OS seam's clock. */
#include "internal.h"
#include "options.h"

static _Atomic(size_t) a_committed;           /* held committed, bookkeeping included */
static _Atomic(size_t) a_peak_committed;
static _Atomic(size_t) a_reserved;
static _Atomic(size_t) a_cached;
/* counters of retired heaps and of threads that have no heap */
static _Atomic(size_t) a_allocs;
static _Atomic(size_t) a_remote_bytes, a_remote_blocks, a_collected_bytes, a_collected_blocks, a_aligned_offset;
static _Atomic(size_t) a_hidden;   /* hardened build: retired heaps' and heapless threads' hidden bytes */
/* The peak of live bytes is sampled, not tracked: live bytes are not
   counted on the fast paths (stats.c). Every reading of them raises
   a_peak_live; between readings, a_sample_due asks the allocation slow path
   for one (keel__stats_sample) each time committed memory grows 1/8 past
   its value at the last reading. */
static _Atomic(size_t) a_peak_live;
static _Atomic(size_t) a_sample_base;         /* committed at the last reading        */
static _Atomic(int) a_sample_due;
static _Atomic(size_t) a_heaps_created;
static _Atomic(uint64_t) a_start_ms;          /* keel__os_now_ms() at start-up; 0 unset */

/* Committed memory grew to now: a sample of live bytes is due once it is
   1/8 past its value at the last reading. */
static void sample_check(size_t now) {
    size_t base = atomic_load_explicit(&a_sample_base, memory_order_relaxed);
    if (now > base + base / 8) atomic_store_explicit(&a_sample_due, 1, memory_order_relaxed);
}

/* Raises a peak to now if now is above it. */
static void peak_raise(_Atomic(size_t)* peak_at, size_t now) {
    size_t peak = atomic_load_explicit(peak_at, memory_order_relaxed);
    while (now > peak &&
           !atomic_compare_exchange_weak_explicit(peak_at, &peak, now, memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* Relaxed read-modify-writes: sums, ordering nothing; these run on slow
   paths only (commit, decommit, reset, release). */
void keel__stat_committed(ptrdiff_t delta) {
    size_t now = atomic_fetch_add_explicit(&a_committed, (size_t)delta, memory_order_relaxed) + (size_t)delta;
    if (delta > 0) {
        peak_raise(&a_peak_committed, now);
        sample_check(now);
    }
}

/* Charges n bytes about to be committed, against the limit (option limit,
   KEEL_LIMIT, keel_set_limit; 0: none): false, and nothing charged, when
   they would take what keel holds committed past it. The caller commits
   after a successful charge and gives the charge back if the OS refuses. */
bool keel__commit_charge(size_t n) {
    size_t limit = keel__option_size(KEEL_OPT_LIMIT);
    size_t now;
    if (limit == 0) {
        keel__stat_committed((ptrdiff_t)n);
        return true;
    }
    now = atomic_load_explicit(&a_committed, memory_order_relaxed);
    do {
        if (n > limit || now > limit - n) return false;
    } while (!atomic_compare_exchange_weak_explicit(&a_committed, &now, now + n, memory_order_relaxed,
                                                    memory_order_relaxed));
    now += n;
    peak_raise(&a_peak_committed, now);
    sample_check(now);
    return true;
}

size_t keel__stat_committed_now(void) { return atomic_load_explicit(&a_committed, memory_order_relaxed); }

void keel__stat_reserved(ptrdiff_t delta) {
    atomic_fetch_add_explicit(&a_reserved, (size_t)delta, memory_order_relaxed);
}

size_t keel__stat_cached_now(void) { return atomic_load_explicit(&a_cached, memory_order_relaxed); }

void keel__stat_cached(ptrdiff_t delta) {
    atomic_fetch_add_explicit(&a_cached, (size_t)delta, memory_order_relaxed);
}

void keel__stat_remote_free_global(size_t bytes) {
    atomic_fetch_add_explicit(&a_remote_bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&a_remote_blocks, 1, memory_order_relaxed);
}

void keel__stat_collected_global(size_t blocks, size_t bytes) {
    atomic_fetch_add_explicit(&a_collected_blocks, blocks, memory_order_relaxed);
    atomic_fetch_add_explicit(&a_collected_bytes, bytes, memory_order_relaxed);
}

void keel__stat_aligned_offset_global(size_t delta) {
    atomic_fetch_add_explicit(&a_aligned_offset, delta, memory_order_relaxed);
}

void keel__stat_hidden_global(size_t delta) { atomic_fetch_add_explicit(&a_hidden, delta, memory_order_relaxed); }

/* Caller holds the registry lock; the heap is leaving it. */
void keel__stat_fold_heap(keel_theap* heap) {
    atomic_fetch_add_explicit(&a_allocs, atomic_load_explicit(&heap->a_allocs, memory_order_relaxed), memory_order_relaxed);
    atomic_fetch_add_explicit(&a_remote_bytes, atomic_load_explicit(&heap->a_remote_freed_bytes, memory_order_relaxed), memory_order_relaxed);
    atomic_fetch_add_explicit(&a_remote_blocks, atomic_load_explicit(&heap->a_remote_freed_blocks, memory_order_relaxed), memory_order_relaxed);
    atomic_fetch_add_explicit(&a_collected_bytes, atomic_load_explicit(&heap->a_collected_bytes, memory_order_relaxed), memory_order_relaxed);
    atomic_fetch_add_explicit(&a_collected_blocks, atomic_load_explicit(&heap->a_collected_blocks, memory_order_relaxed), memory_order_relaxed);
    atomic_fetch_add_explicit(&a_aligned_offset, atomic_load_explicit(&heap->a_aligned_offset_bytes, memory_order_relaxed), memory_order_relaxed);
#if KEEL_HARDENED
    /* its quarantine is empty (a thread heap's was emptied at its exit; a
       first-class heap's blocks went with it, and keel_heap_destroy zeroed
       its hidden bytes) */
    atomic_fetch_add_explicit(&a_hidden, atomic_load_explicit(&heap->a_hidden_bytes, memory_order_relaxed), memory_order_relaxed);
#endif
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
    c->hidden_bytes = atomic_load_explicit(&a_hidden, memory_order_relaxed);
    c->quarantined_blocks = 0;   /* a retired heap's quarantine was emptied */
}

void keel__theap_counters_add(const keel_theap* t, keel_counters* c) {
    c->remote_bytes += atomic_load_explicit(&t->a_remote_freed_bytes, memory_order_relaxed);
    c->remote_blocks += atomic_load_explicit(&t->a_remote_freed_blocks, memory_order_relaxed);
    c->collected_bytes += atomic_load_explicit(&t->a_collected_bytes, memory_order_relaxed);
    c->collected_blocks += atomic_load_explicit(&t->a_collected_blocks, memory_order_relaxed);
    c->aligned_offset += atomic_load_explicit(&t->a_aligned_offset_bytes, memory_order_relaxed);
    c->allocs += atomic_load_explicit(&t->a_allocs, memory_order_relaxed);
#if KEEL_HARDENED
    c->hidden_bytes += atomic_load_explicit(&t->a_hidden_bytes, memory_order_relaxed);
    c->quarantined_blocks += atomic_load_explicit(&t->a_quarantined_blocks, memory_order_relaxed);
#endif
}

/* ---- for keel_stats_print: the sampled peak of live bytes, heaps, time ---- */

/* A reading of live bytes: raises the peak and starts a new sampling
   interval. Relaxed: a maximum and a hint, ordering nothing. */
void keel__stat_live_seen(size_t live) {
    size_t peak = atomic_load_explicit(&a_peak_live, memory_order_relaxed);
    while (live > peak && !atomic_compare_exchange_weak_explicit(&a_peak_live, &peak, live, memory_order_relaxed,
                                                                 memory_order_relaxed)) {
    }
    atomic_store_explicit(&a_sample_base, atomic_load_explicit(&a_committed, memory_order_relaxed),
                          memory_order_relaxed);
}

size_t keel__stat_peak_live(void) { return atomic_load_explicit(&a_peak_live, memory_order_relaxed); }

/* true once per due sample: the caller takes it. */
bool keel__stat_sample_take(void) {
    return atomic_load_explicit(&a_sample_due, memory_order_relaxed) != 0 &&
           atomic_exchange_explicit(&a_sample_due, 0, memory_order_relaxed) != 0;
}

void keel__stat_heap_created(void) { atomic_fetch_add_explicit(&a_heaps_created, 1, memory_order_relaxed); }

size_t keel__stat_heaps_created(void) { return atomic_load_explicit(&a_heaps_created, memory_order_relaxed); }

/* Once, at start-up (options init); later calls change nothing. */
void keel__stat_mark_start(void) {
    uint64_t unset = 0;
    (void)atomic_compare_exchange_strong_explicit(&a_start_ms, &unset, keel__os_now_ms(), memory_order_relaxed,
                                                  memory_order_relaxed);
}

uint64_t keel__stat_elapsed_ms(void) {
    uint64_t start = atomic_load_explicit(&a_start_ms, memory_order_relaxed);
    uint64_t now = keel__os_now_ms();
    return start != 0 && now > start ? now - start : 0;
}

bool keel__first_class_charge(keel_heap* heap, size_t n) {
    size_t limit = atomic_load_explicit(&heap->a_limit, memory_order_relaxed);
    size_t now = atomic_load_explicit(&heap->a_committed, memory_order_relaxed);
    do {
        if (limit != 0 && (n > limit || now > limit - n)) return false;
    } while (!atomic_compare_exchange_weak_explicit(&heap->a_committed, &now, now + n, memory_order_relaxed,
                                                    memory_order_relaxed));
    peak_raise(&heap->a_peak_committed, now + n);
    return true;
}

bool keel__commit_charge_in(const keel_segment* seg, size_t n) {
    keel_heap* heap = keel__first_class_of(seg);
    if (heap && !keel__first_class_charge(heap, n)) return false;
    if (keel__commit_charge(n)) return true;
    if (heap) keel__first_class_committed(heap, -(ptrdiff_t)n);
    return false;
}

void keel__commit_uncharge_in(const keel_segment* seg, size_t n) {
    keel__stat_committed(-(ptrdiff_t)n);
    keel__segment_committed_owner(seg, -(ptrdiff_t)n);
}

/* A first-class heap's committed memory and its peak (relaxed sums, as
   above; its segments' layers move it, see keel__segment_committed_owner). */
void keel__first_class_committed(keel_heap* heap, ptrdiff_t delta) {
    size_t now = atomic_fetch_add_explicit(&heap->a_committed, (size_t)delta, memory_order_relaxed) + (size_t)delta;
    if (delta > 0) peak_raise(&heap->a_peak_committed, now);
}
