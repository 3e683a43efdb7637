/* test_heap_hardened.c — the hardened build's behaviour that is not a
   death (src/harden.h; its deaths are tests/heap/death/hardened_*.c).
   Linked with the hardened library; white box where it reads free blocks
   and page descriptors:
   - keel_usable_size is the size asked (a 0-byte block has 1), for small,
     medium and aligned blocks; calloc's bytes are zero; realloc keeps the
     contents and the new size, in place and moved;
   - one bit flipped in any byte of a canary (sizes 1..64: every
     misalignment, spans of 0..16 bytes, the last word) makes free abort;
   - keel_get_stats counts the program's bytes only: canaries and blocks
     in the quarantine are not live;
   - a freed block is not handed out again for at least
     KEEL_QUARANTINE_SLOTS frees; keel_trim empties the quarantine;
   - a freed block is zero but for its first 16 bytes; a block on a free
     list holds its link xor its page's secret, never the plain pointer;
     pages draw different secrets;
   - a page hands out its first blocks in no address order;
   - a large block is followed by a page that faults, also after it grew
     in place and when it came from the cache; so is every small and
     medium page, and a segment's header is followed by one;
   - a first-class heap: keel_heap_visit gives the sizes asked and skips
     blocks in its quarantine; its stats likewise; destroy with a full
     quarantine;
   - a block freed by another thread waits in that thread's quarantine and
     is freed when the thread exits;
   - keel_validate checks the quarantine. */
#define _DEFAULT_SOURCE
#include "annotate.h"
#include "block_check.h"
#include "harden.h"
#include "internal.h"
#include "segment_map.h"
#include "keel/keel.h"
#include "check.h"
#include "heap_test.h"
#include "probe.h"
#include "thread_shim.h"

#define NAME "test_heap_hardened"

#if !KEEL_HARDENED
#error "test_heap_hardened is built against the hardened library (KEEL_HARDENED=1)"
#endif

static keel_page* page_of(void* p) {
    keel_segment* seg = keel__segment_of(p);
    return keel__page_of(seg, p);
}

static void test_sizes(void) {
    static const size_t sizes[] = {0, 1, 7, 8, 9, 15, 16, 24, 40, 48, 100, 1000, 1024, 4000, 8192, 20000,
                                   100000, KEEL_MEDIUM_MAX - 8, KEEL_MEDIUM_MAX - 7, KEEL_MEDIUM_MAX};
    size_t i;
    keel_stats s0 = keel_get_stats(), s1;
    size_t asked = 0;
    void* p[sizeof sizes / sizeof sizes[0]];
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], want = n ? n : 1;
        p[i] = keel_alloc(n);
        if (!CHECK(p[i] != NULL)) continue;
        if (n <= KEEL_MEDIUM_MAX - KEEL_CANARY) {
            CHECK_NOTE(keel_usable_size(p[i]) == want, "the usable size is the size asked");
            asked += want;
        } else {   /* no room for a canary in a medium class: a large block */
            CHECK(keel__segment_of(p[i])->kind == KEEL_SEGMENT_LARGE && keel_usable_size(p[i]) >= n);
            asked += keel_usable_size(p[i]);
        }
        memset(p[i], 0xA5, want);
    }
    s1 = keel_get_stats();
    CHECK_NOTE(s1.num_bytes_allocated - s0.num_bytes_allocated == asked, "live bytes are the bytes asked");
    keel_validate();
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) keel_free(p[i]);
    s1 = keel_get_stats();
    CHECK_NOTE(s1.num_bytes_allocated == s0.num_bytes_allocated && s1.num_live_blocks == s0.num_live_blocks,
               "blocks in the quarantine are not live");

    /* calloc, aligned */
    {
        unsigned char* z = (unsigned char*)keel_calloc(37, 11);
        size_t a;
        CHECK(z && keel_usable_size(z) == 37 * 11 && ht_all_bytes(z, 37 * 11, 0));
        keel_free(z);
        for (a = 32; a <= 4096; a *= 2) {
            unsigned char* q = (unsigned char*)keel_alloc_aligned(100, a);
            CHECK(q && ((uintptr_t)q & (a - 1)) == 0 && keel_usable_size(q) == 100);
            if (q) memset(q, 1, 100);
            keel_free(q);
        }
    }

    /* realloc: in place (smaller, a little larger within the block) and moved */
    {
        unsigned char* r = (unsigned char*)keel_alloc(100);
        unsigned char* r2;
        size_t k;
        if (!CHECK(r != NULL)) return;
        for (k = 0; k < 100; k++) r[k] = (unsigned char)k;
        r2 = (unsigned char*)keel_realloc(r, 90);
        CHECK(r2 == r && keel_usable_size(r2) == 90);
        r2 = (unsigned char*)keel_realloc(r2, 100);   /* the block (112) holds 100 + 8 */
        CHECK(r2 == r && keel_usable_size(r2) == 100);
        r2 = (unsigned char*)keel_realloc(r2, 5000);
        CHECK(r2 != NULL && keel_usable_size(r2) == 5000);
        for (k = 0; r2 && k < 90; k++)
            if (r2[k] != (unsigned char)k) break;
        CHECK_NOTE(k == 90, "realloc keeps the contents");
        keel_free(r2);
    }
}

