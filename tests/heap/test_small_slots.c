/* test_small_slots.c — white box (src/alloc.c kind_for_page, config.h
   KEEL_SMALL_SLOT_PAGES): a thread heap's first KEEL_SMALL_SLOT_PAGES pages
   of a medium class up to KEEL_SMALL_SLOT_CLASS_MAX (16 KiB) are cut from
   small page slots (64 KiB), the later ones from medium slots (512 KiB),
   so that a heap with a few blocks of such a class holds 64 KiB for them.
   Checked, each in a thread of its own (a heap with no page yet):
   - one block of every such class comes from a small segment, a class
     above 16 KiB from a medium one, and the blocks hold what is written;
   - 200 blocks of 12 KiB take exactly KEEL_SMALL_SLOT_PAGES small pages,
     the rest medium pages; once all are freed the class starts small again;
   - blocks of small slots freed by another thread, realloc across the
     kinds, keel_validate and keel_usable_size work as for any page. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "internal.h"
#include "segment_map.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#define NAME "test_small_slots"

static unsigned kind_of(const void* p) { return keel__segment_of(p)->kind; }

/* A request that takes class cls's blocks, in every build (the hardened
   build adds an 8-byte canary to the size asked). */
static size_t request_of(size_t cls) { return keel__class_size[cls] - 16; }

static void run_in_thread(shim_fn fn) { CHECK(shim_run(fn, NULL)); }

/* one block of each medium class up to 16 KiB: small slots; above: medium */
static void first_blocks(void* arg) {
    size_t cls, tried = 0;
    (void)arg;
    for (cls = 1; cls < KEEL_CLASS_COUNT && keel__class_size[cls] <= KEEL_MEDIUM_MAX; cls++) {
        size_t size = keel__class_size[cls], n = request_of(cls);
        unsigned char* p;
        unsigned want;
        if (size <= KEEL_SMALL_MAX) continue;
        want = size <= KEEL_SMALL_SLOT_CLASS_MAX && KEEL_SMALL_SLOT_PAGES > 0 ? KEEL_SEGMENT_SMALL : KEEL_SEGMENT_MEDIUM;
        p = (unsigned char*)keel_alloc(n);
        if (!CHECK(p != NULL)) return;
        tried++;
        if (!CHECK(kind_of(p) == want)) fprintf(stderr, "  class of %zu bytes: segment kind %u, not %u\n", size, kind_of(p), want);
        CHECK(keel_usable_size(p) >= n);
        ht_fill(p, n, (unsigned)cls);
        CHECK(ht_check(p, n, (unsigned)cls));
        keel_validate();
        keel_free(p);
    }
    CHECK(tried > 8);   /* the classes of 9..16 KiB and some above */
}

typedef struct remote_job { unsigned char** blocks; size_t count; } remote_job;
static remote_job job;
static void remote_free(void* arg) {
    size_t i;
    (void)arg;
    for (i = 0; i < job.count; i++) keel_free(job.blocks[i]);
}

/* many blocks of one class: the first KEEL_SMALL_SLOT_PAGES pages small */
static void many_blocks(void* arg) {
    enum { N = 200 };
    static unsigned char* blocks[N];
    const void* pages[N];
    size_t cls = keel__class_of(12 * HT_KIB), n = request_of(cls);
    size_t i, j, small = 0, medium = 0, small_pages = 0;
    (void)arg;
    for (i = 0; i < N; i++) {
        blocks[i] = (unsigned char*)keel_alloc(n);
        if (!CHECK(blocks[i] != NULL)) return;
        ht_fill(blocks[i], n, (unsigned)i);
    }
    for (i = 0; i < N; i++) {
        keel_segment* seg = keel__segment_of(blocks[i]);
        if (seg->kind == KEEL_SEGMENT_SMALL) {
            const void* page = keel__page_of(seg, blocks[i]);
            small++;
            for (j = 0; j < small_pages && pages[j] != page; j++) {}
            if (j == small_pages) pages[small_pages++] = page;
        } else if (seg->kind == KEEL_SEGMENT_MEDIUM) {
            medium++;
        }
        CHECK(ht_check(blocks[i], n, (unsigned)i));
    }
    if (!CHECK(small_pages == KEEL_SMALL_SLOT_PAGES))
        fprintf(stderr, "  %zu small pages of 12 KiB blocks, not %d\n", small_pages, KEEL_SMALL_SLOT_PAGES);
    CHECK(small + medium == N && medium > 0);
    keel_validate();
    /* a block of a small slot grown past KEEL_SMALL_SLOT_CLASS_MAX (16 KiB)
       moves to a medium page, and
       one of a medium page shrunk back stays where it is or moves, intact */
    for (i = 0; i < N; i++)
        if (kind_of(blocks[i]) == KEEL_SEGMENT_SMALL) break;
    if (CHECK(i < N)) {
        unsigned char* q = (unsigned char*)keel_realloc(blocks[i], KEEL_SMALL_SLOT_CLASS_MAX + 24 * HT_KIB);
        if (CHECK(q != NULL)) {
            CHECK(kind_of(q) == KEEL_SEGMENT_MEDIUM);
            CHECK(ht_check(q, n, (unsigned)i));
            q = (unsigned char*)keel_realloc(q, n);
            if (CHECK(q != NULL)) CHECK(ht_check(q, n, (unsigned)i));
            blocks[i] = q;
            ht_fill(q, n, (unsigned)i);
        }
    }
    /* freed by another thread: the owner collects them, the heap stays whole */
    job.blocks = blocks;
    job.count = N / 2;
    run_in_thread(remote_free);
    keel_validate();
    for (i = N / 2; i < N; i++) CHECK(ht_check(blocks[i], n, (unsigned)i));
    for (i = N / 2; i < N; i++) keel_free(blocks[i]);
    keel_validate();
    /* with every block back (keel_trim collects the other thread's frees,
       and in the hardened build empties the quarantine), the class holds
       no page: its next one is small again */
    (void)keel_trim();
    blocks[0] = (unsigned char*)keel_alloc(n);
    if (CHECK(blocks[0] != NULL)) {
        CHECK(kind_of(blocks[0]) == KEEL_SEGMENT_SMALL);
        keel_free(blocks[0]);
    }
}

int main(void) {
    run_in_thread(first_blocks);
    run_in_thread(many_blocks);
    keel_validate();
    return check_done(NAME);
}
