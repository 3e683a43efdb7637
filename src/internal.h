/* internal.h — the heap's core types, constants and cross-file functions.
   Read docs/design.md first; this is its glossary in code.

   GLOSSARY (each word means one thing)
     OS page     the unit vmem commits (vmem_get_page_size()).
     segment     a 4 MiB-aligned reservation from vmem, with its header at the
                 start; small segments hold 64 pages of 64 KiB, medium ones 8
                 pages of 512 KiB, a big segment one page of 4 MiB (less its
                 header), a large segment holds one large block.
     page        a run of a segment that serves one size class; it has its
                 own free lists (free, local_free, a_thread_free).
     block       what keel_alloc returns; a page is cut into equal blocks.
     size class  one of KEEL_CLASS_COUNT block sizes, ~12.5% apart above 128.
     thread heap the per-thread state (keel_theap): a direct table from small
                 size to page, page queues per class, owned segments.
     arena       bump allocation on a reservation (arena.h; not the heap).
*/
#ifndef KEEL_INTERNAL_H
#define KEEL_INTERNAL_H

#include "config.h"
#include "keel/keel.h"
#include "keel/vmem.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define KEEL_LIKELY(x) __builtin_expect(!!(x), 1)
#define KEEL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define KEEL_NOINLINE __attribute__((noinline))
#define KEEL_NORETURN __attribute__((noreturn, cold))
#if defined(_WIN32)
#define KEEL_HIDDEN
#else
#define KEEL_HIDDEN __attribute__((visibility("hidden")))
#endif
#else
#define KEEL_LIKELY(x) (x)
#define KEEL_UNLIKELY(x) (x)
#define KEEL_NOINLINE
#define KEEL_NORETURN
#define KEEL_HIDDEN
#endif

/* ---- geometry ---- */
#define KEEL_SEGMENT_SHIFT 22                            /* 4 MiB segments      */
#define KEEL_SEGMENT_SIZE ((size_t)1 << KEEL_SEGMENT_SHIFT)
#define KEEL_SMALL_PAGE_SHIFT 16                         /* 64 KiB small pages  */
#define KEEL_MEDIUM_PAGE_SHIFT 19                        /* 512 KiB medium pages */
#define KEEL_SMALL_MAX ((size_t)8 << 10)                 /* blocks <= 8 KiB: small pages */
#define KEEL_MEDIUM_MAX ((size_t)128 << 10)              /* <= 128 KiB: medium pages */
#define KEEL_BIG_PAGE_SHIFT KEEL_SEGMENT_SHIFT            /* a big page: its whole segment */
#define KEEL_BIG_MAX ((size_t)1 << 20)                   /* <= 1 MiB: big pages (thread heaps,
                                                            not realloc's growing blocks);
                                                            above: large */
#define KEEL_MAX_PAGES (KEEL_SEGMENT_SIZE >> KEEL_SMALL_PAGE_SHIFT)   /* 64 */
#define KEEL_DIRECT_MAX 4096                             /* sizes served by the direct table */
#define KEEL_DIRECT_COUNT (KEEL_DIRECT_MAX / 16 + 1)
#define KEEL_CLASS_COUNT 113                             /* classes 1..112; 0 unused */
#define KEEL_ALIGN 16
/* Requests above this can never be met; refusing early keeps every size
   computation below free of overflow. */
#define KEEL_MAX_REQUEST ((size_t)PTRDIFF_MAX - 2 * KEEL_SEGMENT_SIZE)
#define KEEL_MAX_ALIGNMENT ((size_t)1 << 30)

/* GUARDED: the guarded pool's one segment (guarded.h), no owner. */
typedef enum keel_segment_kind {
    KEEL_SEGMENT_SMALL,
    KEEL_SEGMENT_MEDIUM,
    KEEL_SEGMENT_BIG,
    KEEL_SEGMENT_LARGE,
    KEEL_SEGMENT_GUARDED
} keel_segment_kind;
#define KEEL_PAGE_KINDS 3   /* SMALL, MEDIUM, BIG: the kinds cut into pages of size classes */

/* A free block's first two words (block_check.h): its link, and the check
   word next ^ block ^ KEEL_LINK_SALT, written with it and cleared when the
   block is handed out. Every block has room for both (16 bytes at least). */
typedef struct keel_block { struct keel_block* next; uintptr_t check; } keel_block;
#define KEEL_LINK_SALT ((uintptr_t)0x6b65656cu)

/* An empty page slot of a thread heap, past the memory its heap keeps
   (heap_empty_cache), is offered to the purge thread rather than reset at
   once (segment.c, "offered slots"). The owner moves NONE -> OPEN (offer),
   OPEN -> NONE (taken back warm) and DONE -> NONE; the purge thread, under
   the segments lock, OPEN -> PURGING -> DONE (its memory reset). */
typedef enum keel_offer {
    KEEL_OFFER_NONE = 0,
    KEEL_OFFER_OPEN,
    KEEL_OFFER_PURGING,
    KEEL_OFFER_DONE
} keel_offer;

/* What a page slot's memory is, and the only moves between the states
   (segment.c makes them all but FRESH -> DIRTY, which keel__page_init does):
     DECOMMITTED --commit--> FRESH --blocks written--> DIRTY --vmem_reset--> RESET
     FRESH --vmem_reset--> RESET        RESET --reused--> DIRTY
     FRESH, DIRTY, RESET --vmem_decommit--> DECOMMITTED
   FRESH and DIRTY hold memory: counted in the committed total, and, while
   the slot is empty, in its owner's (or the segment's) budget of empty
   memory kept. RESET is committed but holds none (its pages were given back
   and read as zero or old data). */
typedef enum keel_slot_state {
    KEEL_SLOT_DECOMMITTED = 0,   /* pages fault; a new segment's slots start here */
    KEEL_SLOT_FRESH,             /* committed and never written: reads as zero    */
    KEEL_SLOT_DIRTY,             /* committed, written                            */
    KEEL_SLOT_RESET              /* committed, memory given back                  */
} keel_slot_state;
static inline bool keel__slot_holds_memory(uint8_t state) {
    return state == KEEL_SLOT_FRESH || state == KEEL_SLOT_DIRTY;
}

struct keel_theap;
struct keel_segment;

/* One page: a run of a segment serving one size class.
   Invariant (owner's view, page in use):
     capacity == used + |free| + |local_free|,   |a_thread_free| <= used
   where `used` counts blocks handed out and not yet freed locally or
   collected from a_thread_free (pending frees of other threads are in it). */
