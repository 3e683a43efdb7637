/* heap.c — thread heaps: created on a thread's first allocation, handed
   over when the thread exits (its segments become "abandoned" and the next
   thread that needs a page adopts them); in a forked child, other threads'
   segments are left alone (fork_child).
   Entry points: keel__heap_get, keel__heap_adopt_abandoned. */
#include "guarded.h"
#include "harden.h"
#include "internal.h"
#include "options.h"
#include "page_queue.h"
#include "profile.h"
#include "segment_map.h"

#include <errno.h>
#include <string.h>

keel_theap* keel__registry;                      /* live heaps                  */
static keel_theap* heap_pool;                    /* retired heap structs        */
static keel_theap* heap_chunk_next;              /* never used ones of the last chunk */
static size_t heap_chunk_left;
static keel_lock registry_lock = KEEL_LOCK_INIT;
static keel_segment* abandoned;                  /* segments of exited threads  */
static _Atomic(size_t) a_abandoned_count;        /* peeked without the lock     */
static size_t abandoned_empty;                   /* their committed empty slots (abandoned lock) */
static keel_lock abandoned_lock = KEEL_LOCK_INIT;
static atomic_flag init_started = ATOMIC_FLAG_INIT;
static _Atomic(int) a_init_done;

void keel__registry_lock(void) { keel__lock(&registry_lock); }
void keel__registry_unlock(void) { keel__unlock(&registry_lock); }
bool keel__registry_lock_try(void) { return keel__lock_try(&registry_lock); }

/* ---- process set-up and fork ---- */

static void heap_thread_exit(void* value);

static void fork_prepare(void) {
    keel__first_class_fork_prepare();   /* the list, then each heap's locks */
    keel__lock(&registry_lock);
    keel__lock(&abandoned_lock);
    keel__large_lock();
    keel__guarded_lock();   /* before the segments lock: it registers the pool under it */
    keel__segments_lock();
    keel__profile_lock();   /* a leaf: its holder takes no other lock */
}

static void fork_parent(void) {
    keel__profile_unlock();
    keel__segments_unlock();
    keel__guarded_unlock();
    keel__large_unlock();
    keel__unlock(&abandoned_lock);
    keel__unlock(&registry_lock);
    keel__first_class_fork_parent();
}

/* Keeps the segment's empty committed slots warm for the next thread while
   all abandoned segments together hold little such memory; else gives them
   back. Caller holds the abandoned lock. */
static void abandoned_push_locked(keel_segment* seg) {
    seg->cached_at = keel__os_now_ms();   /* its empty slots age from now (the purge thread) */
    seg->empty_committed = keel__segment_empty_committed(seg);
    if (abandoned_empty + seg->empty_committed > keel__cache_budget(KEEL_OPT_ABANDONED_EMPTY_MAX)) {
        (void)keel__segment_purge_slots(seg);
        seg->empty_committed = keel__segment_empty_committed(seg);
    }
    abandoned_empty += seg->empty_committed;
    seg->heap_prev = NULL;
    seg->heap_next = abandoned;
    if (abandoned) abandoned->heap_prev = seg;
    abandoned = seg;
    atomic_fetch_add_explicit(&a_abandoned_count, 1, memory_order_relaxed);
}

/* A heap leaves the registry for the pool; its counters fold into the
   process-wide ones. Caller holds the registry lock. */
static void registry_retire_locked(keel_theap* h) {
    keel__stat_fold_heap(h);
    if (h->reg_prev) h->reg_prev->reg_next = h->reg_next;
    else keel__registry = h->reg_next;
    if (h->reg_next) h->reg_next->reg_prev = h->reg_prev;
    h->reg_next = heap_pool;
    heap_pool = h;
}

/* In the child only the forking thread lives on. Every other thread heap
   is retired, and its segments are left alone for good: their owners ran
   without a lock and may have stopped anywhere in a page update (a run of
   blocks linked but not yet counted as carved, a link without its check
   word, a block popped but not counted), so no page of theirs is trusted
   to hand out a block. They are taken off their heaps (a_heap NULL, their
   offers to the purge thread withdrawn) and never adopted: the child's
   frees into them go to their pages' other-thread lists, which no one
   collects. What they hold stays shared with the parent, copy-on-write,
   and costs the child no memory of its own; their address space is the
   child's for its life. The segment list, the abandoned list and the
   caches were consistent at the fork (their locks were held). */
