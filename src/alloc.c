/* alloc.c — keel_alloc and its family. The fast path is a TLS load, an
   index into the heap's direct table and a list pop; everything else (a
   page with no free block, a first allocation, large blocks, out of memory)
   is keel__alloc_slow. */
#include "annotate.h"
#include "free.h"
#include "guarded.h"
#include "harden.h"
#include "internal.h"
#include "options.h"
#include "page_queue.h"
#include "profile.h"
#include "segment_map.h"

#include <errno.h>
#include <string.h>

/* ---- choosing a page: the slow path of small and medium sizes ---- */

static keel_segment_kind kind_of_class(size_t cls) {
    size_t size = keel__class_size[cls];
    return size <= KEEL_SMALL_MAX ? KEEL_SEGMENT_SMALL : size <= KEEL_MEDIUM_MAX ? KEEL_SEGMENT_MEDIUM : KEEL_SEGMENT_BIG;
}

/* Whether heap holds fewer than n pages of class cls (in use: with free
   blocks or full). At most n of each list are looked at. */
static bool class_pages_below(const keel_theap* heap, size_t cls, unsigned n) {
    const keel_page* pg;
    unsigned count = 0;
    for (pg = heap->queues[cls].first; pg && count < n; pg = pg->next) count++;
    for (pg = heap->full[cls].first; pg && count < n; pg = pg->next) count++;
    return count < n;
}

/* The slot kind of a new page of class cls for heap: its class's, but for
   the first KEEL_SMALL_SLOT_PAGES pages of a medium class up to
   KEEL_SMALL_SLOT_CLASS_MAX, which take small slots (config.h). realloc-str
   of make bench holds 3..41 blocks in each class of 9..16 KiB: a 512 KiB
   page each held 4 MiB for 1.8 MiB of strings (peak RSS 14.1 MiB, glibc
   6.8). Every small slot but a segment's first (its header takes 20 KiB)
   is 64 KiB less at most a guard page, and the first at least 40 KiB:
   two blocks of 16 KiB fit in any. */
static keel_segment_kind kind_for_page(const keel_theap* heap, size_t cls) {
    keel_segment_kind kind = kind_of_class(cls);
    if (kind == KEEL_SEGMENT_MEDIUM && keel__class_size[cls] <= KEEL_SMALL_SLOT_CLASS_MAX &&
        class_pages_below(heap, cls, KEEL_SMALL_SLOT_PAGES))
        kind = KEEL_SEGMENT_SMALL;
    return kind;
}

/* Whether a block above KEEL_MEDIUM_MAX comes from a big page (else from a
   large span of its own). Big pages share a segment among many blocks, so
   thousands of live blocks take a few mappings, not two each. Not for:
   - a block realloc grows: a span grows in place into its headroom;
   - a first-class heap's block: its large blocks are listed and destroyed
     with it (heap_first.c);
   - the hardened build: a guard page follows every large block (harden.h);
   - under a cap on committed memory (limit) or ulimit -v: a span commits
     and reserves what its block needs; a big page commits its whole slot
     at once (one mapping, not one per block), which is up to a quarter
     more than its blocks (three 1 MiB blocks in 4 MiB). */
static bool big_page_serves(const keel_theap* heap, size_t size, bool growing) {
    return !KEEL_HARDENED && size <= KEEL_BIG_MAX && !growing && !heap->first_class &&
           keel__option(KEEL_OPT_LIMIT) == 0 && !keel__os_address_space_limited();
}

/* Phase 1: the class's queue. Each page gets its freed blocks collected and
   more blocks carved; an empty page other than the first retires, a page
   with nothing left goes to the full queue. Bounded: after
   KEEL_PAGE_SCAN_MAX full pages a fresh page is cheaper. */
static keel_page* page_from_queue(keel_theap* heap, size_t cls) {
    keel_page_queue* q = &heap->queues[cls];
    keel_page* page;
    keel_page* next;
    unsigned scanned = 0;
    for (page = q->first; page; page = next) {
        next = page->next;
        if (!page->free) (void)keel__page_collect(heap, page);
        if (!page->free && keel__page_used(page) == 0 && page != q->first) {
            keel__page_retire(heap, page);
            continue;
        }
        if (page->free || keel__page_extend(page)) return page;
        keel__page_to_full(heap, page);
        if (++scanned > KEEL_PAGE_SCAN_MAX) return NULL;
    }
    return NULL;
}

/* Phase 2: full pages that other threads freed into. Every one found comes
   back to the queue; those checked in vain go to the back of the full queue,
   so a bounded scan keeps reaching new ones (a producer whose blocks are all
   freed by consumers keeps many full pages). One pass over at most
   KEEL_FULL_SCAN_MAX pages, then one rotation that puts the first page not
   reached in front: the pages checked in vain are what is left before it
   (the found ones have left the queue). A rotation per page checked in
   vain, as before, went round a queue shorter than the bound again and
   again (callgrind, st 1 0.1 mixed: 387.0M -> 371.4M instructions).
   Returns the first found. */
