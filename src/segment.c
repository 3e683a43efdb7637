/* segment.c — segments: 4 MiB-aligned reservations cut into pages (64 KiB
   small ones, 512 KiB medium ones, or one big page of the whole segment); page
   slots handed to thread heaps; the cache of empty segments. Entry points:
   keel__segment_page_alloc, keel__segment_page_free. */
#include "annotate.h"
#include "internal.h"
#include "options.h"
#include "segment_map.h"

#include <string.h>

static keel_segment* segment_cache;                /* empty segments                      */
static size_t segment_cache_count;
static size_t segment_cache_committed;             /* their page memory still committed   */

/* Header of small and medium segments: the same size for both kinds, so a
   cached segment can come back as either. */
static size_t segment_header_size(void) {
    size_t bytes = sizeof(keel_segment) + KEEL_MAX_PAGES * sizeof(keel_page);
    size_t page = vmem_get_page_size();
    return (bytes + page - 1) & ~(page - 1);
}
size_t keel__segment_header_bytes(void) { return segment_header_size(); }   /* stats: page slot sizes */

/* Zeroes a page descriptor; its atomics with atomic stores, since
   keel_get_stats may be reading them. */
static void page_clear(keel_page* pg) {
    pg->free = pg->local_free = NULL;
    keel__page_used_set(pg, 0);
    atomic_store_explicit(&pg->a_stat_block_size, 0, memory_order_relaxed);
    atomic_store_explicit(&pg->a_thread_free, 0, memory_order_relaxed);
    pg->block_size = 0;
    pg->start = NULL;
    pg->capacity = pg->reserved = 0;
    pg->block_area = 0;
    pg->block_magic = 0;
    pg->free_flags = 0;
    keel__page_remote_sync(pg);
    pg->class_index = pg->free_is_zero = 0;
    pg->slot_state = KEEL_SLOT_DECOMMITTED;
    pg->in_use = 0;
    pg->next = pg->prev = NULL;
    pg->slot_size = 0;
    atomic_store_explicit(&pg->a_offer, KEEL_OFFER_NONE, memory_order_relaxed);
    pg->link_key = 0;   /* hardened: nothing known of the slot's bytes (keel__page_note_empty) */
}

/* Lays out the pages of a small or medium segment. A segment from the cache
   keeps what it knows about its slots' memory only if its kind is the same
   (same geometry); the cache holds such segments only with every slot
   decommitted, unless a decommit failed. */
static void segment_init_pages(keel_segment* seg, keel_segment_kind kind) {
    size_t page_size, i, slot_min;
    seg->kind = (uint32_t)kind;
    seg->page_shift = kind == KEEL_SEGMENT_SMALL    ? KEEL_SMALL_PAGE_SHIFT
                      : kind == KEEL_SEGMENT_MEDIUM ? KEEL_MEDIUM_PAGE_SHIFT
                                                    : KEEL_BIG_PAGE_SHIFT;
    seg->page_count = (uint32_t)(KEEL_SEGMENT_SIZE >> seg->page_shift);
    /* a slot the header leaves smaller than the kind's biggest block serves
       none (a small slot also serves the medium classes up to
       KEEL_SMALL_SLOT_CLASS_MAX: alloc.c; at 48 KiB the 44 KiB that the
       header leaves of a small segment's first slot held no block of them) */
    slot_min = kind == KEEL_SEGMENT_SMALL    ? (KEEL_SMALL_SLOT_CLASS_MAX > KEEL_SMALL_MAX ? KEEL_SMALL_SLOT_CLASS_MAX : KEEL_SMALL_MAX)
               : kind == KEEL_SEGMENT_MEDIUM ? KEEL_MEDIUM_MAX
                                             : KEEL_BIG_MAX;
    atomic_store_explicit(&seg->a_stat_pages, seg->page_count, memory_order_relaxed);
    seg->used_pages = 0;
    page_size = (size_t)1 << seg->page_shift;
    for (i = 0; i < seg->page_count; i++) {
        keel_page* pg = &seg->pages[i];
        uint8_t state = pg->slot_state;
        size_t lo, hi;
        page_clear(pg);
        /* a cached slot may have been written before its segment was cached */
        pg->slot_state = state == KEEL_SLOT_FRESH ? KEEL_SLOT_DIRTY : state;
        keel__slot_bounds(i, page_size, seg->header_size, &lo, &hi);
        pg->start = (uint8_t*)seg + lo;
        pg->slot_size = hi - lo;
        if (pg->slot_size < slot_min) {   /* eaten by the header (64 KiB OS pages) */
            pg->slot_size = 0;
            pg->in_use = 1;
            seg->used_pages++;
        }
    }
}

static bool segment_decommit_slots(keel_segment* seg);

/* Takes a cached segment, of the same kind if there is one (its warm
   slots keep their meaning); NULL when the cache is empty. Caller holds
   segments_lock. */
static keel_segment* cache_take_locked(keel_segment_kind kind) {
    keel_segment** link;
    keel_segment** any = NULL;
    keel_segment* seg;
    for (link = &segment_cache; *link; link = &(*link)->heap_next) {
        if ((*link)->kind == (uint32_t)kind) break;
        if (!any) any = link;
    }
    if (!*link) link = any;
    if (!link) return NULL;
    seg = *link;
    *link = seg->heap_next;
    segment_cache_count--;
    segment_cache_committed -= seg->empty_committed;
    return seg;
}

/* Commits a new segment's header at seg (its address space reserved:
   `reserved` bytes), lays out its pages and registers it; false, nothing
   kept committed, when the OS refuses or the limit is reached. */
