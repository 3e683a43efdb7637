/* test_heap_caches.c — the memory keel keeps while it is empty, each cache
   against its bound (src/config.h): the segment cache (count and committed
   bytes), the segments of exited threads (their empty committed slots), the
   large-block cache (count, bytes, reuse, age; its share of the memory in
   use, which gives way to the heaps' pages), and a cross-thread free of
   an interior-aligned block, and a destroyed first-class heap's segments
   waiting warm for the next heap. White box: internal.h gives the bounds and the
   counters that keel_get_stats does not show. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "harden.h"
#include "internal.h"
#include "segment_map.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#include <stdint.h>

#define NAME "test_heap_caches"

/* A segment's header (with its page descriptors), rounded to OS pages. */
static size_t header_bytes(void) {
    size_t page = vmem_get_page_size();
    return (sizeof(keel_segment) + KEEL_MAX_PAGES * sizeof(keel_page) + page - 1) & ~(page - 1);
}

/* Segments in the segment cache now. */
static size_t cached_segments(void) {
    size_t n = 0;
    keel_segment* seg;
    keel__segments_lock();
    for (seg = keel__segment_cache_first(); seg; seg = seg->heap_next) n++;
    keel__segments_unlock();
    return n;
}

/* Emptied segments: at most KEEL_SEGMENT_CACHE_COUNT stay (reserved, their
   slots within KEEL_SEGMENT_CACHE_BYTES committed), the rest go back. While
   the purge thread runs (busy), up to 16 and 32 times those wait, and the
   thread brings them down to the plain bounds after purge_delay. */
static void test_segment_cache(int busy) {
    enum { N = 12 * 64 };   /* 12 segments' worth of 4 KiB blocks: one page each */
    static void* b[N * 16];
    keel_stats s0, s1, s2;
    size_t i, n = 0, count_max = KEEL_SEGMENT_CACHE_COUNT, bytes_max = KEEL_SEGMENT_CACHE_BYTES;
    int waited;
    if (!CHECK(keel_option_set("purge_thread", busy))) return;
    if (busy) {
        count_max *= 16;
        bytes_max *= 32;
        /* long enough that a slow run (qemu, a loaded machine) still
           builds again within it: at 300 ms the hardened aarch64 run under
           load once aged the cache first and took new segments */
        CHECK(keel_option_set("purge_delay", 1500));
    }
    (void)keel_trim();
    s0 = keel_get_stats();
    for (i = 0; i < N * 15; i++) {   /* 15 blocks of 4 KiB fill a 64 KiB page */
        b[i] = keel_alloc(4096);
        if (!b[i]) break;
        memset(b[i], 1, 64);
        n++;
    }
    CHECK(n == N * 15);
    s1 = keel_get_stats();
    CHECK_NOTE(s1.num_segments >= s0.num_segments + 10, "12 segments' worth of pages did not take 10 segments");
    for (i = 0; i < n; i++) keel_free(b[i]);
    keel_validate();   /* the cache's counters add up */
    s2 = keel_get_stats();
    printf(NAME ": purge thread %s: segments %zu before, %zu full, %zu emptied; committed %.1f MiB before, %.1f MiB emptied\n",
           busy ? "on" : "off", s0.num_segments, s1.num_segments, s2.num_segments, ht_mib(s0.virtual_memory_size),
           ht_mib(s2.virtual_memory_size));
    CHECK_NOTE(s2.num_segments <= s0.num_segments + count_max + 1,
               "more emptied segments kept than the segment cache holds (+1: the page kept for the class)");
    CHECK_NOTE(s2.virtual_memory_size <= s0.virtual_memory_size + bytes_max + KEEL_HEAP_EMPTY_CACHE +
                                             (count_max + 1) * header_bytes() + ((size_t)64 << 10),
               "emptied segments keep more committed than the heap's and the segment cache's bounds");
    if (busy) {
        CHECK_NOTE(s2.num_segments > s0.num_segments + KEEL_SEGMENT_CACHE_COUNT + 1 &&
                       s2.virtual_memory_size > s0.virtual_memory_size + KEEL_SEGMENT_CACHE_BYTES + KEEL_HEAP_EMPTY_CACHE,
                   "with the purge thread on, emptied segments did not wait warm in the cache");
        /* within purge_delay the memory is warm: built again, no segment is
           new (the hardened build's quarantine holds some blocks back: a
           segment or two more) */
        for (i = 0; i < n; i++) b[i] = keel_alloc(4096);
        s1 = keel_get_stats();
        CHECK_NOTE(s1.num_segments <= s2.num_segments + (KEEL_HARDENED ? 2 : 0),
                   "building again within purge_delay took new segments");
        for (i = 0; i < n; i++) keel_free(b[i]);
        /* after it, the purge thread brings the cache down to its plain
           bounds: count, and no warm slot (those were aged) */
        for (waited = 0; waited < 15000; waited += 50) {
            s2 = keel_get_stats();
            if (cached_segments() <= KEEL_SEGMENT_CACHE_COUNT &&
                s2.cached_bytes <= KEEL_HEAP_EMPTY_CACHE + (KEEL_SEGMENT_CACHE_COUNT + 1) * header_bytes() + ((size_t)64 << 10))
                break;
            ht_sleep_ms(50);
        }
        printf(NAME ": purge thread on: %zu segments cached, %.1f MiB cached, %.1f MiB committed %d ms later\n",
               cached_segments(), ht_mib(s2.cached_bytes), ht_mib(s2.virtual_memory_size), waited);
        CHECK_NOTE(waited < 15000, "the purge thread did not bring the segment cache down to its bounds");
        CHECK(keel_option_set("purge_delay", KEEL_PURGE_DELAY));
    }
    (void)keel_trim();
    s2 = keel_get_stats();
    CHECK_NOTE(s2.cached_bytes == 0, "keel_trim left memory in a cache");
    CHECK(keel_option_set("purge_thread", KEEL_PURGE_THREAD));
}

