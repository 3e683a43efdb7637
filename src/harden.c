/* harden.c — the hardened build's canary, zeroing, quarantine and sized
   free checks (harden.h says how they fit together). Empty in the other
   builds. */
#include "harden.h"

#if KEEL_HARDENED

#include "annotate.h"
#include "block_check.h"
#include "free.h"
#include "guarded.h"
#include "segment_map.h"

#include <string.h>

/* ---- the messages (DESIGN.md section 10): one line, raw write, abort ---- */

static KEEL_NORETURN void die_at(const char* what, const void* p, const char* tail, size_t n, bool with_n) {
    keel_line b = {.len = 0};
    keel__line_put(&b, "keel: ");
    keel__line_put(&b, what);
    keel__line_put_hex(&b, (uintptr_t)p);
    if (with_n) {
        keel__line_put(&b, " (block of ");
        keel__line_put_uint(&b, n);
        keel__line_put(&b, " bytes)");
    }
    keel__line_put(&b, tail);
    keel__line_write(&b);
    keel__os_abort();
}
static KEEL_NORETURN void overflow_at(const void* p, size_t n) { die_at("heap overflow detected at ", p, "", n, true); }
void keel__harden_written_after_free(const void* p) { die_at("write after free detected at ", p, "", 0, false); }

/* ---- canary (its primitives are harden.h's) ---- */

/* A canary found damaged at p (block end `end`, n the size asked if
   known): an overflow, unless the whole block is zero. Such a block never
   had a canary: a slot another thread frees that was never handed out
   (only the owner can tell carved slots, block_check.h), which every build
   calls an invalid pointer. */
static KEEL_NORETURN void canary_damaged(const void* p, const uint8_t* end, size_t n, const char* op) {
    const uint8_t* q = (const uint8_t*)p;
    while (q < end && *q == 0) q++;
    if (q == end) keel__misuse_invalid(op, p);
    overflow_at(p, n);
}

/* The bytes the program asked for at p, whose block ends at end; an
   overflow ends the program. op: the call, for canary_damaged. */
static inline size_t canary_check_word(const void* p, const uint8_t* end, const char* op, uint64_t w) {
    uint64_t gap;
    size_t span = (size_t)(end - (const uint8_t*)p);
    const uint8_t* tail = end - KEEL_CANARY;
    gap = keel__load64(tail) - w;   /* end minus the end of the program's bytes */
    /* the last word overwritten: the size asked is lost, say the most it was */
    if (KEEL_UNLIKELY(gap < KEEL_CANARY || gap > span)) canary_damaged(p, end, span - KEEL_CANARY, op);
    if (KEEL_UNLIKELY(!keel__canary_span_ok(w | KEEL_CANARY_ONES, end - gap, tail))) canary_damaged(p, end, span - (size_t)gap, op);
    return span - (size_t)gap;
}
static size_t canary_check(const void* p, const uint8_t* end, const char* op) {
    return canary_check_word(p, end, op, keel__harden_word(p));
}

/* The bytes keel_get_stats must not count as the program's (stats.c):
   canaries, and blocks in quarantines. A first-class heap's go to its own
   theap (atomically: its blocks are freed from any thread), which
   keel_heap_destroy drops with its blocks; the rest to the calling
   thread's heap (its thread alone writes it), folded into the process's
   when the thread exits, or for a thread with no heap to the process's. */
static inline void hidden_add_in(keel_heap* first_class, size_t delta) {
    keel_theap* heap;
    if (first_class) {
        /* relaxed: a total read by keel_get_stats, exact once threads are done */
        atomic_fetch_add_explicit(&first_class->theap.a_hidden_bytes, delta, memory_order_relaxed);
        return;
    }
    heap = keel__tls_heap;
    if (heap != &keel__heap_empty) keel__counter_add(&heap->a_hidden_bytes, delta);
    else keel__stat_hidden_global(delta);
}
static inline void hidden_add(const keel_segment* seg, size_t delta) { hidden_add_in(keel__first_class_of(seg), delta); }

/* The block p lies in: where it ends (small and medium pages). */
static inline uint8_t* block_end(keel_segment* seg, const void* p, uint8_t** start) {
    keel_page* page;
    if (KEEL_UNLIKELY(seg->kind == KEEL_SEGMENT_GUARDED)) return keel__guarded_end(p, start);
    page = keel__page_of(seg, p);
    /* a multiply-compare when p is a block's start, as it is but for
       interior-aligned blocks (block_check.h); else a division */
    uint8_t* b = keel__block_reserved_ok(page, p) ? (uint8_t*)(uintptr_t)p : (uint8_t*)keel__block_start(page, p);
    if (start) *start = b;
    return b + page->block_size;
}