static bool segment_lay_out(keel_segment* seg, size_t header, size_t reserved, keel_segment_kind kind) {
    if (!keel__commit_charge(header)) return false;
    if (!vmem_commit(seg, header)) {
        keel__stat_committed(-(ptrdiff_t)header);
        return false;
    }
    seg->reserved = reserved;
    seg->header_size = header;
    seg->cookie = KEEL_SEGMENT_COOKIE;
    atomic_store_explicit(&seg->a_offers, 0, memory_order_relaxed);   /* not registered yet: no reader */
    segment_init_pages(seg, kind);
    if (!keel__segment_register(seg)) {
        (void)vmem_decommit(seg, header);
        keel__stat_committed(-(ptrdiff_t)header);
        return false;
    }
    keel__ann_header_hide(seg, header);
    return true;
}

/* A region's segment goes: every slot and the header decommitted, the
   chunk back to the region. */
static void region_segment_release(keel_segment* seg, keel_region* region) {
    size_t header = seg->header_size;
    if (!segment_decommit_slots(seg)) keel__fatal("the OS refused to decommit a region's segment");
    keel__segment_unregister(seg);
    keel__ann_header_show(seg, header);
    if (!vmem_decommit(seg, header)) keel__fatal("the OS refused to decommit a region's segment");
    keel__stat_committed(-(ptrdiff_t)header);
    if (region) keel__region_give(region, seg, 1);
}

bool keel__segment_home_init(keel_segment* seg, size_t header) {
    return segment_lay_out(seg, header, KEEL_SEGMENT_SIZE, KEEL_SEGMENT_SMALL);
}

/* The home segment of a destroyed heap in a region, its pages discarded:
   the heap inside its header goes with it, so this is the last step. */
void keel__segment_home_release(keel_segment* seg) { region_segment_release(seg, NULL); }

/* ---- new segments' address space, in batches ----
   Where a part of a reservation can be released on its own (POSIX; not
   Windows, which releases only whole reservations) and address space is
   plentiful (64-bit, no ulimit -v), new segments are reserved in batches,
   side by side, and handed out in address order: 4 at first (16 MiB), each
   batch twice the last, up to KEEL_SEGMENT_BATCH. Neighbours whose memory is all committed (big pages commit their
   whole slot) make one mapping between them: a process holding 50,000
   big blocks has hundreds of mappings, not one or two per block (the
   kernel's limit is 65,530). The batch's unused segments are reserved
   address space only: counted as reserved, released by
   keel__segment_flush_caches (keel_trim, out of memory); a segment's own
   release unmaps just its part. */
#if defined(_WIN32) || UINTPTR_MAX <= 0xFFFFFFFFu
#define KEEL_SEGMENT_BATCH 1
#else
#define KEEL_SEGMENT_BATCH 64   /* 256 MiB */
#endif
static uint8_t* batch_next;       /* the next unused segment of the batch */
static size_t batch_left;         /* segments left in it                  */
static size_t batch_size = 4;     /* segments in the next batch           */

/* The address space of a new segment (counted as reserved); NULL when the
   OS refuses. */
static keel_segment* segment_reserve(void) {
    keel_segment* seg = NULL;
    if (KEEL_SEGMENT_BATCH > 1) {
        keel__segments_lock();
        if (batch_left == 0 && !keel__os_address_space_limited()) {
            uint8_t* p = (uint8_t*)vmem_reserve_aligned(batch_size * KEEL_SEGMENT_SIZE, KEEL_SEGMENT_SIZE);
            if (p) {
                batch_next = p;
                batch_left = batch_size;
                keel__stat_reserved((ptrdiff_t)(batch_size * KEEL_SEGMENT_SIZE));
                if (batch_size < KEEL_SEGMENT_BATCH) batch_size *= 2;
            }
        }
        if (batch_left) {
            seg = (keel_segment*)batch_next;
            batch_next += KEEL_SEGMENT_SIZE;
            batch_left--;
        }
        keel__segments_unlock();
        if (seg) return seg;
    }
    seg = (keel_segment*)vmem_reserve_aligned(KEEL_SEGMENT_SIZE, KEEL_SEGMENT_SIZE);
    if (seg) keel__stat_reserved((ptrdiff_t)KEEL_SEGMENT_SIZE);
    return seg;
}

/* Releases the batch's unused segments; returns the bytes released. */
static size_t batch_release(void) {
    uint8_t* p;
    size_t n;
    keel__segments_lock();
    p = batch_next;
    n = batch_left;
    batch_next = NULL;
    batch_left = 0;
    keel__segments_unlock();
    if (n == 0) return 0;
    if (!vmem_release(p, n * KEEL_SEGMENT_SIZE)) keel__fatal("the OS refused to release unused segments");
    keel__stat_reserved(-(ptrdiff_t)(n * KEEL_SEGMENT_SIZE));
    return n * KEEL_SEGMENT_SIZE;
}

/* A fresh or cached small/medium segment owned by heap (a chunk of its
   region for a heap in one); NULL when the OS refuses. */
