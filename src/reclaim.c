/* reclaim.c — memory keel holds while it is empty, given back on demand:
   keel_trim, and the out-of-memory policy (give back what is cached and
   retry, then ask the user's handler). The caches themselves belong to
   their layers (a heap's empty page slots and the segment cache: segment.c;
   spans of freed large blocks: large.c; segments of exited threads:
   heap.c); this is the one place that empties them all. Entry points:
   keel_trim, keel__oom_retry, keel_set_out_of_memory_handler, and
   keel_set_limit (the cap itself is charged in counters.c). */
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
   page slots, the segment cache and the large cache, whose reservations are
   unmapped (decommitting does not help under ulimit -v). */
static void give_back_cached(keel_theap* heap) {
    if (heap != &keel__heap_empty) (void)keel__segment_purge_heap(heap, true);
    (void)keel__segment_flush_caches();
    (void)keel__large_cache_flush(true);
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

size_t keel_trim(void) {
    keel_theap* heap = keel__heap_get();
    size_t before = keel__stat_committed_now(), after;
    int saved = errno;
    if (heap) {
        while (keel__heap_adopt_abandoned(heap)) {}
        keel__heap_collect_all(heap, true);
    }
    give_back_cached(heap ? heap : &keel__heap_empty);
    keel__first_class_trim();
    after = keel__stat_committed_now();
    errno = saved;
    return before > after ? before - after : 0;
}