void keel__harden_out(void* p, size_t n, keel_heap* first_class) {
    size_t need, block;
    if (!p) return;
    if (n == 0) n = 1;   /* a block of 0 bytes still has one: its usable size is never 0 */
    need = keel__harden_size(n);
    if (need > KEEL_MEDIUM_MAX) return;   /* a large block: a guard page follows it */
    /* handed out at its start, from the class of the size asked for */
    block = keel__class_size[keel__class_of(need)];
    keel__canary_set(p, n, (uint8_t*)p + block);
    hidden_add_in(first_class, block - n);
}

void keel__harden_out_at(void* p, size_t n) {
    keel_segment* seg;
    uint8_t* end;
    if (!p) return;
    seg = keel__segment_of(p);
    if (seg->kind == KEEL_SEGMENT_LARGE) return;
    end = block_end(seg, p, NULL);
    keel__canary_set(p, n, end);
    hidden_add(seg, (size_t)(end - (uint8_t*)p) - n);
}

void keel__harden_resize(keel_segment* seg, void* p, size_t old_n, size_t n) {
    uint8_t* end = block_end(seg, p, NULL);
    if (n < old_n) {
        /* shrunk: the program's bytes past its new size, and the old
           canary, are zero again (a free zeroes only what the new size can
           have written: zero_written) */
        uint8_t* old_stop = (uint8_t*)p + old_n + KEEL_CANARY_SPAN;
        if (old_stop > end - KEEL_CANARY) old_stop = end - KEEL_CANARY;
        memset((uint8_t*)p + n, 0, (size_t)(old_stop - ((uint8_t*)p + n)));
    }
    keel__canary_set(p, n, end);
    hidden_add(seg, old_n - n);
}

/* Zeroes n bytes at p (a block: 16-byte aligned, a multiple of 16):
   small ones inline, 16 bytes a store, 64 a loop while they last. The
   empty asm hides p from the compiler, which would otherwise make the loop
   a call of memset (about 15 instructions more for the 32..64 bytes a
   small block takes). */
static inline void zero(uint8_t* p, size_t n) {
    if (n <= 256) {
        uint8_t* end = p + n;
        static const uint64_t z[8];
        for (; end - p >= 64; p += 64) {   /* 64 bytes a loop while they last */
            memcpy(p, z, 64);
#if defined(__GNUC__)
            __asm__("" : "+r"(p));
#endif
        }
        for (; p < end; p += 16) {
            memcpy(p, z, 16);
#if defined(__GNUC__)
            __asm__("" : "+r"(p));
#endif
        }
    } else {
        memset(p, 0, n);
    }
}

/* Zeroes what the live block at start..end, handed out at p for n bytes,
   can have had written: its link words (an aligned block's p lies past
   them), the program's bytes, the canary after them and its last word.
   The rest was zero when it was handed out (every free block is, harden.h)
   and is not the program's: the slack of an aligned block (up to its
   alignment, 64 KiB for some) and of its size class is left as it is. A
   write outside the program's bytes is caught by the canary, or if it
   lands farther, at the block's next hand-out (its first bytes, or all of
   it for calloc). */
static inline void zero_written(uint8_t* start, uint8_t* p, size_t n, uint8_t* end) {
    size_t reach = (n + KEEL_CANARY_SPAN + 15) & ~(size_t)15;   /* blocks and p are 16-byte aligned */
    if (p != start) zero(start, 16);
    if ((size_t)(end - p) <= reach + 16) {
        zero(p, (size_t)(end - p));
        return;
    }
    zero(p, reach);
    zero(end - 16, 16);   /* the canary's last word */
}

/* ---- the quarantine's mark: a freed block's first two words ---- */

/* From the block's word (keel__harden_word), which the free has at hand. */
static inline uintptr_t mark_of(uint64_t word) { return (uintptr_t)(word * 0xD6E8FEB86659FD93u); }
static inline uintptr_t mark_word(const void* p) { return mark_of(keel__harden_word(p)); }

static inline bool marked_as(const void* p, uintptr_t m) {
    uintptr_t w[2];
    memcpy(w, p, sizeof w);
    return w[0] == m && w[1] == ~m;
}
static inline bool marked(const void* p) { return marked_as(p, mark_word(p)); }

static inline void mark_as(void* p, uintptr_t m) {
    uintptr_t w[2];
    w[0] = m;
    w[1] = ~m;
    memcpy(p, w, sizeof w);
}