typedef struct keel_page {
    union {
        struct {
            /* first cache line: what the owner's fast paths of allocation,
               free and usable_size read, so that they touch one line of the
               page; other threads' frees do not touch it (third line) */
            keel_block* free;                 /* blocks to allocate from (owner only)             */
            _Atomic(uint32_t) a_used;         /* owner writes (relaxed); stats/validate read      */
            uint32_t block_size;              /* bytes; 0 while the page is not in use            */
            keel_block* local_free;           /* freed by the owner thread                        */
            /* 8 bytes unused. Not a_offer: the purge thread reads it in
               every slot of a segment with an offered slot, and here it
               made larson 1.56x slower (farm-bench -n 7; capacity,
               slot_state, in_use and uncarved_zero here with a_offer in
               the second line: 0.99x) */
            uint64_t unused_;
            uint8_t* start;                   /* first block                                      */
            /* block starts without a division (block_check.h): bytes of the
               carved blocks (capacity x block_size; the owner's), and
               ceil(2^64 / block_size); both 0 while the page is not in use */
            uint64_t block_area;
            uint64_t block_magic;
            uint32_t reserved;                /* blocks that fit in the page                      */
            union {                           /* either set sends keel_free to its slow path     */
                uint16_t free_flags;          /* both bytes at once, for the fast path           */
                struct {
                    uint8_t in_full;          /* in the heap's full queue (owner writes)          */
                    uint8_t has_aligned;      /* bit 1: a block was handed out at an interior
                                                 offset; bit 2: the page holds (or held) sampled
                                                 blocks of the heap profile; bit 4: it serves
                                                 sampled blocks only. Written by the owner
                                                 only, before such a block escapes, so any thread
                                                 freeing one may read it: through
                                                 keel__page_has_aligned/_sampled (atomic)         */
                };
            };
            uint8_t class_index;              /* size class; 0 for a large block                  */
            uint8_t free_is_zero;             /* every block in `free` is fresh zero memory
                                                 but for its link and check words                 */
            /* second line: the owner's slow paths' */
            uint32_t capacity;                /* blocks carved into lists so far                  */
            uint8_t slot_state;               /* keel_slot_state of the page's memory (owner)     */
            uint8_t in_use;                   /* handed to a size class                           */
            uint8_t uncarved_zero;            /* hardened build: the page's memory was fresh zero
                                                 when it was cut for its class, so the blocks
                                                 still to carve are zero (page.c)                 */
            _Atomic(uint8_t) a_offer;         /* keel_offer: an empty slot offered to the purge
                                                 thread (segment.c, "offered slots")             */
            _Atomic(size_t) a_stat_block_size;  /* block_size (large: usable size) for keel_get_stats,
                                                 which reads pages of every thread: relaxed       */
            struct keel_page* next;           /* in a heap queue                                  */
            struct keel_page* prev;
            size_t slot_size;                 /* bytes of the page's area in the segment          */
            /* heap profile (profile.c): 1 + byte offset from `start` of a live
               sampled block, or 0; a_sampled_more counts those beyond the two.
               Written under the profiler's lock; read by any thread freeing into
               the page (a sampled block's entry is written before it escapes). */
            _Atomic(uint32_t) a_sampled[2];
            _Atomic(uint32_t) a_sampled_more;
            _Atomic(uint32_t) a_offered_at;   /* offered slot: when (ms, low 32 bits), written
                                                 before a_offer says OPEN                         */
            /* the hardened build's per-page secret (harden.h): its free
               lists' links are stored xor this; drawn at keel__page_init.
               Unused (0) in the other builds */
            uintptr_t link_key;
        };
        uint8_t owner_lines_[128];
    };
    /* Third line: what other threads' frees read and write (free.c,
       free_remote_plain), apart from the lines the owner writes at every
       allocation and free: a remote free and the owner's allocations from
       the same page do not take a cache line from each other at every
       block (xmalloc, where every block is freed by another thread: 0.56 ->
       0.48 s and 2.58 -> 2.32 s, the machine's two speeds). The remote_*
       fields are copies of the originals, made by keel__page_remote_sync
       at keel__page_init and where the page leaves its class. The fourth line is padding:
       a power-of-two size (keel_free finds a descriptor with a shift), and
       the adjacent-line prefetch of a third line brings no owner line. */
    union {
        struct {
            /* freed by other threads: a lock-free stack whose count
               travels with it (keel__thread_free_top/_count): low 32 bits
               1 + the top block's byte offset from start (0: empty), high
               32 bits the blocks it holds */
            _Atomic(uint64_t) a_thread_free;
            uint8_t* remote_start;            /* start                                            */
            uint64_t remote_block_magic;      /* block_magic                                      */
            uint64_t remote_carved_area;      /* block_area: the bytes of the carved blocks; the
                                                 owner stores it as it carves (relaxed atomic
                                                 builtins), so another thread's free tests a
                                                 carved block's start itself                      */
            uint32_t remote_block_size;       /* block_size                                       */
            uint8_t remote_flags;             /* has_aligned, kept with it (keel__page_flag_set):
                                                 read and written with relaxed atomic builtins    */
        };
        uint8_t remote_lines_[128];
    };
} keel_page;
_Static_assert(sizeof(keel_page) == 256, "keel_page must stay 256 bytes");
#if UINTPTR_MAX > 0xFFFFFFFFu
_Static_assert(offsetof(keel_page, capacity) == 64, "the owner's fast paths' fields fill the first cache line");
#endif
_Static_assert(offsetof(keel_page, a_thread_free) == 128, "other threads' frees have the third line");

typedef struct keel_page_queue { keel_page* first; keel_page* last; } keel_page_queue;

