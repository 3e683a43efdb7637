/* large.c — blocks above KEEL_BIG_MAX, and the blocks above KEEL_MEDIUM_MAX
   that no big page serves (realloc's growing blocks, first-class heaps',
   over-aligned ones, the hardened build's, under ulimit -v): each gets a segment of its own,
   reserved beyond its size so realloc can grow it in place by committing
   more. Freed spans wait in a cache, still committed, so programs that
   reuse big buffers don't fault memory in again each time; the cache is
   bounded in count and in bytes (a share of the memory in use, see
   cache_budget), its oldest memory is decommitted first, and what stays
   longer than purge_delay goes back (the purge thread).

   Growing blocks. A block that realloc moves into a large span grows, most
   likely, again (vectors, string builders). It takes the cached span with
   the most committed memory and keeps all of it: the memory beyond its
   usable size is slack that its next reallocs grow into without a system
   call or a page fault (what glibc gets from reusing its heap). Reallocs
   that grow a block never give memory back, and one that shrinks it keeps
   the memory as slack too (buffers resized up and down). The slack of all
   live blocks is bounded (a_slack, slack_budget): past it a growing block
   keeps what any reused span keeps, a shrunk one what a new block keeps.
   A block that outgrows its span's reservation moves to a new span; on
   Linux its pages move with it (span_move_out: realloc-vec of make bench,
   `realloc 1 1 vec`, 24.3K -> 16.3K page faults, 0.128 -> 0.112 s,
   farm-bench -n 7), elsewhere it is copied a chunk at a time. */
#include "annotate.h"
#include "internal.h"
#include "options.h"
#include "segment_map.h"

#include <errno.h>
#include <string.h>

static keel_lock large_lock = KEEL_LOCK_INIT;
static _Atomic(size_t) a_slack;            /* sum of large_slack over live blocks */
static keel_segment* large_cache;          /* most recently freed first */
static size_t large_cache_count;
static size_t large_cache_committed;       /* bytes committed in cached spans */
static _Atomic(size_t) a_cache_committed;  /* its copy, read without the lock (keel__large_cache_yield) */

void keel__large_lock(void) { keel__lock(&large_lock); }
void keel__large_unlock(void) { keel__unlock(&large_lock); }
void keel__large_child_reset(void) { keel__lock_reset(&large_lock); }

static size_t os_page(void) { return keel__os_page_size(); }
static size_t round_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }

static void cache_trim_locked(size_t limit, keel_segment** to_release);
static void release_list(keel_segment* list);

/* The memory the program uses: keel's committed memory less its caches. */
static size_t memory_in_use(void) {
    size_t committed = keel__stat_committed_now(), cached = keel__stat_cached_now();
    return committed > cached ? committed - cached : 0;
}

/* The committed bytes cached spans may keep: large_cache_bytes, or
   KEEL_LARGE_CACHE_RATIO (two) times the memory the program uses when that
   is more, so that a program whose big buffers come and go reuses them
   instead of faulting them in again, while beside a small program the
   cache stays small. large-mixed of make bench (32 blocks of 64 KiB..32
   MiB replaced at random, those past 1 MiB large; `large 1 1 mixed`):
   513K page faults and 0.83 s with half the memory in use, 389K and 0.63 s with
   all of it, 318K and 0.51 s with twice, no better with more; peak RSS
   379..383 MiB in every case: what the cache holds fills the room the
   program's own peak made. 0 with purge_delay 0. What the cache keeps
   beyond large_cache_bytes gives way to the heaps' pages:
   keel__large_cache_yield. */
static size_t cache_budget(void) {
    size_t base = keel__cache_budget(KEEL_OPT_LARGE_CACHE_BYTES), in_use, share;
    if (base == 0) return 0;
    in_use = memory_in_use();
    share = in_use > SIZE_MAX / KEEL_LARGE_CACHE_RATIO ? SIZE_MAX : in_use * KEEL_LARGE_CACHE_RATIO;
    return share > base ? share : base;
}

/* The slack all live blocks may keep (a_slack): large_cache_bytes, or one
   part in KEEL_LARGE_SLACK_SHARE (a quarter) of the memory in use when
   that is more. 0 with purge_delay 0. */
static size_t slack_budget(void) {
    size_t base = keel__cache_budget(KEEL_OPT_LARGE_CACHE_BYTES), share;
    if (base == 0) return 0;
    share = memory_in_use() / KEEL_LARGE_SLACK_SHARE;
    return share > base ? share : base;
}

/* Address space reserved beyond a large block for in-place growth:
   generous where address space is plentiful (64-bit), half the block on
   32-bit, none under ulimit -v: there unused headroom would take address
   space that later blocks need (1 MiB blocks under a 256 MiB limit: 161
   fit with half a block of headroom each, 250 without), and a realloc
   that cannot grow in place moves. */
static size_t large_headroom(size_t size, bool limited) {
    size_t extra = size / 2;
    if (limited) return 0;
#if UINTPTR_MAX > 0xFFFFFFFFu
    {
        size_t headroom = keel__option_size(KEEL_OPT_LARGE_HEADROOM);
        extra = size > headroom ? size : headroom;
    }
#endif
    return extra > KEEL_MAX_REQUEST - size ? 0 : extra;
}

/* What a reservation is rounded to: the OS's granularity (64 KiB on
   Windows, the page elsewhere), or KEEL_LARGE_RESERVE_ROUND where address
   space is plentiful, so that spans of near sizes are interchangeable in
   the cache. */
static size_t reserve_round(bool limited) {
    return limited || UINTPTR_MAX <= 0xFFFFFFFFu ? vmem_get_page_info().alloc_alignment : KEEL_LARGE_RESERVE_ROUND;
}