keel_segment* keel__segment_new(keel_theap* heap, keel_segment_kind kind) {
    keel_segment* seg;
    size_t header = segment_header_size();
    keel_region* region = keel__theap_region(heap);
    size_t warm;
    if (region) {
        seg = (keel_segment*)keel__region_take(region, 1, KEEL_SEGMENT_SIZE);
        if (!seg) return NULL;
        if (!segment_lay_out(seg, header, KEEL_SEGMENT_SIZE, kind)) {
            keel__region_give(region, seg, 1);
            return NULL;
        }
        goto owned;
    }
    keel__segments_lock();
    seg = cache_take_locked(kind);
    if (seg) keel__stat_cached(-(ptrdiff_t)header);
    keel__segments_unlock();
    if (seg && seg->kind != (uint32_t)kind) {
        /* another geometry: what is committed cannot be carried over */
        uint32_t i;
        (void)segment_decommit_slots(seg);
        for (i = 0; i < seg->page_count; i++)
            if (seg->pages[i].slot_state != KEEL_SLOT_DECOMMITTED)
                keel__fatal("cannot re-cut a segment whose pages stay committed");
    }
    if (!seg) {
        seg = segment_reserve();
        if (!seg) return NULL;
        if (!segment_lay_out(seg, header, KEEL_SEGMENT_SIZE, kind)) {
            if (vmem_release(seg, KEEL_SEGMENT_SIZE)) keel__stat_reserved(-(ptrdiff_t)KEEL_SEGMENT_SIZE);
            return NULL;
        }
    } else {
        segment_init_pages(seg, kind);
    }
owned:
    seg->heap_next = seg->heap_prev = NULL;
    /* slots kept committed (warm): a first-class heap takes them and the
       header into its committed memory, within its limit (else the segment
       goes back); they join the heap's budget of empty memory */
    warm = keel__segment_empty_committed(seg);
    if (heap->first_class && !keel__first_class_charge(heap->first_class, header + warm)) {
        if (region) region_segment_release(seg, region);
        else keel__segment_free(seg);
        return NULL;
    }
    heap->empty_cached_bytes += warm;
    /* relaxed: only this thread compares a_heap with its own heap */
    atomic_store_explicit(&seg->a_heap, heap, memory_order_relaxed);
    seg->first_class = heap->first_class != NULL;
    return seg;
}

/* Decommits every committed empty slot of a segment, in runs. Returns true
   when none is left committed. */
static bool segment_decommit_slots(keel_segment* seg) {
    size_t i = 0;
    bool all = true;
    while (i < seg->page_count) {
        size_t j = i, bytes;
        keel_page* first = &seg->pages[i];
        while (j < seg->page_count && seg->pages[j].slot_state != KEEL_SLOT_DECOMMITTED && !seg->pages[j].in_use) j++;
        if (j == i) { i++; continue; }
        /* one call for the run, from its first slot to its last one's end
           (the hardened build's guards between them were never committed) */
        bytes = (size_t)(seg->pages[j - 1].start + seg->pages[j - 1].slot_size - first->start);
        keel__ann_returned(first->start, bytes);
        if (vmem_decommit(first->start, bytes)) {
            size_t k;
            for (k = i; k < j; k++) {
                keel_page* pg = &seg->pages[k];
                if (keel__slot_holds_memory(pg->slot_state)) {
                    keel__stat_committed(-(ptrdiff_t)pg->slot_size);
                    keel__stat_cached(-(ptrdiff_t)pg->slot_size);
                }
                pg->slot_state = KEEL_SLOT_DECOMMITTED;
            }
        } else {
            all = false;
        }
        i = j;
    }
    return all;
}

/* Releases an empty segment to the OS; false (nothing changed but some
   slots decommitted) when the OS refused to decommit. */
static bool segment_release(keel_segment* seg) {
    size_t header = seg->header_size, reserved = seg->reserved;
    if (!segment_decommit_slots(seg)) return false;
    keel__segment_unregister(seg);
    if (!vmem_decommit(seg, header)) {   /* the header is still readable: undo */
        if (!keel__segment_register(seg)) keel__fatal("cannot re-register a segment");
        return false;
    }
    keel__ann_header_show(seg, header);
    if (!vmem_release(seg, reserved)) keel__fatal("the OS refused to release a segment");
    keel__stat_committed(-(ptrdiff_t)header);
    keel__stat_reserved(-(ptrdiff_t)KEEL_SEGMENT_SIZE);
    return true;
}

/* The cache's bounds. While the purge thread runs (busy), emptied
   segments also wait there past segment_cache_count and _bytes, up to 16
   and 32 times those (64 segments, 256 MiB warm by default): the purge
   thread gives back what waited longer than purge_delay, down to the
   plain bounds (keel__segment_cache_age). So a program that frees
   everything and builds it again within the delay finds its memory warm. */
#define CACHE_BUSY_COUNT 16
#define CACHE_BUSY_BYTES 32
static size_t cache_count_max(bool busy) {
    return keel__option_size(KEEL_OPT_SEGMENT_CACHE_COUNT) * (busy ? CACHE_BUSY_COUNT : 1);
}
static size_t cache_bytes_max(bool busy) {
    return keel__cache_budget(KEEL_OPT_SEGMENT_CACHE_BYTES) * (busy ? CACHE_BUSY_BYTES : 1);
}

static void cache_push(keel_segment* seg) {
    bool warm = seg->empty_committed != 0;
    seg->cached_at = keel__os_now_ms();
    keel__segments_lock();
    seg->heap_next = segment_cache;
    segment_cache = seg;
    segment_cache_count++;
    segment_cache_committed += seg->empty_committed;
    keel__stat_cached((ptrdiff_t)seg->header_size);
    keel__segments_unlock();
    if (warm) keel__purge_wake();   /* its warm slots age: the purge thread decommits them */
}

