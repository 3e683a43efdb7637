/* reclaim.c — memory keel holds while it is empty, given back on demand:
   keel_trim, and the out-of-memory policy (give back what is cached and
   retry, then ask the user's handler). The caches themselves belong to
   their layers (a heap's empty page slots and the segment cache: segment.c;
   spans of freed large blocks: large.c; segments of exited threads:
   heap.c); this is the one place that empties them all. Entry points:
   keel_trim, keel__oom_retry, keel_set_out_of_memory_handler,
   keel_set_limit and keel_heap_set_limit (the caps themselves are charged
   in counters.c). */
#include "harden.h"
#include "internal.h"
#include "options.h"
#include "page_queue.h"

#include <errno.h>

static keel_lock oom_lock = KEEL_LOCK_INIT;
static keel_oom_handler oom_handler;
static void* oom_user_data;

void keel_set_out_of_memory_handler(keel_oom_handler handler, void* user_data) {
    keel__lock(&oom_lock);
    oom_handler = handler;
    oom_user_data = user_data;
    keel__unlock(&oom_lock);
}

/* Gives back what keel holds cached: the calling thread's empty committed
   page slots, the slots every thread heap offered the purge thread, the
   segment cache and the large cache, whose reservations are unmapped
   (decommitting does not help under ulimit -v). */
static void give_back_cached(keel_theap* heap) {
#if KEEL_HARDENED
    if (heap != &keel__heap_empty) keel__harden_quarantine_flush(heap);   /* its blocks first */
#endif
    if (heap != &keel__heap_empty) (void)keel__segment_purge_heap(heap, true);
    (void)keel__segment_offers_age(true);   /* every thread's offered slots */
    (void)keel__segment_flush_caches();
    (void)keel__large_cache_flush(true);
}

/* The purge thread's pass (purge.c): every cache shared between threads
   gives back what it has held longer than purge_delay, and the slots
   thread heaps offered (segment.c) are reset. The thread heaps' own empty
   slots, up to heap_empty_cache, are their threads' to give back. */
size_t keel__purge_pass(void) {
    return keel__large_cache_age() + keel__segment_cache_age() + keel__abandoned_age() + keel__segment_offers_age(false);
}

/* Called after attempt number `attempt` (0-based) failed for lack of
   memory: true means try again. The first retry follows a flush of the
   caches; later ones are the handler's to grant, each after another flush. */
bool keel__oom_retry(keel_theap* heap, size_t size, unsigned attempt) {
    keel_oom_handler handler;
    void* user_data;
    if (attempt == 0) {
        give_back_cached(heap);
        return true;
    }
    keel__lock(&oom_lock);
    handler = oom_handler;
    user_data = oom_user_data;
    keel__unlock(&oom_lock);
    /* called outside keel's locks, but for a first-class heap's own: the
       handler may free anything, and must not allocate from that heap */
    if (!handler || !handler(size, user_data)) return false;
    give_back_cached(heap);
    return true;
}

/* The cap must leave room for what keel holds once its caches are empty:
   a cap below that could only be met by freeing live blocks. */
bool keel_set_limit(size_t max_bytes) {
    if (max_bytes != 0) {
        (void)keel_trim();
        if (max_bytes < keel__stat_committed_now()) {
            errno = EINVAL;
            return false;
        }
    }
    return keel_option_set("limit", (long long)max_bytes);
}

/* keel_heap_set_limit: a first-class heap's cap (heap_first.c charges it).
   The cap applies from now on; what the heap holds must fit under it once
   its empty pages are given back (a cap below that could only be met by
   freeing live blocks). */
bool keel_heap_set_limit(keel_heap* heap, size_t max_bytes) {
    bool ok = true;
    if (!heap) return keel_set_limit(max_bytes);
    keel__lock(&heap->lock);
    if (max_bytes != 0) {
#if KEEL_HARDENED
        keel__harden_quarantine_flush(&heap->theap);
#endif
        keel__heap_collect_all(&heap->theap, true);
        (void)keel__segment_purge_heap(&heap->theap, true);
        ok = max_bytes >= atomic_load_explicit(&heap->a_committed, memory_order_relaxed);
    }
    if (ok) atomic_store_explicit(&heap->a_limit, max_bytes, memory_order_relaxed);
    keel__unlock(&heap->lock);
    keel__purge_start_due();
    if (!ok) errno = EINVAL;
    return ok;
}

size_t keel_trim(void) {
    keel_theap* heap = keel__heap_get();
    size_t before = keel__stat_committed_now(), after;
    int saved = errno;
    if (heap) {
#if KEEL_HARDENED
        keel__harden_quarantine_flush(heap);
#endif
        while (keel__heap_adopt_abandoned(heap)) {}
        keel__heap_collect_all(heap, true);
    }
    give_back_cached(heap ? heap : &keel__heap_empty);
    keel__first_class_trim();
    keel__purge_start_due();   /* what the OS refused stays cached, to age */
    after = keel__stat_committed_now();
    errno = saved;
    return before > after ? before - after : 0;
}