/* The hardened build's guard (harden.h): the OS page right after a
   block's usable size never gives access, so a write past the block
   faults. None in the other builds. Where the block's committed memory
   ends there, the guard is that page of address space, reserved and never
   committed (guard_bytes of room kept for it). Where the span keeps
   committed slack past the block (a cached span reused for a smaller
   block, a block grown in place that may grow again), the slack's first
   page is protected (no access) instead: the slack stays committed and
   warm as in the other builds, and moving the guard costs two protection
   changes, not a decommit and the faults that bring the memory back
   (realloc-vec of make bench: 454K page faults with the slack given back).
   The invariant, kept by span_fit: while a span is in use and its
   committed memory goes past its usable size, the page at the usable size
   is protected; keel__large_free_span opens it before the span is cached,
   so a cached span's committed memory is all accessible. */
static size_t guard_bytes(void) { return KEEL_HARDENED ? os_page() : 0; }

/* Where an in-use span's guard is protected inside its committed memory
   (an offset from the block), or SIZE_MAX when it has none there. */
static size_t guard_in_slack(const keel_segment* seg) {
    if (!KEEL_HARDENED || !seg->pages[0].in_use || seg->large_committed <= seg->large_usable) return SIZE_MAX;
    return seg->large_usable;
}

/* ---- a span's pieces ----
   Where the OS moves pages between mappings (vmem_move: Linux 5.7 and
   later), cached spans' memory serves any size: a span lacking committed
   memory takes other cached spans' pages (span_pull_locked), and one with
   more than its block keeps (a shrink, a small block in a big cached span)
   moves the excess into a span of its own in the cache (span_shed), as a
   page heap splits and joins its free runs, while each span keeps its one
   block, so the free path finds it by its segment as before. A move is one
   system call for any number of resident pages, where giving memory back
   and faulting it in again is a fault per OS page. Measured (`large 1 1
   mixed` and `reuse` through the override, farm-bench -n 5 against
   ce3f7fb): mixed 276K -> 156K page faults, wall 0.60x, peak RSS 399.5 ->
   380.3 MiB; reuse 514K -> 183K, wall 0.48x, 440.1 -> 418.0 MiB. What a
   shrink sheds and the slack of live blocks stay within twice the slack
   budget together (span_shed), so the cache does not grow past what
   keeping the slack held.

   Pages moved in stay an OS mapping of their own (the kernel joins
   mappings of one origin only), and the OS moves a range of one mapping
   only. So each span keeps, in its header page after pages[0], where each
   piece (mapping) of its committed memory starts (`start`, offsets from the
   block, start[0] = 0): pages are taken only from a source's last piece; a
   span takes pages in while it has fewer than KEEL_LARGE_PIECES_MAX pieces
   and all spans together fewer than KEEL_LARGE_CUTS_MAX extra ones; and
   when pieces are decommitted a fresh reservation is put over them
   (keel__os_rejoin), which joins their mappings with the reserved ones
   around: decommitting alone would leave them cut, and a process that
   moves pages for long would pile up mappings toward the kernel's limit
   (10,000 random replacements and reallocs of blocks of 64 KiB..32 MiB:
   17,699 mappings with neither the bounds nor the rejoin, 365 with both,
   102 before moves existed; tests/heap/test_large_moves.c). None of this
   in the hardened build (a cached span's guard page), under memcheck, or
   off Linux. */
#if !KEEL_HARDENED && !KEEL_VALGRIND && defined(__linux__)
#define KEEL_LARGE_MOVES 1
#else
#define KEEL_LARGE_MOVES 0
#endif
/* and spans made to hold what another sheds: where address space is plentiful */
#define KEEL_LARGE_SHED (KEEL_LARGE_MOVES && UINTPTR_MAX > 0xFFFFFFFFu)
static _Atomic(size_t) a_cuts;   /* the sum of count - 1 over all spans: mappings moves added */
typedef struct span_pieces {
    size_t count;                            /* pieces of the committed memory */
    size_t start[KEEL_LARGE_PIECES_MAX];     /* where each piece starts */
} span_pieces;

static size_t large_header_size(void) {
    return round_up(sizeof(keel_segment) + sizeof(keel_page) + sizeof(span_pieces), os_page());
}

/* Whether this kernel moves pages (vmem_move: Linux 5.7 and later; not
   every emulator): asked once, with one page between two reservations. */
#if KEEL_LARGE_MOVES
static _Atomic(int) a_moves;   /* 0 not asked yet, 1 yes, -1 no */
static bool moves_available(void) {
    int v = atomic_load_explicit(&a_moves, memory_order_relaxed);
    if (v == 0) {
        size_t page = os_page();
        uint8_t* a = (uint8_t*)vmem_reserve(page);
        uint8_t* b = (uint8_t*)vmem_reserve(page);
        bool ok = false;
        if (a && b && vmem_commit(a, page)) {
            ok = vmem_move(b, a, page);
            (void)vmem_decommit(ok ? b : a, page);
        }
        if (a) (void)vmem_release(a, page);
        if (b) (void)vmem_release(b, page);
        v = ok ? 1 : -1;
        atomic_store_explicit(&a_moves, v, memory_order_relaxed);
    }
    return v > 0;
}
#else
static bool moves_available(void) { return false; }
#endif

static span_pieces* pieces_of(keel_segment* seg) {
    return (span_pieces*)(void*)((uint8_t*)seg + sizeof(keel_segment) + sizeof(keel_page));
}

static void pieces_reset(keel_segment* seg) {
    span_pieces* p = pieces_of(seg);
    p->count = 1;
    p->start[0] = 0;
}