static keel_page* page_from_full(keel_theap* heap, size_t cls) {
    keel_page_queue* fq = &heap->full[cls];
    keel_page* found = NULL;
    keel_page* f = fq->first;
    keel_page* next;
    unsigned n;
    /* only in a heap other threads have freed into (a_freed_into, set by
       the first such free: free.c, thread_free_push, which says what it
       can miss), and once in KEEL_FULL_SCAN_EVERY calls anyway: else
       every fresh page of a heap whose blocks no other thread frees read
       the third line of up to KEEL_FULL_SCAN_MAX cold page descriptors
       (perf, memret 1 1: 10% of the run on that load). A first-class
       heap scans every time. */
    if (!f) return NULL;
    if (!heap->first_class && !atomic_load_explicit(&heap->a_freed_into, memory_order_relaxed) &&
        ++heap->full_scan_skipped < KEEL_FULL_SCAN_EVERY)
        return NULL;
    heap->full_scan_skipped = 0;
    for (n = 0; f && n < KEEL_FULL_SCAN_MAX; n++, f = next) {
        next = f->next;
        if (atomic_load_explicit(&f->a_thread_free, memory_order_relaxed) == 0) continue;
        (void)keel__page_collect(heap, f);
        if (f->free) {
            keel__page_unfull(heap, f);
            if (!found) found = f;
        }
    }
    keel__queue_rotate_to(fq, f);
    return found;
}

/* The first page of q with a block in `free`, once collected or carved. */
static keel_page* queue_first_with_block(keel_theap* heap, keel_page_queue* q) {
    keel_page* page;
    for (page = q->first; page; page = page->next) {
        if (!page->free) (void)keel__page_collect(heap, page);
        if (page->free || keel__page_extend(page)) return page;
    }
    return NULL;
}

/* Phase 3: a segment of an exited thread, adopted: its pages join our
   queues; the first of the class's with a block is taken. */
static keel_page* page_from_abandoned(keel_theap* heap, size_t cls) {
    /* not into a first-class heap: their blocks are not its to destroy */
    if (heap->first_class || !keel__heap_adopt_abandoned(heap)) return NULL;
    return queue_first_with_block(heap, &heap->queues[cls]);
}

/* Phase 4: a fresh page slot from the heap's segments (segment.c), cut for
   the class, with page flags `flags`, at the head of q (the class's queue,
   or the heap profile's for it); NULL when the OS refuses memory. */
static keel_page* page_fresh(keel_theap* heap, size_t cls, keel_page_queue* q, unsigned flags) {
    keel_page* page = keel__segment_page_alloc(heap, kind_for_page(heap, cls));
    if (!page) return NULL;
    keel__page_init(page, cls);
    if (flags) keel__page_flag_set(page, flags, true);
    (void)keel__page_extend(page);
    keel__queue_push(q, page);
    keel__stats_sample();   /* committed memory may have grown: the sampled live peak */
    return page;
}

/* A page of class cls with a block in `free`, at the head of its queue and
   in the direct table; NULL when the OS refuses memory. The phases, cheapest
   first, call only down (page.c, page_queue, heap.c, segment.c). */
static keel_page* find_page(keel_theap* heap, size_t cls) {
    keel_page_queue* q = &heap->queues[cls];
    keel_page* page = page_from_queue(heap, cls);
    if (!page) page = page_from_full(heap, cls);
    if (!page) page = page_from_abandoned(heap, cls);
    if (!page) {
        page = page_fresh(heap, cls, q, 0);
        if (!page) {
            /* the scans may have moved the direct table's page to the full queue */
            keel__heap_direct_update(heap, cls);
            return NULL;
        }
    } else if (page != q->first) {
        keel__queue_remove(q, page);
        keel__queue_push(q, page);
    }
    keel__heap_direct_update(heap, cls);
    keel__assert(page->free != NULL && page->class_index == cls && !page->in_full && q->first == page);
    keel__assert_expensive(keel__page_counts_add_up(page));
    return page;
}

/* ---- the slow path ---- */

/* Takes the first block of page->free, which is not empty, and counts it. */
static inline void* page_pop(keel_theap* heap, keel_page* page, size_t size, bool zero) {
    keel_block* b = page->free;
    keel_block* next;
    keel__assert(page->in_use && keel__block_in_page(page, b));
    /* never through a damaged link (block_check.h) */
    if (KEEL_UNLIKELY(!keel__link_take_keyed(b, &next, keel__page_link_key(page)))) return keel__free_block_damaged(b);
#if KEEL_HARDENED
    /* zero since its free (harden.h): its first 256 bytes, all of it for calloc */
    keel__harden_check_zero(b, zero || page->block_size <= KEEL_HARDEN_SCAN ? page->block_size : KEEL_HARDEN_SCAN);
#endif
    page->free = next;
    keel__page_used_inc(page);
    keel__counter_inc(&heap->a_allocs);
    if (zero) {
        if (KEEL_HARDENED || page->free_is_zero) {
            keel__link_zero(b);
        } else {
            keel__ann_writable(b, size);
            memset(b, 0, size);
        }
    }
    return b;
}

static void* alloc_from_page(keel_theap* heap, size_t cls, size_t size, bool zero) {
    keel_page* page = find_page(heap, cls);
    return page ? page_pop(heap, page, size, zero) : NULL;
}

/* A large block for heap: from its region, or large.c's spans; a
   first-class heap's block joins it (NULL, the span given back, when its
   limit cannot take the memory). */
static void* large_alloc_for(keel_theap* heap, size_t size, size_t alignment, bool zero, bool growing) {
    keel_region* region = keel__theap_region(heap);
    void* p = region ? keel__large_alloc_in(region, size, alignment) : keel__large_alloc(size, alignment, zero, growing);
    if (p && heap->first_class && !keel__first_class_large_add(heap->first_class, p)) return NULL;
    return p;
}

