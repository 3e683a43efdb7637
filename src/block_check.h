/* block_check.h — what every build checks of a pointer given back and of a
   free list (DESIGN.md section 10): only the start of a live block ever
   reaches a free list, and a damaged link is never followed.

   HOW IT WORKS (a newcomer's five minutes)

   Block starts without a division. A small/medium page keeps, beside its
   block size d, block_magic = ceil(2^64 / d) and block_area, the bytes of
   its carved blocks (capacity x d). For off = p - start, a 64-bit unsigned
   difference: p is a carved block's start iff off < block_area and
   off x block_magic (mod 2^64) < block_magic. The second test is Lemire,
   Kaser and Kurz's divisibility test ("Faster remainder by direct
   computation", 2019), exact for every off < 2^32 and d < 2^32, which a
   page guarantees. A pointer before start (the segment header, a page's
   alignment gap) wraps to a huge off and fails the first test; so do the
   slots not carved yet (never handed out) and a page in no class (area 0).
   block_area changes as the owner carves, so only the owner reads it; other
   threads test against its copy in the page's third line, which the owner
   stores as it carves (keel__block_remote_ok).

   The check word. A free block holds two words: its link (next) and
   check = next ^ block ^ KEEL_LINK_SALT, written together whenever a link
   is written (annotate.h, keel__link_set) and cleared when the block is
   handed out (keel__link_take). Two uses:
   - Double free, cheap first: a block given back whose words already
     satisfy the relation may be free. The owner then confirms with a scan
     of the page's three lists (its own two and the one other threads push
     to, which it may walk: those nodes change only when it takes them) and
     aborts with "keel: double free of 0x..." only when it finds it; a
     false alarm (a live block whose data happen to satisfy the relation,
     which needs a word holding the next word xor the block's own address
     xor the salt) costs a scan and nothing else. Another thread cannot read
     the owner's lists; it aborts when the relation holds and the link is
     itself a block of the page (or the end of a list).
   - A damaged link: the allocation path takes a block only after checking
     its relation (keel__link_take); an overflow into a free block's link (a
     1-byte overflow changes its low byte) or a write after free breaks it:
     "keel: heap corruption: free block 0x... damaged (its link was
     overwritten: a heap overflow or a write after free)", abort. The blocks
     other threads freed become a free list as they are (no walk when they
     are collected: keel__page_collect), so the same test at their pop
     covers them; keel_validate checks every link the same way.

   What it costs on the fast path (bench/fastpath.sh, measured at 7ec9827):
   the free tests the block start (8 instructions) and the relation (5)
   and writes the check word with the link (3); the allocation tests the
   relation and clears the check word (6). The owner's free makes both
   tests through keel__free_plain_ok (free.h), on the fast path and for
   pages flagged only by the heap profile.

   Aligned blocks. A page that handed out blocks at interior offsets
   (keel_alloc_aligned) sends its frees to the slow path, which finds the
   block start with a division and accepts p when p is the start or an
   offset the alignment of p explains (p - start below p's own alignment,
   above 16): exactly the pointers keel_alloc_aligned can return. An
   interior pointer that happens to look like one frees that block (no
   list is damaged); the hardened build (issue 9's second part) records the
   offsets. */
#ifndef KEEL_BLOCK_CHECK_H
#define KEEL_BLOCK_CHECK_H

#include "internal.h"

/* ceil(2^64 / d), d > 1; 0 for d == 0 (a page in no class: no block). */
static inline uint64_t keel__block_magic(uint32_t d) {
    return d ? UINT64_MAX / d + 1 : 0;
}

/* Whether p is the start of a carved block of page (owner only: reads
   block_area, which the owner changes as it carves). */
static inline bool keel__block_start_ok(const keel_page* page, const void* p) {
    uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)page->start);
    return off < page->block_area && off * page->block_magic < page->block_magic;
}

/* Whether p is the start of one of the page's reserved blocks (any thread:
   start, reserved and block_magic are fixed while the page is in use). */
static inline bool keel__block_reserved_ok(const keel_page* page, const void* p) {
    uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)page->start);
    return off < (uint64_t)page->reserved * page->block_size && off * page->block_magic < page->block_magic;
}

/* keel__block_start_ok from the page's third line (internal.h), which the
   owner writes only as it carves: the test of other threads' frees
   (free.c). The carved area only grows while the page is in use, and a
   block reached the freeing thread after it was carved, so the area read
   covers every block that thread may free. */
static inline bool keel__block_remote_ok(const keel_page* page, const void* p) {
    uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)page->remote_start);
    return off < __atomic_load_n(&page->remote_carved_area, __ATOMIC_RELAXED) &&
           off * page->remote_block_magic < page->remote_block_magic;
}

#endif /* KEEL_BLOCK_CHECK_H */
