/* test_heap_first.c — first-class heaps (DESIGN.md section 11): blocks of
   every size from a heap, keel_free/keel_realloc/keel_usable_size on them
   from any thread, realloc keeping a block in its heap, keel_heap_of, the
   heap's own statistics and the process totals, visits, destroying a heap
   whole (its memory back, the totals as if every block were freed), many
   heaps at once, several threads on one heap, keel_trim and keel_validate
   reaching heaps, fork. KEELTEST_THREADS and KEELTEST_SCALE scale it. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#if !defined(_WIN32)
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#define NAME "test_heap_first"

static long scale;

/* Sizes across the classes: small, medium, large. */
static size_t size_at(unsigned i) {
    static const size_t sizes[] = {0, 1, 16, 24, 100, 1000, 4096, 9000, 60000, 131072, 200000, 1 << 20, 3 << 20};
    return sizes[i % (sizeof sizes / sizeof sizes[0])];
}

static void test_blocks(void) {
    keel_heap* heap = keel_heap_new();
    void* p[26];
    unsigned i;
    int stack_var = 0;
    if (!CHECK(heap != NULL)) return;
    for (i = 0; i < 26; i++) {
        size_t n = size_at(i);
        p[i] = keel_heap_alloc(heap, n);
        if (!CHECK(p[i] != NULL)) return;
        CHECK(ht_aligned(p[i], 16));
        CHECK(keel_heap_of(p[i]) == heap);
        CHECK(keel_usable_size(p[i]) >= n);
        ht_fill(p[i], n, i);
    }
    for (i = 0; i < 26; i++) CHECK(ht_check(p[i], size_at(i), i));
    {
        void* d = keel_alloc(100);
        CHECK(keel_heap_of(d) == NULL);   /* the default heap's */
        keel_free(d);
    }
    CHECK(keel_heap_of(&stack_var) == NULL);
    CHECK(keel_heap_of(NULL) == NULL);
    for (i = 0; i < 26; i += 2) keel_free(p[i]);
    keel_validate();
    for (i = 1; i < 26; i += 2) CHECK(ht_check(p[i], size_at(i), i));

    /* calloc: zeroed, from reused blocks too; overflow */
    for (i = 0; i < 26; i++) {
        size_t n = size_at(i) | 1;
        unsigned char* z = (unsigned char*)keel_heap_calloc(heap, 1, n);
        if (!CHECK(z != NULL)) break;
        CHECK(ht_all_bytes(z, n, 0));
        CHECK(keel_heap_of(z) == heap);
        keel_free(z);
    }
    errno = 0;
    CHECK(keel_heap_calloc(heap, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(keel_heap_alloc(heap, SIZE_MAX - 100) == NULL && errno == ENOMEM);

    /* aligned: every alignment, each block handed out at its start */
    for (i = 5; i <= 22; i++) {
        size_t a = (size_t)1 << i, n = i % 3 == 0 ? 1 : a * 3 + 8;
        void* q = keel_heap_alloc_aligned(heap, n, a);
        if (!CHECK(q != NULL)) continue;
        CHECK(ht_aligned(q, a));
        CHECK(keel_heap_of(q) == heap);
        ht_fill(q, n, i);
        CHECK(ht_check(q, n, i));
        keel_free(q);
    }
    errno = 0;
    CHECK(keel_heap_alloc_aligned(heap, 64, 48) == NULL && errno == ENOMEM);
    for (i = 1; i < 26; i += 2) keel_free(p[i]);
    keel_validate();
    keel_heap_destroy(heap);
    keel_heap_destroy(NULL);   /* nothing */
}

/* NULL stands for the default heap. */
static void test_default_heap(void) {
    void* a = keel_heap_alloc(NULL, 40);
    void* b = keel_heap_calloc(NULL, 4, 10);
    void* c = keel_heap_alloc_aligned(NULL, 40, 256);
    CHECK(a && b && c && keel_heap_of(a) == NULL && keel_heap_of(b) == NULL && keel_heap_of(c) == NULL);
    CHECK(c && ht_aligned(c, 256));
    a = keel_heap_realloc(NULL, a, 5000);
    CHECK(a != NULL && keel_heap_of(a) == NULL);
    keel_free(a);
    keel_free(b);
    keel_free(c);
}

static void test_realloc(void) {
    keel_heap* heap = keel_heap_new();
    keel_heap* other = keel_heap_new();
    size_t n = 8;
    unsigned step = 0;
    char* p;
    void* q;
    if (!CHECK(heap && other)) return;
    p = (char*)keel_heap_realloc(heap, NULL, n);   /* NULL: an allocation from the heap */
    CHECK(p != NULL && keel_heap_of(p) == heap);
    ht_fill(p, n, 1);
    /* grow through small, medium and large, by both reallocs: the block stays in its heap */
    while (p && n < ((size_t)8 << 20)) {
        size_t m = n * 3;
        char* r = (char*)(step++ % 2 ? keel_realloc(p, m) : keel_heap_realloc(heap, p, m));
        if (!CHECK(r != NULL)) break;
        CHECK(keel_heap_of(r) == heap);
        CHECK(ht_check(r, n, 1));
        ht_fill(r, m, 1);
        p = r;
        n = m;
    }
    /* and shrink back */
    while (p && n > 8) {
        size_t m = n / 5 + 1;
        char* r = (char*)keel_realloc(p, m);
        if (!CHECK(r != NULL)) break;
        CHECK(keel_heap_of(r) == heap);
        CHECK(ht_check(r, m, 1));
        p = r;
        n = m;
    }
    /* a block of another heap: refused, untouched */
    q = keel_heap_alloc(other, 100);
    ht_fill(q, 100, 7);
    errno = 0;
    CHECK(keel_heap_realloc(heap, q, 300) == NULL && errno == EINVAL);
    CHECK(keel_heap_of(q) == other && ht_check(q, 100, 7));
    errno = 0;
    CHECK(keel_heap_realloc(heap, q, 0) == NULL && errno == EINVAL);   /* not freed either */
    CHECK(ht_check(q, 100, 7));
    {
        void* d = keel_alloc(50);
        errno = 0;
        CHECK(keel_heap_realloc(heap, d, 80) == NULL && errno == EINVAL);   /* the default heap's */
        keel_free(d);
    }
    keel_free(q);
    keel_free(p);
    keel_validate();
    keel_heap_destroy(other);
    keel_heap_destroy(heap);
}

/* ---- statistics ---- */

static void test_stats(void) {
    keel_stats before = keel_get_stats(), hs, all;
    keel_heap* heap = keel_heap_new();
    void* p[300];
    size_t bytes = 0, i;
    if (!CHECK(heap != NULL)) return;
    hs = keel_heap_get_stats(heap);
    CHECK(hs.num_live_blocks == 0 && hs.num_bytes_allocated == 0 && hs.num_allocs == 0 && hs.num_heaps == 1);
    for (i = 0; i < 300; i++) {
        p[i] = keel_heap_alloc(heap, size_at((unsigned)i));
        if (!CHECK(p[i] != NULL)) return;
        bytes += keel_usable_size(p[i]);
    }
    hs = keel_heap_get_stats(heap);
    CHECK(hs.num_live_blocks == 300);
    CHECK(hs.num_allocs == 300 && hs.num_frees == 0);
    CHECK(hs.num_bytes_allocated == bytes);
    CHECK(hs.virtual_memory_size >= bytes);
    CHECK(hs.peak_virtual_memory_size >= hs.virtual_memory_size);
    CHECK(hs.reserved_bytes >= hs.virtual_memory_size);
    CHECK(hs.num_segments >= 2);
    all = keel_get_stats();
    CHECK(all.num_bytes_allocated == before.num_bytes_allocated + bytes);   /* the totals count heaps */
    CHECK(all.num_live_blocks == before.num_live_blocks + 300);
    CHECK(all.virtual_memory_size >= hs.virtual_memory_size);
    CHECK(keel_heap_get_stats(NULL).num_heaps == 0);
    for (i = 0; i < 300; i += 3) {
        bytes -= keel_usable_size(p[i]);
        keel_free(p[i]);
    }
    hs = keel_heap_get_stats(heap);
    CHECK(hs.num_live_blocks == 200 && hs.num_frees == 100);
    CHECK(hs.num_bytes_allocated == bytes);
    keel_heap_destroy(heap);   /* 200 live blocks go with it */
    all = keel_get_stats();
    CHECK(all.num_bytes_allocated == before.num_bytes_allocated);
    CHECK(all.num_live_blocks == before.num_live_blocks);
    CHECK(all.num_allocs == before.num_allocs + 300);
    keel_validate();
}

/* ---- visits ---- */

typedef struct seen {
    void** blocks;
    size_t count, cap, stop_after;
    int sizes_ok;
} seen;

static bool visitor(void* block, size_t usable, void* user) {
    seen* s = (seen*)user;
    if (s->count < s->cap) s->blocks[s->count] = block;
    s->count++;
    if (usable != keel_usable_size(block)) s->sizes_ok = 0;
    return s->stop_after == 0 || s->count < s->stop_after;
}

static int ptr_cmp(const void* a, const void* b) {
    uintptr_t x = (uintptr_t) * (void* const*)a, y = (uintptr_t) * (void* const*)b;
    return x < y ? -1 : x > y;
}

typedef struct remote_free { void** blocks; size_t n; } remote_free;
static void free_some(void* arg) {
    remote_free* r = (remote_free*)arg;
    size_t i;
    for (i = 0; i < r->n; i++) keel_free(r->blocks[i]);
}

static void test_visit(void) {
    enum { N = 3000 };
    keel_heap* heap = keel_heap_new();
    void** p = (void**)malloc(N * sizeof(void*));
    void** live = (void**)malloc(N * sizeof(void*));
    void** remote = (void**)malloc(N * sizeof(void*));
    seen s;
    size_t i, nlive = 0, nremote = 0;
    if (!CHECK(heap && p && live && remote)) return;
    for (i = 0; i < N; i++) {
        p[i] = i % 500 == 7 ? keel_heap_alloc(heap, 300000) : i % 97 == 3 ? keel_heap_alloc_aligned(heap, 200, 4096)
                                                                           : keel_heap_alloc(heap, 8 + (i * 37) % 20000);
        if (!CHECK(p[i] != NULL)) return;
    }
    for (i = 0; i < N; i++) {
        if (i % 5 == 1) keel_free(p[i]);                     /* this thread */
        else if (i % 5 == 2) remote[nremote++] = p[i];       /* another thread, below */
        else live[nlive++] = p[i];
    }
    {
        remote_free r = {remote, nremote};
        shim_start st = {free_some, &r};
        shim_thread t;
        if (CHECK(shim_create(&t, &st))) shim_join(t);
    }
    memset(&s, 0, sizeof s);
    s.blocks = (void**)malloc(N * sizeof(void*));
    s.cap = N;
    s.sizes_ok = 1;
    CHECK(keel_heap_visit(heap, visitor, &s) == true);
    CHECK(s.count == nlive);
    CHECK(s.sizes_ok);
    if (s.count == nlive) {
        qsort(s.blocks, nlive, sizeof(void*), ptr_cmp);
        qsort(live, nlive, sizeof(void*), ptr_cmp);
        CHECK(memcmp(s.blocks, live, nlive * sizeof(void*)) == 0);   /* exactly the live blocks, once each */
    }
    s.count = 0;
    s.stop_after = 10;
    CHECK(keel_heap_visit(heap, visitor, &s) == false);   /* stopped */
    CHECK(s.count == 10);
    errno = 0;
    CHECK(keel_heap_visit(heap, NULL, NULL) == false && errno == EINVAL);
    errno = 0;
    CHECK(keel_heap_visit(NULL, visitor, &s) == false && errno == EINVAL);
    {   /* an empty heap: nothing visited */
        keel_heap* empty = keel_heap_new();
        s.count = 0;
        s.stop_after = 0;
        CHECK(keel_heap_visit(empty, visitor, &s) == true && s.count == 0);
        keel_heap_destroy(empty);
    }
    keel_heap_destroy(heap);
    free(s.blocks);
    free(p);
    free(live);
    free(remote);
}

/* ---- destroy ---- */

static void test_destroy(void) {
    size_t n = (size_t)(200000 * scale), i;
    keel_stats before, during, after;
    keel_heap* heap;
    void* d = keel_alloc(77);   /* a default-heap block that must outlive the heap */
    ht_fill(d, 77, 3);
    keel_trim();
    before = keel_get_stats();
    heap = keel_heap_new();
    if (!CHECK(heap != NULL)) return;
    for (i = 0; i < n; i++) {
        size_t sz = i % 10000 == 0 ? 500000 : 16 + (i % 64) * 16;
        void* b = keel_heap_alloc(heap, sz);
        if (!CHECK(b != NULL)) break;
        memset(b, 0x5A, 16);
    }
    during = keel_get_stats();
    CHECK(during.num_live_blocks >= before.num_live_blocks + n);
    CHECK(during.virtual_memory_size > before.virtual_memory_size + n * 16);
    keel_validate();
    keel_heap_destroy(heap);
    keel_validate();
    keel_trim();
    after = keel_get_stats();
    CHECK(after.num_live_blocks == before.num_live_blocks);
    CHECK(after.num_bytes_allocated == before.num_bytes_allocated);
    CHECK(after.num_frees == before.num_frees + n);
    /* its memory is gone (the segment cache keeps headers only after a trim) */
    CHECK_NOTE(after.virtual_memory_size <= before.virtual_memory_size + ((size_t)1 << 20), "committed after destroy");
    CHECK(ht_check(d, 77, 3));
    keel_free(d);

    /* a heap is reusable memory: many created and destroyed */
    for (i = 0; i < 200; i++) {
        keel_heap* h = keel_heap_new();
        unsigned j;
        if (!CHECK(h != NULL)) break;
        for (j = 0; j < 50; j++) ht_fill(keel_heap_alloc(h, size_at(j) % 70000 + 1), 1, j);
        keel_heap_destroy(h);
    }
    after = keel_get_stats();
    CHECK(after.num_live_blocks == before.num_live_blocks - 1);   /* d is freed */
    keel_validate();
}

static void test_many_heaps(void) {
    enum { H = 40 };
    keel_heap* heaps[H];
    void* first[H];
    unsigned i, j;
    for (i = 0; i < H; i++) {
        heaps[i] = keel_heap_new();
        if (!CHECK(heaps[i] != NULL)) return;
        first[i] = keel_heap_alloc(heaps[i], 64);
        ht_fill(first[i], 64, i);
        for (j = 0; j < 100; j++) keel_heap_alloc(heaps[i], (j * 131) % 9000 + 1);
    }
    for (i = 0; i < H; i++) CHECK(keel_heap_of(first[i]) == heaps[i] && ht_check(first[i], 64, i));
    keel_validate();
    for (i = 0; i < H; i += 2) keel_heap_destroy(heaps[(i * 7) % H]);
    for (i = 1; i < H; i += 2) CHECK(keel_heap_of(first[(i * 7) % H]) == heaps[(i * 7) % H]);
    keel_validate();
    for (i = 1; i < H; i += 2) keel_heap_destroy(heaps[(i * 7) % H]);
    keel_validate();
}

/* ---- threads: one heap, several threads allocating and freeing each
   other's blocks, and threads that only free ---- */

#define SLOTS 4096
typedef struct shared {
    keel_heap* heap;
    _Atomic(void*) slot[SLOTS];
    atomic_int failures;
    long rounds;
} shared;
typedef struct worker { shared* sh; unsigned seed; int allocates; } worker;

static void work(void* arg) {
    worker* w = (worker*)arg;
    shared* sh = w->sh;
    unsigned rng = w->seed;
    long r;
    for (r = 0; r < sh->rounds; r++) {
        unsigned k = ht_rand(&rng) % SLOTS;
        void* old;
        void* b = NULL;
        size_t n = 0;
        if (w->allocates) {
            unsigned pick = ht_rand(&rng) % 1000;
            n = pick == 0 ? 200000 + ht_rand(&rng) % 300000 : pick < 20 ? 9000 + ht_rand(&rng) % 50000 : ht_rand(&rng) % 600;
            if (n < sizeof(size_t)) n = sizeof(size_t);   /* room for n, read back at the free */
            b = pick % 7 == 1 ? keel_heap_alloc_aligned(sh->heap, n, 64) : keel_heap_alloc(sh->heap, n);
            if (!b) {
                atomic_fetch_add(&sh->failures, 1);
                continue;
            }
            memcpy(b, &n, sizeof n);
        }
        old = atomic_exchange(&sh->slot[k], b);
        if (old) {
            size_t m;
            memcpy(&m, old, sizeof m);
            if (m < 600 && ht_rand(&rng) % 4 == 0) {
                void* q = keel_realloc(old, m + 100);   /* grows within its heap */
                if (!q || keel_heap_of(q) != sh->heap) atomic_fetch_add(&sh->failures, 1);
                old = q;
            }
            if (keel_heap_of(old) != sh->heap) atomic_fetch_add(&sh->failures, 1);
            keel_free(old);
        }
    }
}

static void test_threads(void) {
    long threads = check_env_long("KEELTEST_THREADS", 4);
    shared* sh = (shared*)calloc(1, sizeof *sh);
    shim_thread t[16];
    worker w[16];
    shim_start st[16];
    long i;
    keel_stats hs;
    if (threads > 16) threads = 16;
    if (!CHECK(sh != NULL)) return;
    sh->heap = keel_heap_new();
    sh->rounds = 40000 * scale;
    for (i = 0; i < threads + 1; i++) {   /* one more: a thread that only frees */
        w[i].sh = sh;
        w[i].seed = 1000u + (unsigned)i;
        w[i].allocates = i < threads;
        st[i].fn = work;
        st[i].arg = &w[i];
        CHECK(shim_create(&t[i], &st[i]));
    }
    for (i = 0; i < threads + 1; i++) shim_join(t[i]);
    CHECK(atomic_load(&sh->failures) == 0);
    {
        size_t live = 0;
        for (i = 0; i < SLOTS; i++) live += atomic_load(&sh->slot[i]) != NULL;
        hs = keel_heap_get_stats(sh->heap);
        CHECK(hs.num_live_blocks == live);
    }
    keel_validate();
    keel_heap_destroy(sh->heap);
    keel_validate();
    free(sh);
}

/* ---- limits ---- */

static int oom_calls;
static bool count_oom(size_t num_bytes, void* user) {
    (void)num_bytes;
    (void)user;
    oom_calls++;
    return false;
}

static void test_limit(void) {
    const size_t cap = 8 * HT_MIB;
    keel_heap* heap = keel_heap_new();
    void** p = (void**)malloc((cap / 64 + 1) * sizeof(void*));
    size_t n = 0, i, again = 0;
    keel_stats hs;
    void* d;
    if (!CHECK(heap && p)) return;
    CHECK(keel_heap_set_limit(heap, cap));
    while (n <= cap / 64 && (p[n] = keel_heap_alloc(heap, 64)) != NULL) n++;
    CHECK(n <= cap / 64 && errno == ENOMEM);
    hs = keel_heap_get_stats(heap);
    CHECK(hs.virtual_memory_size <= cap && hs.peak_virtual_memory_size <= cap);
    CHECK_NOTE(n * HT_BLOCK64 >= cap / 10 * 9, "at least 90% of the cap in 64-byte blocks");
    printf(NAME ": note: 64-byte blocks fill %.1f%% of an 8 MiB cap\n", 100.0 * (double)(n * HT_BLOCK64) / (double)cap);
    /* at the cap: the handler is asked, then NULL + ENOMEM */
    keel_set_out_of_memory_handler(count_oom, NULL);
    oom_calls = 0;
    errno = 0;
    CHECK(keel_heap_alloc(heap, 64) == NULL && errno == ENOMEM);
    CHECK(oom_calls == 1);
    errno = 0;
    CHECK(keel_heap_alloc(heap, 16 * HT_MIB) == NULL && errno == ENOMEM);   /* a large block too */
    {   /* an aligned block takes a large block: NULL + ENOMEM, or what is left under the cap */
        void* al = keel_heap_alloc_aligned(heap, 100, 1 << 16);
        CHECK(al == NULL ? errno == ENOMEM : keel_heap_get_stats(heap).virtual_memory_size <= cap);
        keel_free(al);
    }
    keel_set_out_of_memory_handler(NULL, NULL);
    /* the default heap is not capped by it */
    d = keel_alloc(4 * HT_MIB);
    CHECK(d != NULL);
    keel_free(d);
    /* a cap below what it holds: refused, nothing changes */
    errno = 0;
    CHECK(keel_heap_set_limit(heap, HT_MIB) == false && errno == EINVAL);
    CHECK(keel_heap_alloc(heap, 64) == NULL);
    /* frees make room again */
    for (i = 0; i < n; i += 2) keel_free(p[i]);
    while (again < n / 2 && keel_heap_alloc(heap, 64) != NULL) again++;
    CHECK(again == n / 2);
    hs = keel_heap_get_stats(heap);
    CHECK(hs.virtual_memory_size <= cap);
    /* no cap */
    CHECK(keel_heap_set_limit(heap, 0));
    d = keel_heap_alloc(heap, 16 * HT_MIB);
    CHECK(d != NULL && keel_heap_of(d) == heap);
    hs = keel_heap_get_stats(heap);
    CHECK(hs.virtual_memory_size > cap);
    keel_validate();
    keel_heap_destroy(heap);
    free(p);
}

/* keel_set_limit's cap counts first-class heaps: a heap without a cap of
   its own stops at the process's. */
static void test_process_limit(void) {
    keel_heap* heap = keel_heap_new();
    keel_stats st;
    size_t cap, n = 0;
    if (!CHECK(heap != NULL)) return;
    keel_trim();
    cap = keel_get_stats().virtual_memory_size + 24 * HT_MIB;
    if (!CHECK(keel_set_limit(cap))) return;
    while (n < 100000 && keel_heap_alloc(heap, 1000) != NULL) n++;
    CHECK(n < 100000 && errno == ENOMEM);
    st = keel_get_stats();
    CHECK(st.virtual_memory_size <= cap && st.peak_virtual_memory_size >= st.virtual_memory_size);
    CHECK(n * 1000 >= 16 * HT_MIB);   /* most of the room went to the heap */
    CHECK(keel_set_limit(0));
    CHECK(keel_heap_alloc(heap, 1000) != NULL);
    keel_heap_destroy(heap);
}

/* keel_trim reaches a heap's empty pages. */
static void test_trim(void) {
    keel_heap* heap = keel_heap_new();
    void** p = (void**)malloc(20000 * sizeof(void*));
    keel_stats a, b;
    int i;
    if (!CHECK(heap && p)) return;
    for (i = 0; i < 20000; i++) p[i] = keel_heap_alloc(heap, 200 + (i % 16) * 64);
    for (i = 0; i < 20000; i++) keel_free(p[i]);   /* other-thread frees, to be collected */
    a = keel_heap_get_stats(heap);
    keel_trim();
    b = keel_heap_get_stats(heap);
    CHECK(b.num_live_blocks == 0);
    CHECK(b.cached_bytes == 0);
    CHECK(b.virtual_memory_size < a.virtual_memory_size);
    keel_heap_destroy(heap);
    free(p);
}

/* A sampled heap profile: samples of a destroyed heap's blocks go with it. */
static void test_profile(void) {
    keel_heap* heap = keel_heap_new();
    int i;
    if (!CHECK(heap != NULL)) return;
    CHECK(keel_option_set("profile_sample", 4096));
    for (i = 0; i < 5000; i++) keel_heap_alloc(heap, (size_t)(i % 3 == 0 ? 300000 : 100 + i % 5000));
    keel_validate();
    keel_heap_destroy(heap);
    keel_validate();
    CHECK(keel_option_set("profile_sample", 0));
}

#if !defined(_WIN32)
/* Fork while other threads use the heap: the child has the heap, whole. */
static atomic_int stop_busy;
static void busy(void* arg) {
    keel_heap* heap = (keel_heap*)arg;
    unsigned rng = 5;
    void* keep[8] = {0};
    while (!atomic_load(&stop_busy)) {
        unsigned k = ht_rand(&rng) % 8;
        keel_free(keep[k]);
        keep[k] = keel_heap_alloc(heap, ht_rand(&rng) % 50 == 0 ? 300000 : ht_rand(&rng) % 3000);
    }
    for (rng = 0; rng < 8; rng++) keel_free(keep[rng]);
}

static void test_fork(void) {
    keel_heap* heap = keel_heap_new();
    void* mine = keel_heap_alloc(heap, 1000);
    shim_thread t[2];
    shim_start st = {busy, heap};
    int f;
    ht_fill(mine, 1000, 9);
    atomic_store(&stop_busy, 0);
    CHECK(shim_create(&t[0], &st) && shim_create(&t[1], &st));
    for (f = 0; f < 10 * scale; f++) {
        pid_t pid = fork();
        if (pid == 0) {
            int ok = 1, i;
            alarm(20);
            ok &= ht_check(mine, 1000, 9) && keel_heap_of(mine) == heap;
            for (i = 0; i < 2000; i++) {
                void* b = keel_heap_alloc(heap, (size_t)(i * 7) % 5000 + 1);
                ok &= b != NULL && keel_heap_of(b) == heap;
                if (i % 2) keel_free(b);
            }
            keel_validate();
            keel_heap_destroy(heap);
            keel_validate();
            _exit(ok ? 0 : 1);
        }
        if (CHECK(pid > 0)) {
            int status = 0;
            CHECK(waitpid(pid, &status, 0) == pid);
            CHECK_NOTE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's checks");
        }
    }
    atomic_store(&stop_busy, 1);
    shim_join(t[0]);
    shim_join(t[1]);
    CHECK(ht_check(mine, 1000, 9));
    keel_heap_destroy(heap);
    keel_validate();
}
#endif

int main(void) {
    ht_unbuffered();
    scale = check_env_long("KEELTEST_SCALE", 1);
    test_blocks();
    test_default_heap();
    test_realloc();
    test_stats();
    test_visit();
    test_destroy();
    test_many_heaps();
    test_threads();
    test_limit();
    test_process_limit();
    test_trim();
    test_profile();
#if !defined(_WIN32)
    test_fork();
#endif
    return check_done(NAME);
}