/* Allocates from pages (or a large segment when the size or the alignment
   asks for one), creating the thread's heap if need be; on failure applies
   the out-of-memory policy (flush, retry, handler) until it gives up. */
static void* alloc_with_retries(keel_theap* heap, size_t size, size_t alignment, bool zero, bool growing) {
    unsigned attempt;
    int saved = errno;
    for (attempt = 0;; attempt++) {
        void* p = NULL;
        if (heap == &keel__heap_empty) heap = keel__heap_get();
        if (heap) {
            if (alignment <= KEEL_ALIGN && (size <= KEEL_MEDIUM_MAX || big_page_serves(heap, size, growing))) {
                p = alloc_from_page(heap, keel__class_of(size), size, zero);
            } else if ((p = large_alloc_for(heap, size, alignment, zero, growing)) != NULL) {
                keel__counter_add(&heap->a_allocs, 1);
                keel__stats_sample();
            }
        }
        if (p) {
            keel__purge_start_due();   /* the scans may have emptied a segment: the heap is whole now */
            errno = saved;
            return p;
        }
        if ((heap && heap->try_only) || !keel__oom_retry(heap ? heap : &keel__heap_empty, keel__harden_asked(size), attempt)) {
            keel__purge_start_due();
            errno = ENOMEM;
            return NULL;
        }
    }
}

/* ---- sampling events ----
   Two samplers share one countdown, heap->sample_left, which the fast path
   charges with each allocation's size: the heap profile (profile.c: one
   sample per profile_sample bytes on average) and guarded sampling
   (guarded.h: about one allocation in guarded_sample_rate). When it runs
   out (or a rate changed), alloc_event runs: the bytes counted since the
   last event go to the profile's own countdown (profile_left); the
   guarded sampler, which counts allocations, looks whether this one is the
   one it drew (guard_next); then the countdown is set to the nearer of
   the two next events, the guarded one turned into bytes with the mean
   size allocated since the last event. An estimate that falls short only
   makes an event that finds nothing due. With both samplers off the
   countdown never runs out (KEEL_SAMPLE_OFF), and the fast path pays one
   subtraction and one branch for both.

   The heap profile's pages. A sampled block makes its page's frees leave
   the fast path for as long as it lives (KEEL_PAGE_SAMPLED). So a sampled
   small block comes from a page of its own class that serves sampled
   blocks only, in the heap's sample_pages queue of the class (a page or
   two: samples are rare), never in the class's queues: the program's
   other pages are never marked. The block the allocation took from its
   usual page goes back to the head of that page's free list, as if it had
   never left. Medium blocks are sampled where they are: few to a page,
   and a slow free costs little next to their size. */

/* The class of the sample pages that serve a sampled block of a small
   class of block_size bytes: the first of 64, 256, 1024, 4096 and 8192
   bytes that holds it. A page of each of five classes (more only while
   the heap holds over a page's worth of samples), not one per class
   sampled: a thread that samples 40 classes would commit and reset 40
   pages for a block or two each (larson's threads did). A sampled block
   may so be up to four times its class (its usable size says so); a
   sample stands for about profile_sample bytes, so that is at most 0.8%
   of a heap's bytes at the usual rate, and nothing at all when the
   profile is off. The blocks of these classes are at least as aligned as
   those of the classes they serve (all of them powers of two). Not in the
   hardened build: there a block's canary is written where a block of the
   class of the size asked ends (keel__harden_out). */
static size_t sample_class(const keel_page* page) {
#if KEEL_HARDENED
    return page->class_index;
#else
    size_t s = 64;
    while (s < page->block_size) s <<= 2;
    return keel__class_of(s < KEEL_SMALL_MAX ? s : KEEL_SMALL_MAX);
#endif
}

/* A page of the heap's sample_pages[cls] with a free block,
   collected (or carved) if need be, or a fresh one; NULL when the OS
   refuses memory. */
static keel_page* sample_page_for(keel_theap* heap, size_t cls) {
    keel_page_queue* q = &heap->sample_pages[cls];
    keel_page* page = queue_first_with_block(heap, q);
    return page ? page : page_fresh(heap, cls, q, KEEL_PAGE_SAMPLE_ONLY);
}

/* Puts block b, just popped from page by its owner and never handed out,
   back at the head of page->free and uncounts it. */
static void page_unpop(keel_theap* heap, keel_page* page, void* b) {
    keel__ann_unused(b, page->block_size);
    keel__link_set_keyed((keel_block*)b, page->free, keel__page_link_key(page));
    page->free = (keel_block*)b;
    keel__page_used_set(page, keel__page_used(page) - 1);
    keel__counter_add(&heap->a_allocs, (size_t)0 - 1);
}

/* The heap profile samples p (keel__profile_countdown said so). page: p's
   page, NULL when not known yet. caller: the return address of the public
   entry point, where the program's frames begin. */
static void* profile_take(keel_theap* heap, keel_page* page, void* p, size_t size, bool zero, void* caller) {
    if (!page) {
        keel_segment* seg = keel__segment_of(p);
        if (seg->kind != KEEL_SEGMENT_LARGE && seg->kind != KEEL_SEGMENT_GUARDED) page = keel__page_of(seg, p);
    }
    if (page && page->block_size <= KEEL_SMALL_MAX && !keel__page_sample_only(page)) {
        keel_page* own = sample_page_for(heap, sample_class(page));
        void* q = own ? page_pop(heap, own, size, zero) : NULL;
        if (q) {   /* else p stays, sampled in its page */
            page_unpop(heap, page, p);
            p = q;
            page = own;
        }
    }
    keel__profile_record(heap, page, p, size, caller);
    return p;
}