/* The purge thread's share (reclaim.c): the warm slots of segments cached
   longer than purge_delay are decommitted; returns the committed bytes of
   empty slots left in the cache. */
size_t keel__segment_cache_age(void) {
    uint64_t now = keel__os_now_ms();
    long long delay = keel__option(KEEL_OPT_PURGE_DELAY);
    keel_segment* seg;
    keel_segment** link;
    keel_segment* to_release = NULL;
    size_t left, count_max = cache_count_max(false);
    keel__segments_lock();
    for (seg = segment_cache; seg; seg = seg->heap_next) {
        if (seg->empty_committed == 0 || !keel__cache_expired(seg->cached_at, now, delay)) continue;
        segment_cache_committed -= seg->empty_committed;
        (void)segment_decommit_slots(seg);
        seg->empty_committed = keel__segment_empty_committed(seg);
        segment_cache_committed += seg->empty_committed;
    }
    /* past the plain count bound (a busy time's): the aged ones go */
    for (link = &segment_cache; *link && segment_cache_count > count_max;) {
        seg = *link;
        if (!keel__cache_expired(seg->cached_at, now, delay)) {
            link = &seg->heap_next;
            continue;
        }
        *link = seg->heap_next;
        segment_cache_count--;
        segment_cache_committed -= seg->empty_committed;
        keel__stat_cached(-(ptrdiff_t)seg->header_size);
        seg->heap_next = to_release;
        to_release = seg;
    }
    left = segment_cache_committed;
    if (segment_cache_count > count_max)   /* still to age: the purge thread goes on */
        left += (segment_cache_count - count_max) * segment_header_size();
    keel__segments_unlock();
    while (to_release) {   /* outside the lock: release takes it */
        seg = to_release;
        to_release = seg->heap_next;
        if (!segment_release(seg)) {   /* the OS refused: back to the cache */
            seg->empty_committed = keel__segment_empty_committed(seg);
            cache_push(seg);
        }
    }
    return left;
}

/* An empty small/medium segment: to the cache (slots decommitted, header
   kept) while there is room, else back to the OS. */
void keel__segment_free(keel_segment* seg) {
    bool room, warm, busy;
    size_t empty = keel__segment_empty_committed(seg);
    keel_region* region = keel__region_of(seg);
    if (seg->first_class) {   /* no longer its heap's */
        keel__segment_committed_owner(seg, -(ptrdiff_t)(seg->header_size + empty));
        seg->first_class = 0;
    }
    atomic_store_explicit(&seg->a_heap, NULL, memory_order_relaxed);
    if (region) {   /* back to the region, never to the cache */
        region_segment_release(seg, region);
        return;
    }
    busy = keel__purge_running();   /* cache_push wakes it, at the end */
    keel__segments_lock();
    room = segment_cache_count < cache_count_max(busy);
    warm = room && segment_cache_committed + empty <= cache_bytes_max(busy);
    keel__segments_unlock();
    if (!warm) (void)segment_decommit_slots(seg);
    seg->empty_committed = keel__segment_empty_committed(seg);
    if (room || !segment_release(seg)) cache_push(seg);
}

/* Releases every cached segment (unmapping it: what helps under ulimit -v). */
size_t keel__segment_flush_caches(void) {
    keel_segment* list;
    keel_segment* keep = NULL;
    size_t given = 0;
    keel__segments_lock();
    list = segment_cache;
    segment_cache = NULL;
    segment_cache_count = 0;
    segment_cache_committed = 0;
    keel__segments_unlock();
    while (list) {
        keel_segment* next = list->heap_next;
        size_t header = list->header_size;
        keel__stat_cached(-(ptrdiff_t)header);
        if (segment_release(list)) {
            given += header;
        } else {
            list->empty_committed = keel__segment_empty_committed(list);
            keel__stat_cached((ptrdiff_t)header);
            list->heap_next = keep;
            keep = list;
        }
        list = next;
    }
    while (keep) {
        keel_segment* next = keep->heap_next;
        cache_push(keep);
        keep = next;
    }
    return given + batch_release();
}

/* For validate: the cached segments (caller holds the segments lock). */
keel_segment* keel__segment_cache_first(void) { return segment_cache; }

/* For validate: the cache's count and committed bytes are what its
   segments add up to (caller holds the segments lock). */
bool keel__segment_cache_counts_agree(void) {
    keel_segment* seg;
    size_t n = 0, committed = 0;
    for (seg = segment_cache; seg; seg = seg->heap_next) {
        n++;
        committed += seg->empty_committed;
    }
    return n == segment_cache_count && committed == segment_cache_committed;
}

/* ---- a heap's segments: lists per kind, segments with free slots first ---- */

static keel_segment_list* heap_list(keel_theap* heap, keel_segment_kind kind) {
    return &heap->segments[kind];
}

static void heap_list_push_front(keel_segment_list* list, keel_segment* seg) {
    seg->heap_prev = NULL;
    seg->heap_next = list->first;
    if (list->first) list->first->heap_prev = seg;
    else list->last = seg;
    list->first = seg;
}

static void heap_list_remove(keel_segment_list* list, keel_segment* seg) {
    if (seg->heap_prev) seg->heap_prev->heap_next = seg->heap_next;
    else list->first = seg->heap_next;
    if (seg->heap_next) seg->heap_next->heap_prev = seg->heap_prev;
    else list->last = seg->heap_prev;
    seg->heap_next = seg->heap_prev = NULL;
}

static void heap_list_push_back(keel_segment_list* list, keel_segment* seg) {
    seg->heap_next = NULL;
    seg->heap_prev = list->last;
    if (list->last) list->last->heap_next = seg;
    else list->first = seg;
    list->last = seg;
}

