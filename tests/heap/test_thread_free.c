/* test_thread_free.c — white box (src/internal.h a_thread_free, src/page.c
   keel__page_collect): the blocks other threads free go on the page's
   a_thread_free, one word holding the stack's top and its count; the owner
   takes the whole stack with that count and, when its free list is empty,
   makes the stack its free list as it is, local_free waiting for the next
   refill. Checked, each in a thread of its own (a heap with no page yet):
   - after another thread frees 40 blocks of a page, the word says 40 with
     the last one freed on top, and keel_validate agrees;
   - with `free` drained, the next allocations hand out those 40 blocks,
     last freed first, the page's count of blocks in use drops by exactly
     40, the owner's own frees (local_free) stay where they are until the
     stack is used up, and then come next;
   - a thread that exits while other threads' frees wait on its pages,
     its free list not empty (the stack is walked and put in front),
     leaves a heap keel_validate finds whole, and the blocks it left are
     freed from another thread.
   - pages left full whose blocks another thread then frees are found
     again by the owner's next allocations (the other thread's first push
     tells the owner to scan its full pages: a_freed_into): every block handed out again is one of those, but for
     what the pages not full could still carve.
   The hardened build holds frees in the freeing thread's quarantine and
   hands blocks out in a random order, so only the last part (and
   keel_validate throughout) applies there. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "internal.h"
#include "segment_map.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#define NAME "test_thread_free"

enum { N = 60, REMOTE_FROM = 10, REMOTE_TO = 50, LOCAL = 5, TF_SIZE = 48 };
static unsigned char* blocks[N];

static void run_in_thread(shim_fn fn) { CHECK(shim_run(fn, NULL)); }

static keel_page* page_of(const void* p) { return keel__page_of(keel__segment_of(p), p); }

static inline uint64_t thread_free_word(const keel_page* page) {
    return atomic_load_explicit(&((keel_page*)(uintptr_t)page)->a_thread_free, memory_order_acquire);
}

static void remote_free(void* arg) {
    size_t i;
    (void)arg;
    for (i = REMOTE_FROM; i < REMOTE_TO; i++) keel_free(blocks[i]);
}

/* N blocks of one page of a fresh heap, filled */
static keel_page* alloc_blocks(void) {
    keel_page* page = NULL;
    size_t i;
    for (i = 0; i < N; i++) {
        blocks[i] = (unsigned char*)keel_alloc(TF_SIZE);
        if (!CHECK(blocks[i] != NULL)) return NULL;
        ht_fill(blocks[i], TF_SIZE, (unsigned)i);
        if (i == 0) page = page_of(blocks[0]);
        else if (!CHECK(page_of(blocks[i]) == page)) return NULL;
    }
    return page;
}

#if !KEEL_HARDENED
static void stack_taken_whole(void* arg) {
    keel_page* page;
    unsigned char* extra[256];
    size_t i, k = 0;
    uint32_t used;
    uint64_t w;
    (void)arg;
    if (!(page = alloc_blocks())) return;
    run_in_thread(remote_free);
    w = thread_free_word(page);
    if (!CHECK(keel__thread_free_count(w) == REMOTE_TO - REMOTE_FROM))
        fprintf(stderr, "  the word counts %u blocks, not %d\n", keel__thread_free_count(w), REMOTE_TO - REMOTE_FROM);
    CHECK(keel__thread_free_top(page->start, w) == (keel_block*)(void*)blocks[REMOTE_TO - 1]);
    CHECK(keel__page_used(page) == N);   /* the other thread's frees wait in the stack */
    keel_validate();
    for (i = 0; i < LOCAL; i++) keel_free(blocks[i]);   /* onto local_free */
    CHECK(page->local_free == (keel_block*)(void*)blocks[LOCAL - 1]);
    /* the carved blocks still in `free` */
    while (page->free && k < sizeof extra / sizeof extra[0]) {
        extra[k] = (unsigned char*)keel_alloc(TF_SIZE);
        if (!CHECK(extra[k] != NULL && page_of(extra[k]) == page)) return;
        k++;
    }
    if (!CHECK(page->free == NULL)) return;
    used = keel__page_used(page);
    CHECK(used == N - LOCAL + k);
    /* the refill takes the stack as it is: the last block freed first */
    for (i = REMOTE_TO; i-- > REMOTE_FROM;) {
        unsigned char* p = (unsigned char*)keel_alloc(TF_SIZE);
        if (!CHECK(p == blocks[i])) {
            fprintf(stderr, "  allocation %zu: %p, not the block freed %zu-th from last (%p)\n",
                    (size_t)(REMOTE_TO - 1 - i), (void*)p, (size_t)(REMOTE_TO - 1 - i), (void*)blocks[i]);
            return;
        }
        if (i == REMOTE_TO - 1) {
            CHECK(thread_free_word(page) == 0);
            CHECK(keel__page_used(page) == used - (REMOTE_TO - REMOTE_FROM) + 1);
            /* the owner's frees wait for the next refill */
            CHECK(page->local_free == (keel_block*)(void*)blocks[LOCAL - 1]);
        }
        ht_fill(p, TF_SIZE, (unsigned)i);
    }
    CHECK(page->free == NULL);
    for (i = LOCAL; i-- > 0;) {
        unsigned char* p = (unsigned char*)keel_alloc(TF_SIZE);
        if (!CHECK(p == blocks[i])) return;
        ht_fill(p, TF_SIZE, (unsigned)i);
    }
    CHECK(page->local_free == NULL && keel__page_used(page) == N + k);
    keel_validate();
    for (i = 0; i < N; i++) {
        CHECK(ht_check(blocks[i], TF_SIZE, (unsigned)i));
        keel_free(blocks[i]);
    }
    while (k > 0) keel_free(extra[--k]);
    keel_validate();
}