static void test_quarantine(void) {
    enum { N = 4 * KEEL_QUARANTINE_SLOTS };
    static void* after[N];
    void* keep = keel_alloc(200);   /* p's page stays in use */
    void* p = keel_alloc(200);
    int i, seen = 0;
    keel_page* page;
    if (!CHECK(p != NULL && keep != NULL && page_of(keep) == page_of(p))) return;
    page = page_of(p);
    keel_free(p);
    /* zero but for its mark (16 bytes) */
    CHECK_NOTE(ht_all_bytes((unsigned char*)p + 16, page->block_size - 16, 0), "a freed block is zeroed");
    for (i = 0; i < KEEL_QUARANTINE_SLOTS; i++) {
        after[i] = keel_alloc(200);
        seen += after[i] == p;
    }
    CHECK_NOTE(seen == 0, "a freed block came back before KEEL_QUARANTINE_SLOTS more allocations");
    for (i = 0; i < KEEL_QUARANTINE_SLOTS; i++) keel_free(after[i]);
    keel_validate();   /* every block in the quarantine still marked */
    keel__harden_quarantine_flush(keel__tls_heap);
    /* p is on its page's lists now: its link is stored coded */
    CHECK(page->in_use && keel__link_intact((keel_block*)p));
    {
        uintptr_t raw;
        memcpy(&raw, p, sizeof raw);
        CHECK_NOTE(raw != (uintptr_t)keel__link_get((keel_block*)p), "a free block's link is stored as it is");
        CHECK(page->link_key != 0);
    }
    keel_free(keep);
    (void)keel_trim();   /* empties the quarantine too */
    keel_validate();
}

/* A freed block is zero but for its mark (16 bytes at the pointer freed)
   also where the free zeroes only what can have been written (harden.c,
   zero_written): an aligned block's slack before and after the program's
   bytes, a size class wider than the size asked, a block realloc shrank
   in place (its old bytes past the new size). */
static int freed_block_zero(unsigned char* q) {
    keel_page* page = page_of(q);
    unsigned char* start = (unsigned char*)keel__block_start(page, q);
    unsigned char* end = start + page->block_size;
    /* the mark at q; an aligned block's start holds nothing else */
    return (q == start || ht_all_bytes(start, (size_t)(q - start), 0)) && ht_all_bytes(q + 16, (size_t)(end - q - 16), 0);
}

static void test_zero_written(void) {
    void* keep = keel_alloc(3000);   /* the pages stay in use */
    void* keep_aligned = keel_alloc_aligned(100, 4096);
    unsigned char* q;
    size_t a;
    for (a = 64; a <= 4096; a *= 4) {
        q = (unsigned char*)keel_alloc_aligned(100, a);
        if (!CHECK(q != NULL)) continue;
        memset(q, 0xA5, 100);
        keel_free(q);
        CHECK_NOTE(freed_block_zero(q), "an aligned block is not zero once freed");
    }
    q = (unsigned char*)keel_alloc(3000);   /* a class of 3072 bytes or more */
    if (CHECK(q != NULL)) {
        CHECK(page_of(q)->block_size >= 3000 + 16 + 32);   /* room the free leaves alone */
        memset(q, 0xA5, 3000);
        keel_free(q);
        CHECK_NOTE(freed_block_zero(q), "a block wider than its size is not zero once freed");
    }
    q = (unsigned char*)keel_alloc(3000);
    if (CHECK(q != NULL)) {
        unsigned char* r;
        memset(q, 0xA5, 3000);
        r = (unsigned char*)keel_realloc(q, 2000);
        CHECK(r == q && keel_usable_size(r) == 2000);   /* in place */
        keel_free(r);
        CHECK_NOTE(freed_block_zero(q), "a block shrunk in place is not zero once freed");
    }
    keel_free(keep);
    keel_free(keep_aligned);
    keel_validate();
}