size_t keel__harden_live(keel_segment* seg, const void* p, const char* op, size_t* room) {
    size_t usable = keel__usable_size_checked(seg, p, op);   /* not a live block: ends here */
    if (seg->kind == KEEL_SEGMENT_LARGE) {
        *room = usable;
        return usable;
    }
    /* a block in a quarantine is free for the program */
    if (marked(p)) {
        if (op[0] == 'f') keel__misuse_double_free(p);
        keel__misuse_invalid(op, p);
    }
    *room = usable - KEEL_CANARY;
    return canary_check(p, (const uint8_t*)p + usable, op);
}

size_t keel__harden_block_bytes(const void* b, size_t block_size) {
    if (marked(b)) return 0;
    return canary_check(b, (const uint8_t*)b + block_size, "visit");
}

/* ---- the quarantine ---- */

/* Block p leaves heap's quarantine: still marked (else it was written
   after it was freed), unmarked, and freed for reuse. hidden: bytes the
   caller adds to the hidden count with the block's leaving (one counter
   write for both); counted: p leaves the count of quarantined blocks
   (not when the free that let it go put another in its place). */
/* Inline everywhere: keel__harden_free_plain's call is on the common free
   (a call and the general cases' tests cost its pairs 37 instructions) */
static inline __attribute__((always_inline)) void release(keel_theap* heap, void* p, size_t hidden, bool counted) {
    /* a small or medium block (keel__harden_free): no segment map */
    keel_segment* seg = keel__segment_at(p);
    keel_page* page = keel__page_of(seg, p);
    static const keel_block none;
    /* the secret is drawn: the free that quarantined p computed p's mark */
    if (KEEL_UNLIKELY(!marked_as(p, mark_of(keel__harden_word_with(keel__secret_drawn(), p)))))
        keel__harden_written_after_free(p);
    memcpy(p, &none, sizeof none);
    if (counted) keel__counter_add(&heap->a_quarantined_blocks, (size_t)0 - 1);
    /* a first-class heap's quarantine is touched under its lock: freed as its owner */
    if (heap->first_class) {
        hidden_add_in(heap->first_class, hidden - (size_t)(block_end(seg, p, NULL) - (uint8_t*)p));
        keel__free_first_class_locked(seg, p);
        return;
    }
    /* the owner's plain page: p was a live block's start at the free that
       quarantined it, and its page cannot have been cut anew since (the
       block counts as used while it waits), so straight to the push (free.h) */
    if (atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == heap && page->free_flags == 0) {
        /* heap is the calling thread's: a thread heap's quarantine is
           emptied only by its own thread (hidden_add_in's heap) */
        keel__counter_add(&heap->a_hidden_bytes, hidden - page->block_size);
        keel__free_push_local(heap, page, p);
        return;
    }
    hidden_add_in(NULL, hidden - (size_t)(block_end(seg, p, NULL) - (uint8_t*)p));
    keel__free_now(seg, p);
}

/* Puts p in heap's quarantine; returns the block that leaves it, or NULL. */
static void* quarantine_put(keel_theap* heap, void* p) {
    uint64_t x = heap->quarantine_rng;
    void* old;
    void* out;
    if (KEEL_UNLIKELY(x == 0)) x = keel__random() | 1;
    x ^= x << 13;   /* xorshift64 */
    x ^= x >> 7;
    x ^= x << 17;
    heap->quarantine_rng = x;
    old = heap->quarantine[(x >> 32) & (KEEL_QUARANTINE_SLOTS - 1)];
    heap->quarantine[(x >> 32) & (KEEL_QUARANTINE_SLOTS - 1)] = p;
    if (!old) return NULL;
    out = heap->quarantine_fifo[heap->quarantine_fifo_at];
    heap->quarantine_fifo[heap->quarantine_fifo_at] = old;
    heap->quarantine_fifo_at = (heap->quarantine_fifo_at + 1) & (KEEL_QUARANTINE_SLOTS - 1);
    return out;
}
_Static_assert((KEEL_QUARANTINE_SLOTS & (KEEL_QUARANTINE_SLOTS - 1)) == 0, "KEEL_QUARANTINE_SLOTS: a power of two");

/* The free's common case, kept lean (the free fast path's tests passed,
   free.h): block p of block bytes, of a plain page (the calling thread's,
   or another thread's: it goes to this thread's quarantine all the same),
   the thread having a heap. The secret is drawn (the page has blocks). */
void keel__harden_free_plain(keel_theap* heap, void* p, size_t block) {
    uint64_t word = keel__harden_word_with(keel__secret_drawn(), p);   /* the canary's, and the mark's */
    uintptr_t m = mark_of(word);
    uint8_t* end = (uint8_t*)p + block;
    size_t n;
    void* out;
    if (KEEL_UNLIKELY(marked_as(p, m))) keel__misuse_double_free(p);
    n = canary_check_word(p, end, "free", word);
    zero_written((uint8_t*)p, (uint8_t*)p, n, end);
    mark_as(p, m);
    out = quarantine_put(heap, p);
    if (!out) {
        keel__counter_add(&heap->a_hidden_bytes, n);
        keel__counter_add(&heap->a_quarantined_blocks, 1);
        return;
    }
    release(heap, out, n, false);
}