/* A segment's header, at its start. */
typedef struct keel_segment {
    uint32_t kind;                    /* keel_segment_kind                                */
    uint32_t page_shift;              /* log2 of its page size (large: segment shift)     */
    uint32_t page_count;
    uint32_t used_pages;              /* pages in use (owner only)                        */
    _Atomic(uint32_t) a_stat_pages;   /* page_count, for keel_get_stats (relaxed); a large
                                         segment's is KEEL_STAT_LARGE | 1                 */
    size_t reserved;                  /* bytes reserved from vmem                         */
    size_t header_size;               /* bytes of header, committed with the segment      */
    _Atomic(struct keel_theap*) a_heap; /* owner; NULL while abandoned or cached          */
    struct keel_segment* heap_next;   /* owner's list of segments with free page slots,
                                         or the abandoned list, or a cache                */
    struct keel_segment* heap_prev;
    struct keel_segment* all_next;    /* every segment: keel__segments (global lock)      */
    struct keel_segment* all_prev;
    size_t large_committed;           /* large: bytes committed after the header          */
    size_t large_offset;              /* large: offset of the block from the segment      */
    /* Unions, so that the header (and the offset of pages[], which the
       free fast path indexes) keeps its size. */
    union {
        uint64_t cached_at;           /* in a cache (large, segment) or abandoned: when it
                                         went there (ms), for the purge thread           */
        size_t large_usable;          /* large, in use: its usable size (the size asked,
                                         rounded to OS pages); committed memory beyond it
                                         is slack a growing block may grow into          */
    };
    union {
        size_t empty_committed;       /* small/medium, abandoned or cached: bytes of empty
                                         page slots kept committed,
                                         keel__segment_empty_committed() when it joined
                                         the list; the list's total is the sum of these
                                         (validate checks both)                           */
        size_t large_slack;           /* large, in use: what it counts in the slack total
                                         (large.c), large_committed - large_usable; 0
                                         in the cache                                    */
    };
    uint32_t cookie;                  /* KEEL_SEGMENT_COOKIE: checked by validate         */
    uint16_t first_class;             /* owned by a first-class heap's theap (a_heap):
                                         written by the owner before any block escapes,
                                         cleared when the segment leaves it, so that a
                                         thread holding a block may read it (heap_first.c) */
    _Atomic(uint32_t) a_offers;       /* its slots whose a_offer is not NONE: the owner
                                         adds (release) after offering, subtracts when it
                                         takes one back; the purge thread reads it first
                                         (acquire), then the layout it was offered in    */
    _Alignas(64) keel_page pages[];   /* page_count descriptors                           */
} keel_segment;

_Static_assert(offsetof(keel_segment, pages) % 64 == 0, "page descriptors start on a cache line");

#define KEEL_SEGMENT_COOKIE 0x6b65656cu  /* "keel" */
#define KEEL_STAT_LARGE 0x80000000u      /* a_stat_pages: one large block, no class */

/* A heap's segments of one kind, linked through heap_next/heap_prev; the
   tail makes moving a segment that filled up to the back O(1) (a big
   segment fills with its one page). */
typedef struct keel_segment_list { keel_segment* first; keel_segment* last; } keel_segment_list;

/* A thread heap. Only its thread touches it, except the relaxed counters
   that stats read and the registry links (under the registry lock). */
typedef struct keel_theap {
    keel_page* direct[KEEL_DIRECT_COUNT];        /* size/16 -> current page of its class */
    keel_page_queue queues[KEEL_CLASS_COUNT];     /* pages that may have free blocks      */
    keel_page_queue full[KEEL_CLASS_COUNT];       /* pages with no free block             */
    keel_segment_list segments[KEEL_PAGE_KINDS];  /* owned, per kind (small, medium, big),
                                                     those with free slots first          */
    /* counters read by keel_get_stats (written by the owner only, relaxed) */
    _Atomic(size_t) a_allocs;                     /* allocations made by this heap        */
    /* sampling (alloc.c, "sampling events"): every allocation subtracts its
       size; below zero comes the next event, the heap profile's
       (profile.c) or guarded sampling's (guarded.h), and the countdown to
       the nearer next one is drawn. Next to a_allocs, which the fast path
       writes too: the same cache line. */
    ptrdiff_t sample_left;
    ptrdiff_t sample_armed;                       /* what sample_left was set to last      */
    size_t sample_armed_allocs;                   /* a_allocs then                         */
    ptrdiff_t profile_left;                       /* the profile's own countdown (bytes)   */
    size_t guard_next;                            /* the a_allocs count of the next guarded
                                                     allocation (0: off)                   */
    long long guard_rate;                         /* the guarded_sample_rate it was drawn for */
    uint64_t guard_rng;                           /* xorshift state for the gaps; 0: unseeded */
    unsigned guard_backoff;                       /* gaps x 2^this while the cost cap refuses */
    long long sample_rate;                        /* the profile_sample it was drawn for   */
    uint64_t sample_rng;                          /* xorshift state; 0 until first drawn  */
    int sample_busy;                              /* inside the profiler: take no sample  */
    uint32_t sample_captures;                     /* stacks this thread captured so far   */
    _Atomic(size_t) a_remote_freed_bytes;         /* this thread's frees into others' pages */
    _Atomic(size_t) a_remote_freed_blocks;
    _Atomic(size_t) a_collected_bytes;            /* collected from this heap's thread_free lists */
    _Atomic(size_t) a_collected_blocks;
    _Atomic(size_t) a_aligned_offset_bytes;       /* offsets of live interior-aligned blocks (+/-) */
    size_t empty_cached_bytes;                    /* committed empty page slots held:
                                                     exactly the slot_size of every slot of
                                                     its segments that is not in use and
                                                     holds memory (validate recomputes it) */
    keel_page_queue sample_pages[KEEL_CLASS_COUNT]; /* pages serving only blocks the heap
                                                     profile sampled, small classes only
                                                     (alloc.c); never in queues/full      */
    uint32_t full_scan_skipped;                   /* scans of full pages skipped since the
                                                     last (alloc.c, page_from_full)       */
    uint8_t try_only;                             /* set while a realloc tries the block
                                                     an eighth larger (alloc.c): a failure
                                                     is NULL at once, no out-of-memory
                                                     policy                               */
#if KEEL_HARDENED
    /* the hardened build's quarantine (harden.c): blocks freed through this
       heap wait in a random slot of `quarantine`, then in the FIFO
       quarantine_fifo, before they are freed for reuse */
    void* quarantine[KEEL_QUARANTINE_SLOTS];
    void* quarantine_fifo[KEEL_QUARANTINE_SLOTS];
    uint32_t quarantine_fifo_at;
    uint64_t quarantine_rng;
    _Atomic(size_t) a_quarantined_blocks;         /* blocks in the quarantine (its owner's) */
    _Atomic(size_t) a_hidden_bytes;               /* bytes of live blocks that are not the
                                                     program's (canaries) and of quarantined
                                                     blocks, for keel_get_stats (harden.c
                                                     says who writes it)                  */
#endif
    struct keel_heap* first_class;                /* the first-class heap this is part of;
                                                     NULL for a thread heap. Fixed for the
                                                     struct's life                        */
    struct keel_theap* reg_next;                  /* registry (keel__registry_lock)       */
    struct keel_theap* reg_prev;
    /* set, once, by the first free of another thread onto an empty
       a_thread_free of one of this heap's pages (free.c, thread_free_push);
       never cleared while the heap lives: the allocation scans its full
       pages for such frees only when set (alloc.c, page_from_full). Last,
       beside fields written only as threads come and go */
    _Atomic(uint8_t) a_freed_into;
} keel_theap;

