/* harden.h — the hardened build (KEEL_HARDENED=1; DESIGN.md section 10):
   what it adds to the checks every build makes (block_check.h), and the
   hooks the allocation and free paths call. In the other builds every hook
   below is empty or the identity, and their code is unchanged.

   HOW IT WORKS (a newcomer's five minutes)

   Encoded links. Each page draws a secret, link_key, when it is cut for a
   size class (keel__page_init). A free block's link is stored xor that
   key, and its check word (block_check.h) mixes the key in. Overwriting a
   link, or forging a free block, without the key gives a pair that fails
   the check when the block is popped: "keel: heap corruption: ...".
   (annotate.h's link accessors.)

   Canary. Every small and medium block is asked for 8 bytes more than the
   program asked (keel__harden_size). Between the end of the program's
   bytes and the end of the block lies the canary: the block's last 8
   bytes hold the distance from that end back to the program's last byte,
   plus a secret word of the block's address; the (up to) 16 bytes right
   after the program's bytes hold bytes of that word, none of them zero.
   An overflow is contiguous, so it meets them first; the slack between
   (an aligned block's can be kilobytes) is neither written nor read. free, realloc, usable_size and
   keel_validate decode and check it: "keel: heap overflow detected at
   0x... (block of N bytes)". So the size the program asked is known at
   free: keel_usable_size and malloc_usable_size return it (code that
   writes up to the usable size is never flagged), and a sized free
   (free_sized, sized operator delete: the hardened override exports them)
   is checked against it: "keel: sized free mismatch at 0x...". Large
   blocks have no canary: a guard page follows each (large.c).

   Zero on free, checked on reuse. Every block on a free list is zero but
   for its first 16 bytes (link and check word): blocks carved from a page
   are zeroed (unless the page's memory was fresh), and a freed small or
   medium block gets zero where it can have been written (its link words,
   the program's bytes, the canary), which is all of it but the slack of an
   aligned block or of a size class wider than the size asked. When a block is handed out again
   its first KEEL_HARDEN_SCAN bytes are checked, all of it for calloc
   (which then has nothing to clear): "keel: write after free detected at
   0x...". A stale pointer writes a struct's first fields; the scan of
   whole blocks cost more than the rest of the hardened build together.

   Quarantine. A freed block is not reused at once. It is zeroed and marked
   (its first two words become a secret word of its address and its
   complement), then put in a random slot of its heap's quarantine; the
   block that slot held moves to a FIFO of the same length, and the block
   the FIFO drops is checked (mark and zeros: a write after free during the
   quarantine) and freed for reuse. A block thus waits at least
   KEEL_QUARANTINE_SLOTS frees of its heap, on average twice that, in an
   order an attacker cannot predict. A free of a marked block is a double
   free. Blocks freed by a thread go to that thread's quarantine; those of
   a first-class heap to the heap's own (under its lock), so that
   keel_heap_destroy leaves none behind. A thread's quarantine is emptied
   when it exits, by keel_trim and by the out-of-memory policy; a thread
   with no heap yet frees at once.

   Random reuse. The blocks a page carves go on its free list in a random
   order, and the quarantine returns freed blocks in a random one: the
   next block handed out cannot be predicted from the last.

   Guard pages: at least one OS page after every large block, reserved
   and never committed, or, where the block keeps committed slack to grow
   into, the slack's first page made inaccessible (large.c, guard_bytes);
   the last OS page of every small and medium page slot, and one between a
   segment's header and its first page, reserved and never committed
   (keel__slot_bounds, internal.h). An overflow past them faults at once.

   The common cases take lean paths with the same checks: an allocation
   from the direct table (keel_alloc: keel__harden_out_page) and the free
   of a plain page's block, its owner's or another thread's
   (keel__harden_free_plain, from free.h).

   What it costs: the "Hardened build cost" section of make bench's
   report, against the budget of DESIGN.md section 10. */
#ifndef KEEL_HARDEN_H
#define KEEL_HARDEN_H

#include "internal.h"

#if KEEL_HARDENED

#define KEEL_CANARY 8
/* How much of a block handed out again is checked for writes after its
   free: its link words and the 256 bytes after them (stale pointers write
   a struct's first fields), the whole block for calloc. */