/* A span goes back to the OS: its cut mappings with it. */
static void pieces_forget(keel_segment* seg) {
    span_pieces* p = pieces_of(seg);
    if (KEEL_LARGE_MOVES && p->count > 1) atomic_fetch_sub_explicit(&a_cuts, p->count - 1, memory_order_relaxed);
    p->count = 1;
}

/* The pieces that start `from` bytes into the block or later are no
   longer the span's; true when there were any. */
static bool pieces_drop_from(keel_segment* seg, size_t from) {
    span_pieces* p = pieces_of(seg);
    size_t n = p->count;
    while (n > 1 && p->start[n - 1] >= from) n--;
    if (n == p->count) return false;
    atomic_fetch_sub_explicit(&a_cuts, p->count - n, memory_order_relaxed);
    p->count = n;
    return true;
}

/* Memory from `from` bytes into the block on was decommitted: the pieces
   there are gone, and their mappings join the reserved ones around. */
static void pieces_gone(keel_segment* seg, size_t from, size_t bytes) {
    if (KEEL_LARGE_MOVES && pieces_drop_from(seg, from))
        (void)keel__os_rejoin((uint8_t*)seg + seg->large_offset + from, bytes);
}

/* Decommits the block region of a span (not its header). */
static bool span_decommit_block(keel_segment* seg) {
    if (seg->large_committed == 0) return true;
    keel__ann_returned((uint8_t*)seg + seg->large_offset, seg->large_committed);
    if (!vmem_decommit((uint8_t*)seg + seg->large_offset, seg->large_committed)) return false;
    keel__stat_committed(-(ptrdiff_t)seg->large_committed);
    pieces_gone(seg, 0, seg->large_committed);
    seg->large_committed = 0;
    return true;
}

static void span_release(keel_segment* seg) {
    size_t header = seg->header_size, reserved = seg->reserved;
    pieces_forget(seg);
    if (!span_decommit_block(seg)) keel__fatal("the OS refused to decommit a large block");
    keel__segment_unregister(seg);
    keel__ann_header_show(seg, header);
    if (!vmem_decommit(seg, header) || !vmem_release(seg, reserved))
        keel__fatal("the OS refused to release a large block");
    keel__stat_committed(-(ptrdiff_t)header);
    keel__stat_reserved(-(ptrdiff_t)reserved);
}

/* How span_fit treats committed memory beyond the new usable size. A new
   block gives it back when it is more than a quarter of its size
   (FIT_EXACT). Every other block keeps it all as slack while the slack of
   all live blocks stays within slack_budget: a cached span reused, a block realloc grows
   (FIT_REUSE), and one realloc shrinks (FIT_SHRINK); past the budget the
   first keep it while it is no more than three times their size and a MiB
   (a growing block will fill it without faulting it in again), the last
   while it is no more than a quarter of theirs, and else give it all
   back.
   - A buffer shrunk and grown again in a loop so faults little in
     (large-reuse of make bench, `large 1 1 reuse`, 20 buffers of 5..25
     MiB resized at random: 883K page faults and 1.41 s when a shrink gave
     its memory back, peak RSS 368 MiB; 514K, 0.81 s and 440 MiB with this).
   - A big cached span reused for a smaller block keeps its memory for the
     next big block (large-mixed, `large 1 1 mixed`: 318K page faults and
     0.51 s when it kept no more than four times the block, 280K and
     0.45 s with this; peak RSS 379 -> 400 MiB, farm-bench -n 5). */
typedef enum span_fit_mode { FIT_EXACT, FIT_REUSE, FIT_SHRINK } span_fit_mode;
static bool span_shed(keel_segment* seg, size_t want);

/* Gives back the span's committed memory past `want` bytes of its block. */
static bool span_decommit_past(keel_segment* seg, size_t want) {
    uint8_t* block = (uint8_t*)seg + seg->large_offset;
    size_t excess = seg->large_committed - want;
    keel__ann_returned(block + want, excess);
    if (!vmem_decommit(block + want, excess)) return false;
    keel__stat_committed(-(ptrdiff_t)excess);
    keel__segment_committed_owner(seg, -(ptrdiff_t)excess);
    pieces_gone(seg, want, excess);
    seg->large_committed = want;
    return true;
}

/* Makes round_up(size) bytes the block's usable size, committing what is
   missing and giving back the excess as mode says; counts its slack. */
static bool span_fit(keel_segment* seg, size_t size, span_fit_mode mode) {
    size_t want = round_up(size, os_page());
    uint8_t* block = (uint8_t*)seg + seg->large_offset;
    size_t excess, keep, guard = guard_in_slack(seg);
    if (want > seg->large_committed) {
        if (!keel__commit_charge_in(seg, want - seg->large_committed)) return false;
        if (!vmem_commit(block + seg->large_committed, want - seg->large_committed)) {
            keel__commit_uncharge_in(seg, want - seg->large_committed);
            return false;
        }
        seg->large_committed = want;
    }
    /* the hardened guard moves with the usable size: its old page is the
       block's, or plain slack, again */
    if (guard != SIZE_MAX && guard != want) {
        if (!vmem_protect(block + guard, os_page(), VMEM_READ_WRITE))
            keel__fatal("the OS refused to open a large block's guard page");
        guard = SIZE_MAX;
    }
    excess = seg->large_committed - want;
    keep = mode == FIT_REUSE ? 3 * want + ((size_t)1 << 20) : want / 4 + os_page();
    /* the slack budget is asked only when something would go back */
    if (excess > keep && mode != FIT_EXACT &&
        !(KEEL_LARGE_SHED && mode == FIT_SHRINK && !seg->first_class && moves_available()) &&
        atomic_load_explicit(&a_slack, memory_order_relaxed) - seg->large_slack + excess <= slack_budget())
        keep = excess;
    if (excess > keep) (void)span_shed(seg, want);   /* refused: kept as slack */
    /* slack kept in the hardened build: its first page becomes the guard,
       or, if the OS will not protect it, the slack goes */
    if (KEEL_HARDENED && seg->large_committed > want && guard != want &&
        !vmem_protect(block + want, os_page(), VMEM_NO_ACCESS) && !span_decommit_past(seg, want))
        keel__fatal("the OS refused to decommit a large block's slack");
    /* relaxed: a total for the bound above, exact once every thread is done */
    atomic_fetch_add_explicit(&a_slack, (seg->large_committed - want) - seg->large_slack, memory_order_relaxed);
    seg->large_slack = seg->large_committed - want;
    seg->large_usable = want;
    return true;
}

