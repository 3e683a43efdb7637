/* test_heap_full_scan.c — full pages that other threads free into come
   back (alloc.c, page_from_full): the allocation's scan of a class's full
   queue is bounded (KEEL_FULL_SCAN_MAX pages), and the pages it checked in
   vain go to the back, so pages beyond the bound are reached by the next
   scans instead of fresh pages being committed while they wait. White box:
   the full queue is walked to pick the pages past the bound. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "harden.h"
#include "internal.h"
#include "segment_map.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#include <stdint.h>
#include <string.h>

#define NAME "test_heap_full_scan"
#define SIZE 1000                          /* one class, 64 KiB pages          */
#define BEYOND 24                          /* full pages past the bound freed  */
#define PAGES (KEEL_FULL_SCAN_MAX + BEYOND + 8)
#define MAX_BLOCKS (PAGES * 80)

static void* blocks[MAX_BLOCKS];
static void* to_free[MAX_BLOCKS];
static size_t free_count;

static void free_thread_main(void* arg) {
    size_t i;
    (void)arg;
    for (i = 0; i < free_count; i++) keel_free(to_free[i]);
#if KEEL_HARDENED
    keel__harden_quarantine_flush(keel__heap_get());   /* the frees are whole only out of the quarantine */
#endif
}

static keel_page* page_of(void* p) { return keel__page_of(keel__segment_of(p), p); }

static int is_target(keel_page* const* targets, size_t n, keel_page* page) {
    size_t i;
    for (i = 0; i < n; i++)
        if (targets[i] == page) return 1;
    return 0;
}

static void test_pages_past_the_bound(void) {
    keel_theap* heap;
    keel_page* first;
    keel_page* pg;
    keel_page* targets[PAGES];
    size_t n = 0, pages = 0, i, pos, ntargets = 0, per_page, landed = 0, cls;
    shim_thread th;
    shim_start st;
    keel_page* last = NULL;
    (void)keel_trim();
    /* fill PAGES pages of the class: all but the last are full */
    while (pages < PAGES && n < MAX_BLOCKS) {
        void* p = keel_alloc(SIZE);
        if (!CHECK(p != NULL)) return;
        memset(p, 7, SIZE);
        blocks[n++] = p;
        if (page_of(p) != last) {
            last = page_of(p);
            pages++;
        }
    }
    first = page_of(blocks[0]);
    cls = first->class_index;
    per_page = first->reserved;
    heap = keel__heap_get();
    /* the pages past the scan's bound in the full queue: freed by another thread */
    for (pos = 0, pg = heap->full[cls].first; pg; pg = pg->next, pos++)
        if (pos >= KEEL_FULL_SCAN_MAX && ntargets < BEYOND) targets[ntargets++] = pg;
    if (!CHECK_NOTE(ntargets == BEYOND, "fewer full pages than the bound and BEYOND: the case is not exercised")) return;
    for (i = 0; i < n; i++)
        if (is_target(targets, ntargets, page_of(blocks[i]))) {
            to_free[free_count++] = blocks[i];
            blocks[i] = NULL;
        }
    for (i = 0; i < ntargets; i++)
        if (targets[i]->reserved > per_page) per_page = targets[i]->reserved;
    CHECK(free_count >= ntargets * (per_page / 2));   /* every target page was full */
    st.fn = free_thread_main;
    st.arg = NULL;
    if (!CHECK(shim_create(&th, &st))) return;
    shim_join(th);
    /* as many blocks again: from those pages, but for what the current page
       and one fresh page (the first scan's, before it reached them) give */
    for (i = 0; i < free_count; i++) {
        void* p = keel_alloc(SIZE);
        if (!CHECK(p != NULL)) break;
        if (is_target(targets, ntargets, page_of(p))) landed++;
        to_free[i] = p;
    }
    CHECK_NOTE(landed + 2 * per_page >= free_count,
               "full pages past the scan's bound were not reached: fresh pages served their blocks");
    for (i = 0; i < free_count; i++) keel_free(to_free[i]);
    for (i = 0; i < n; i++) keel_free(blocks[i]);
    keel_validate();
}

int main(void) {
    ht_unbuffered();
    test_pages_past_the_bound();
    return check_done(NAME);
}