/* Puts an adopted segment into the heap's list of its kind. */
void keel__heap_take_segment(keel_theap* heap, keel_segment* seg) {
    keel_segment_list* list = heap_list(heap, (keel_segment_kind)seg->kind);
    if (seg->used_pages < seg->page_count) heap_list_push_front(list, seg);
    else heap_list_push_back(list, seg);
}

/* Whether no page of the segment is in use but those its header ate
   (64 KiB OS pages), which segment_init_pages counts as in use. */
static bool segment_is_empty(const keel_segment* seg) {
    uint32_t header_pages = 0;
    while (header_pages < seg->page_count && seg->pages[header_pages].slot_size == 0) header_pages++;
    return seg->used_pages == header_pages;
}

/* ---- offered slots ----
   A thread heap keeps up to heap_empty_cache of its emptied page slots
   committed for its own reuse. Past that, while the purge thread runs
   (purge.c), an emptied slot is offered rather than reset at once: it
   stays committed, out of its heap's count, marked OPEN with the time
   (keel_page.a_offer). Then either
   - the owner needs a slot and takes it back (OPEN -> NONE): warm memory,
     no system call, no page fault (a program that frees and allocates
     again within purge_delay, as a batch job does each round), or
   - the purge thread, purge_delay after the offer and under the segments
     lock, claims it (OPEN -> PURGING), resets it (vmem_reset) and says so
     (DONE); the owner, when it next looks at the slot, makes it RESET
     (DONE -> NONE). An owner that finds it PURGING waits for DONE: one
     reset, and the thread holds no lock the owner needs.
   So memory goes back on time even from a thread that stopped calling
   keel, and a busy one does not fault its pages in again and again.
   Slot state, in_use and the heap's count stay the owner's alone; the
   purge thread reads a slot's start and size, fixed while its segment is
   registered, and changes the process's committed and cached totals.
   Every owner path that looks at empty slots reclaims offers first (a
   slot's own use, a segment that empties or leaves its heap, keel_trim);
   a first-class heap never offers (its destroy and its limit own its
   memory). */

/* Only while the thread runs: starting it here, in the middle of a page's
   free, could enter keel again (pthread_create allocates); the caller
   wakes it once the free is whole. */
static bool offers_on(const keel_theap* heap) {
    return heap->first_class == NULL && keel__purge_running();
}

/* Offers page (empty, committed, counted in heap's empty memory) of seg. */
static void slot_offer(keel_theap* heap, keel_segment* seg, keel_page* page) {
    heap->empty_cached_bytes -= page->slot_size;
    atomic_store_explicit(&page->a_offered_at, (uint32_t)keel__os_now_ms(), memory_order_relaxed);
    atomic_store_explicit(&page->a_offer, KEEL_OFFER_OPEN, memory_order_release);
    atomic_fetch_add_explicit(&seg->a_offers, 1, memory_order_release);
}

/* page is its owner's again, as an empty slot: warm and counted in heap's
   empty memory (heap NULL: a segment no heap owns), or RESET. */
static void slot_reclaim(keel_theap* heap, keel_page* page) {
    uint8_t state = KEEL_OFFER_OPEN;
    if (atomic_load_explicit(&page->a_offer, memory_order_relaxed) == KEEL_OFFER_NONE) return;
    if (atomic_compare_exchange_strong_explicit(&page->a_offer, &state, KEEL_OFFER_NONE, memory_order_acquire,
                                                memory_order_acquire)) {
        if (heap) heap->empty_cached_bytes += page->slot_size;   /* taken back warm */
    } else {
        /* the purge thread's: wait while it resets it */
        while ((state = atomic_load_explicit(&page->a_offer, memory_order_acquire)) == KEEL_OFFER_PURGING)
            keel__os_yield();
        keel__assert(state == KEEL_OFFER_DONE);
        page->slot_state = KEEL_SLOT_RESET;   /* its totals were the purge thread's to change */
        atomic_store_explicit(&page->a_offer, KEEL_OFFER_NONE, memory_order_relaxed);
    }
    atomic_fetch_sub_explicit(&keel__segment_of_page(page)->a_offers, 1, memory_order_relaxed);
}

void keel__segment_reclaim_offers(keel_theap* heap, keel_segment* seg) {
    uint32_t i;
    if (seg->kind >= KEEL_PAGE_KINDS || atomic_load_explicit(&seg->a_offers, memory_order_relaxed) == 0) return;
    for (i = 0; i < seg->page_count; i++) slot_reclaim(heap, &seg->pages[i]);
}

/* The purge thread's pass over offered slots: those offered longer than
   purge_delay (all: every one, for keel_trim and the out-of-memory policy,
   whatever thread offered it) are reset, a batch at a time under the
   segments lock (a fork waits for the batch; segments are not released
   meanwhile). Returns the bytes still offered. */
