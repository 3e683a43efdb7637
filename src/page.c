/* page.c — one page of one size class: its block lists. Carving blocks into
   the free list as they are needed, and collecting the blocks freed by the
   owner and by other threads. Entry points: keel__page_init,
   keel__page_extend, keel__page_collect. */
#include "annotate.h"
#include "block_check.h"
#include "harden.h"

#include <string.h>

/* The hardened build's record of an emptied slot, in link_key while the
   slot is unused (0: nothing known; page_clear and a first-class heap's
   discard write that): its blocks all free, so each zero but for its first
   16 bytes (harden.h), and nothing past them written, when its page had
   carved from zero memory. Its carved count and class. */
void keel__page_note_empty(keel_page* page) {
#if KEEL_HARDENED
    page->link_key = page->uncarved_zero ? (uintptr_t)page->capacity << 8 | page->class_index : 0;
#else
    (void)page;
#endif
}

#if KEEL_HARDENED
/* The slot's last page left it as its record `left` says (nonzero):
   those words cleared, the slot is zero again. A store per block instead
   of clearing the slot as it is carved (page_extend). Cleared even for
   blocks of the same size: the next page may carve fewer, and the words it
   leaves would outlive its record. */
static void slot_rezero(keel_page* page, uintptr_t left) {
    uint32_t prev = keel__class_size[left & 0xff], count = (uint32_t)(left >> 8), i;
    for (i = 0; i < count; i++) memset(page->start + (size_t)i * prev, 0, 16);
}
#endif

void keel__page_init(keel_page* page, size_t class_index) {
    uint32_t bsize = keel__class_size[class_index];
#if KEEL_HARDENED
    uintptr_t left = page->link_key;   /* keel__page_note_empty's record, or 0 */
#endif
    keel__assert(page->in_use && keel__slot_holds_memory(page->slot_state) && page->slot_size >= bsize);
    page->block_size = bsize;
    atomic_store_explicit(&page->a_stat_block_size, bsize, memory_order_relaxed);
    page->class_index = (uint8_t)class_index;
    page->reserved = (uint32_t)(page->slot_size / bsize);
    page->capacity = 0;
    page->block_area = 0;
    page->block_magic = keel__block_magic(bsize);
#if KEEL_HARDENED
    page->link_key = (uintptr_t)keel__random();   /* its links' secret (harden.h) */
#endif
    page->free = NULL;
    page->local_free = NULL;
    keel__page_used_set(page, 0);
    page->free_flags = 0;
    keel__page_remote_sync(page);
    /* no block is live, so none is sampled (profile.c) */
    atomic_store_explicit(&page->a_sampled[0], 0, memory_order_relaxed);
    atomic_store_explicit(&page->a_sampled[1], 0, memory_order_relaxed);
    atomic_store_explicit(&page->a_sampled_more, 0, memory_order_relaxed);
    page->free_is_zero = page->slot_state == KEEL_SLOT_FRESH;
    page->uncarved_zero = page->free_is_zero;
#if KEEL_HARDENED
    if (!page->uncarved_zero && left != 0) {
        slot_rezero(page, left);
        page->uncarved_zero = 1;
    }
#endif
    page->slot_state = KEEL_SLOT_DIRTY;   /* from now on blocks get written */
    page->next = page->prev = NULL;
    keel__ann_unused(page->start, page->slot_size);
}

size_t keel__page_size_cached;
size_t keel__os_page_size_read(void) {
    size_t v = vmem_get_page_size();
    __atomic_store_n(&keel__page_size_cached, v, __ATOMIC_RELAXED);
    return v;
}

/* Carves more blocks into `free` (which is empty): about one OS page's
   worth at a time, so a page's memory is touched only as it is used, but
   at least KEEL_EXTEND_MIN blocks up to 4 KiB: one block per carve made
   every 1..4 KiB allocation of a busy class take the slow path (st-mixed).
   false when every block is already carved. */