/* Unlinks a cached span (caller holds the large lock). */
static void cache_unlink_locked(keel_segment* seg) {
    if (seg->heap_prev) seg->heap_prev->heap_next = seg->heap_next;
    else large_cache = seg->heap_next;
    if (seg->heap_next) seg->heap_next->heap_prev = seg->heap_prev;
    seg->heap_next = seg->heap_prev = NULL;
    large_cache_count--;
    large_cache_committed -= seg->large_committed;
    keel__stat_cached(-(ptrdiff_t)(seg->large_committed + seg->header_size));
}

#if KEEL_LARGE_MOVES
/* vmem_move refused: nothing changed, but in the one case with no way
   back (vmem.h), where a stranger's mapping sits in the span. */
static void move_refused(void) {
    if (strncmp(vmem_get_error_message(), "vmem_move: lost", 15) == 0)
        keel__fatal("the OS gave address space of a large block to another mapping (a refused mremap)");
}

/* Moves up to `want` bytes (not below src's committed `floor`) from the
   end of src's committed memory to the end of dst's, a piece at a time,
   each piece of src at least KEEL_LARGE_PULL_MIN, while dst can take
   pieces; returns the bytes moved. Committed memory moves, it is not
   made: keel's total stays (the callers move the cache's). */
static size_t span_move_tail(keel_segment* dst, keel_segment* src, size_t want, size_t floor) {
    span_pieces* dp = pieces_of(dst);
    span_pieces* sp = pieces_of(src);
    size_t moved = 0;
    while (moved < want && dp->count < KEEL_LARGE_PIECES_MAX &&
           atomic_load_explicit(&a_cuts, memory_order_relaxed) < KEEL_LARGE_CUTS_MAX) {
        size_t last = sp->start[sp->count - 1], cut, k;
        if (last < floor) last = floor;
        if (src->large_committed < last + KEEL_LARGE_PULL_MIN) break;
        k = src->large_committed - last;
        if (k > want - moved) k = want - moved;
        if (k < KEEL_LARGE_PULL_MIN) break;
        cut = src->large_committed - k;
        if (!vmem_move((uint8_t*)dst + dst->large_offset + dst->large_committed, (uint8_t*)src + src->large_offset + cut, k)) {
            move_refused();
            break;
        }
        keel__ann_returned((uint8_t*)src + src->large_offset + cut, k);   /* ASan: those addresses hold nothing now */
        if (dst->large_committed != 0) {   /* a new piece of dst (a span's first starts at 0) */
            dp->start[dp->count++] = dst->large_committed;
            atomic_fetch_add_explicit(&a_cuts, 1, memory_order_relaxed);
        }
        dst->large_committed += k;
        src->large_committed = cut;
        (void)pieces_drop_from(src, cut);   /* its last piece, if it left whole */
        moved += k;
    }
    return moved;
}
#endif

/* dst (out of the cache, or a live block growing) lacks committed memory
   up to `want` bytes of its block: other cached spans' pages move in,
   the oldest spans' first (what the trim would give back next), in runs
   of at least KEEL_LARGE_PULL_MIN (below it, faults cost less than the
   system calls). Caller holds the large lock. */
#if !KEEL_LARGE_MOVES
static void span_pull_locked(keel_segment* dst, size_t want) {
    (void)dst;
    (void)want;
}
#else
static void span_pull_locked(keel_segment* dst, size_t want) {
    keel_segment* src = large_cache;
    if (want <= dst->large_committed || want - dst->large_committed < KEEL_LARGE_PULL_MIN || !large_cache ||
        !moves_available())
        return;
    while (src && src->heap_next) src = src->heap_next;   /* the oldest */
    for (; src && want - dst->large_committed >= KEEL_LARGE_PULL_MIN; src = src->heap_prev) {
        size_t k = span_move_tail(dst, src, want - dst->large_committed, 0);
        large_cache_committed -= k;
        keel__stat_cached(-(ptrdiff_t)k);
        if (pieces_of(dst)->count >= KEEL_LARGE_PIECES_MAX) break;
    }
}
#endif

/* The cached span that serves size best: room enough, and committed
   memory closest to what is needed (the least to fault in or give back),
   or for a growing block the most. NULL when none has room. */
static keel_segment* cache_take(size_t size, bool growing) {
    keel_segment* seg;
    keel_segment* best = NULL;
    size_t header = large_header_size(), best_gap = SIZE_MAX;
    keel_segment* to_release = NULL;
    keel__large_lock();
    cache_trim_locked(cache_budget(), &to_release);
    for (seg = large_cache; seg; seg = seg->heap_next) {
        size_t gap;
        if (seg->large_offset != header || seg->reserved - seg->large_offset < round_up(size, os_page()) + guard_bytes())
            continue;
        gap = growing ? SIZE_MAX - seg->large_committed
                      : seg->large_committed > size ? seg->large_committed - size : size - seg->large_committed;
        if (gap < best_gap) { best = seg; best_gap = gap; }
    }
    if (best) {
        cache_unlink_locked(best);
        span_pull_locked(best, round_up(size, os_page()));
        atomic_store_explicit(&a_cache_committed, large_cache_committed, memory_order_relaxed);
    }
    keel__large_unlock();
    release_list(to_release);
    return best;
}

