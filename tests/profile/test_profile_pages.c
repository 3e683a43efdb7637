/* test_profile_pages.c — white box (src/alloc.c, "the heap profile's pages
   and countdown"): with profiling on, sampled small blocks come from pages
   that serve sampled blocks only (KEEL_PAGE_SAMPLE_ONLY, in the heap's
   sample_pages queue of its class), and no other page is ever marked KEEL_PAGE_SAMPLED,
   so the program's other frees keep the fast path. Those pages keep the
   heap valid (keel_validate) while live, after frees (empty ones retire),
   after their thread exits and another adopts them; calloc of a sampled
   block is zero; the profile still sees the samples. Linux only (the
   profiler is). */
#include "check.h"
#include "harden.h"
#include "internal.h"
#include "segment_map.h"
#include "thread_shim.h"

#include <keel/keel.h>

#define RATE 4096
#define N 4096
#define SIZE 1000

static void* blocks[N];

static keel_page* page_of(void* p) {
    keel_segment* seg = keel__segment_of(p);
    return keel__page_of(seg, p);
}

/* Blocks of blocks[] in the heap profile's pages; every other block's page
   must be unmarked. */
static size_t count_in_sample_pages(const char* what) {
    size_t i, n = 0, marked = 0;
    for (i = 0; i < N; i++) {
        keel_page* page = page_of(blocks[i]);
        if (keel__page_sample_only(page)) n++;
        else if (keel__page_has_sampled(page)) marked++;
    }
    CHECK_NOTE(marked == 0, what);
    return n;
}

static size_t sample_page_count(void) {
    size_t n = 0;
    keel_page* page;
    size_t cls;
    for (cls = 1; cls < KEEL_CLASS_COUNT; cls++)
        for (page = keel__tls_heap->sample_pages[cls].first; page; page = page->next) n++;
    return n;
}

static void alloc_blocks(void* arg) {
    size_t i;
    (void)arg;
    for (i = 0; i < N; i++) blocks[i] = keel_alloc(SIZE);
}

int main(void) {
    size_t i, n;
    size_t want_lo = N / 10, want_hi = N / 3;   /* 1 - exp(-1000/4096) = 21.7% of N */
    CHECK(keel_option_set("profile_sample", RATE));
    keel_free(keel_alloc(100));   /* a slow path: the heap sees the rate */

    /* sampled blocks in their own pages, no other page marked */
    alloc_blocks(NULL);
    n = count_in_sample_pages("a page of unsampled blocks is marked as holding samples");
    CHECK_NOTE(n > want_lo && n < want_hi, "about 22% of the blocks are sampled, in the profile's pages");
    CHECK(sample_page_count() >= 1);
    keel_validate();
    /* every block in a profile page is one the profile counts: frees of
       the others never leave the fast path (free_flags clear) */
    for (i = 0; i < N; i++) {
        keel_page* page = page_of(blocks[i]);
        if (!keel__page_sample_only(page) && !page->in_full) CHECK(page->free_flags == 0);
    }
    for (i = 0; i < N; i += 2) keel_free(blocks[i]);
    keel_validate();
    for (i = 1; i < N; i += 2) keel_free(blocks[i]);
    keel_validate();
#if KEEL_HARDENED
    keel__harden_quarantine_flush(keel__tls_heap);   /* the frees take effect (src/harden.h) */
#endif
    {   /* empty profile pages retire, but for one per class */
        keel_page* page;
        size_t pages = sample_page_count();
        for (page = keel__tls_heap->sample_pages[keel__class_of(SIZE)].first; page; page = page->next)
            CHECK(keel__page_used(page) == 0);
        CHECK_NOTE(pages == 1, "one empty profile page stays for the class");
    }

    /* calloc: a sampled block is zero, also from reused memory */
    for (i = 0; i < N; i++) {
        blocks[i] = keel_alloc(SIZE);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], 0xab, SIZE);
    }
    for (i = 0; i < N; i++) keel_free(blocks[i]);
    for (i = 0; i < N; i++) blocks[i] = keel_calloc(1, SIZE);
    n = count_in_sample_pages("calloc marked a page of unsampled blocks");
    CHECK(n > want_lo && n < want_hi);
    for (i = 0; i < N; i++) {
        const unsigned char* b = (const unsigned char*)blocks[i];
        size_t k, bad = 0;
        for (k = 0; k < SIZE; k++) bad += b[k] != 0;
        if (bad) {
            CHECK_NOTE(bad == 0, keel__page_sample_only(page_of(blocks[i])) ? "a sampled calloc block is not zero"
                                                                             : "a calloc block is not zero");
            break;
        }
    }
    for (i = 0; i < N; i++) keel_free(blocks[i]);
    keel_validate();

    /* another thread's profile pages, abandoned with live samples: freed
       from here, then adopted with the rest of its segment */
    {
        shim_thread t;
        shim_start st = {alloc_blocks, NULL};
        static void* mine[N];
        size_t adopted = 0, listed = 0;
        CHECK(shim_create(&t, &st));
        shim_join(t);
        keel_validate();   /* abandoned segments holding profile pages */
        for (i = 0; i < N / 2; i++) keel_free(blocks[i]);
        /* enough blocks of the class to run out of our own pages and adopt */
        for (i = 0; i < N; i++) mine[i] = keel_alloc(SIZE);
        for (i = N / 2; i < N; i++) {
            keel_page* page = page_of(blocks[i]);
            keel_page* q;
            if (!keel__page_sample_only(page) ||
                atomic_load_explicit(&keel__segment_of_page(page)->a_heap, memory_order_relaxed) != keel__tls_heap)
                continue;
            adopted++;
            for (q = keel__tls_heap->sample_pages[page->class_index].first; q && q != page; q = q->next) {}
            listed += q == page;
        }
        CHECK_NOTE(adopted > 0, "the exited thread's profile pages were adopted");
        CHECK_NOTE(listed == adopted, "an adopted profile page is in the adopter's sample_pages");
        keel_validate();
        for (i = N / 2; i < N; i++) keel_free(blocks[i]);
        for (i = 0; i < N; i++) keel_free(mine[i]);
        keel_validate();
    }

    CHECK(keel_option_set("profile_sample", 0));
    return check_done("test_profile_pages");
}