size_t keel__segment_offers_age(bool all) {
    long long delay = all ? 0 : keel__option(KEEL_OPT_PURGE_DELAY);
    size_t left;
    bool more = true;
    while (more) {
        uint32_t now = (uint32_t)keel__os_now_ms();
        unsigned done = 0;
        keel_segment* seg;
        more = false;
        left = 0;
        keel__segments_lock();
        for (seg = keel__segments; seg; seg = seg->all_next) {
            uint32_t i;
            /* no offer: nothing of the segment is read (its owner may be re-cutting it);
               one: its layout was written before it (acquire) */
            if (atomic_load_explicit(&seg->a_offers, memory_order_acquire) == 0) continue;
            for (i = 0; i < seg->page_count; i++) {
                keel_page* pg = &seg->pages[i];
                uint8_t open = KEEL_OFFER_OPEN;
                if (atomic_load_explicit(&pg->a_offer, memory_order_acquire) != KEEL_OFFER_OPEN) continue;
                if (delay < 0 ||
                    (uint32_t)(now - atomic_load_explicit(&pg->a_offered_at, memory_order_relaxed)) < (uint64_t)delay ||
                    done >= 64) {
                    left += pg->slot_size;
                    more |= done >= 64;
                    continue;
                }
                if (!atomic_compare_exchange_strong_explicit(&pg->a_offer, &open, KEEL_OFFER_PURGING,
                                                             memory_order_acquire, memory_order_relaxed))
                    continue;   /* taken back meanwhile */
                if (!vmem_reset(pg->start, pg->slot_size)) {   /* try again next pass */
                    atomic_store_explicit(&pg->a_offer, KEEL_OFFER_OPEN, memory_order_release);
                    left += pg->slot_size;
                    continue;
                }
                atomic_store_explicit(&pg->a_offer, KEEL_OFFER_DONE, memory_order_release);
                keel__stat_cached(-(ptrdiff_t)pg->slot_size);
                keel__stat_committed(-(ptrdiff_t)pg->slot_size);
                done++;
            }
        }
        keel__segments_unlock();
    }
    return left;
}

/* ---- committing ahead ----
   A heap that grows takes cold slots one after another, and committing
   each alone is a system call per 64 KiB slot (mprotect on POSIX: memret's
   1 GiB of small blocks made 17,746 of them, 60% of its system time under
   strace). So the cold slots right after the one taken, in the same
   segment and address run, are committed in the same call: as many as the
   segment has pages in use (1, 2, 4, ... as it fills), within
   KEEL_COMMIT_AHEAD bytes and heap_empty_cache, and only while the heap
   holds no empty slot at all (a heap that is growing, not one that
   empties and refills: there the slots would only push its warm ones past
   its budget). They wait as the heap's empty committed slots (FRESH: never
   written, not resident), taken before any cold slot (warm_slot), given
   back by the heap's budget and the purge thread like any emptied slot;
   where the limit has no room for them the slot is committed alone.
   Measured (strace -c -f, through the override): memret 1 1 17,746 ->
   2,648 mprotect calls, bump (bench_arena 1000000 20 malloc) 2,220 -> 282,
   larson 2 1 346 -> 77; wall time unchanged within farm-bench's noise
   (memret's phase 0.921 s median of 7 both ways, system time 0.59 ->
   0.53 s). Thread heaps only: a first-class heap's committed memory stays
   what its blocks need (its limit, its stats). */
static size_t ahead_slots(const keel_theap* heap, const keel_segment* seg, const keel_page* page) {
    size_t i, n = 0, bytes = 0, want;
    const uint8_t* end = page->start + page->slot_size;
    size_t budget;
    if (KEEL_COMMIT_AHEAD == 0 || heap->first_class || heap->empty_cached_bytes != 0) return 0;
    /* the slots that get here are the heap's empty ones: its budget bounds them */
    budget = keel__cache_budget(KEEL_OPT_HEAP_EMPTY_CACHE);
    want = seg->used_pages;
    for (i = (size_t)(page - seg->pages) + 1; i < seg->page_count && n < want; i++) {
        const keel_page* pg = &seg->pages[i];
        if (pg->in_use || pg->slot_state != KEEL_SLOT_DECOMMITTED || pg->start != end) break;
        if (bytes + pg->slot_size > KEEL_COMMIT_AHEAD || bytes + pg->slot_size > budget) break;
        bytes += pg->slot_size;
        end = pg->start + pg->slot_size;
        n++;
    }
    return n;
}

/* Commits a page slot for use, and the `ahead` cold slots after it (see
   ahead_slots) in the same call when the limit allows them; those become
   the heap's empty committed slots. false when the OS refuses the page. */
static bool page_commit(keel_theap* heap, keel_page* page, size_t ahead) {
    keel_segment* seg = keel__segment_of_page(page);
    if (page->slot_state == KEEL_SLOT_DECOMMITTED) {
        size_t extra = 0, i;
        for (i = 1; i <= ahead; i++) extra += page[i].slot_size;
        if (extra && !keel__commit_charge_in(seg, page->slot_size + extra)) ahead = extra = 0;
        if (!extra && !keel__commit_charge_in(seg, page->slot_size)) return false;
        if (!vmem_commit(page->start, page->slot_size + extra)) {
            keel__commit_uncharge_in(seg, page->slot_size + extra);
            return false;
        }
        page->slot_state = KEEL_SLOT_FRESH;
        for (i = 1; i <= ahead; i++) {
            page[i].slot_state = KEEL_SLOT_FRESH;
            heap->empty_cached_bytes += page[i].slot_size;
            keel__stat_cached((ptrdiff_t)page[i].slot_size);
        }
    } else if (page->slot_state == KEEL_SLOT_RESET) {
        if (!keel__commit_charge_in(seg, page->slot_size)) return false;
        page->slot_state = KEEL_SLOT_DIRTY;   /* may read old data */
    } else {
        return true;
    }
    keel__large_cache_yield(page->slot_size);   /* memory that came in goes out of the large cache's surplus */
    return true;
}