/* Threads that exit with live blocks abandon their segments; the empty
   slots those keep committed stay within KEEL_ABANDONED_EMPTY_MAX in all. */
enum { AB_THREADS = 8, AB_BLOCKS = 4096 };
static void* ab_kept[AB_THREADS][AB_BLOCKS / 64];
static int ab_done, ab_started;

static void abandon_main(void* arg) {
    size_t t = (size_t)arg, i;
    static void* tmp[AB_THREADS][AB_BLOCKS];
    for (i = 0; i < AB_BLOCKS; i++) {   /* 4096 x 2 KiB: 8 MiB, two segments */
        tmp[t][i] = keel_alloc(2048);
        if (tmp[t][i]) memset(tmp[t][i], 2, 32);
    }
    for (i = 0; i < AB_BLOCKS; i++) {
        if (i % 64 == 0) ab_kept[t][i / 64] = tmp[t][i];   /* one block in every other page stays */
        else keel_free(tmp[t][i]);
    }
    /* nobody exits before all are done: a thread that exits early would see
       its segments adopted by one still allocating */
    __atomic_fetch_add(&ab_done, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&ab_done, __ATOMIC_ACQUIRE) < __atomic_load_n(&ab_started, __ATOMIC_ACQUIRE)) ht_sleep_ms(1);
}