#define KEEL_HARDEN_SCAN (16 + 256)

#include <string.h>

/* The secret word of the block the program knows as p: one multiply of
   the process's secret and the address (a word read from memory reveals
   the secret whatever the mix; what matters is that it is unknown until
   then), its top bits rotated down. */
static inline uint64_t keel__harden_word_with(uint64_t secret, const void* p) {
    uint64_t x = (secret ^ (uint64_t)(uintptr_t)p) * 0x9E3779B97F4A7C15u;
    return x ^ (x >> 29);
}
static inline uint64_t keel__harden_word(const void* p) { return keel__harden_word_with(keel__secret(), p); }
/* The secret where it is known to be drawn: a page has blocks (page.c drew
   its link_key from it), so no test for the first use. */
static inline uint64_t keel__secret_drawn(void) { return atomic_load_explicit(&keel__a_secret, memory_order_relaxed); }


/* The canary's bytes before its last word: those of pw = the block's word
   with every byte's low bit set (never zero: a string's terminator written
   one past its end is the commonest overflow), as stored in memory, at
   their address's place in an aligned 8-byte word. So whole aligned words
   of it are pw itself. */
#define KEEL_CANARY_ONES 0x0101010101010101u
static inline uint8_t keel__canary_byte(uint64_t pw, const uint8_t* q) {
    return ((const uint8_t*)&pw)[(uintptr_t)q & 7];
}

/* The bytes of the block's word written right after the program's bytes
   (up to the last word): an overflow is contiguous, so it meets them
   first; the slack past them (an aligned block's can be kilobytes) is
   neither written nor read. */
#define KEEL_CANARY_SPAN 16

/* The canary's bytes as an 8-byte word read from q, at any alignment:
   byte i is pw's byte (q + i) mod 8, so the word is pw rotated by q's
   misalignment (right on a little-endian machine, left on a big-endian
   one). Where the byte order is not known at compile time, byte by byte. */
#if (defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) || defined(_WIN32)
#define KEEL_CANARY_WORDS 1
static inline uint64_t keel__canary_word(uint64_t pw, const uint8_t* q) {
    unsigned s = (unsigned)((uintptr_t)q & 7) * 8;
    return (pw >> s) | (pw << (-s & 63));   /* one rotate instruction; s = 0 gives pw */
}
/* The first k bytes (k < 8) of a word read from memory. */
static inline uint64_t keel__canary_mask(size_t k) { return k ? ~(uint64_t)0 >> (64 - 8 * k) : 0; }
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define KEEL_CANARY_WORDS 1
static inline uint64_t keel__canary_word(uint64_t pw, const uint8_t* q) {
    unsigned s = (unsigned)((uintptr_t)q & 7) * 8;
    return (pw << s) | (pw >> (-s & 63));
}
static inline uint64_t keel__canary_mask(size_t k) { return k ? ~(uint64_t)0 << (64 - 8 * k) : 0; }
#else
#define KEEL_CANARY_WORDS 0
#endif

static inline uint64_t keel__load64(const uint8_t* q) {
    uint64_t v;
    memcpy(&v, q, sizeof v);
    return v;
}
static inline void keel__store64(uint8_t* q, uint64_t v) { memcpy(q, &v, sizeof v); }

/* The canary's first bytes, from q = the end of the program's bytes to
   min(q + KEEL_CANARY_SPAN, tail), tail the block's last word (q <= tail): one
   word at q, and where the span is longer a second one that ends with it
   (the two overlap). Bytes written past tail are the last word's, which
   the caller writes after these. */
static inline void keel__canary_span_set(uint64_t pw, uint8_t* q, const uint8_t* tail) {
    size_t len = (size_t)(tail - q);
    if (len > KEEL_CANARY_SPAN) len = KEEL_CANARY_SPAN;
#if KEEL_CANARY_WORDS
    keel__store64(q, keel__canary_word(pw, q));   /* q + 8 <= tail + 8, the block's end */
    if (len > 8) keel__store64(q + len - 8, keel__canary_word(pw, q + len - 8));
#else
    {
        size_t i;
        for (i = 0; i < len; i++) q[i] = keel__canary_byte(pw, q + i);
    }
#endif
}