/* A new span at seg (`reserve` bytes of address space, from vmem or a
   region): its header committed and laid out, the block's memory
   committed, registered. false: nothing is left committed (the caller
   gives the address space back). */
static bool span_lay_out(keel_segment* seg, size_t header, size_t reserve, size_t offset, size_t size) {
    if (!keel__commit_charge(header)) return false;
    if (!vmem_commit(seg, header)) {
        keel__stat_committed(-(ptrdiff_t)header);
        return false;
    }
    memset(seg, 0, sizeof(keel_segment) + sizeof(keel_page));
    seg->kind = KEEL_SEGMENT_LARGE;
    seg->page_shift = (uint32_t)(sizeof(uintptr_t) * 8 - 1);
    seg->page_count = 1;
    atomic_store_explicit(&seg->a_stat_pages, KEEL_STAT_LARGE | 1u, memory_order_relaxed);
    seg->reserved = reserve;
    seg->header_size = header;
    seg->large_offset = offset;
    seg->cookie = KEEL_SEGMENT_COOKIE;
    seg->pages[0].in_full = 1;   /* never the fast free path */
    pieces_reset(seg);
    if (!span_fit(seg, size, FIT_EXACT)) {
        (void)vmem_decommit(seg, header);
        keel__stat_committed(-(ptrdiff_t)header);
        return false;
    }
    if (!keel__segment_register(seg)) {
        if (!span_decommit_block(seg) || !vmem_decommit(seg, header)) keel__fatal("the OS refused to decommit a large block");
        keel__stat_committed(-(ptrdiff_t)header);
        return false;
    }
    keel__ann_header_hide(seg, header);
    return true;
}

/* A new span of `reserve` bytes of address space aligned to align, or of
   `fallback` bytes where the OS has no room for that (either may be 0: not
   tried), laid out for a block of size bytes at offset (keel__large_alloc's
   block; span_shed's spare span: size 0) and counted as reserved. NULL
   when the OS refuses: nothing is left reserved. */
static keel_segment* span_new(size_t reserve, size_t fallback, size_t align, size_t offset, size_t size) {
    keel_segment* seg = reserve ? (keel_segment*)vmem_reserve_aligned(reserve, align) : NULL;
    if (!seg && fallback) {
        reserve = fallback;
        seg = (keel_segment*)vmem_reserve_aligned(reserve, align);
    }
    if (!seg) return NULL;
    if (!span_lay_out(seg, large_header_size(), reserve, offset, size)) {
        (void)vmem_release(seg, reserve);
        return NULL;
    }
    keel__stat_reserved((ptrdiff_t)reserve);
    return seg;
}

/* The span's block, handed out. */
static void* span_hand_out(keel_segment* seg) {
    uint8_t* block = (uint8_t*)seg + seg->large_offset;
    seg->pages[0].in_use = 1;
    seg->pages[0].start = block;
    atomic_store_explicit(&seg->pages[0].a_stat_block_size, seg->large_usable, memory_order_relaxed);
    keel__page_used_set(&seg->pages[0], 1);
    return block;
}

void* keel__large_alloc(size_t size, size_t alignment, bool zero, bool growing) {
    size_t header = large_header_size(), offset, reserve, seg_align;
    size_t prev_committed = 0;
    keel_segment* seg = NULL;
    uint8_t* block;
    if (alignment < KEEL_ALIGN) alignment = KEEL_ALIGN;
    if (size < KEEL_ALIGN) size = KEEL_ALIGN;   /* a block has bytes: it lies inside its span */
    if (size > keel__os_memory_limit()) return NULL;   /* no machine here could back it */
    offset = round_up(header, alignment);
    if (alignment <= header) seg = cache_take(size, growing);
    if (seg) {
        prev_committed = seg->large_committed;
        if (!span_fit(seg, size, FIT_REUSE)) {
            keel__large_free_span(seg);
            return NULL;
        }
    } else {
        bool limited = keel__os_address_space_limited() != 0;   /* ulimit -v: a system call, once */
        size_t round = reserve_round(limited);
        seg_align = alignment > KEEL_SEGMENT_SIZE ? alignment : KEEL_SEGMENT_SIZE;
        /* address space to grow into: realloc then commits more in place
           instead of copying (what mremap gives glibc). Address space is
           cheap on 64-bit, so generous there; without it if the OS says no
           (ulimit -v). */
        reserve = round_up(offset + size + guard_bytes() + large_headroom(size, limited), round);
        seg = span_new(reserve > offset + size + guard_bytes() ? reserve : 0,
                       round_up(offset + size + guard_bytes(), round), seg_align, offset, size);
        if (!seg) return NULL;
    }
    block = (uint8_t*)seg + seg->large_offset;
    if (zero && prev_committed) {
        keel__ann_writable(block, prev_committed < size ? prev_committed : size);
        memset(block, 0, prev_committed < size ? prev_committed : size);
    }
    return span_hand_out(seg);
}

/* ---- large blocks of a heap in a region (keel_heap_new_in) ----
   A run of the region's chunks, exactly what the block needs (no growth
   headroom, no cache: the memory goes back to the region at the free). */