static void test_abandoned_bound(void) {
    shim_thread th[AB_THREADS];
    shim_start st[AB_THREADS];
    size_t t, i, empty;
    int started = 0;
    (void)keel_trim();
    __atomic_store_n(&ab_started, AB_THREADS, __ATOMIC_RELEASE);
    for (t = 0; t < AB_THREADS; t++) {
        st[t].fn = abandon_main;
        st[t].arg = (void*)t;
        if (!CHECK(shim_create(&th[t], &st[t]))) break;
        started++;
    }
    __atomic_store_n(&ab_started, started, __ATOMIC_RELEASE);
    for (t = 0; t < (size_t)started; t++) shim_join(th[t]);
    keel__abandoned_lock();
    empty = keel__abandoned_empty_bytes();
    keel__abandoned_unlock();
    printf(NAME ": %d exited threads left %.1f MiB of empty slots committed (bound %.0f MiB)\n", started,
           ht_mib(empty), ht_mib(KEEL_ABANDONED_EMPTY_MAX));
    /* each thread's heap keeps up to KEEL_HEAP_EMPTY_CACHE at exit, so the
       threads together offer more than the bound: it is the bound that holds */
    CHECK(AB_THREADS * KEEL_HEAP_EMPTY_CACHE > KEEL_ABANDONED_EMPTY_MAX);
    CHECK_NOTE(empty <= KEEL_ABANDONED_EMPTY_MAX, "the segments of exited threads keep more than their bound");
    CHECK_NOTE(empty > 0, "exited threads kept no warm slot for the next thread (the cache is unused)");
    keel_validate();   /* abandoned segments in full, their totals included */
    for (t = 0; t < (size_t)started; t++)
        for (i = 0; i < AB_BLOCKS / 64; i++) keel_free(ab_kept[t][i]);
    (void)keel_trim();
    keel__abandoned_lock();
    empty = keel__abandoned_empty_bytes();
    keel__abandoned_unlock();
    CHECK_NOTE(empty == 0, "keel_trim left empty memory in abandoned segments");
    keel_validate();
}

/* Freed large blocks: at most KEEL_LARGE_CACHE_COUNT spans and
   KEEL_LARGE_CACHE_BYTES committed stay; a span that fits is reused; memory
   cached longer than purge_delay (set to 400 ms here through the option)
   goes back at the next operation. */
static void test_large_cache(void) {
    enum { N = 24 };
    void* b[N];
    keel_stats s0, s1, s2;
    size_t i, size = 2 * HT_MIB, large_header = vmem_get_page_size() * 16;
    void* again;
    long long delay = keel_option_get("purge_delay");
    CHECK(keel_option_set("purge_delay", 400));
    (void)keel_trim();
    s0 = keel_get_stats();
    for (i = 0; i < N; i++) {
        b[i] = keel_alloc(size);
        CHECK(b[i] != NULL);
        if (b[i]) memset(b[i], 3, size);
    }
    for (i = 0; i < N; i++) keel_free(b[i]);
    s1 = keel_get_stats();
    printf(NAME ": %d freed %zu MiB blocks: %zu segments kept, %.1f MiB cached\n", N, size / HT_MIB,
           s1.num_segments - s0.num_segments, ht_mib(s1.cached_bytes));
    CHECK_NOTE(s1.num_segments <= s0.num_segments + KEEL_LARGE_CACHE_COUNT, "more large spans cached than the count bound");
    CHECK_NOTE(s1.cached_bytes > s0.cached_bytes, "no freed large block was cached");
    CHECK_NOTE(s1.cached_bytes <= s0.cached_bytes + KEEL_LARGE_CACHE_BYTES + KEEL_LARGE_CACHE_COUNT * large_header,
               "more large-block memory cached than the bytes bound");
    keel_validate();   /* the cache's count and bytes add up */
    again = keel_alloc(size);
    CHECK(again != NULL);
    CHECK_NOTE(again == b[N - 1], "a freed span of the same size was not reused (most recently freed first)");
    keel_free(again);
    /* age: a wait longer than the bound, then one more cache operation */
    ht_sleep_ms(400 + 300);
    again = keel_alloc(size);
    keel_free(again);
    s2 = keel_get_stats();
    printf(NAME ": after %d ms, %.1f MiB cached\n", 400 + 300, ht_mib(s2.cached_bytes));
    CHECK_NOTE(s2.cached_bytes <= s0.cached_bytes + size + KEEL_LARGE_CACHE_COUNT * large_header + ((size_t)64 << 10),
               "large-block memory cached longer than purge_delay was not given back");
    (void)keel_trim();
    CHECK(keel_option_set("purge_delay", delay));
}

/* Beside a program that uses much memory the large-block cache keeps more
   than KEEL_LARGE_CACHE_BYTES: up to KEEL_LARGE_CACHE_RATIO times the
   memory in use, no more. What it keeps beyond KEEL_LARGE_CACHE_BYTES
   gives way as the heaps commit pages, so it never adds to their peak. */