/* Every byte of the canary counts: for each size asked from 1 to 64 bytes
   (every misalignment of the program's end, canaries of 0 to 16 bytes
   before the last word), one bit flipped in any byte of the canary's span
   or of its last word makes the free abort; none flipped, the free
   returns. In a child process each (probe.h forks the same way). */
#if !defined(_WIN32)
#include <fcntl.h>
#include <signal.h>
static int free_aborts(size_t n, long k) {
    int status;
    pid_t pid;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        unsigned char* p = (unsigned char*)keel_alloc(n);
        if (null >= 0) dup2(null, 2);   /* the abort's message */
        if (!p) _exit(3);
        memset(p, 0x33, n);
        if (k >= 0) p[n + (size_t)k] ^= 0x40;
        keel_free(p);
        _exit(0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT ? 1 : WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void test_canary_bytes(void) {
    size_t n;
    int missed = 0, wrong = 0;
    for (n = 1; n <= 64; n++) {
        unsigned char* p = (unsigned char*)keel_alloc(n);
        size_t block, span, k;
        if (!CHECK(p != NULL)) return;
        block = page_of(p)->block_size;
        keel_free(p);
        span = block - KEEL_CANARY - n;   /* the bytes between the program's and the last word */
        if (span > 16) span = 16;
        if (free_aborts(n, -1) != 0) wrong++;
        for (k = 0; k < span; k++) missed += free_aborts(n, (long)k) != 1;
        for (k = block - KEEL_CANARY - n; k < block - n; k++) missed += free_aborts(n, (long)k) != 1;
    }
    CHECK_NOTE(wrong == 0, "a free of an intact block aborted");
    CHECK_NOTE(missed == 0, "a flipped canary byte went unnoticed");
}
#else
static void test_canary_bytes(void) {}
#endif

/* Page slots emptied and cut again, for blocks of the same size or
   another, fewer blocks some times than the time before (page.c,
   slot_rezero: a slot left with every block free is cleared of its old
   link words, not as a whole): every block handed out is zero past its
   first 16 bytes (else its hand-out aborts: "write after free"). Batches
   of 10 to 10,000 blocks of 8..4096 bytes, written whole and freed in a
   shuffled order, in a thread of its own (a heap of its own). */
static void slot_lives(void* arg) {
    enum { MAX = 10000 };
    static unsigned char* b[MAX];
    static const size_t batch[] = {10, 100, 1000, MAX};
    int* bad = (int*)arg;
    uint64_t x = 0x2545F4914F6CDD1Du;
    size_t round, k, i;
    for (round = 0; round < 6; round++) {
        for (k = 0; k < sizeof batch / sizeof batch[0]; k++) {
            size_t n = batch[k];
            for (i = 0; i < n; i++) {
                size_t size;
                x = x * 6364136223846793005u + 1442695040888963407u;
                size = 8 + (size_t)(x >> 33) % 4089;
                b[i] = (unsigned char*)keel_alloc(size);
                if (!b[i]) { (*bad)++; continue; }
                if (size > 16 && !ht_all_bytes(b[i] + 16, size - 16, 0)) (*bad)++;
                memset(b[i], 0xFF, size);
            }
            for (i = n; i > 1; i--) {   /* Fisher-Yates */
                size_t j;
                unsigned char* t;
                x = x * 6364136223846793005u + 1442695040888963407u;
                j = (size_t)(x >> 33) % i;
                t = b[i - 1];
                b[i - 1] = b[j];
                b[j] = t;
            }
            for (i = 0; i < n; i++) keel_free(b[i]);
        }
    }
}

static void test_slot_lives(void) {
    int bad = 0;
    shim_thread t;
    shim_start s = {slot_lives, &bad};
    if (!CHECK(shim_create(&t, &s))) return;
    shim_join(t);
    CHECK_NOTE(bad == 0, "a block handed out from a slot cut again was not zero");
}

static void test_keys_and_order(void) {
    enum { N = 32 };
    void* a[N];
    void* b = keel_alloc(3000);
    int i, ascending = 1;
    for (i = 0; i < N; i++) a[i] = keel_alloc(720);   /* a class nothing else here uses */
    for (i = 1; i < N; i++)
        if (a[i] < a[i - 1]) ascending = 0;
    CHECK_NOTE(!ascending, "a fresh page handed out its blocks in address order");
    if (a[0] && b) CHECK_NOTE(page_of(a[0])->link_key != page_of(b)->link_key, "two pages drew the same secret");
    for (i = 0; i < N; i++) keel_free(a[i]);
    keel_free(b);
}

static void test_large_guard(void) {
    static const size_t sizes[] = {KEEL_MEDIUM_MAX + 1, 200 << 10, (1 << 20) + 1, 5 << 20};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char* p = (unsigned char*)keel_alloc(sizes[i]);
        size_t u;
        if (!CHECK(p != NULL)) continue;
        u = keel_usable_size(p);
        p[u - 1] = 1;
        CHECK_NOTE(probe_faults(p + u, 1) == 1, "the page after a large block does not fault");
        keel_free(p);
    }
    {   /* grown in place, then from the cache */
        unsigned char* p = (unsigned char*)keel_alloc(300 << 10);
        unsigned char* q;
        if (!CHECK(p != NULL)) return;
        q = (unsigned char*)keel_realloc(p, 900 << 10);
        CHECK(q != NULL);
        if (q) CHECK_NOTE(probe_faults(q + keel_usable_size(q), 1) == 1, "no guard after a block grown in place");
        keel_free(q);
        q = (unsigned char*)keel_alloc(250 << 10);
        CHECK(q != NULL);
        if (q) CHECK_NOTE(probe_faults(q + keel_usable_size(q), 1) == 1, "no guard after a block from the cache");
        keel_free(q);
    }
}

/* A guard page after every small and medium page, and between a segment's
   header (its page descriptors) and its first page's blocks. */
static void test_page_guards(void) {
    static const size_t sizes[] = {64, 3000, 50000};
    size_t i, os_page = vmem_get_page_size();
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void* p = keel_alloc(sizes[i]);
        keel_segment* seg;
        keel_page* page;
        if (!CHECK(p != NULL)) continue;
        seg = keel__segment_of(p);
        page = keel__page_of(seg, p);
        if (((size_t)1 << seg->page_shift) < 8 * os_page) continue;   /* big OS pages: none */
        CHECK_NOTE(probe_faults(page->start + page->slot_size, 1) == 1, "no guard after a page");
        CHECK_NOTE(page->start + page->slot_size + os_page <= (uint8_t*)seg + KEEL_SEGMENT_SIZE, "a page past its segment");
        {   /* the first page with room: a guard between it and the header */
            uint32_t k = 0;
            while (seg->pages[k].slot_size == 0) k++;
            CHECK_NOTE(probe_faults(seg->pages[k].start - 1, 0) == 1, "the header lies directly before the first page");
            CHECK((uint8_t*)seg + seg->header_size + os_page <= seg->pages[k].start);
        }
        keel_free(p);
    }
}