void* keel__large_alloc_in(keel_region* region, size_t size, size_t alignment) {
    size_t header = large_header_size(), offset, reserve;
    keel_segment* seg;
    /* a region's chunks are decommitted while free: their memory reads as
       zero, so a calloc has nothing to clear */
    if (alignment < KEEL_ALIGN) alignment = KEEL_ALIGN;
    if (size < KEEL_ALIGN) size = KEEL_ALIGN;
    offset = round_up(header, alignment);
    if (size > region->chunk_count * KEEL_SEGMENT_SIZE) return NULL;
    reserve = round_up(offset + size + guard_bytes(), KEEL_SEGMENT_SIZE);
    seg = (keel_segment*)keel__region_take(region, reserve / KEEL_SEGMENT_SIZE,
                                           alignment > KEEL_SEGMENT_SIZE ? alignment : KEEL_SEGMENT_SIZE);
    if (!seg) return NULL;
    if (!span_lay_out(seg, header, reserve, offset, size)) {
        keel__region_give(region, seg, reserve / KEEL_SEGMENT_SIZE);
        return NULL;
    }
    return span_hand_out(seg);
}

/* Decommits the span (block, then header) and gives its chunks back. */
void keel__large_free_in(keel_region* region, keel_segment* seg) {
    size_t header = seg->header_size, chunks = seg->reserved / KEEL_SEGMENT_SIZE;
    atomic_fetch_sub_explicit(&a_slack, seg->large_slack, memory_order_relaxed);
    seg->large_slack = 0;
    if (!span_decommit_block(seg)) keel__fatal("the OS refused to decommit a large block");
    keel__segment_unregister(seg);
    keel__ann_header_show(seg, header);
    if (!vmem_decommit(seg, header)) keel__fatal("the OS refused to decommit a large block");
    keel__stat_committed(-(ptrdiff_t)header);
    keel__region_give(region, seg, chunks);
}

size_t keel__large_usable(const keel_segment* seg) {
    return seg->large_usable;
}

/* Growing and shrinking keep the slack within slack_budget (FIT_REUSE,
   FIT_SHRINK). */
bool keel__large_resize_in_place(keel_segment* seg, size_t new_size) {
    if (new_size > seg->reserved - seg->large_offset || round_up(new_size, os_page()) + guard_bytes() > seg->reserved - seg->large_offset)
        return false;
    /* growing past its committed memory: cached spans' pages first */
    if (KEEL_LARGE_MOVES && !seg->first_class && round_up(new_size, os_page()) >= seg->large_committed + KEEL_LARGE_PULL_MIN &&
        atomic_load_explicit(&a_cache_committed, memory_order_relaxed) >= KEEL_LARGE_PULL_MIN) {
        keel__large_lock();
        span_pull_locked(seg, round_up(new_size, os_page()));
        atomic_store_explicit(&a_cache_committed, large_cache_committed, memory_order_relaxed);
        keel__large_unlock();
    }
    if (!span_fit(seg, new_size, new_size > seg->large_usable ? FIT_REUSE : FIT_SHRINK)) return false;
    atomic_store_explicit(&seg->pages[0].a_stat_block_size, seg->large_usable, memory_order_relaxed);
    return true;
}

/* A realloc that moves a large block (of span src, n bytes the program
   has) to the block of span dst, whose memory is one piece, takes src's
   pages instead of copying them where the OS moves pages
   (KEEL_LARGE_MOVES): dst gives back the first m bytes of its block (src's
   committed memory), and each piece of src moves to the same offset in
   dst, in order, its pages and contents with it; src keeps nothing
   committed. dst's piece table becomes src's, and one more where dst's own
   memory goes on past m. A move the OS refuses part way copies the rest.
   false, nothing changed: not possible here, and the caller copies. */
#if !KEEL_LARGE_MOVES
static bool span_move_out(keel_segment* src, keel_segment* dst, size_t n) {
    (void)src;
    (void)dst;
    (void)n;
    return false;
}
#else
static bool span_move_out(keel_segment* src, keel_segment* dst, size_t n) {
    span_pieces* sp = pieces_of(src);
    span_pieces* dp = pieces_of(dst);
    uint8_t* from = (uint8_t*)src + src->large_offset;
    uint8_t* to = (uint8_t*)dst + dst->large_offset;
    size_t m = src->large_committed, count = sp->count, i, moved = 0, tail;
    bool tail_piece = m < dst->large_committed;   /* dst's own memory goes on past m */
    if (m < KEEL_LARGE_PULL_MIN || m > dst->large_committed || n > m || dp->count != 1 || src->first_class ||
        dst->first_class || (src->large_offset | dst->large_offset) % os_page() != 0 ||
        count + 1 + tail_piece > KEEL_LARGE_PIECES_MAX ||
        atomic_load_explicit(&a_cuts, memory_order_relaxed) + 1 + tail_piece >= KEEL_LARGE_CUTS_MAX || !moves_available())
        return false;
    /* dst's first m bytes go, for the old block's pages to take their
       place: committed memory drops by m, the moves change nothing */
    if (!vmem_decommit(to, m)) return false;
    keel__stat_committed(-(ptrdiff_t)m);
    for (; moved < count; moved++) {
        size_t off = sp->start[moved], len = (moved + 1 < count ? sp->start[moved + 1] : m) - off;
        if (!vmem_move(to + off, from + off, len)) {
            move_refused();
            break;
        }
        keel__ann_returned(from + off, len);   /* ASan: those addresses hold nothing now */
    }
    tail = moved < count ? sp->start[moved] : m;   /* where the moved pieces end */
    if (tail < m) {   /* refused part way: the rest is copied (the bytes the program has) */
        if (!vmem_commit(to + tail, m - tail)) keel__fatal("the OS refused to commit memory it had just given back");
        if (n > tail) memcpy(to + tail, from + tail, n - tail);
        keel__ann_returned(from + tail, m - tail);
        if (!vmem_decommit(from + tail, m - tail)) keel__fatal("the OS refused to decommit a large block");
        pieces_gone(src, tail, m - tail);   /* its last pieces: their mappings join the reserved ones */
    }
    /* the pieces: dst's are the moved ones, the copied rest, then its own
       memory past m (each may be a mapping of its own); the old span's
       committed memory is none */
    for (i = 0; i < moved; i++) dp->start[i] = sp->start[i];
    dp->count = moved ? moved : 1;
    if (tail < m && moved) dp->start[dp->count++] = tail;
    if (tail_piece) dp->start[dp->count++] = m;
    atomic_fetch_add_explicit(&a_cuts, dp->count - 1, memory_order_relaxed);
    (void)pieces_drop_from(src, 0);   /* what is left of its count */
    src->large_committed = 0;
    return true;
}
#endif