static void test_large_cache_share(void) {
    enum { N = 24, SMALL = 1024 };
    size_t live_size = 24 * HT_MIB, size = 4 * HT_MIB, i, cached, after, small_n = (size_t)40 * HT_MIB / SMALL;
    void* live;
    void* b[N];
    void** small;
    long long delay = keel_option_get("purge_delay");
    CHECK(keel_option_set("purge_delay", 60000));   /* nothing ages during the test */
    (void)keel_trim();
    live = keel_alloc(live_size);   /* committed: memory in use */
    CHECK(live != NULL);
    for (i = 0; i < N; i++) CHECK((b[i] = keel_alloc(size)) != NULL);
    for (i = 0; i < N; i++) keel_free(b[i]);
    cached = keel__large_cache_age();
    printf(NAME ": %d freed %zu MiB blocks beside %zu MiB in use: %.1f MiB cached\n", N, size / HT_MIB,
           live_size / HT_MIB, ht_mib(cached));
    /* 96 MiB freed beside 24 MiB in use (a little more: the test's own
       pages): about twice that stays */
    CHECK_NOTE(cached >= KEEL_LARGE_CACHE_RATIO * live_size - size && cached > KEEL_LARGE_CACHE_BYTES,
               "the large cache kept no more than large_cache_bytes beside much memory in use");
    CHECK_NOTE(cached <= KEEL_LARGE_CACHE_RATIO * (live_size + 8 * HT_MIB) && cached < (size_t)N * size - size,
               "the large cache kept more than its share");

    /* the heaps commit 40 MiB of pages: the cache's surplus gives way */
    small = (void**)keel_alloc(small_n * sizeof(void*));
    CHECK(small != NULL);
    for (i = 0; small && i < small_n; i++) CHECK((small[i] = keel_alloc(SMALL)) != NULL);
    after = keel__large_cache_age();
    printf(NAME ": after 40 MiB of small blocks, %.1f MiB cached\n", ht_mib(after));
    CHECK_NOTE(after <= KEEL_LARGE_CACHE_BYTES + size, "the large cache's surplus did not give way to the heaps' pages");
    CHECK_NOTE(after >= KEEL_LARGE_CACHE_BYTES - size, "the large cache gave way past large_cache_bytes");
    for (i = 0; small && i < small_n; i++) keel_free(small[i]);
    keel_free(small);
    keel_free(live);
    keel_validate();
    (void)keel_trim();
    CHECK(keel_option_set("purge_delay", delay));
}

/* An interior-aligned block freed by another thread than its allocator's
   goes back whole: the live bytes return to where they were. */
enum { AL_N = 200 };
static void* al_blocks[AL_N];
static void free_them(void* arg) {
    size_t i;
    (void)arg;
    for (i = 0; i < AL_N; i++) keel_free(al_blocks[i]);
}

/* Alignments up to the OS page come from a size class whose blocks are all
   aligned (alloc.c, aligned_class): the block is handed out at its start,
   its page keeps the free fast path (no KEEL_PAGE_ALIGNED), and it is no
   larger than the padded block would have been. */
static void test_aligned_from_classes(void) {
    size_t align, n, bad_flag = 0, bad_size = 0, count = 0;
    for (align = 32; align <= vmem_get_page_size() && align <= 4096; align *= 2) {
        for (n = 1; n <= 20000; n += n / 3 + 7) {
            void* p = keel_alloc_aligned(n, align);
            keel_segment* seg;
            CHECK(p != NULL && ht_aligned(p, align));
            if (!p) continue;
            seg = keel__segment_of(p);
            if (seg && seg->kind != KEEL_SEGMENT_LARGE) {
                keel_page* page = keel__page_of(seg, p);
                count++;
                if (keel__page_has_aligned(page) || (uint8_t*)p != keel__block_start(page, p)) bad_flag++;
                if (keel_usable_size(p) > keel__class_size[keel__class_of(n + align - 16)]) bad_size++;
            }
            keel_free(p);
        }
    }
    CHECK(count > 100);
    CHECK_NOTE(bad_flag == 0, "an alignment up to the OS page was handed out at an interior offset");
    CHECK_NOTE(bad_size == 0, "an aligned block is larger than the padded one would be");
    keel_validate();
}

