/* test_commit_ahead.c — white box (src/segment.c, ahead_slots): a thread
   heap that takes cold page slots one after another commits the cold slots
   right after the one it takes in the same system call, as many as its
   segment has pages in use, within KEEL_COMMIT_AHEAD bytes. Checked, in a
   thread of its own (a new heap, a new segment):
   - after 24 pages of one class, the segment holds committed slots not in
     use, all FRESH (never written), at most KEEL_COMMIT_AHEAD bytes, and
     the heap counts exactly those as its empty memory (keel_validate
     agrees);
   - the next page the heap takes is the first of them;
   - once they are used up, under a limit with room for one more slot but
     not for a run, the next page is still taken, alone;
   - a first-class heap commits nothing ahead.
   The hardened build puts guard pages between slots, so a run of adjacent
   cold slots is never there: it must commit nothing ahead and lose nothing. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "internal.h"
#include "segment_map.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#define NAME "test_commit_ahead"

enum { CA_SIZE = 1024, CA_PAGES = 24, CA_MAX = 8192 };
static void* blocks[CA_MAX];
static size_t nblocks;

static keel_page* page_of(const void* p) { return keel__page_of(keel__segment_of(p), p); }

/* Committed slots of seg not in use: how many, their bytes, how many are
   FRESH, and the first of them. */
typedef struct ca_slots { size_t count, bytes, fresh; keel_page* first; } ca_slots;
static ca_slots unused_committed(keel_segment* seg) {
    ca_slots s = {0, 0, 0, NULL};
    uint32_t i;
    for (i = 0; i < seg->page_count; i++) {
        keel_page* pg = &seg->pages[i];
        if (pg->in_use || !keel__slot_holds_memory(pg->slot_state)) continue;
        if (!s.first) s.first = pg;
        s.count++;
        s.bytes += pg->slot_size;
        s.fresh += pg->slot_state == KEEL_SLOT_FRESH;
    }
    return s;
}

/* Allocates CA_SIZE blocks until the block just taken is on a page other
   than `current`; returns that page (NULL on failure). */
static keel_page* next_page(keel_heap* fc, keel_page* current) {
    while (nblocks < CA_MAX) {
        void* p = fc ? keel_heap_alloc(fc, CA_SIZE) : keel_alloc(CA_SIZE);
        keel_page* pg;
        if (!CHECK(p != NULL)) return NULL;
        memset(p, 0x5a, CA_SIZE);
        blocks[nblocks++] = p;
        pg = page_of(p);
        if (pg != current) return pg;
    }
    CHECK(!"ran out of room for blocks");
    return NULL;
}

static void free_all(void) {
    while (nblocks) keel_free(blocks[--nblocks]);
}

static void thread_heap(void* arg) {
    keel_page* page = NULL;
    keel_segment* seg;
    keel_theap* heap;
    ca_slots s;
    size_t n;
    (void)arg;
    for (n = 0; n < CA_PAGES; n++)
        if (!(page = next_page(NULL, page))) return;
    heap = keel__tls_heap;
    seg = keel__segment_of_page(page);
    s = unused_committed(seg);
    CHECK(s.fresh == s.count);   /* nothing was ever written there */
    CHECK(s.bytes <= KEEL_COMMIT_AHEAD);
    CHECK(keel__heap_empty_committed(heap) == heap->empty_cached_bytes);
    CHECK(heap->empty_cached_bytes == s.bytes);
    keel_validate();
    if (KEEL_HARDENED) {
        CHECK(s.count == 0);   /* guards between the slots: no run to commit */
    } else if (CHECK(s.count > 0)) {
        keel_page* first = s.first;
        keel_page* taken = next_page(NULL, page);
        CHECK(taken == first);   /* a slot committed ahead, not a cold one */
        page = taken;
        /* use the rest up */
        while (page && unused_committed(seg).count > 0) page = next_page(NULL, page);
        if (page && CHECK(heap->empty_cached_bytes == 0)) {
            /* room for one slot more, not for a run: the page alone */
            size_t now = keel_get_stats().virtual_memory_size;
            if (CHECK(keel_set_limit(now + ((size_t)1 << KEEL_SMALL_PAGE_SHIFT)))) {
                keel_page* alone = next_page(NULL, page);
                CHECK(alone != NULL && keel__segment_of_page(alone) == seg);
                CHECK(unused_committed(seg).count == 0);
                CHECK(heap->empty_cached_bytes == 0);
                CHECK(keel_set_limit(0));
            }
        }
    }
    keel_validate();
    free_all();
    keel_validate();
}

static void first_class_heap(void) {
    keel_heap* fc = keel_heap_new();
    keel_page* page = NULL;
    size_t n;
    if (!CHECK(fc != NULL)) return;
    for (n = 0; n < CA_PAGES; n++) {
        if (!(page = next_page(fc, page))) break;
        /* a cached segment's warm slots are DIRTY (segment_init_pages): a
           FRESH one not in use could only have been committed ahead */
        CHECK(unused_committed(keel__segment_of_page(page)).fresh == 0);
    }
    keel_validate();
    nblocks = 0;   /* the destroy frees them */
    keel_heap_destroy(fc);
}

int main(void) {
    /* no purge thread giving memory back while the limit is measured */
    CHECK(keel_option_set("purge_thread", 0));
    CHECK(shim_run(thread_heap, NULL));
    first_class_heap();
    keel_validate();
    return check_done(NAME);
}
