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
/* keel_free of p in seg: the checks, the zeroing and the quarantine; the
   block the quarantine lets go is freed by keel__free_now. */
KEEL_HIDDEN void keel__harden_free(keel_segment* seg, void* p);
/* A block popped from a free list: its bytes past the first 16 are zero,
   else "write after free detected". */
KEEL_HIDDEN void keel__harden_check_zero(const void* b, size_t size);
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