/* Whether the canary's first bytes at q are intact (keel__canary_span_set). */
static inline bool keel__canary_span_ok(uint64_t pw, const uint8_t* q, const uint8_t* tail) {
    size_t len = (size_t)(tail - q);
    if (len > KEEL_CANARY_SPAN) len = KEEL_CANARY_SPAN;
#if KEEL_CANARY_WORDS
    if (len >= 8)
        return ((keel__load64(q) ^ keel__canary_word(pw, q)) | (keel__load64(q + len - 8) ^ keel__canary_word(pw, q + len - 8))) == 0;
    return ((keel__load64(q) ^ keel__canary_word(pw, q)) & keel__canary_mask(len)) == 0;
#else
    {
        size_t i;
        for (i = 0; i < len; i++)
            if (q[i] != keel__canary_byte(pw, q + i)) return false;
        return true;
    }
#endif
}

static inline void keel__canary_set_word(void* p, size_t n, uint8_t* end, uint64_t w) {
    uint8_t* q = (uint8_t*)p + n;
    uint8_t* tail = end - KEEL_CANARY;   /* 8-aligned: blocks are 16-byte multiples */
    keel__assert(q <= tail);
    keel__canary_span_set(w | KEEL_CANARY_ONES, q, tail);
    keel__store64(tail, w + (uint64_t)(size_t)(end - q));
}
static inline void keel__canary_set(void* p, size_t n, uint8_t* end) {
    keel__canary_set_word(p, n, end, keel__harden_word(p));
}

/* The size to ask the page machinery for n bytes: room for the canary
   (a size that leaves the largest medium class no room for it takes a
   large block). */
static inline size_t keel__harden_size(size_t n) {
    if (n <= KEEL_MEDIUM_MAX - KEEL_CANARY) return n + KEEL_CANARY;
    return n <= KEEL_MEDIUM_MAX ? KEEL_MEDIUM_MAX + 1 : n;
}
/* The size the program asked for, from what keel__harden_size made of it
   (the out-of-memory handler is told that size). One size is ambiguous:
   KEEL_MEDIUM_MAX + 1, asked as it is or made of a size up to 8 bytes
   below the largest medium class; the larger is said. */
static inline size_t keel__harden_asked(size_t need) {
    return need <= KEEL_MEDIUM_MAX && need >= KEEL_CANARY ? need - KEEL_CANARY : need;
}
/* Block p, handed out at its start for n bytes from the size class of
   keel__harden_size(n) (by a first-class heap, or NULL: a thread heap),
   gets its canary; nothing for NULL or a large block. */
KEEL_HIDDEN void keel__harden_out(void* p, size_t n, keel_heap* first_class);
/* The same for block p of block bytes, just popped from a page of thread
   heap heap (the allocation's fast path): the page's secret is drawn. */
static inline void keel__harden_out_page(keel_theap* heap, void* p, size_t n, size_t block) {
    keel__canary_set_word(p, n, (uint8_t*)p + block, keel__harden_word_with(keel__secret_drawn(), p));
    keel__counter_add(&heap->a_hidden_bytes, block - n);   /* the canary's and the slack's bytes */
}
/* The same for any block p (aligned: maybe inside its block), found by
   its segment; n >= 1. */
KEEL_HIDDEN void keel__harden_out_at(void* p, size_t n);
/* Block p of seg, which held old_n bytes of the program's, now holds n:
   its canary rewritten (realloc in place). */
KEEL_HIDDEN void keel__harden_resize(keel_segment* seg, void* p, size_t old_n, size_t n);
/* The program's bytes of the live block p of seg (small or medium), after
   every check: a pointer keel did not hand out ends the program as in
   every build; a block in the quarantine as freed ("double free" for op
   "free"); a damaged canary as an overflow. *room: the most p can hold
   in place. */
KEEL_HIDDEN size_t keel__harden_live(keel_segment* seg, const void* p, const char* op, size_t* room);
/* The program's bytes in the live block b (a first-class heap's, handed
   out at its start) of block_size bytes; 0 when b is in a quarantine
   (keel_heap_visit). A damaged canary is an overflow. */