/* full pages, freed into by another thread, serve the owner again */
enum { MANY = 4000 };
static unsigned char* many[MANY];
static unsigned char* again[MANY];
static void free_many(void* arg) {
    size_t i;
    (void)arg;
    for (i = 0; i < MANY; i++) keel_free(many[i]);
}
static int cmp_ptr(const void* a, const void* b) {
    uintptr_t x = (uintptr_t)*(unsigned char* const*)a, y = (uintptr_t)*(unsigned char* const*)b;
    return x < y ? -1 : x > y;
}
static void full_pages_found(void* arg) {
    keel_theap* heap;
    size_t i, cls, full = 0, reused = 0, room = 0;
    keel_page* pg;
    (void)arg;
    for (i = 0; i < MANY; i++) {
        many[i] = (unsigned char*)keel_alloc(TF_SIZE);
        if (!CHECK(many[i] != NULL)) return;
    }
    heap = keel__segment_of(many[0])->a_heap;
    cls = page_of(many[0])->class_index;
    for (pg = heap->full[cls].first; pg; pg = pg->next) full++;
    if (!CHECK(full >= 1)) fprintf(stderr, "  no page of the class is full\n");
    /* blocks the pages not full can still carve: new addresses */
    for (pg = heap->queues[cls].first; pg; pg = pg->next) room += pg->reserved - keel__page_used(pg);
    CHECK(atomic_load(&heap->a_freed_into) == 0);   /* a fresh heap: no other thread freed into it */
    run_in_thread(free_many);
    CHECK(atomic_load(&heap->a_freed_into) == 1);   /* set by the first push */
    qsort(many, MANY, sizeof many[0], cmp_ptr);
    for (i = 0; i < MANY; i++) {
        unsigned char* p = (unsigned char*)keel_alloc(TF_SIZE);
        if (!CHECK(p != NULL)) return;
        if (bsearch(&p, many, MANY, sizeof many[0], cmp_ptr)) reused++;
        again[i] = p;
    }
    if (!CHECK(reused + room >= MANY && room < MANY / 2))
        fprintf(stderr, "  %zu of %d blocks came from the pages freed into (%zu could be carved anew)\n", reused, MANY,
                room);
    keel_validate();
    for (i = 0; i < MANY; i++) keel_free(again[i]);
    keel_validate();
}
#endif

/* the thread exits with other threads' frees waiting and blocks in `free` */
static void exit_with_stack(void* arg) {
    keel_page* page;
    (void)arg;
    if (!(page = alloc_blocks())) return;
    run_in_thread(remote_free);
#if !KEEL_HARDENED
    CHECK(keel__thread_free_count(thread_free_word(page)) == REMOTE_TO - REMOTE_FROM);
    CHECK(page->free != NULL);
#endif
    keel_validate();
}

static void free_left(void* arg) {
    size_t i;
    (void)arg;
    for (i = 0; i < N; i++) {
        if (i >= REMOTE_FROM && i < REMOTE_TO) continue;
        CHECK(ht_check(blocks[i], TF_SIZE, (unsigned)i));
        keel_free(blocks[i]);
    }
}

int main(void) {
    keel_stats before;
#if !KEEL_HARDENED
    run_in_thread(stack_taken_whole);
    run_in_thread(full_pages_found);
#endif
    keel_validate();
    before = keel_get_stats();
    run_in_thread(exit_with_stack);
    keel_validate();   /* the abandoned page: its lists and count add up */
    CHECK(keel_get_stats().num_live_blocks == before.num_live_blocks + N - (REMOTE_TO - REMOTE_FROM));
    run_in_thread(free_left);
    keel_validate();
    (void)keel_trim();
    CHECK(keel_get_stats().num_live_blocks == before.num_live_blocks);
    return check_done(NAME);
}