/* An empty slot whose memory is still committed and written (warm) in
   one of the first WARM_SCAN_SEGMENTS segments of list with a free slot
   (they come first), its segment in *seg; NULL when none is. A heap holding
   warm slots takes them before it commits a cold one, whichever of its
   segments they are in: a slot committed while warm ones wait is memory
   the process holds twice (aligned of make bench: peak RSS 16.8 -> 15.1
   MiB, one medium segment's cold slots taken while another's warm ones
   waited). Bounded: a heap that adopted many segments scans a few. */
#define WARM_SCAN_SEGMENTS 8
static keel_page* warm_slot(const keel_segment_list* list, keel_segment** seg) {
    keel_segment* s = list->first;
    unsigned n;
    for (n = 0; s && s->used_pages < s->page_count && n < WARM_SCAN_SEGMENTS; s = s->heap_next, n++) {
        uint32_t i;
        for (i = 0; i < s->page_count; i++) {
            keel_page* pg = &s->pages[i];
            if (!pg->in_use && keel__slot_holds_memory(pg->slot_state)) {
                *seg = s;
                return pg;
            }
        }
    }
    return NULL;
}

/* A free page slot from the heap's segments of this kind (a new segment if
   none has one), committed; NULL when the OS refuses. */
keel_page* keel__segment_page_alloc(keel_theap* heap, keel_segment_kind kind) {
    keel_segment_list* list = heap_list(heap, kind);
    keel_segment* seg = list->first;
    keel_page* page = NULL;
    size_t i;
    /* a warm slot first: no system call, no page fault, no new memory */
    if (heap->empty_cached_bytes != 0 && (page = warm_slot(list, &seg)) != NULL) goto take;
    if (!seg || seg->used_pages >= seg->page_count) {
        seg = keel__segment_new(heap, kind);
        if (!seg) return NULL;
        heap_list_push_front(list, seg);
    }
    /* prefer a slot that is still committed: no system call, warm memory */
    for (i = 0; i < seg->page_count; i++) {
        keel_page* pg = &seg->pages[i];
        if (pg->in_use) continue;
        if (!page) page = pg;
        if (keel__slot_holds_memory(pg->slot_state)) { page = pg; break; }
    }
    if (!page) keel__fatal("segment page count out of step with its pages");
take:
    slot_reclaim(heap, page);   /* an offered slot: back warm, or reset */
    keel__assert(!page->in_use && page->slot_size > 0);
    if (keel__slot_holds_memory(page->slot_state)) {
        heap->empty_cached_bytes -= page->slot_size;
        keel__stat_cached(-(ptrdiff_t)page->slot_size);
    } else if (!page_commit(heap, page, page->slot_state == KEEL_SLOT_DECOMMITTED ? ahead_slots(heap, seg, page) : 0)) {
        if (segment_is_empty(seg)) {
            /* a segment made for this page: give it back at once */
            heap_list_remove(list, seg);
            keel__segment_free(seg);
        }
        return NULL;
    }
    keel__assert(keel__slot_holds_memory(page->slot_state));
    page->in_use = 1;
    seg->used_pages++;
    if (seg->used_pages == seg->page_count) {   /* full: behind those with room */
        heap_list_remove(list, seg);
        heap_list_push_back(list, seg);
    }
    return page;
}

/* Resets one empty committed slot: memory back to the OS, page stays mapped. */
static size_t page_slot_purge(keel_theap* heap, keel_page* page) {
    if (page->in_use) return 0;
    slot_reclaim(heap, page);   /* an offered slot: reset here and now */
    if (!keel__slot_holds_memory(page->slot_state)) return 0;
    if (!vmem_reset(page->start, page->slot_size)) return 0;
    page->slot_state = KEEL_SLOT_RESET;
    keel__segment_committed_owner(keel__segment_of_page(page), -(ptrdiff_t)page->slot_size);
    if (heap) heap->empty_cached_bytes -= page->slot_size;
    keel__stat_cached(-(ptrdiff_t)page->slot_size);
    keel__stat_committed(-(ptrdiff_t)page->slot_size);
    return page->slot_size;
}

/* A page slot leaves its size class: not in use, no block, no list. Its
   memory stays as it is (slot_state). */
static void page_unuse(keel_page* page) {
    page->in_use = 0;
    page->block_size = 0;
    atomic_store_explicit(&page->a_stat_block_size, 0, memory_order_relaxed);
    page->class_index = 0;
    page->free = page->local_free = NULL;
    atomic_store_explicit(&page->a_thread_free, 0, memory_order_relaxed);
    keel__page_used_set(page, 0);
    page->capacity = page->reserved = 0;
    page->block_area = 0;
    page->block_magic = 0;
    page->free_flags = 0;
    keel__page_remote_sync(page);
    page->next = page->prev = NULL;
    atomic_store_explicit(&page->a_sampled[0], 0, memory_order_relaxed);
    atomic_store_explicit(&page->a_sampled[1], 0, memory_order_relaxed);
    atomic_store_explicit(&page->a_sampled_more, 0, memory_order_relaxed);
}

/* A page the heap no longer uses: keep its memory for reuse while the heap
   holds little empty memory, else give it back now; a segment left with no
   page in use goes to the segment cache (true: the segment is gone). */