/* Whether a rate changed since the heap drew its countdown (the slow paths
   ask; a heap notices a new rate on its next one). */
static inline bool sample_rates_changed(const keel_theap* heap) {
    return heap->sample_rate != keel__option(KEEL_OPT_PROFILE_SAMPLE) ||
           heap->guard_rate != keel__option(KEEL_OPT_GUARDED_SAMPLE_RATE);
}

/* The allocations from one guarded sample to the next: uniform in
   [1, 2 rate - 1], mean rate, times 2^guard_backoff (guarded.h, "backing
   off"). From the heap's own xorshift generator (guarded.h says why). */
static size_t guard_gap(keel_theap* heap, long long rate) {
    uint64_t span = 2 * (uint64_t)rate - 1, x = heap->guard_rng, gap;
    if (x == 0) x = keel__random() | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    heap->guard_rng = x;
    gap = (1 + (x * 0x2545f4914f6cdd1dull >> 11) % span) << heap->guard_backoff;   /* < 2^37 */
    return gap < SIZE_MAX / 4 ? (size_t)gap : SIZE_MAX / 4;   /* a 32-bit count keeps room */
}

/* Whether the allocation about to be made (the heap's a_allocs + 1-th) is
   the guarded sampler's; if so the next one is drawn. Thread heaps only
   (a first-class heap's blocks are its own to destroy); never under
   memcheck or ASan, which see every block. */
static bool guard_due(keel_theap* heap) {
    long long rate = keel__option(KEEL_OPT_GUARDED_SAMPLE_RATE);
    size_t now = atomic_load_explicit(&heap->a_allocs, memory_order_relaxed) + 1;
    if (rate <= 0 || heap->first_class || KEEL_VALGRIND || KEEL_ASAN) {
        heap->guard_rate = rate;
        heap->guard_next = 0;
        return false;
    }
    if (rate != heap->guard_rate || heap->guard_next == 0) {   /* drawn afresh from here */
        heap->guard_rate = rate;
        heap->guard_backoff = 0;
        heap->guard_next = now - 1 + guard_gap(heap, rate);
    }
    if (now < heap->guard_next) return false;
    heap->guard_next = now + guard_gap(heap, rate);
    return true;
}

/* The guarded sample due now (guard_due said so): its block, or NULL, and
   the back-off (guarded.h) follows what the cost cap said. */
static void* guard_take(keel_theap* heap, size_t size, bool zero) {
    bool capped = false;
    size_t now = atomic_load_explicit(&heap->a_allocs, memory_order_relaxed) + 1;
    void* p = keel__guarded_alloc(size, zero, (size_t)1 << heap->guard_backoff, &capped);
    if (p) {
        heap->guard_backoff = 0;
    } else if (capped && heap->guard_backoff < KEEL_GUARDED_BACKOFF_MAX) {   /* the next gap drawn again, longer */
        heap->guard_backoff++;
        heap->guard_next = now + guard_gap(heap, heap->guard_rate);
    }
    return p;
}

/* Sets the countdown to the nearer next event; used: the bytes counted
   since the last one. */
static void sample_arm(keel_theap* heap, ptrdiff_t used) {
    ptrdiff_t left = heap->profile_left;
    size_t now = atomic_load_explicit(&heap->a_allocs, memory_order_relaxed);
    if (heap->guard_next) {
        size_t made = now - heap->sample_armed_allocs;
        size_t to_go = heap->guard_next > now ? heap->guard_next - now - 1 : 0;   /* before the drawn one */
        ptrdiff_t mean = made && used > 0 ? used / (ptrdiff_t)made : 64, bytes;
        if (mean < 1) mean = 1;
        /* the very next allocation: a countdown far enough below zero that
           the bytes aligned allocations give back (+=, under a medium
           block's size) cannot lift it */
        if (to_go == 0) bytes = -(ptrdiff_t)KEEL_SEGMENT_SIZE;
        else bytes = to_go >= (size_t)(KEEL_SAMPLE_OFF / mean) ? KEEL_SAMPLE_OFF : (ptrdiff_t)to_go * mean;
        if (bytes < left) left = bytes;
    }
    heap->sample_left = heap->sample_armed = left;
    heap->sample_armed_allocs = now;
}

static void* alloc_plain(keel_theap* heap, size_t size, bool zero);

/* A sampling event (the countdown ran out, or a rate changed) at an
   allocation of size bytes on heap, a thread's heap or a first-class one.
   made: the block when it is allocated already (an aligned or large one:
   guarded sampling skips it); else the block comes from page (the fast
   path's, with a free block), or the slow path, unless it is guarded. */