static void fork_child(void) {
    keel_theap* me = keel__tls_heap;
    keel_segment* seg;
    keel_theap* h;
    keel_theap* next;
    keel__profile_child_reset();
    keel__purge_child_reset();
    keel__segments_child_reset();
    keel__large_child_reset();
    keel__guarded_child_reset();
    keel__lock_reset(&abandoned_lock);
    keel__lock_reset(&registry_lock);
    keel__first_class_fork_child();
    for (seg = keel__segments; seg; seg = seg->all_next) {
        keel_theap* owner = atomic_load_explicit(&seg->a_heap, memory_order_relaxed);
        /* first-class heaps' stay theirs: those live on in the child */
        if (seg->kind == KEEL_SEGMENT_LARGE || owner == NULL || owner == me || seg->first_class) continue;
        atomic_store_explicit(&seg->a_heap, NULL, memory_order_relaxed);
        seg->heap_next = seg->heap_prev = NULL;   /* its heap's list is gone with it */
        keel__segment_reclaim_offers(NULL, seg);   /* none is PURGING: the segments lock was held */
    }
    for (h = keel__registry; h; h = next) {
        next = h->reg_next;
        if (h != me) registry_retire_locked(h);
    }
}

void keel__process_init(void) {
    if (atomic_load_explicit(&a_init_done, memory_order_acquire)) return;
    if (!atomic_flag_test_and_set_explicit(&init_started, memory_order_acq_rel)) {
        keel__options_init();
        keel__os_init(heap_thread_exit, fork_prepare, fork_parent, fork_child);
        keel__purge_register(keel__purge_pass);
        atomic_store_explicit(&a_init_done, 1, memory_order_release);
        return;
    }
    while (!atomic_load_explicit(&a_init_done, memory_order_acquire)) keel__os_yield();
}

#if defined(__GNUC__)
/* Before main (and before the constructors of a program linked with keel or
   of the libraries loaded after the override): the fork handlers must be
   registered before any the program registers. glibc runs prepare handlers
   in reverse registration order and child handlers in order, so keel's
   prepare then runs last and its child handler first, and a program's own
   handlers may allocate: they never meet a lock keel's prepare took. Getting
   the thread's heap first (not keel__process_init alone) keeps this safe if
   the set-up allocates. */
__attribute__((constructor(101))) static void heap_at_start(void) { (void)keel__heap_get(); }
#endif

/* ---- creating and retiring heaps ---- */

/* A heap struct from the pool, else the next never-used one of the last
   chunk, else from a new chunk of the OS's memory. A chunk's structs are
   handed out in order and touched only then: a process with a thread or
   two keeps one struct's pages resident (7.5 KiB), not a list link in each
   of the chunk's eight (RssAnon of a one-thread program 192 -> 160 KiB). */
static keel_theap* heap_struct_alloc(void) {
    keel_theap* h;
    keel__lock(&registry_lock);
    h = heap_pool;
    if (h) {
        heap_pool = h->reg_next;
    } else if (heap_chunk_left) {
        h = heap_chunk_next++;
        heap_chunk_left--;
    }
    keel__unlock(&registry_lock);
    if (!h) {
        size_t chunk = (size_t)64 << 10, n = chunk / sizeof(keel_theap);
        keel_theap* block;
        if (!keel__commit_charge(chunk)) return NULL;
        block = (keel_theap*)vmem_alloc(chunk);
        if (!block) {
            keel__stat_committed(-(ptrdiff_t)chunk);
            return NULL;
        }
        keel__stat_reserved((ptrdiff_t)chunk);
        keel__lock(&registry_lock);
        if (heap_chunk_left == 0) {   /* else another thread's chunk came first: this one's rest waits */
            heap_chunk_next = &block[1];
            heap_chunk_left = n - 1;
        } else {
            size_t i;
            for (i = 1; i < n; i++) {
                block[i].reg_next = heap_pool;
                heap_pool = &block[i];
            }
        }
        keel__unlock(&registry_lock);
        h = &block[0];
    }
    return h;
}

keel_theap* keel__heap_get(void) {
    keel_theap* h = keel__tls_heap;
    size_t i;
    if (h != &keel__heap_empty) return h;
    h = heap_struct_alloc();
    if (!h) return NULL;
    memset(h, 0, sizeof *h);
    for (i = 0; i < KEEL_DIRECT_COUNT; i++) h->direct[i] = &keel__page_empty;
    keel__lock(&registry_lock);
    h->reg_prev = NULL;
    h->reg_next = keel__registry;
    if (keel__registry) keel__registry->reg_prev = h;
    keel__registry = h;
    keel__unlock(&registry_lock);
    keel__stat_heap_created();
    keel__tls_heap = h;
    /* only now: the set-up below may allocate (pthread_atfork, and
       pthread_setspecific of a high key), which must find this heap */
    keel__process_init();
    keel__os_thread_exit_arm(h);
    return h;
}