static void test_cross_thread_aligned_free(void) {
    keel_stats s0, s1;
    shim_thread th;
    shim_start st;
    size_t i, interior = 0;
    void* keep = keel_alloc(100);   /* the pages stay this thread's */
    /* past the OS page: no size class has its blocks all aligned, so the
       block is padded and handed out at an interior offset */
    size_t align = 2 * vmem_get_page_size();
    s0 = keel_get_stats();
    for (i = 0; i < AL_N; i++) {
        keel_segment* seg;
        al_blocks[i] = keel_alloc_aligned(100, align);
        CHECK(al_blocks[i] != NULL && ht_aligned(al_blocks[i], align));
        if (!al_blocks[i]) continue;
        memset(al_blocks[i], 4, 100);
        seg = keel__segment_of(al_blocks[i]);
        if (seg && seg->kind != KEEL_SEGMENT_LARGE && keel__page_of(seg, al_blocks[i])->has_aligned) interior++;
    }
    CHECK_NOTE(interior > 0, "no block was handed out at an interior offset: the case is not exercised");
    st.fn = free_them;
    st.arg = NULL;
    if (CHECK(shim_create(&th, &st))) shim_join(th);
    s1 = keel_get_stats();
    CHECK_NOTE(s1.num_bytes_allocated == s0.num_bytes_allocated, "live bytes differ after the other thread freed them all");
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    keel_validate();
    for (i = 0; i < AL_N; i++) {   /* the page's blocks are reusable */
        al_blocks[i] = keel_alloc(100);
        CHECK(al_blocks[i] != NULL);
    }
    for (i = 0; i < AL_N; i++) keel_free(al_blocks[i]);
    keel_free(keep);
    keel_validate();
}

/* A heap takes a warm empty slot before it commits a cold one, in any of
   its segments: here its first medium segment is one it adopted from an
   exited thread (cold free slots), and the warm one waits in the next. */
static void* warm_thread_block;
static void warm_thread_main(void* arg) {
    (void)arg;
    warm_thread_block = keel_alloc(30000);   /* a medium page of its own segment */
    if (warm_thread_block) memset(warm_thread_block, 5, 30000);
}

static void test_warm_slot_first(void) {
    shim_thread th;
    shim_start st;
    keel_segment* warm_seg;
    keel_stats s0, s1;
    void* keep;
    void* gone;
    void* p;
    (void)keel_trim();   /* every empty slot reset, every abandoned segment adopted */
    keep = keel_alloc(20000);   /* our medium segment stays */
    gone = keel_alloc(40000);   /* another class: a page of its own, emptied below */
    if (!CHECK(keep != NULL && gone != NULL)) return;
    memset(gone, 6, 40000);
    warm_seg = keel__segment_of(gone);
    keel_free(gone);   /* its page empty, its slot kept warm (heap_empty_cache) */
#if KEEL_HARDENED
    keel__harden_quarantine_flush(keel__heap_get());   /* the free is whole only out of the quarantine */
#endif
    CHECK(keel__heap_get()->empty_cached_bytes > 0);
    st.fn = warm_thread_main;
    st.arg = NULL;
    if (!CHECK(shim_create(&th, &st))) return;
    shim_join(th);   /* its segment is abandoned, with cold free slots */
    if (!CHECK(warm_thread_block != NULL)) return;
    s0 = keel_get_stats();
    p = keel_alloc(60000);   /* a third class: its page comes from a slot */
    s1 = keel_get_stats();
    CHECK(p != NULL);
    CHECK_NOTE(keel__segment_of(warm_thread_block)->a_heap == keel__heap_get(),
               "the exited thread's segment was not adopted: the case is not exercised");
    CHECK_NOTE(keel__segment_of(p) == warm_seg, "a cold slot was committed while a warm one waited");
    CHECK_NOTE(s1.virtual_memory_size <= s0.virtual_memory_size, "committed memory grew for a page a warm slot could hold");
    keel_free(p);
    keel_free(warm_thread_block);
    keel_free(keep);
    keel_validate();
}