static KEEL_NOINLINE void* alloc_event(keel_theap* heap, keel_page* page, void* made, size_t size, bool zero,
                                       void* caller) {
    /* unsigned: a request near KEEL_MAX_REQUEST takes the countdown far
       below zero; what the profile is told is capped */
    size_t spent = (size_t)heap->sample_armed - (size_t)heap->sample_left;
    ptrdiff_t used = spent > (size_t)KEEL_SAMPLE_OFF ? KEEL_SAMPLE_OFF : (ptrdiff_t)spent;
    bool take = keel__profile_countdown(heap, used);
    void* p = made;
    if (guard_due(heap) && !made) {   /* NULL: too large for a slot, none free, or the cost cap */
        p = guard_take(heap, size, zero);
        if (p) {
            keel__counter_add(&heap->a_allocs, 1);
            page = NULL;
        }
    }
    if (!p) p = page ? page_pop(heap, page, size, zero) : alloc_plain(heap, size, zero);
    sample_arm(heap, used);
    return take && p ? profile_take(heap, page, p, size, zero, caller) : p;
}

/* The slow paths' share of the countdown for a block allocated already,
   on the thread's heap (the allocation may have created it). */
static inline void* sample_charge(keel_theap* heap, void* p, size_t size, bool zero, void* caller) {
    if (KEEL_UNLIKELY(heap == &keel__heap_empty)) heap = keel__tls_heap;
    if (p && heap != &keel__heap_empty && ((heap->sample_left -= (ptrdiff_t)size) < 0 || sample_rates_changed(heap)))
        return alloc_event(heap, NULL, p, size, zero, caller);
    return p;
}

/* The slow path without the samplers. A direct page with local_free never
   comes here (heap_alloc_at takes it to alloc_local); should one, the
   search collects it. */
static void* alloc_plain(keel_theap* heap, size_t size, bool zero) {
    if (size > KEEL_DIRECT_MAX && KEEL_LIKELY(size <= KEEL_BIG_MAX)) {
        /* sizes past the direct table: the class's first page, if it has a
           block, is as good as the direct table's (a heap that no big page
           serves has none of a big class) */
        keel_page* page = heap->queues[keel__class_of(size)].first;
        if (page && page->free) return page_pop(heap, page, size, zero);
    }
    if (size > KEEL_MAX_REQUEST) { errno = ENOMEM; return NULL; }
    return alloc_with_retries(heap, size, KEEL_ALIGN, zero, false);
}

void* keel__alloc_slow(keel_theap* heap, size_t size, bool zero, void* caller) {
    if (size > KEEL_MAX_REQUEST) { errno = ENOMEM; return NULL; }   /* before the countdown: no overflow */
    /* a thread's first allocation creates its heap: not counted */
    if (heap != &keel__heap_empty && ((heap->sample_left -= (ptrdiff_t)size) < 0 || sample_rates_changed(heap)))
        return alloc_event(heap, NULL, NULL, size, zero, caller);
    return alloc_plain(heap, size, zero);
}

/* ---- the fast path ---- */

/* The direct page's free list ran dry but its owner freed blocks into it
   (local_free): a page that keeps a live block and serves one block at a
   time comes here once per OS page's worth of blocks. Those blocks, or
   first the ones other threads freed (keel__page_collect), become the free
   list and the allocation goes on as the fast path's would, without the
   slow path's search. */
static KEEL_NOINLINE void* alloc_local(keel_theap* heap, keel_page* page, size_t size, bool zero, void* caller) {
    (void)keel__page_collect(heap, page);   /* other threads' frees first, else local_free */
    if (KEEL_UNLIKELY((heap->sample_left -= (ptrdiff_t)size) < 0)) return alloc_event(heap, page, NULL, size, zero, caller);
    return page_pop(heap, page, size, zero);
}

/* Always inlined, at -O0 too: __builtin_return_address(0) is then the
   return address of the public entry point, where the heap profile starts
   its stacks (read only on the paths that need it). */
#define KEEL_CALLER __builtin_return_address(0)
static inline __attribute__((always_inline)) void* heap_alloc_at(keel_theap* heap, size_t size, bool zero,
                                                                 void* caller) {
    if (KEEL_LIKELY(size <= KEEL_DIRECT_MAX)) {
        keel_page* page = heap->direct[(size + 15) >> 4];
        if (KEEL_LIKELY(page->free != NULL)) {
            /* the samplers' countdown */
            if (KEEL_UNLIKELY((heap->sample_left -= (ptrdiff_t)size) < 0))
                return alloc_event(heap, page, NULL, size, zero, caller ? caller : KEEL_CALLER);
            return page_pop(heap, page, size, zero);
        }
        /* keel__page_empty (a thread with no heap yet) has no local_free */
        if (page->local_free != NULL) return alloc_local(heap, page, size, zero, caller ? caller : KEEL_CALLER);
    }
    return keel__alloc_slow(heap, size, zero, caller ? caller : KEEL_CALLER);
}
/* caller NULL: the return address is read where heap_alloc_at is inlined,
   and only on the paths that use it (a caller computed before the call
   would be loaded on the fast path too: one instruction a malloc) */
#define heap_alloc(heap, size, zero) heap_alloc_at(heap, size, zero, NULL)

/* The heap an allocation on heap counts on once it is made: the thread's
   heap may have been created by it. */
static inline keel_theap* heap_now(keel_theap* heap) {
    return heap == &keel__heap_empty ? keel__tls_heap : heap;
}

/* keel__ann_alloc: memcheck and ASan learn the size asked (annotate.h;
   nothing in the normal build). */