/* A realloc moves the large block src (of seg) to dst: its pages move
   with it (span_move_out), or where they cannot, n bytes are copied a
   chunk of KEEL_LARGE_COPY_CHUNK at a time, each chunk's whole OS pages
   of the source given back (vmem_reset) once copied, so the process never
   holds both copies whole. realloc-vec of make bench grew a 31.9 MiB
   vector past its span's headroom to 47.8 MiB: with one memcpy the old
   and the new copy were resident together (peak RSS 66.4 MiB, glibc's
   46.0, which moves with mremap). The span stays committed (the reset
   pages read zero, or on Windows old data, the next time): freed next, it
   is cached as any dirty span. Not under memcheck, which would be told
   nothing of the reset. */
void keel__large_copy_out(keel_segment* seg, void* dst, const void* src, size_t n) {
    const size_t chunk = KEEL_LARGE_COPY_CHUNK;
    const uint8_t* from = (const uint8_t*)src;
    uint8_t* to = (uint8_t*)dst;
    uintptr_t given = round_up((uintptr_t)from, os_page());   /* given back up to here */
    size_t done = 0;
    int saved = errno;
    keel_segment* to_seg = keel__segment_of(dst);
    if (to_seg && to_seg->kind == KEEL_SEGMENT_LARGE && src == (uint8_t*)seg + seg->large_offset &&
        dst == (uint8_t*)to_seg + to_seg->large_offset && span_move_out(seg, to_seg, n)) {
        errno = saved;
        return;
    }
    if (KEEL_VALGRIND || n < 2 * chunk) {
        memcpy(dst, src, n);
        return;
    }
    keel__assert((const uint8_t*)src >= (const uint8_t*)seg && n <= seg->reserved);
    while (done < n) {
        size_t step = n - done < chunk ? n - done : chunk;
        uintptr_t end;
        memcpy(to + done, from + done, step);
        done += step;
        end = ((uintptr_t)from + done) & ~(uintptr_t)(os_page() - 1);
        if (end > given) {
            (void)vmem_reset((void*)given, (size_t)(end - given));   /* advice: a refusal costs memory only */
            given = end;
        }
    }
    errno = saved;
}

/* Decommits cached spans, oldest first, until the cache holds at most
   `limit` committed bytes; releases spans beyond the count bound. */
static void cache_trim_locked(size_t limit, keel_segment** to_release) {
    keel_segment* seg = large_cache;
    keel_segment* last = NULL;
    for (; seg; seg = seg->heap_next) last = seg;
    uint64_t now = keel__os_now_ms();
    long long delay = keel__option(KEEL_OPT_PURGE_DELAY);   /* -1: never by age */
    for (seg = last; seg; seg = seg->heap_prev) {
        size_t c = seg->large_committed;
        if (large_cache_committed <= limit && !keel__cache_expired(seg->cached_at, now, delay)) continue;
        if (c && span_decommit_block(seg)) {
            large_cache_committed -= c;
            keel__stat_cached(-(ptrdiff_t)c);
        }
    }
    while (large_cache_count > keel__option_size(KEEL_OPT_LARGE_CACHE_COUNT) && last) {
        keel_segment* prev = last->heap_prev;
        if (prev) prev->heap_next = NULL;
        else large_cache = NULL;
        large_cache_count--;
        large_cache_committed -= last->large_committed;
        keel__stat_cached(-(ptrdiff_t)(last->large_committed + last->header_size));
        last->heap_next = *to_release;
        *to_release = last;
        last = prev;
    }
    atomic_store_explicit(&a_cache_committed, large_cache_committed, memory_order_relaxed);
}

static void release_list(keel_segment* list) {
    while (list) {
        keel_segment* next = list->heap_next;
        span_release(list);
        list = next;
    }
}

/* A span not in use joins the cache (its memory all accessible), which is
   then trimmed to its budget. */
static void cache_push(keel_segment* seg) {
    keel_segment* to_release = NULL;
    bool warm;
    keel__large_lock();
    seg->cached_at = keel__os_now_ms();
    seg->heap_prev = NULL;
    seg->heap_next = large_cache;
    if (large_cache) large_cache->heap_prev = seg;
    large_cache = seg;
    large_cache_count++;
    large_cache_committed += seg->large_committed;
    keel__stat_cached((ptrdiff_t)(seg->large_committed + seg->header_size));
    cache_trim_locked(cache_budget(), &to_release);
    warm = large_cache_committed != 0;
    keel__large_unlock();
    release_list(to_release);
    if (warm) keel__purge_wake();   /* it ages there: the purge thread gives it back */
}

/* The committed memory of seg past `want` bytes of its block leaves it.
   Where pages move and the cache has room for them, it moves, piece by
   piece from the end, into a new span of its own in the cache, so that the
   next big block (or a block growing) takes it without faulting it in;
   what does not move is given back. 64-bit only, not under ulimit -v: the new span is
   address space (its headroom, as any span's, lets it serve bigger
   blocks). false: the OS refused to give memory back, it stays as slack. */