/* ---- per-thread state ---- */
extern KEEL_HIDDEN keel_theap keel__heap_empty;  /* every thread starts here: all pages empty */
extern KEEL_HIDDEN keel_page keel__page_empty;
/* The calling thread's heap. libkeel.a (and the override) use the
   initial-exec TLS model: one instruction on the fast paths; libkeel.so,
   which programs may dlopen, keeps the general model. */
#if defined(KEEL_TLS_INITIAL_EXEC) && defined(__GNUC__) && !defined(_WIN32)
#define KEEL_TLS_ATTR __attribute__((tls_model("initial-exec")))
#else
#define KEEL_TLS_ATTR
#endif
extern KEEL_HIDDEN _Thread_local keel_theap* keel__tls_heap KEEL_TLS_ATTR;

/* ---- the purge thread (purge.c) ---- */
/* The pass the thread runs (reclaim.c): each cache gives back what it has
   held longer than purge_delay; returns the committed bytes still cached. */
typedef size_t (*keel_purge_pass_fn)(void);
KEEL_HIDDEN void keel__purge_register(keel_purge_pass_fn pass);
/* Memory entered a cache (call with no lock held): when no thread runs
   and one is wanted, its start is due. Starts nothing: the caller may be
   in the middle of a heap operation, where starting a thread
   (pthread_create allocates) would enter keel again before its state is
   whole. */
KEEL_HIDDEN void keel__purge_wake(void);
KEEL_HIDDEN void keel__purge_start(void);
extern KEEL_HIDDEN _Atomic(int) keel__purge_due;
/* Starts the thread when a wake made it due. Only where an allocation on
   this thread may run: at the end of a public call, no keel lock held,
   no page or queue of the thread's heap held by a caller. */
static inline void keel__purge_start_due(void) {
    if (KEEL_UNLIKELY(atomic_load_explicit(&keel__purge_due, memory_order_relaxed) != 0)) keel__purge_start();
}
/* Whether a purge thread runs (memory left for it goes back after
   purge_delay even if the program calls keel no more), starting none. */
KEEL_HIDDEN bool keel__purge_running(void);
KEEL_HIDDEN void keel__purge_child_reset(void);   /* in a forked child */

/* Whether memory cached at cached_at (ms) has waited purge_delay (delay;
   -1: never by age) by now: the three caches the purge thread ages. */
static inline bool keel__cache_expired(uint64_t cached_at, uint64_t now, long long delay) {
    return delay >= 0 && now - cached_at >= (uint64_t)delay;
}

/* ---- size classes (size_class.c) ---- */
KEEL_HIDDEN extern const uint32_t keel__class_size[KEEL_CLASS_COUNT];
static inline size_t keel__class_of(size_t size) {
    size_t w, b;
    if (size <= 128) return size <= 16 ? 1 : (size + 15) >> 4;
    w = size - 1;
    b = (size_t)63 - (size_t)__builtin_clzll((unsigned long long)w);
    return 9 + (b - 7) * 8 + ((w >> (b - 3)) & 7);
}

/* ---- the OS seam (src/os/) ---- */
#include "os/os.h"

/* ---- segments (segment.c) ---- */
KEEL_HIDDEN keel_segment* keel__segment_new(keel_theap* heap, keel_segment_kind kind);
KEEL_HIDDEN void keel__segment_free(keel_segment* seg);
KEEL_HIDDEN keel_page* keel__segment_page_alloc(keel_theap* heap, keel_segment_kind kind);
KEEL_HIDDEN bool keel__segment_page_free(keel_theap* heap, keel_page* page);  /* true: segment freed */
KEEL_HIDDEN size_t keel__segment_flush_caches(void);
KEEL_HIDDEN size_t keel__segment_cache_age(void);   /* the purge thread's pass (purge.c) */
KEEL_HIDDEN size_t keel__segment_purge_heap(keel_theap* heap, bool all);
KEEL_HIDDEN keel_segment* keel__segment_cache_first(void);
KEEL_HIDDEN bool keel__segment_cache_counts_agree(void);
KEEL_HIDDEN void keel__heap_take_segment(keel_theap* heap, keel_segment* seg);  /* into its kind's list */
KEEL_HIDDEN void keel__heap_drop_segment(keel_theap* heap, keel_segment* seg);
KEEL_HIDDEN size_t keel__segment_empty_committed(const keel_segment* seg);
KEEL_HIDDEN size_t keel__heap_empty_committed(const keel_theap* heap);  /* sum over its segments */
KEEL_HIDDEN size_t keel__segment_purge_slots(keel_segment* seg);
/* Every offered slot of seg its owner's again (heap: its owner, or NULL for
   a segment an exited or forked-away thread left) */
KEEL_HIDDEN void keel__segment_reclaim_offers(keel_theap* heap, keel_segment* seg);
KEEL_HIDDEN size_t keel__segment_offers_age(bool all);   /* the purge thread's pass (purge.c) */

/* The bytes of page slot i of a small/medium segment whose pages are
   page_size bytes and whose header is header bytes: [*lo, *hi) from the
   segment's start, empty when the header eats it. The hardened build
   (harden.h) leaves one OS page at the end of every slot, and one after
   the header, reserved and never committed: a guard after every page, and
   between the page descriptors and the first page's blocks (where an OS
   page is at least an eighth of a page: with 64 KiB OS pages, small pages
   have none). segment.c lays slots out by it; stats.c reads their sizes
   from it. */
static inline void keel__slot_bounds(size_t i, size_t page_size, size_t header, size_t* lo, size_t* hi) {
    size_t os_page = vmem_get_page_size();
    size_t guard = KEEL_HARDENED && page_size >= 8 * os_page ? os_page : 0;
    *lo = i * page_size;
    *hi = *lo + page_size - guard;
    if (*lo < header) *lo = header + guard;
    if (*hi < *lo) *hi = *lo;
}

/* ---- pages (page.c) ---- */
KEEL_HIDDEN void keel__page_init(keel_page* page, size_t class_index);
/* The page leaves its class with every block free (keel__segment_page_free):
   in the hardened build it records, for keel__page_init, what its slot
   holds; nothing in the others. */
KEEL_HIDDEN void keel__page_note_empty(keel_page* page);
KEEL_HIDDEN bool keel__page_counts_add_up(const keel_page* page);   /* for keel__assert_expensive */
/* Whether b is a block start inside the carved part of the page. */
static inline bool keel__block_in_page(const keel_page* page, const void* b) {
    const uint8_t* p = (const uint8_t*)b;
    return p >= page->start && p < page->start + (size_t)page->capacity * page->block_size &&
           (size_t)(p - page->start) % page->block_size == 0;
}
KEEL_HIDDEN bool keel__page_extend(keel_page* page);
/* The OS page size, read once (vmem_get_page_size is a call into vmem.c
   that asks vmem_get_page_info): for the allocation paths. */