void* keel_alloc(size_t num_bytes) {
    void* p;
#if KEEL_HARDENED
    /* the fast path, with the canary written from the page's block size
       (keel__harden_out finds it from the size) */
    keel_theap* heap = keel__tls_heap;
    size_t n = num_bytes + (num_bytes == 0), need = n + KEEL_CANARY;   /* a block of 0 bytes has one */
    if (KEEL_LIKELY(n <= KEEL_DIRECT_MAX - KEEL_CANARY)) {   /* n, not need: need wraps near SIZE_MAX */
        keel_page* page = heap->direct[(need + 15) >> 4];
        /* the samplers' countdown not due: else heap_alloc's path takes the event */
        if (KEEL_LIKELY(page->free != NULL && heap->sample_left >= (ptrdiff_t)need)) {
            heap->sample_left -= (ptrdiff_t)need;
            p = page_pop(heap, page, need, false);
            keel__harden_out_page(heap, p, n, page->block_size);
            keel__ann_alloc(p, num_bytes, false);
            return p;
        }
    }
#endif
    p = heap_alloc(keel__tls_heap, keel__harden_size(num_bytes), false);
    keel__harden_out(p, num_bytes, NULL);   /* the hardened build's canary (harden.h); else nothing */
    keel__ann_alloc(p, num_bytes, false);
    return p;
}

void* keel_calloc(size_t count, size_t size) {
    size_t total;
    void* p;
    if (size != 0 && count > SIZE_MAX / size) { errno = ENOMEM; return NULL; }
    total = count * size;
    p = heap_alloc(keel__tls_heap, keel__harden_size(total), true);
    keel__harden_out(p, total, NULL);
    keel__ann_alloc(p, total, true);
    return p;
}

/* ---- alignment ---- */

/* The smallest size class of at least num_bytes whose block size is a
   multiple of alignment, if it is no larger than the class the padded
   request (num_bytes + alignment - KEEL_ALIGN) would take; else 0. Every
   block of such a class is aligned, as pages start on an OS page boundary
   (segment.c): the block is handed out at its start, and its page keeps
   the free fast path that an interior-aligned block takes from it. Class
   sizes between 2^b and 2^(b+1) are multiples of 2^(b-3), and 2^(b+1) of
   every alignment up to it, so one comes within a few classes of the
   smallest multiple of the alignment at least num_bytes (no smaller class
   can be a multiple: the search starts there, not at num_bytes' class, from
   which a 4 KiB alignment walked some 40 classes). */
static size_t aligned_class(size_t num_bytes, size_t alignment) {
    size_t cls = keel__class_of((num_bytes + alignment - 1) & ~(alignment - 1)),
           limit = keel__class_of(num_bytes + alignment - KEEL_ALIGN);
    for (; cls <= limit; cls++)
        if ((keel__class_size[cls] & (alignment - 1)) == 0) return cls;
    return 0;
}

/* keel_alloc_aligned on heap: the calling thread's (perhaps still
   keel__heap_empty), or a first-class heap's theap under its lock. A
   first-class heap hands every block out at its start (keel_heap_visit
   passes blocks as they were returned): an alignment no size class serves
   takes a large block. */
static void* alloc_aligned_in(keel_theap* heap, size_t num_bytes, size_t alignment, void* caller) {
    bool first_class = heap->first_class != NULL;
    uint8_t* p;
    uintptr_t a;
    size_t total, cls, whole = 0, asked = num_bytes;
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > KEEL_MAX_ALIGNMENT ||
        num_bytes > KEEL_MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    if (alignment <= KEEL_ALIGN) {
        p = (uint8_t*)heap_alloc_at(heap, keel__harden_size(num_bytes), false, caller);
        keel__harden_out(p, num_bytes, heap->first_class);
        keel__ann_alloc(p, num_bytes, false);
        return p;
    }
    /* at least one byte, so the aligned pointer lies inside its block */
    if (num_bytes == 0) num_bytes = 1;
    asked = num_bytes;
#if KEEL_HARDENED
    /* the canary's room is part of the block asked for; the program's
       bytes end at `asked` */
    num_bytes = keel__harden_size(num_bytes);
#endif
    /* a block aligned where it starts, handed out whole: up to the OS page
       from a size class whose blocks all are (aligned_class, so this cannot
       miss); past it, a size that is a multiple of the alignment often is */
    if (num_bytes + alignment - KEEL_ALIGN <= KEEL_MEDIUM_MAX && alignment <= keel__os_page_size() &&
        (cls = aligned_class(num_bytes, alignment)) != 0)
        whole = keel__class_size[cls];
    else if (!first_class && num_bytes <= KEEL_MEDIUM_MAX && (num_bytes & (alignment - 1)) == 0)
        whole = num_bytes;
    if (whole) {
        p = (uint8_t*)heap_alloc_at(heap, whole, false, caller);
        if (!p) return NULL;
        /* the profile's countdown counts the bytes asked for */
        heap_now(heap)->sample_left += (ptrdiff_t)(whole - num_bytes);
        keel__harden_out_at(p, asked);
        keel__ann_alloc(p, asked, false);
        if (((uintptr_t)p & (alignment - 1)) == 0) return p;
        keel_free(p);
        heap = heap_now(heap);
        heap->sample_left += (ptrdiff_t)num_bytes;   /* counted once: by the allocation below */
    }
    total = num_bytes + alignment - KEEL_ALIGN;
    if (total > KEEL_MEDIUM_MAX || first_class) {
        p = (uint8_t*)sample_charge(heap, alloc_with_retries(heap, num_bytes, alignment, false, false), num_bytes, false,
                                    caller);
        keel__harden_out_at(p, asked);
        keel__ann_alloc(p, asked, false);
        return p;
    }
    p = (uint8_t*)heap_alloc_at(heap, total, false, caller);
    if (!p) return NULL;
    heap = heap_now(heap);
    /* the profile's countdown counts the bytes asked for, not the padding */
    heap->sample_left += (ptrdiff_t)(total - num_bytes);
    a = ((uintptr_t)p + (alignment - 1)) & ~(uintptr_t)(alignment - 1);
    if (a != (uintptr_t)p) {
        keel_segment* seg = keel__segment_of(p);
        if (seg->kind == KEEL_SEGMENT_GUARDED) {   /* a guarded block: its record learns the pointer */
            keel__guarded_moved(p, (void*)a);
        } else {
            keel__page_has_aligned_set(keel__page_of(seg, p));
            keel__counter_add(&heap->a_aligned_offset_bytes, (size_t)(a - (uintptr_t)p));
        }
    }
    keel__harden_out_at((void*)a, asked);
    keel__ann_alloc((void*)a, asked, false);   /* the padding before a stays no-access */
    return (void*)a;
}