static size_t visited_bytes, visited_blocks;
static bool count_visit(void* block, size_t size, void* user_data) {
    (void)block;
    (void)user_data;
    visited_bytes += size;
    visited_blocks++;
    return true;
}

static void test_first_class(void) {
    keel_heap* h = keel_heap_new();
    void* p[100];
    int i;
    keel_stats s;
    if (!CHECK(h != NULL)) return;
    for (i = 0; i < 100; i++) p[i] = keel_heap_alloc(h, 30);
    for (i = 0; i < 50; i++) keel_free(p[i]);   /* into the heap's own quarantine */
    visited_bytes = visited_blocks = 0;
    CHECK(keel_heap_visit(h, count_visit, NULL));
    CHECK_NOTE(visited_blocks == 50 && visited_bytes == 50 * 30, "visit: the live blocks, with their sizes asked");
    s = keel_heap_get_stats(h);
    CHECK(s.num_live_blocks == 50 && s.num_bytes_allocated == 50 * 30);
    keel_validate();
    keel_heap_destroy(h);   /* with blocks in its quarantine */
    keel_validate();
}

static void thread_frees(void* arg) {
    void** p = (void**)arg;
    int i;
    for (i = 0; i < 10; i++) keel_free(p[i]);
}

static void test_threads(void) {
    void* p[10];
    int i;
    keel_stats s0 = keel_get_stats(), s1;
    shim_thread t;
    shim_start s = {thread_frees, p};
    for (i = 0; i < 10; i++) p[i] = keel_alloc(64);
    if (!CHECK(shim_create(&t, &s))) return;
    shim_join(t);
    s1 = keel_get_stats();
    CHECK_NOTE(s1.num_live_blocks == s0.num_live_blocks && s1.num_bytes_allocated == s0.num_bytes_allocated,
               "blocks freed by a thread that exited");
    keel_validate();
}

int main(void) {
    test_sizes();
    test_quarantine();
    test_keys_and_order();
    test_zero_written();
    test_canary_bytes();
    test_slot_lives();
    test_large_guard();
    test_page_guards();
    test_first_class();
    test_threads();
    keel_validate();
    return check_done(NAME);
}