extern KEEL_HIDDEN size_t keel__page_size_cached;
KEEL_HIDDEN size_t keel__os_page_size_read(void);
static inline size_t keel__os_page_size(void) {
    size_t v = __atomic_load_n(&keel__page_size_cached, __ATOMIC_RELAXED);
    return KEEL_LIKELY(v != 0) ? v : keel__os_page_size_read();
}
KEEL_HIDDEN size_t keel__page_collect(keel_theap* heap, keel_page* page);
/* a_thread_free, one word: its top block (start: the page's, or its
   remote_start copy) and how many blocks it holds. The word a push of b
   (a block of the page) makes of w: b on top, one block more. */
#define KEEL_THREAD_FREE_ONE ((uint64_t)1 << 32)
static inline keel_block* keel__thread_free_top(const uint8_t* start, uint64_t w) {
    uint32_t at = (uint32_t)w;
    return at ? (keel_block*)(void*)(uintptr_t)(start + at - 1) : NULL;
}
static inline uint32_t keel__thread_free_count(uint64_t w) { return (uint32_t)(w >> 32); }
static inline uint64_t keel__thread_free_pushed(const uint8_t* start, uint64_t w, const keel_block* b) {
    return ((w >> 32) << 32) + KEEL_THREAD_FREE_ONE + (uint64_t)((const uint8_t*)b - start) + 1;
}
/* The owner's frees (local_free) become the free list, which is empty:
   keel__page_collect's first step, inline for the allocation's refill. */
static inline void keel__page_take_local(keel_page* page) {
    page->free = page->local_free;
    page->local_free = NULL;
    page->free_is_zero = 0;
}
static inline keel_page* keel__page_of(keel_segment* seg, const void* p) {
    return &seg->pages[((uintptr_t)p - (uintptr_t)seg) >> seg->page_shift];
}
/* The segment an address of a small or medium segment lies in (its
   header, a page descriptor, a block): those segments are aligned to their
   size, so no segment map. Not for large spans or foreign pointers. */
static inline keel_segment* keel__segment_at(const void* p) {
    return (keel_segment*)((uintptr_t)p & ~(uintptr_t)(KEEL_SEGMENT_SIZE - 1));
}
/* The segment a page descriptor lives in. */
static inline keel_segment* keel__segment_of_page(const keel_page* page) { return keel__segment_at(page); }
static inline uint32_t keel__page_used(const keel_page* page) {
    return atomic_load_explicit(&page->a_used, memory_order_relaxed);
}
/* has_aligned shares a 16-bit word with in_full (free_flags, which the free
   fast path reads in one load), so it cannot be an _Atomic field; it is read
   and written with relaxed atomic builtins instead, so that the owner's
   write and another thread's read are not a data race. Relaxed: the block
   that makes the flag matter reaches the other thread through a
   happens-before chain that started after the write. */
#define KEEL_PAGE_ALIGNED 1u
#define KEEL_PAGE_SAMPLED 2u
#define KEEL_PAGE_SAMPLE_ONLY 4u   /* in heap->sample_pages, from keel__page_init to its retirement */
static inline bool keel__page_has_aligned(const keel_page* page) {
    return (__atomic_load_n(&page->has_aligned, __ATOMIC_RELAXED) & KEEL_PAGE_ALIGNED) != 0;
}
static inline bool keel__page_has_sampled(const keel_page* page) {
    return (__atomic_load_n(&page->has_aligned, __ATOMIC_RELAXED) & KEEL_PAGE_SAMPLED) != 0;
}
/* Owner only (or under the abandoned lock): the page is one of the heap
   profile's own, in heap->sample_pages[class] instead of its class's queues. */
static inline bool keel__page_sample_only(const keel_page* page) {
    return (__atomic_load_n(&page->has_aligned, __ATOMIC_RELAXED) & KEEL_PAGE_SAMPLE_ONLY) != 0;
}
/* Owner only: a load and a store, no RMW (nobody else writes the byte). */
static inline void keel__page_flag_set(keel_page* page, unsigned flag, bool on) {
    unsigned v = __atomic_load_n(&page->has_aligned, __ATOMIC_RELAXED);
    __atomic_store_n(&page->has_aligned, (uint8_t)(on ? v | flag : v & ~flag), __ATOMIC_RELAXED);
    __atomic_store_n(&page->remote_flags, (uint8_t)(on ? v | flag : v & ~flag), __ATOMIC_RELAXED);
}
/* The page's third line (other threads' frees) made the copy of its
   originals again: at keel__page_init, and where the page leaves its class
   or its slot is cleared, after the originals were written. */
static inline void keel__page_remote_sync(keel_page* page) {
    page->remote_start = page->start;
    page->remote_block_magic = page->block_magic;
    page->remote_block_size = page->block_size;
    __atomic_store_n(&page->remote_carved_area, page->block_area, __ATOMIC_RELAXED);
    __atomic_store_n(&page->remote_flags, __atomic_load_n(&page->has_aligned, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}
static inline void keel__page_has_aligned_set(keel_page* page) {
    keel__page_flag_set(page, KEEL_PAGE_ALIGNED, true);
}
/* Only the owner writes a_used: a relaxed load and store, no RMW, cost
   nothing on x86 and arm64; stats read it relaxed from other threads. */
static inline void keel__page_used_set(keel_page* page, uint32_t v) {
    atomic_store_explicit(&page->a_used, v, memory_order_relaxed);
}
static inline void keel__counter_add(_Atomic(size_t)* c, size_t v) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v, memory_order_relaxed);
}