bool keel__segment_page_free(keel_theap* heap, keel_page* page) {
    keel_segment* seg = keel__segment_of_page(page);
    keel_segment_list* list = heap_list(heap, (keel_segment_kind)seg->kind);
    bool was_full = seg->used_pages == seg->page_count, offered = false;
    keel__assert(page->in_use && page->slot_size > 0 && seg->used_pages > 0);
    keel__page_note_empty(page);   /* hardened: what its slot's next cut need not clear */
    page_unuse(page);
    heap->empty_cached_bytes += page->slot_size;
    keel__stat_cached((ptrdiff_t)page->slot_size);
    seg->used_pages--;
    if (heap->empty_cached_bytes > keel__cache_budget(KEEL_OPT_HEAP_EMPTY_CACHE) &&
        (!segment_is_empty(seg) || seg->first_class == KEEL_FIRST_CLASS_HOME)) {
        /* past the heap's own: the purge thread's to reset after purge_delay (taken back if needed before) */
        if (offers_on(heap)) {
            slot_offer(heap, seg, page);
            offered = true;
        } else {
            (void)page_slot_purge(heap, page);
        }
    }
    if (segment_is_empty(seg) && seg->first_class != KEEL_FIRST_CLASS_HOME) {
        size_t i;
        keel__segment_reclaim_offers(heap, seg);   /* its offered slots go with it */
        for (i = 0; i < seg->page_count; i++) {
            keel_page* pg = &seg->pages[i];
            if (!pg->in_use && keel__slot_holds_memory(pg->slot_state))
                heap->empty_cached_bytes -= pg->slot_size;   /* the segment's now */
        }
        heap_list_remove(list, seg);
        keel__segment_free(seg);
        keel__assert_expensive(keel__heap_empty_committed(heap) == heap->empty_cached_bytes);
        return true;
    }
    keel__assert_expensive(keel__heap_empty_committed(heap) == heap->empty_cached_bytes);
    if (was_full) {
        heap_list_remove(list, seg);
        heap_list_push_front(list, seg);
    }
    /* the heap whole again: a thread that was ending sees the offer (purge.c) */
    if (offered) keel__purge_wake();
    return false;
}

/* A first-class heap is destroyed (heap_first.c): every page of seg, in
   use or not, leaves it at once, no block looked at, and the segment goes
   to the cache or back to the OS as an empty one does. The heap has been
   unlinked from seg's list, and its profile samples forgotten. */
void keel__segment_discard(keel_theap* heap, keel_segment* seg) {
    uint32_t i;
    for (i = 0; i < seg->page_count; i++) {
        keel_page* pg = &seg->pages[i];
        if (pg->slot_size == 0) continue;   /* eaten by the header */
        if (!pg->in_use) {
            if (keel__slot_holds_memory(pg->slot_state)) heap->empty_cached_bytes -= pg->slot_size;
            continue;
        }
        keel__ann_unused(pg->start, pg->slot_size);
        page_unuse(pg);
        pg->link_key = 0;   /* its blocks were live: nothing known of its bytes */
        /* empty committed memory now: the segment's, counted as cached
           until keel__segment_free keeps or decommits it */
        if (keel__slot_holds_memory(pg->slot_state)) keel__stat_cached((ptrdiff_t)pg->slot_size);
        seg->used_pages--;
    }
    if (seg->first_class != KEEL_FIRST_CLASS_HOME) keel__segment_free(seg);   /* the home one: last, by the caller */
}

/* Resets every empty committed slot of the heap's segments (all), or only
   down to the cache bound. Returns bytes given back. */
size_t keel__segment_purge_heap(keel_theap* heap, bool all) {
    size_t given = 0;
    int k;
    for (k = 0; k < KEEL_PAGE_KINDS; k++) {
        keel_segment* seg = heap->segments[k].first;
        for (; seg; seg = seg->heap_next) {
            uint32_t i;
            for (i = 0; i < seg->page_count; i++) {
                if (!all && heap->empty_cached_bytes <= keel__cache_budget(KEEL_OPT_HEAP_EMPTY_CACHE)) return given;
                given += page_slot_purge(heap, &seg->pages[i]);
            }
        }
    }
    return given;
}

/* Used by heap.c when a segment changes hands. */
void keel__heap_drop_segment(keel_theap* heap, keel_segment* seg) {
    heap_list_remove(heap_list(heap, (keel_segment_kind)seg->kind), seg);
}

/* Bytes of the segment's empty page slots that are committed and not reset. */
size_t keel__segment_empty_committed(const keel_segment* seg) {
    size_t bytes = 0;
    uint32_t i;
    for (i = 0; i < seg->page_count; i++) {
        const keel_page* pg = &seg->pages[i];
        /* an offered slot is the purge thread's to count (or its owner's, taken back) */
        if (!pg->in_use && keel__slot_holds_memory(pg->slot_state) &&
            atomic_load_explicit(&pg->a_offer, memory_order_relaxed) == KEEL_OFFER_NONE)
            bytes += pg->slot_size;
    }
    return bytes;
}

/* The invariant of keel_theap.empty_cached_bytes, recomputed from the
   heap's segments (for validate and keel__assert_expensive). */
size_t keel__heap_empty_committed(const keel_theap* heap) {
    size_t bytes = 0;
    const keel_segment* seg;
    int k;
    for (k = 0; k < KEEL_PAGE_KINDS; k++)
        for (seg = heap->segments[k].first; seg; seg = seg->heap_next) bytes += keel__segment_empty_committed(seg);
    return bytes;
}

/* Resets every empty committed slot of a segment no heap owns. */
size_t keel__segment_purge_slots(keel_segment* seg) {
    size_t given = 0;
    uint32_t i;
    for (i = 0; i < seg->page_count; i++) given += page_slot_purge(NULL, &seg->pages[i]);
    return given;
}