void keel__harden_free(keel_segment* seg, void* p) {
    keel_heap* first_class;
    keel_theap* heap;
    uint8_t* start;
    uint8_t* end;
    size_t room, n;
    uintptr_t m;   /* its mark */
    void* out;
    if (seg->kind == KEEL_SEGMENT_LARGE) {   /* its checks are free.c's; a guard page follows it */
        keel__free_now(seg, p);
        return;
    }
    if (seg->kind == KEEL_SEGMENT_GUARDED) {
        /* the canary checked; no zeroing or quarantine: its page becomes
           inaccessible and waits behind the pool's other free slots */
        n = keel__harden_live(seg, p, "free", &room);   /* room: its bytes to the guard, less the canary's */
        hidden_add(seg, (size_t)0 - (room + KEEL_CANARY - n));
        keel__guarded_free(p);
        return;
    }
    /* every check (the plain pages' frees took keel__harden_free_plain:
       free.h) */
    n = keel__harden_live(seg, p, "free", &room);
    end = block_end(seg, p, &start);
    m = mark_word(p);
    zero_written(start, (uint8_t*)p, n, end);
    first_class = keel__first_class_of(seg);
    if (first_class) {
        /* its own quarantine, which destroy drops; a try: this thread may
           hold the lock (a callback of keel_heap_visit) */
        if (!keel__lock_try(&first_class->lock)) {
            hidden_add(seg, (size_t)0 - (size_t)(end - (uint8_t*)p - n));
            keel__free_now(seg, p);
            return;
        }
        heap = &first_class->theap;
    } else {
        heap = keel__tls_heap;
        if (heap == &keel__heap_empty) {   /* a thread with no heap: no quarantine */
            hidden_add(seg, (size_t)0 - (size_t)(end - (uint8_t*)p - n));
            keel__free_now(seg, p);
            return;
        }
    }
    mark_as(p, m);
    out = quarantine_put(heap, p);
    /* the program's bytes are no longer its (hidden); p takes out's place
       in the count of quarantined blocks */
    if (out) {
        release(heap, out, n, false);   /* a first-class heap's: under its lock */
    } else {
        hidden_add_in(first_class, n);
        keel__counter_add(&heap->a_quarantined_blocks, 1);
    }
    if (first_class) keel__heap_unlock(first_class);
}

void keel__harden_quarantine_flush(keel_theap* heap) {
    size_t i;
    for (i = 0; i < KEEL_QUARANTINE_SLOTS; i++) {
        void* a = heap->quarantine[i];
        void* b = heap->quarantine_fifo[i];
        heap->quarantine[i] = heap->quarantine_fifo[i] = NULL;
        if (a) release(heap, a, 0, true);
        if (b) release(heap, b, 0, true);
    }
}

void keel__harden_quarantine_validate(const keel_theap* heap) {
    size_t i;
    for (i = 0; i < 2 * KEEL_QUARANTINE_SLOTS; i++) {
        const void* p = i < KEEL_QUARANTINE_SLOTS ? heap->quarantine[i] : heap->quarantine_fifo[i - KEEL_QUARANTINE_SLOTS];
        if (p && !marked(p)) keel__harden_written_after_free(p);
    }
}

/* ---- sized free ---- */

void keel__harden_sized_check(keel_segment* seg, const void* p, size_t size, size_t alignment) {
    size_t room, n = keel__harden_live(seg, p, "free", &room);
    bool ok;
    if (alignment == 0) alignment = 1;
    if (seg->kind == KEEL_SEGMENT_LARGE) {
        /* the usable size is the size asked (or the first past the medium
           classes, for one that left no room for a canary), rounded up to
           OS pages, and an aligned size rounded up to its alignment */
        ok = size <= n && n - size < alignment + vmem_get_page_size() + KEEL_CANARY;
    } else {
        /* exactly the size asked; an aligned one may have been rounded up
           to the alignment (libstdc++'s aligned new); new(0) asks for 1 */
        ok = (size <= n && n - size < alignment) || (size == 0 && n <= 1);
    }
    if (!ok) die_at("sized free mismatch at ", p, "", 0, false);
}

#else
typedef int keel__harden_unused; /* ISO C: a translation unit declares something */
#endif /* KEEL_HARDENED */