void* keel_alloc_aligned(size_t num_bytes, size_t alignment) {
    return alloc_aligned_in(keel__tls_heap, num_bytes, alignment, KEEL_CALLER);
}

/* ---- realloc ---- */

/* The usable size of ptr, a block of seg, for realloc: the owner's page
   with no aligned block (full or not, sampled or not) needs only the two
   tests of the free fast path; the rest goes through the full checks
   of keel__usable_size_checked, which end the program on a misuse. The
   test is keel__free_in_segment's, written out in both: one inline shared
   by the two made GCC lay out free differently, 2 instructions more a
   malloc+free pair in bench/fastpath.sh. */
static inline size_t realloc_usable(keel_segment* seg, void* ptr) {
    if (seg->kind != KEEL_SEGMENT_LARGE) {
        keel_page* page = keel__page_of(seg, ptr);
        /* relaxed: only this thread can have stored its own heap here */
        /* in_full and the sampled flag do not matter to a block that stays
           (a full page's realloc took the slow check: 11% of realloc-str's) */
        if (KEEL_LIKELY(atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == keel__tls_heap &&
                        !keel__page_has_aligned(page) && keel__free_plain_ok(page, ptr)))
            return page->block_size;
    }
    return keel__usable_size_checked(seg, ptr, "realloc");
}

/* The new block of a realloc that moves, on heap (the thread's, or a
   first-class heap's theap under its lock). A large block for a block that
   grows is likely to grow again, so large.c gives it the cached span with
   the most memory to grow into (the path of keel__alloc_slow, with that
   flag). num_bytes: what the program asked; ask: the size the block is
   taken for, num_bytes or a little more (realloc_ask). */
static inline void* realloc_new_block(keel_theap* heap, size_t num_bytes, size_t ask, bool growing, void* caller) {
    size_t need = keel__harden_size(ask);
    void* p;
    if (need > KEEL_MEDIUM_MAX && growing)
        p = sample_charge(heap, alloc_with_retries(heap, need, KEEL_ALIGN, false, true), need, false, caller);
    else
        p = heap_alloc_at(heap, need, false, caller);
    /* the canary right after the bytes asked, in a block of ask's class */
    if (ask == num_bytes) keel__harden_out(p, num_bytes, heap->first_class);
    else keel__harden_out_at(p, num_bytes);
    return p;
}

/* What a block that outgrows its class by a little asks for when it moves:
   an eighth more than it had (room, its usable size), so that a string
   grown a few bytes at a time moves once every second class above 1 KiB
   (classes 12.5% apart), not at each. A block that grows by more gets the
   size asked, and so does one that would land past the medium classes (a
   large block has room to grow of its own, large.c). tcmalloc gives a
   quarter more; an eighth took realloc-str most of that way (0.87x the
   time, a quarter 0.82x) for 0.5% more peak memory, where a quarter cost
   5% (docs/benchmarks.md item 23). */
static inline size_t realloc_ask(size_t room, size_t num_bytes) {
    size_t more = room + room / 8;
    if (num_bytes > room && num_bytes < more && keel__harden_size(more) <= KEEL_MEDIUM_MAX) return more;
    return num_bytes;
}