KEEL_HIDDEN size_t keel__harden_block_bytes(const void* b, size_t block_size);
/* keel_free of p in seg, every case but a plain page's block (free.h sends
   that to keel__harden_free_plain below): the checks, the zeroing and the
   quarantine; the block the quarantine lets go is freed by keel__free_now. */
KEEL_HIDDEN void keel__harden_free(keel_segment* seg, void* p);
KEEL_HIDDEN KEEL_NORETURN void keel__harden_written_after_free(const void* p);   /* "write after free detected at 0x..." */
/* keel__harden_free of block p (block bytes) of a plain page, by the
   thread of heap (not keel__heap_empty), after the tests of the free fast
   path (the owner's) or of free_remote_plain (another thread's): free.h. */
KEEL_HIDDEN void keel__harden_free_plain(keel_theap* heap, void* p, size_t block);
/* A block popped from a free list: its bytes past the first 16 are zero,
   else "write after free detected". Inline: every allocation makes it. */
static inline void keel__harden_check_zero(const void* b, size_t size) {
    const uint8_t* q = (const uint8_t*)b + 16;
    const uint8_t* end = (const uint8_t*)b + size;
    /* past the link and its check word: on 32-bit they take 8 bytes, the
       next 8 are zero too */
    if (sizeof(keel_block) < 16) {
        uint64_t w;
        memcpy(&w, (const uint8_t*)b + 8, sizeof w);
        if (KEEL_UNLIKELY(w != 0)) keel__harden_written_after_free(b);
    }
    /* 16 bytes a step (blocks are 16-byte multiples), or-ed together
       without a branch: one vector load and one or where the compiler
       has vectors (GCC's and clang's vector extension); 64 bytes a loop
       while they last (a loop's own three instructions, paid once for
       four steps: larson's blocks of up to 500 bytes scan 256) */
#if defined(__GNUC__)
    typedef uint64_t v2 __attribute__((vector_size(16)));
    v2 acc = {0, 0};
    for (; end - q >= 64; q += 64) {
        /* aligned loads (blocks are 16-byte aligned), which x86's or takes
           as its operand; one memcpy of 64 bytes would go through the stack */
        const v2* v = (const v2*)__builtin_assume_aligned(q, 16);
        acc |= (v[0] | v[1]) | (v[2] | v[3]);
    }
    for (; q < end; q += 16) {
        v2 w;
        memcpy(&w, q, sizeof w);
        acc |= w;
    }
    if (KEEL_UNLIKELY((acc[0] | acc[1]) != 0)) keel__harden_written_after_free(b);
#else
    uint64_t acc = 0;
    for (; q < end; q += 16) {
        uint64_t w[2];
        memcpy(w, q, sizeof w);
        acc |= w[0] | w[1];
    }
    if (KEEL_UNLIKELY(acc != 0)) keel__harden_written_after_free(b);
#endif
}

/* The blocks of heap's quarantine, freed (thread exit, keel_trim, out of
   memory). The caller may free into heap: its thread, or its lock. */
KEEL_HIDDEN void keel__harden_quarantine_flush(keel_theap* heap);
/* keel_validate's part: every block of heap's quarantine still marked and
   zero. */
KEEL_HIDDEN void keel__harden_quarantine_validate(const keel_theap* heap);
/* A sized free (free_sized, sized delete) of p in seg, for size bytes
   asked with alignment (1 if none): "sized free mismatch" unless the block
   can have been asked for that size (DESIGN.md section 10). */
KEEL_HIDDEN void keel__harden_sized_check(keel_segment* seg, const void* p, size_t size, size_t alignment);

#else

static inline size_t keel__harden_size(size_t n) { return n; }
static inline size_t keel__harden_asked(size_t need) { return need; }
static inline void keel__harden_out(void* p, size_t n, keel_heap* first_class) {
    (void)p;
    (void)n;
    (void)first_class;
}
static inline void keel__harden_out_at(void* p, size_t n) { (void)p; (void)n; }

#endif /* KEEL_HARDENED */

#endif /* KEEL_HARDEN_H */