/* The thread is exiting: give back what is empty, abandon the rest. */
static void heap_retire(keel_theap* heap) {
    int k;
    bool warm = false;
    keel__heap_collect_all(heap, true);
    (void)keel__segment_purge_heap(heap, false);   /* down to the heap's bound */
    for (k = 0; k < KEEL_PAGE_KINDS; k++) {
        keel_segment_list* list = &heap->segments[k];
        while (list->first) {
            keel_segment* seg = list->first;
            keel__segment_reclaim_offers(heap, seg);   /* no offers in abandoned segments */
            keel__heap_drop_segment(heap, seg);
            /* relaxed: the abandoned lock below orders the hand-over */
            atomic_store_explicit(&seg->a_heap, NULL, memory_order_relaxed);
            keel__lock(&abandoned_lock);
            abandoned_push_locked(seg);
            warm |= seg->empty_committed != 0;
            keel__unlock(&abandoned_lock);
        }
    }
    if (warm) keel__purge_wake();   /* its empty slots age: the purge thread gives them back */
    keel__lock(&registry_lock);
    registry_retire_locked(heap);
    keel__unlock(&registry_lock);
}

static void heap_thread_exit(void* value) {
    keel_theap* heap = (keel_theap*)value;
    int saved = errno;
    if (heap != keel__tls_heap || heap == &keel__heap_empty) return;
#if KEEL_HARDENED
    keel__harden_quarantine_flush(heap);   /* while the blocks can still be freed as their owner's */
#endif
    keel__tls_heap = &keel__heap_empty;   /* later frees and allocations still work */
    heap_retire(heap);
    keel__purge_start_due();   /* its segments wait, abandoned or cached */
    errno = saved;
}

/* ---- adopting abandoned segments ---- */

static keel_segment* abandoned_pop(void) {
    keel_segment* seg;
    if (atomic_load_explicit(&a_abandoned_count, memory_order_relaxed) == 0) return NULL;
    keel__lock(&abandoned_lock);
    seg = abandoned;
    if (seg) {
        abandoned = seg->heap_next;
        if (abandoned) abandoned->heap_prev = NULL;
        seg->heap_next = seg->heap_prev = NULL;
        abandoned_empty -= seg->empty_committed;
        atomic_fetch_sub_explicit(&a_abandoned_count, 1, memory_order_relaxed);
    }
    keel__unlock(&abandoned_lock);
    return seg;
}

/* Makes one abandoned segment the heap's: its pages join the heap's queues
   (the abandoning heap's queue links are stale and rebuilt here), empty ones
   are given back. false when there was none. */
bool keel__heap_adopt_abandoned(keel_theap* heap) {
    keel_segment* seg = abandoned_pop();
    uint32_t i;
    if (!seg) return false;
    /* relaxed: taking the abandoned lock ordered us after the abandoner */
    atomic_store_explicit(&seg->a_heap, heap, memory_order_relaxed);
    keel__heap_take_segment(heap, seg);
    heap->empty_cached_bytes += seg->empty_committed;   /* its warm slots join our budget */
    seg->empty_committed = 0;
    for (i = 0; i < seg->page_count; i++) {
        keel_page* page = &seg->pages[i];
        size_t cls;
        if (!page->in_use || page->block_size == 0) continue;
        cls = page->class_index;
        page->next = page->prev = NULL;
        (void)keel__page_collect(heap, page);
        if (keel__page_used(page) == 0) {
            page->in_full = 0;
            if (keel__segment_page_free(heap, page)) break;   /* that was its last page */
            continue;
        }
        if (keel__page_sample_only(page)) {   /* the heap profile's: into our sample_pages */
            page->in_full = 0;
            keel__queue_push_back(&heap->sample_pages[cls], page);
        } else if (page->free || page->local_free || page->capacity < page->reserved) {
            page->in_full = 0;
            keel__queue_push_back(&heap->queues[cls], page);
            keel__heap_direct_update(heap, cls);
        } else {
            page->in_full = 1;
            keel__queue_push_back(&heap->full[cls], page);
        }
    }
    (void)keel__segment_purge_heap(heap, false);
    return true;
}

/* ---- for validate ---- */

void keel__abandoned_lock(void) { keel__lock(&abandoned_lock); }
void keel__abandoned_unlock(void) { keel__unlock(&abandoned_lock); }
keel_segment* keel__abandoned_first(void) { return abandoned; }
size_t keel__abandoned_empty_bytes(void) { return abandoned_empty; }

/* The purge thread's share (reclaim.c): the empty slots of segments
   abandoned longer than purge_delay ago are decommitted; returns the
   committed empty bytes left in the abandoned segments. */
size_t keel__abandoned_age(void) {
    uint64_t now = keel__os_now_ms();
    long long delay = keel__option(KEEL_OPT_PURGE_DELAY);
    keel_segment* seg;
    size_t left;
    keel__lock(&abandoned_lock);
    for (seg = abandoned; seg; seg = seg->heap_next) {
        if (seg->empty_committed == 0 || !keel__cache_expired(seg->cached_at, now, delay)) continue;
        abandoned_empty -= seg->empty_committed;
        (void)keel__segment_purge_slots(seg);
        seg->empty_committed = keel__segment_empty_committed(seg);
        abandoned_empty += seg->empty_committed;
    }
    left = abandoned_empty;
    keel__unlock(&abandoned_lock);
    return left;
}