/* The same two counters, by one on the fast paths. On x86 one instruction
   with a memory operand (add/sub, no lock prefix) does the load and the
   store: other threads' relaxed loads see the old value or the new one,
   never a mix, as with the pair above (an aligned access). A compiler sees
   no RMW in atomic_load + atomic_store and keeps three instructions; TSan
   must see the atomic accesses, so its build keeps them. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KEEL_TSAN_BUILD 1
#endif
#endif
#ifndef KEEL_TSAN_BUILD
#define KEEL_TSAN_BUILD 0
#endif
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(__SANITIZE_THREAD__) && !KEEL_TSAN_BUILD
#define KEEL_OWNER_RMW 1
#else
#define KEEL_OWNER_RMW 0
#endif
static inline void keel__page_used_inc(keel_page* page) {
#if KEEL_OWNER_RMW
    __asm__("addl $1, %0" : "+m"(*(uint32_t*)(void*)&page->a_used));
#else
    keel__page_used_set(page, keel__page_used(page) + 1);
#endif
}
/* true: the page's count went to 0 */
static inline bool keel__page_used_dec_zero(keel_page* page) {
#if KEEL_OWNER_RMW
    bool zero;
    __asm__("subl $1, %0" : "+m"(*(uint32_t*)(void*)&page->a_used), "=@ccz"(zero));
    return zero;
#else
    uint32_t used = keel__page_used(page) - 1;
    keel__page_used_set(page, used);
    return used == 0;
#endif
}
static inline void keel__counter_inc(_Atomic(size_t)* c) {
#if KEEL_OWNER_RMW && UINTPTR_MAX > 0xFFFFFFFFu
    __asm__("addq $1, %0" : "+m"(*(size_t*)(void*)c));
#elif KEEL_OWNER_RMW
    __asm__("addl $1, %0" : "+m"(*(size_t*)(void*)c));
#else
    keel__counter_add(c, 1);
#endif
}

/* ---- large blocks (large.c) ---- */
/* growing: for a realloc to a larger size, which will likely grow again
   (large.c prefers the cached span with the most memory, and keeps it). */
KEEL_HIDDEN void* keel__large_alloc(size_t size, size_t alignment, bool zero, bool growing);
KEEL_HIDDEN void keel__large_free_span(keel_segment* seg);
KEEL_HIDDEN bool keel__large_resize_in_place(keel_segment* seg, size_t new_size);
/* realloc's move of a large block to dst: its pages moved (Linux), or copied
   with the source's memory given back as it goes. */
KEEL_HIDDEN void keel__large_copy_out(keel_segment* seg, void* dst, const void* src, size_t n);
KEEL_HIDDEN size_t keel__large_usable(const keel_segment* seg);
KEEL_HIDDEN size_t keel__large_cache_flush(bool all);
KEEL_HIDDEN size_t keel__large_cache_age(void);     /* the purge thread's pass (purge.c) */
/* n bytes were committed for a heap's page: the cache decommits as much of
   what it holds beyond large_cache_bytes (oldest spans first), so its
   share of the memory in use never adds to a peak the heaps make. */
KEEL_HIDDEN void keel__large_cache_yield(size_t n);
KEEL_HIDDEN void keel__large_lock(void);
KEEL_HIDDEN void keel__large_unlock(void);
KEEL_HIDDEN void keel__large_child_reset(void);
KEEL_HIDDEN void keel__large_validate(void);
/* large.c's table of the OS mappings a large span's memory is in (span_pieces):
   whether it holds together (validate), and how many (tests) */
KEEL_HIDDEN bool keel__large_pieces_ok(keel_segment* seg);
KEEL_HIDDEN size_t keel__large_piece_count(keel_segment* seg);

/* ---- thread heaps (heap.c) ---- */
KEEL_HIDDEN keel_theap* keel__heap_get(void);           /* the calling thread's, created on demand; NULL on OOM */
KEEL_HIDDEN bool keel__heap_adopt_abandoned(keel_theap* heap);
KEEL_HIDDEN void keel__abandoned_lock(void);
KEEL_HIDDEN void keel__abandoned_unlock(void);
KEEL_HIDDEN keel_segment* keel__abandoned_first(void);
KEEL_HIDDEN size_t keel__abandoned_empty_bytes(void);   /* their empty committed slots */
KEEL_HIDDEN size_t keel__abandoned_age(void);           /* the purge thread's pass (purge.c) */
KEEL_HIDDEN size_t keel__purge_pass(void);              /* reclaim.c: every cache's share of it */
KEEL_HIDDEN void keel__registry_lock(void);
KEEL_HIDDEN void keel__registry_unlock(void);
KEEL_HIDDEN bool keel__registry_lock_try(void);
extern KEEL_HIDDEN keel_theap* keel__registry;
KEEL_HIDDEN void keel__process_init(void);

/* A first-class heap (DESIGN.md section 11, docs/heaps.md): a thread
   heap's machinery behind a lock. Every keel_heap_* call runs the thread
   heap code on `theap` while holding `lock`; its segments' owner is
   `theap`, never a thread's TLS heap, so every keel_free of its blocks,
   from any thread, takes the other-thread path (a lock-free push that the
   heap collects on its next slow path). */
/* A caller's reservation that a first-class heap lives in
   (keel_heap_new_in; region.c): cut into KEEL_SEGMENT_SIZE chunks, each
   a segment's address space or part of a large block's. The bitmap of
   chunks in use lives in the region itself, in its first chunk (the heap's
   home segment, whose header also holds the heap). */
typedef struct keel_region {
    uint8_t* base;                 /* NULL: the heap's segments come from vmem      */
    size_t chunk_count;
    uint64_t* used;                /* bit i: chunk i taken                          */
    size_t used_count;
    keel_lock lock;                /* frees of large blocks come from any thread    */
} keel_region;

struct keel_heap {
    keel_lock lock;                /* keel_heap_* calls: one thread at a time        */
    keel_lock large_lock;          /* `large`: its large blocks are freed from any
                                      thread, without `lock`                         */
    keel_segment* large;           /* its live large blocks (heap_next/heap_prev)    */
    _Atomic(size_t) a_committed;   /* what its segments and large blocks hold
                                      committed, headers included                    */
    _Atomic(size_t) a_peak_committed;
    _Atomic(size_t) a_limit;       /* keel_heap_set_limit's cap on a_committed; 0: none */
    struct keel_heap* next;        /* every first-class heap (heap_first.c)          */
    struct keel_heap* prev;
    keel_region region;            /* keel_heap_new_in's memory, else base NULL      */
    keel_theap theap;              /* its pages, segments and counters               */
};
/* seg->first_class: 1 for a first-class heap's segment, 2 for the home
   segment of a heap in a region (it holds the heap: freed last, at destroy). */
#define KEEL_FIRST_CLASS_HOME 2

/* ---- first-class heaps (heap_first.c) ---- */
struct keel_counters;
/* A heap's lock on its allocation paths: the uncontended take (an
   exchange) and the release (a store) inline; a held lock waits in
   keel__lock. */
static inline void keel__heap_lock(keel_heap* heap) {
    /* acquire: the critical section sees the previous holder's writes */
    if (KEEL_UNLIKELY(atomic_flag_test_and_set_explicit(&heap->lock.a_held, memory_order_acquire)))
        keel__lock(&heap->lock);
}
static inline void keel__heap_unlock(keel_heap* heap) {
    atomic_flag_clear_explicit(&heap->lock.a_held, memory_order_release);
}
/* The first-class heap owning seg, NULL for a thread heap's or a free
   segment. Any thread holding a block of seg may ask. */