void* keel__realloc_in_segment(keel_segment* seg, void* ptr, size_t num_bytes) {
    size_t usable, visible, ask;
    void* q;
    if (num_bytes == 0) { keel__free_in_segment(seg, ptr); return NULL; }
#if KEEL_HARDENED
    if (seg->kind != KEEL_SEGMENT_LARGE) {
        /* the checks of a free; the canary says what the program has, and
           stays behind the bytes it now asks when the block stays */
        size_t room;
        usable = keel__harden_live(seg, ptr, "realloc", &room);
        if (num_bytes > KEEL_MAX_REQUEST) { errno = ENOMEM; return NULL; }
        if (num_bytes <= room &&
            room - num_bytes <= (room / 2 > KEEL_REALLOC_SHRINK_SLACK ? room / 2 : KEEL_REALLOC_SHRINK_SLACK)) {
            keel__harden_resize(seg, ptr, usable, num_bytes);
            return ptr;
        }
        visible = usable;
        ask = realloc_ask(room, num_bytes);
        goto move;
    }
#endif
    usable = realloc_usable(seg, ptr);
    if (usable == 0) return NULL;
    if (num_bytes > KEEL_MAX_REQUEST) { errno = ENOMEM; return NULL; }
    /* what the program may read of ptr: usable, or under memcheck/ASan the size asked */
    visible = keel__ann_visible(ptr, usable);
    if (seg->kind == KEEL_SEGMENT_LARGE) {
        if (num_bytes > KEEL_MEDIUM_MAX / 2 && keel__large_resize_in_place(seg, num_bytes)) {
            keel__ann_resize(ptr, visible, num_bytes);
            return ptr;
        }
    } else if (num_bytes <= usable &&
               usable - num_bytes <= (usable / 2 > KEEL_REALLOC_SHRINK_SLACK ? usable / 2 : KEEL_REALLOC_SHRINK_SLACK)) {
        keel__ann_resize(ptr, visible, num_bytes);
        return ptr;   /* fits, and not so much smaller that a smaller class pays */
    }
    ask = realloc_ask(usable, num_bytes);
#if KEEL_HARDENED
move:
#endif
    {
        /* realloc keeps a block in its heap */
        keel_heap* first_class = seg->first_class ? keel__first_class_of(seg) : NULL;
        keel_theap* heap = first_class ? &first_class->theap : keel__tls_heap;
        q = NULL;
        if (first_class) keel__heap_lock(first_class);
        /* the eighth more only where there is room for it (a limit, a full
           region: no out-of-memory policy for it); not by a thread whose
           heap this allocation would make */
        if (ask != num_bytes && heap != &keel__heap_empty) {
            int saved = errno;
            heap->try_only = 1;
            q = realloc_new_block(heap, num_bytes, ask, num_bytes > usable, KEEL_CALLER);
            heap->try_only = 0;
            if (!q) errno = saved;
        }
        if (!q) q = realloc_new_block(heap, num_bytes, num_bytes, num_bytes > usable, KEEL_CALLER);
        if (first_class) keel__heap_unlock(first_class);
    }
    keel__ann_alloc(q, num_bytes, false);
    if (!q) return NULL;   /* ptr untouched */
    if (visible > num_bytes) visible = num_bytes;   /* what the new block takes of ptr */
    if (seg->kind == KEEL_SEGMENT_LARGE) keel__large_copy_out(seg, q, ptr, visible);
    else memcpy(q, ptr, visible);
    keel__free_in_segment(seg, ptr);
    return q;
}

void* keel_realloc(void* ptr, size_t num_bytes) {
    keel_segment* seg;
    if (!ptr) return keel_alloc(num_bytes);
    seg = keel__segment_of(ptr);
    if (!seg) {
        if (num_bytes == 0) { keel__report_invalid("free", ptr); return NULL; }
        keel__report_invalid("realloc", ptr);
        return NULL;
    }
    return keel__realloc_in_segment(seg, ptr, num_bytes);
}

void* keel__create_copy(const void* init, size_t size, size_t alignment) {
    void* p = alignment > KEEL_ALIGN ? keel_alloc_aligned(size, alignment) : keel_alloc(size);
    if (p) memcpy(p, init, size);
    return p;
}

/* ---- first-class heaps (DESIGN.md section 11; heap_first.c) ----
   The thread heap's paths on the heap's theap, under its lock. NULL: the
   default heap, as keel_heap_of says. */

/* Inlined into each entry point, so that the fast path's caller is the
   entry point's return address. */
static inline __attribute__((always_inline)) void* first_class_alloc(keel_heap* heap, size_t size, bool zero) {
    void* p;
    keel__heap_lock(heap);
    p = heap_alloc(&heap->theap, keel__harden_size(size), zero);
    keel__heap_unlock(heap);
    keel__harden_out(p, size, heap);
    keel__ann_alloc(p, size, zero);
    return p;
}

void* keel_heap_alloc(keel_heap* heap, size_t num_bytes) {
    return heap ? first_class_alloc(heap, num_bytes, false) : keel_alloc(num_bytes);
}

void* keel_heap_calloc(keel_heap* heap, size_t count, size_t size) {
    if (!heap) return keel_calloc(count, size);
    if (size != 0 && count > SIZE_MAX / size) { errno = ENOMEM; return NULL; }
    return first_class_alloc(heap, count * size, true);
}

void* keel_heap_alloc_aligned(keel_heap* heap, size_t num_bytes, size_t alignment) {
    void* p;
    if (!heap) return keel_alloc_aligned(num_bytes, alignment);
    keel__heap_lock(heap);
    p = alloc_aligned_in(&heap->theap, num_bytes, alignment, KEEL_CALLER);
    keel__heap_unlock(heap);
    return p;
}

/* ptr must be a block of heap: one of another heap gives NULL and EINVAL,
   and stays as it is. */
void* keel_heap_realloc(keel_heap* heap, void* ptr, size_t num_bytes) {
    keel_segment* seg;
    if (!heap) return keel_realloc(ptr, num_bytes);
    if (!ptr) return keel_heap_alloc(heap, num_bytes);
    seg = keel__segment_of(ptr);
    if (!seg) {
        keel__report_invalid("realloc", ptr);
        return NULL;
    }
    if (keel__first_class_of(seg) != heap) {
        errno = EINVAL;
        return NULL;
    }
    return keel__realloc_in_segment(seg, ptr, num_bytes);
}