/* n blocks of 4 KiB from heap, each written at its start; how many it gave. */
static size_t heap_fill(keel_heap* heap, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        char* p = (char*)keel_heap_alloc(heap, 4096);
        if (!p) break;
        memset(p, 1, 64);
    }
    return i;
}

/* A destroyed first-class heap's segments wait warm in the segment cache
   within the busy bounds (keel_heap_destroy starts the purge thread before
   they go), so the next heap builds in them: no new segment. Before, the
   thread came after them and the plain bounds (KEEL_SEGMENT_CACHE_COUNT
   segments, KEEL_SEGMENT_CACHE_BYTES) decommitted nearly everything. */
static void test_destroyed_heap_warm(void) {
    enum { N = 12 * 64 * 15 };   /* 12 segments' worth of 4 KiB blocks, as above */
    keel_heap* h;
    keel_stats s0, s1, s2, s3;
    int waited;
    if (!CHECK(keel_option_set("purge_thread", 1))) return;
    /* slow runs (tsan, wine) build again well within it */
    CHECK(keel_option_set("purge_delay", 1500));
    (void)keel_trim();
    keel__purge_wake();   /* can a purge thread run here at all? */
    keel__purge_start_due();
    if (!keel__purge_running()) {
        printf(NAME ": no purge thread here: the destroyed-heap case left out\n");
        CHECK(keel_option_set("purge_delay", KEEL_PURGE_DELAY));
        return;
    }
    /* with nothing to wait for it ends: destroy must start it again */
    for (waited = 0; waited < 10000 && keel__purge_running(); waited += 20) ht_sleep_ms(20);
    CHECK_NOTE(!keel__purge_running(), "the purge thread did not end with nothing cached");
    s0 = keel_get_stats();
    h = keel_heap_new();
    if (!CHECK(h != NULL)) return;
    CHECK(heap_fill(h, N) == N);
    s1 = keel_get_stats();
    keel_heap_destroy(h);
    s2 = keel_get_stats();
    printf(NAME ": destroyed heap: segments %zu before, %zu built, %zu after; %.1f MiB cached after\n", s0.num_segments,
           s1.num_segments, s2.num_segments, ht_mib(s2.cached_bytes));
    CHECK_NOTE(keel__purge_running(), "keel_heap_destroy did not start the purge thread");
    CHECK_NOTE(s2.cached_bytes > KEEL_SEGMENT_CACHE_BYTES + KEEL_HEAP_EMPTY_CACHE,
               "a destroyed heap's segments did not wait warm in the segment cache");
    h = keel_heap_new();
    if (!CHECK(h != NULL)) return;
    CHECK(heap_fill(h, N) == N);
    s3 = keel_get_stats();
    CHECK_NOTE(s3.num_segments <= s1.num_segments + (KEEL_HARDENED ? 2 : 0),
               "the next heap, built within purge_delay, took new segments");
    keel_heap_destroy(h);
    (void)keel_trim();
    CHECK(keel_option_set("purge_delay", KEEL_PURGE_DELAY));
    CHECK(keel_option_set("purge_thread", KEEL_PURGE_THREAD));
}

int main(void) {
    ht_unbuffered();
    test_warm_slot_first();
    test_segment_cache(0);
    /* the busy bounds where a purge thread can run (not under qemu-user:
       tests/CMakeLists.txt) */
    if (!ht_under_qemu() && keel_option_set("purge_thread", 1)) {
        keel__purge_wake();
        keel__purge_start_due();
        if (keel__purge_running()) test_segment_cache(1);
    }
    test_abandoned_bound();
    test_large_cache();
    test_large_cache_share();
    test_aligned_from_classes();
    test_cross_thread_aligned_free();
    /* not under qemu-user, as the busy bounds above */
    if (!ht_under_qemu()) test_destroyed_heap_warm();
    return check_done(NAME);
}