#define KEEL_EXTEND_MIN 4
bool keel__page_extend(keel_page* page) {
    uint32_t n = page->reserved - page->capacity, want, i;
    uint8_t* p;
    keel__assert(page->free == NULL);
    if (n == 0) return false;
    want = (uint32_t)(keel__os_page_size() / page->block_size);
    if (want < KEEL_EXTEND_MIN) want = page->block_size <= 4096 ? KEEL_EXTEND_MIN : 1;
    if (n > want) n = want;
    p = page->start + (size_t)page->capacity * page->block_size;
#if KEEL_HARDENED
    /* zero (free blocks are, harden.h), and linked in a random order */
    {
        uint16_t order[256];
        uint64_t x = keel__random() | 1;
        if (n > 256) n = 256;
        if (!page->uncarved_zero) memset(p, 0, (size_t)n * page->block_size);
        for (i = 0; i < n; i++) order[i] = (uint16_t)i;
        for (i = n - 1; i > 0; i--) {   /* Fisher-Yates, xorshift64 */
            uint32_t j;
            uint16_t t;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            j = (uint32_t)(((x >> 32) * (uint64_t)(i + 1)) >> 32);   /* in [0, i], no division */
            t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (i = 0; i + 1 < n; i++)
            keel__link_set_keyed((keel_block*)(void*)(p + (size_t)order[i] * page->block_size),
                                 (keel_block*)(void*)(p + (size_t)order[i + 1] * page->block_size), page->link_key);
        keel__link_set_keyed((keel_block*)(void*)(p + (size_t)order[n - 1] * page->block_size), NULL, page->link_key);
        page->free = (keel_block*)(void*)(p + (size_t)order[0] * page->block_size);
    }
#else
    for (i = 0; i + 1 < n; i++) {
        keel__link_set((keel_block*)(void*)p, (keel_block*)(void*)(p + page->block_size));
        p += page->block_size;
    }
    keel__link_set((keel_block*)(void*)p, NULL);
    page->free = (keel_block*)(void*)(page->start + (size_t)page->capacity * page->block_size);
#endif
    page->capacity += n;
    page->block_area = (uint64_t)page->capacity * page->block_size;
    /* other threads' frees test against the copy (block_check.h) */
    __atomic_store_n(&page->remote_carved_area, page->block_area, __ATOMIC_RELAXED);
    return true;
}

/* Moves the blocks other threads freed, or else local_free, into `free`
   when it is empty. Returns how many blocks came from other threads.

   The stack other threads pushed to carries its count (internal.h), so
   when `free` is empty it becomes the free list as it is, and local_free
   waits for the next refill: no walk over the blocks. Such a walk read
   every block's line from the core that freed it, one dependent miss after
   another (perf, xmalloc 2 1: 57% of the run in this function); a pop
   reads the same line, but while the program's own work runs. The checks
   the walk made are made elsewhere: the freeing thread tested that the
   block is a carved block's start (keel__block_remote_ok), and each
   block's link is tested when it is popped (keel__link_take) or walked
   (keel_validate). Only when `free` holds blocks (heap_collect_all) is
   the stack walked, to its end, and put in front. */
size_t keel__page_collect(keel_theap* heap, keel_page* page) {
    uint64_t w;
    keel_block* tf;
    uint32_t n;
    /* relaxed peek first: the exchange is a locked instruction; acquire:
       pairs with the release push (free.c), so the links written by the
       freeing threads are visible */
    if (atomic_load_explicit(&page->a_thread_free, memory_order_relaxed) == 0 ||
        (w = atomic_exchange_explicit(&page->a_thread_free, 0, memory_order_acquire)) == 0) {
        if (page->free == NULL && page->local_free != NULL) keel__page_take_local(page);
        return 0;
    }
    tf = keel__thread_free_top(page->start, w);
    n = keel__thread_free_count(w);
    if (!keel__block_start_ok(page, tf) || n == 0 || n > keel__page_used(page))
        keel__corruption("the list of blocks freed by other threads is damaged (its head or count)");
    if (page->free != NULL) {
        keel_block* last = tf;
        keel_block* next;
        uint32_t k = 1;
        for (;;) {
            if (!keel__link_intact(last))
                keel__corruption_at("block ", last, " freed by another thread damaged (its link was overwritten)");
            if ((next = keel__link_get(last)) == NULL) break;
            if (++k > n) keel__corruption("blocks freed by other threads form a cycle");
            last = next;
        }
        if (k != n) keel__corruption("the list of blocks freed by other threads is damaged (its head or count)");
        keel__link_set_keyed(last, page->free, keel__page_link_key(page));
    }
    page->free = tf;
    page->free_is_zero = 0;
    keel__page_used_set(page, keel__page_used(page) - n);
    if (heap && heap != &keel__heap_empty) {
        keel__counter_add(&heap->a_collected_blocks, n);
        keel__counter_add(&heap->a_collected_bytes, (size_t)n * page->block_size);
    } else {
        keel__stat_collected_global(n, (size_t)n * page->block_size);
    }
    return n;
}

/* The page invariant of internal.h, walked: capacity == used + |free| +
   |local_free|. For keel__assert_expensive (the owner's pages only). */
static size_t list_count(const keel_page* page, const keel_block* b, size_t n) {
    for (; b && n <= page->capacity; b = keel__link_get(b), n++)
        if (!keel__link_intact(b)) (void)keel__free_block_damaged(b);   /* never follow a damaged link */
    return n;
}
bool keel__page_counts_add_up(const keel_page* page) {
    size_t n = list_count(page, page->local_free, list_count(page, page->free, 0));
    return n + keel__page_used(page) == page->capacity;
}