#if !KEEL_LARGE_SHED
static bool span_shed(keel_segment* seg, size_t want) { return span_decommit_past(seg, want); }
#else
static bool span_shed(keel_segment* seg, size_t want) {
    size_t k = seg->large_committed - want, header = large_header_size();
    keel_segment* spare;
    if (k < KEEL_LARGE_PULL_MIN || seg->first_class || !moves_available() ||
        atomic_load_explicit(&a_slack, memory_order_relaxed) - seg->large_slack +
                atomic_load_explicit(&a_cache_committed, memory_order_relaxed) + k > 2 * slack_budget() ||
        keel__os_address_space_limited())
        return span_decommit_past(seg, want);
    /* a span with no block yet (size 0): the moved pages become its memory */
    spare = span_new(round_up(header + k + large_headroom(k, false), reserve_round(false)), 0, KEEL_SEGMENT_SIZE, header, 0);
    if (!spare) return span_decommit_past(seg, want);
    if (span_move_tail(spare, seg, k, want) == 0) {
        span_release(spare);
        return span_decommit_past(seg, want);
    }
    cache_push(spare);
    return seg->large_committed == want || span_decommit_past(seg, want);
}
#endif

void keel__large_free_span(keel_segment* seg) {
    bool reusable = seg->large_offset == large_header_size();   /* else over-aligned */
    size_t guard = guard_in_slack(seg);
    /* a cached span's committed memory is all accessible (guard_bytes):
       the guard in its slack opens, or the span goes back to the OS */
    if (guard != SIZE_MAX && reusable &&
        !vmem_protect((uint8_t*)seg + seg->large_offset + guard, os_page(), VMEM_READ_WRITE))
        reusable = false;
    /* its slack, and all its memory, is the cache's now */
    atomic_fetch_sub_explicit(&a_slack, seg->large_slack, memory_order_relaxed);
    seg->large_slack = 0;
    seg->large_usable = 0;
    seg->pages[0].in_use = 0;
    keel__page_used_set(&seg->pages[0], 0);
    atomic_store_explicit(&seg->pages[0].a_stat_block_size, 0, memory_order_relaxed);
    if (!reusable) {
        span_release(seg);
        return;
    }
    cache_push(seg);
}

void keel__large_cache_yield(size_t n) {
    size_t base = keel__cache_budget(KEEL_OPT_LARGE_CACHE_BYTES), have;
    keel_segment* list = NULL;
    if (atomic_load_explicit(&a_cache_committed, memory_order_relaxed) <= base) return;
    keel__large_lock();
    have = large_cache_committed;
    if (have > base) cache_trim_locked(have > n && have - n > base ? have - n : base, &list);
    keel__large_unlock();
    release_list(list);
}

/* The purge thread's share (reclaim.c): spans cached longer than
   purge_delay are decommitted; returns the committed bytes left. */
size_t keel__large_cache_age(void) {
    keel_segment* list = NULL;
    size_t left;
    keel__large_lock();
    cache_trim_locked(cache_budget(), &list);
    left = large_cache_committed;
    keel__large_unlock();
    release_list(list);
    return left;
}


/* Gives back every cached span (all) or only memory cached for longer than
   purge_delay. Returns bytes decommitted or released. */
size_t keel__large_cache_flush(bool all) {
    keel_segment* list = NULL;
    size_t given = 0;
    keel__large_lock();
    if (!all) {
        size_t before = large_cache_committed;
        cache_trim_locked(cache_budget(), &list);
        given = before - large_cache_committed;
    } else {
        keel_segment* seg;
        list = large_cache;
        for (seg = list; seg; seg = seg->heap_next) {
            given += seg->large_committed + seg->header_size;
            keel__stat_cached(-(ptrdiff_t)(seg->large_committed + seg->header_size));
        }
        large_cache = NULL;
        large_cache_count = 0;
        large_cache_committed = 0;
        atomic_store_explicit(&a_cache_committed, 0, memory_order_relaxed);
    }
    keel__large_unlock();
    release_list(list);
    return given;
}

/* The piece table holds together: 1..KEEL_LARGE_PIECES_MAX pieces, the
   first at the block's start, each later one past the one before, on an OS
   page, and inside the committed memory. */
bool keel__large_pieces_ok(keel_segment* seg) {
    span_pieces* p = pieces_of(seg);
    size_t i;
    if (p->count < 1 || p->count > KEEL_LARGE_PIECES_MAX || p->start[0] != 0) return false;
    for (i = 1; i < p->count; i++)
        if (p->start[i] <= p->start[i - 1] || p->start[i] >= seg->large_committed || (p->start[i] & (os_page() - 1)))
            return false;
    return true;
}

size_t keel__large_piece_count(keel_segment* seg) { return pieces_of(seg)->count; }

void keel__large_validate(void) {
    keel_segment* seg;
    size_t n = 0, committed = 0;
    keel__large_lock();
    for (seg = large_cache; seg; seg = seg->heap_next) {
        if (seg->cookie != KEEL_SEGMENT_COOKIE || seg->kind != KEEL_SEGMENT_LARGE)
            keel__corruption("large block cache holds a damaged segment header");
        if (!keel__large_pieces_ok(seg)) keel__corruption("a cached large block's table of pieces is damaged");
        if (seg->pages[0].in_use) keel__corruption("large block cache holds a block in use");
        if (seg->large_offset + seg->large_committed > seg->reserved)
            keel__corruption("large block committed beyond its reservation");
        if (keel__segment_of((uint8_t*)seg + seg->large_offset) != seg)
            keel__corruption("segment map does not lead to a cached large block");
        committed += seg->large_committed;
        n++;
    }
    if (n != large_cache_count || committed != large_cache_committed)
        keel__corruption("large block cache counters out of step");
    keel__large_unlock();
}