static inline keel_heap* keel__first_class_of(const keel_segment* seg) {
    if (!seg->first_class) return NULL;
    return atomic_load_explicit(&seg->a_heap, memory_order_relaxed)->first_class;
}
/* Memory committed (+) or given back (-) in a segment a first-class heap
   owns: counted in that heap's a_committed. */
KEEL_HIDDEN void keel__first_class_committed(keel_heap* heap, ptrdiff_t delta);   /* counters.c */
static inline void keel__segment_committed_owner(const keel_segment* seg, ptrdiff_t delta) {
    if (seg->first_class) keel__first_class_committed(keel__first_class_of(seg), delta);
}
/* + n to the heap's committed memory unless past its limit (counters.c) */
KEEL_HIDDEN bool keel__first_class_charge(keel_heap* heap, size_t n);
/* Charges n bytes about to be committed in seg: against its first-class
   heap's limit (if a heap owns it), then keel__commit_charge's; false and
   nothing charged when either would be crossed. keel__commit_uncharge_in
   gives a charge back (the OS refused, or the memory went back). */
KEEL_HIDDEN bool keel__commit_charge_in(const keel_segment* seg, size_t n);
KEEL_HIDDEN void keel__commit_uncharge_in(const keel_segment* seg, size_t n);
/* A new large block joins heap (under heap->lock): false when the heap's
   limit cannot take its memory (the block is then freed). */
KEEL_HIDDEN bool keel__first_class_large_add(keel_heap* heap, void* block);
KEEL_HIDDEN void keel__first_class_large_free(keel_segment* seg);            /* freed, from any thread */
KEEL_HIDDEN void keel__first_class_fork_prepare(void);
KEEL_HIDDEN void keel__first_class_fork_parent(void);
KEEL_HIDDEN void keel__first_class_fork_child(void);
KEEL_HIDDEN keel_heap* keel__first_class_first(void);   /* the list's first (list lock held) */
KEEL_HIDDEN void keel__validate_theap(keel_theap* heap);   /* validate.c: a heap its caller may walk */
KEEL_HIDDEN void keel__first_class_trim(void);
/* For stats.c: the list lock (taken before the registry lock), and the
   counters of every first-class heap added to c; caller holds the lock. */
KEEL_HIDDEN void keel__first_class_list_lock(void);
KEEL_HIDDEN bool keel__first_class_list_lock_try(void);
KEEL_HIDDEN void keel__first_class_list_unlock(void);
KEEL_HIDDEN void keel__first_class_counters_locked(struct keel_counters* c);
KEEL_HIDDEN void keel__segment_discard(keel_theap* heap, keel_segment* seg);   /* segment.c */
/* The region a heap's memory comes from; NULL for vmem's (a thread heap,
   or a first-class heap made by keel_heap_new). */
static inline keel_region* keel__theap_region(const keel_theap* heap) {
    return heap->first_class && heap->first_class->region.base ? &heap->first_class->region : NULL;
}
/* The same for the heap owning seg. */
static inline keel_region* keel__region_of(const keel_segment* seg) {
    keel_heap* heap = keel__first_class_of(seg);
    return heap ? keel__theap_region(&heap->theap) : NULL;
}
/* region.c: chunks of a region. take: n contiguous chunks whose start is
   aligned to `alignment` (a multiple of the chunk size), NULL when none;
   give: back (decommitted by the caller). */
KEEL_HIDDEN void* keel__region_take(keel_region* region, size_t n, size_t alignment);
KEEL_HIDDEN void keel__region_give(keel_region* region, void* at, size_t n);
/* segment.c: the home segment of a heap in a region, at the region's
   start, its header `header` bytes (the heap after the segment's own
   header): committed, laid out, registered; false when the OS refuses. */
KEEL_HIDDEN bool keel__segment_home_init(keel_segment* seg, size_t header);
KEEL_HIDDEN void keel__segment_home_release(keel_segment* seg);   /* at destroy, last */
/* large.c: large blocks inside a region */
/* (memory fresh from a region reads as zero: no zeroing to ask for) */
KEEL_HIDDEN void* keel__large_alloc_in(keel_region* region, size_t size, size_t alignment);
KEEL_HIDDEN void keel__large_free_in(keel_region* region, keel_segment* seg);

/* ---- allocation and free (alloc.c, free.c) ---- */
/* caller: the return address of the public entry point (the heap profile's
   first frame of the program) */
KEEL_HIDDEN void* keel__alloc_slow(keel_theap* heap, size_t size, bool zero, void* caller);
KEEL_HIDDEN void keel__free_slow(keel_segment* seg, keel_page* page, void* p);
/* The free of block p of a first-class heap whose lock the caller holds:
   as its owner (the hardened build's quarantine, harden.c). */
KEEL_HIDDEN void keel__free_first_class_locked(keel_segment* seg, void* p);
KEEL_HIDDEN void* keel__block_start(const keel_page* page, const void* p);
KEEL_HIDDEN size_t keel__usable_size_checked(keel_segment* seg, const void* p, const char* op);
/* keel_realloc of ptr (not NULL) once its segment is known (the override
   looked it up already). */
KEEL_HIDDEN void* keel__realloc_in_segment(keel_segment* seg, void* ptr, size_t num_bytes);

/* ---- accounting (counters.c) ---- */
typedef struct keel_counters {
    size_t committed, peak_committed, reserved, cached;
    /* retired heaps and threads with no heap */
    size_t allocs, remote_bytes, remote_blocks, collected_bytes, collected_blocks, aligned_offset;
    size_t hidden_bytes, quarantined_blocks;   /* hardened build: canaries and quarantines */
} keel_counters;
KEEL_HIDDEN void keel__counters_read(keel_counters* c);
/* A live heap's own counters, added to c (relaxed reads: exact when no
   thread is allocating) */
KEEL_HIDDEN void keel__theap_counters_add(const keel_theap* t, keel_counters* c);
KEEL_HIDDEN void keel__stat_committed(ptrdiff_t delta);        /* held committed memory     */
KEEL_HIDDEN bool keel__commit_charge(size_t n);                /* + n unless past the limit */
KEEL_HIDDEN void keel__stat_reserved(ptrdiff_t delta);
KEEL_HIDDEN void keel__stat_cached(ptrdiff_t delta);
KEEL_HIDDEN size_t keel__stat_cached_now(void);                /* committed in keel's caches */
KEEL_HIDDEN void keel__stat_remote_free_global(size_t bytes);   /* a thread with no heap */
/* A free into another thread's page, counted by the freeing thread: its
   heap's counters (inline: every remote free comes here), or the global
   ones for a thread with no heap. */
static inline void keel__stat_remote_free(keel_theap* heap, size_t bytes) {
    if (KEEL_LIKELY(heap != &keel__heap_empty)) {
        keel__counter_add(&heap->a_remote_freed_bytes, bytes);
        keel__counter_add(&heap->a_remote_freed_blocks, 1);
    } else {
        keel__stat_remote_free_global(bytes);
    }
}
KEEL_HIDDEN void keel__stat_fold_heap(keel_theap* heap);       /* at heap retirement        */
KEEL_HIDDEN void keel__stat_collected_global(size_t blocks, size_t bytes);
KEEL_HIDDEN void keel__stat_aligned_offset_global(size_t delta);
KEEL_HIDDEN void keel__stat_hidden_global(size_t delta);       /* hardened build (harden.c) */
KEEL_HIDDEN size_t keel__stat_committed_now(void);
/* for keel_stats_print: the sampled peak of live bytes (counters.c says how
   it is sampled), heaps ever created, time since start-up */
KEEL_HIDDEN void keel__stat_live_seen(size_t live);            /* at every reading of live bytes */
KEEL_HIDDEN size_t keel__stat_peak_live(void);
KEEL_HIDDEN bool keel__stat_sample_take(void);                 /* true: a sample is due, and now taken */
KEEL_HIDDEN void keel__stat_heap_created(void);
KEEL_HIDDEN size_t keel__stat_heaps_created(void);
KEEL_HIDDEN void keel__stat_mark_start(void);                  /* once, at options init */
KEEL_HIDDEN uint64_t keel__stat_elapsed_ms(void);

/* ---- statistics (stats.c) ---- */
/* One size class's pages in a statistics walk (index 0: large blocks). */
typedef struct keel_class_usage {
    size_t pages;       /* pages in use (large: live blocks)                      */
    size_t blocks;      /* their used blocks (owners' view: blocks other threads
                           freed and the owner has not collected still count)     */
    size_t bytes;       /* blocks * block size (large: usable size)               */
    size_t committed;   /* the pages' memory (large: the committed span)          */
} keel_class_usage;
/* keel_get_stats; with classes (KEEL_CLASS_COUNT entries, zeroed by the
   caller) also each size class's pages, from the same walk. */
KEEL_HIDDEN keel_stats keel__stats_read(keel_class_usage* classes);
/* The allocation slow path's hook: a reading of live bytes when
   counters.c says one is due (committed grew 1/8 since the last). */
KEEL_HIDDEN void keel__stats_sample(void);
KEEL_HIDDEN void keel__stats_report(keel_output_fn out, void* user_data, const char* title);   /* stats_print.c */
KEEL_HIDDEN size_t keel__segment_header_bytes(void);           /* segment.c: a small/medium segment's header */

/* ---- internal assertions (KEEL_DEBUG, config.h) ----
   keel__assert: a cheap invariant, checked from KEEL_DEBUG 1;
   keel__assert_expensive: a walk or a recount, from KEEL_DEBUG 2. Neither
   evaluates its argument below its level. */
KEEL_HIDDEN _Noreturn void keel__assert_fail(const char* what, const char* file, int line);
#if KEEL_DEBUG >= 1
#define keel__assert(cond) (KEEL_LIKELY(cond) ? (void)0 : keel__assert_fail(#cond, __FILE__, __LINE__))
#else
#define keel__assert(cond) ((void)0)
#endif
#if KEEL_DEBUG >= 2
#define keel__assert_expensive(cond) keel__assert(cond)
#else
#define keel__assert_expensive(cond) ((void)0)
#endif

/* ---- the process's secret (secret.c; the hardened build's) ---- */
extern KEEL_HIDDEN _Atomic(uint64_t) keel__a_secret;   /* 0 until drawn */
KEEL_HIDDEN uint64_t keel__secret_draw(void);
/* the secret: drawn from the OS on first use, never 0. Relaxed: a value
   with no memory behind it; every thread ends with the one drawn first */
static inline uint64_t keel__secret(void) {
    uint64_t s = atomic_load_explicit(&keel__a_secret, memory_order_relaxed);
    return KEEL_LIKELY(s != 0) ? s : keel__secret_draw();
}
KEEL_HIDDEN uint64_t keel__random(void);          /* 64 fresh bits: a counter mixed with it */
KEEL_HIDDEN uint64_t keel__mix64(uint64_t z);     /* splitmix64's finaliser */

/* ---- errors (errors.c) ---- */
KEEL_HIDDEN void keel__fatal(const char* what);                 /* "keel: <what>", abort     */
KEEL_HIDDEN void keel__corruption(const char* what);            /* "keel: heap corruption: " */
KEEL_HIDDEN void keel__report_invalid(const char* op, const void* p);   /* outside keel: reported */
/* Misuse inside keel's memory (DESIGN.md section 10): one line, abort.
   "keel: <op> of invalid pointer 0x...", "keel: double free of 0x...",
   "keel: heap corruption: <what> 0x...<tail>". */
KEEL_HIDDEN KEEL_NORETURN void keel__misuse_invalid(const char* op, const void* p);
KEEL_HIDDEN KEEL_NORETURN void keel__misuse_double_free(const void* p);
KEEL_HIDDEN KEEL_NORETURN void keel__corruption_at(const char* what, const void* p, const char* tail);
/* "keel: heap corruption: free block 0x... damaged (...)", abort. Declared
   to return, so the allocation fast path reaches it with a tail call. */
KEEL_HIDDEN void* keel__free_block_damaged(const void* b);
/* A line built without stdio or the heap, written to fd 2 in one write. */
typedef struct keel_line { char text[160]; size_t len; } keel_line;
KEEL_HIDDEN void keel__line_put(keel_line* b, const char* s);
KEEL_HIDDEN void keel__line_put_uint(keel_line* b, unsigned long long v);
KEEL_HIDDEN void keel__line_put_hex(keel_line* b, uintptr_t v);   /* 0x... as %p prints it */
KEEL_HIDDEN void keel__line_write(keel_line* b);                  /* adds the newline */

/* ---- giving back empty memory, out of memory (reclaim.c) ---- */
/* heap: the allocating heap (keel__heap_empty if none), whose empty pages go back first */
KEEL_HIDDEN bool keel__oom_retry(keel_theap* heap, size_t size, unsigned attempt);  /* after a failed attempt */

#endif /* KEEL_INTERNAL_H */
