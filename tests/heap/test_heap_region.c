/* test_heap_region.c — a first-class heap inside the caller's reservation
   (keel_heap_new_in, DESIGN.md section 11): bad regions refused with
   EINVAL; every block, small, medium, large and aligned, inside the region;
   nothing reserved, mapped or committed outside it while the heap works
   (vmem's counters, keel's, and on Linux /proc/self/maps outside the
   region); at least 90% of 64 MiB usable by 64-byte blocks; NULL + ENOMEM
   when full and room again after frees; after keel_heap_destroy nothing of
   the region committed, and the region reusable by a new heap; a one-chunk
   region serves small blocks; threads. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "keel/vmem.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#define NAME "test_heap_region"
#define REGION ((size_t)64 << 20)

static uint8_t* lo;
static uint8_t* hi;

static int inside(const void* p, size_t n) {
    return (const uint8_t*)p >= lo && (const uint8_t*)p + n <= hi;
}

#if defined(__linux__)
/* The mappings that do not overlap [lo, hi), as text: keel's work in the
   region may split the region's own mapping, nothing else may change. */
static size_t maps_outside(char* out, size_t cap) {
    FILE* f = fopen("/proc/self/maps", "r");
    char line[512];
    size_t len = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) != 2) continue;
        if (b > (uintptr_t)lo && a < (uintptr_t)hi) continue;
        if (strstr(line, "[stack]") || strstr(line, "[heap]")) continue;   /* the C library's own */
        len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%lx-%lx\n", a, b);
    }
    fclose(f);
    return len;
}
#endif

static void test_bad_regions(void) {
    uint8_t* r = (uint8_t*)vmem_reserve_aligned(2 * KEEL_REGION_ALIGNMENT, KEEL_REGION_ALIGNMENT);
    if (!CHECK(r != NULL)) return;
    errno = 0;
    CHECK(keel_heap_new_in(NULL, KEEL_REGION_ALIGNMENT) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(keel_heap_new_in(r + 4096, KEEL_REGION_ALIGNMENT) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(keel_heap_new_in(r, KEEL_REGION_ALIGNMENT + 4096) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(keel_heap_new_in(r, 0) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(keel_heap_new_in(r, SIZE_MAX - KEEL_REGION_ALIGNMENT + 1) == NULL && errno == EINVAL);
    CHECK(vmem_release(r, 2 * KEEL_REGION_ALIGNMENT));
}

/* A one-chunk region: small blocks only. */
static void test_one_chunk(void) {
    uint8_t* r = (uint8_t*)vmem_reserve_aligned(KEEL_REGION_ALIGNMENT, KEEL_REGION_ALIGNMENT);
    keel_heap* heap;
    void* p;
    size_t n = 0;
    if (!CHECK(r != NULL)) return;
    lo = r;
    hi = r + KEEL_REGION_ALIGNMENT;
    heap = keel_heap_new_in(r, KEEL_REGION_ALIGNMENT);
    if (!CHECK(heap != NULL)) return;
    CHECK(inside(heap, 1));   /* its metadata too */
    for (; n < 1000; n++) {
        p = keel_heap_alloc(heap, 8000);
        if (!p || !inside(p, 8000)) break;
        memset(p, 1, 8000);
    }
    CHECK(n == 1000 || (n > 300 && errno == ENOMEM));
    errno = 0;
    CHECK(keel_heap_alloc(heap, 20000) == NULL && errno == ENOMEM);   /* no chunk left for a medium segment */
    keel_validate();
    keel_heap_destroy(heap);
    CHECK(vmem_release(r, KEEL_REGION_ALIGNMENT));
}

static void test_region(void) {
    uint8_t* r = (uint8_t*)vmem_reserve_aligned(REGION, KEEL_REGION_ALIGNMENT);
    vmem_usage start_vm, before_vm, during_vm, after_vm;
    keel_stats start_keel, before_keel, during_keel, after_keel;
    keel_heap* heap;
    void** p;
    size_t n = 0, i, cap = REGION / 64 + 1;
#if defined(__linux__)
    static char maps_before[1 << 16], maps_after[1 << 16];
#endif
    if (!CHECK(r != NULL)) return;
    lo = r;
    hi = r + REGION;
    p = (void**)malloc(cap * sizeof(void*));   /* the C heap: keel's counters stay the heap's */
    if (!CHECK(p != NULL)) return;
    start_vm = vmem_get_usage_summary();
    start_keel = keel_get_stats();
    heap = keel_heap_new_in(r, REGION);
    if (!CHECK(heap != NULL)) return;
    CHECK(inside(heap, 1));   /* its metadata is in the region */
    before_vm = vmem_get_usage_summary();
    before_keel = keel_get_stats();
#if defined(__linux__)
    maps_outside(maps_before, sizeof maps_before);
#endif

    /* fill with 64-byte blocks */
    while (n < cap && (p[n] = keel_heap_alloc(heap, 64)) != NULL) {
        if (!inside(p[n], 64)) break;
        memset(p[n], (int)(n & 0x7f), 64);
        n++;
    }
    CHECK(n < cap && p[n] == NULL && errno == ENOMEM);
    CHECK_NOTE(n * HT_BLOCK64 >= REGION / 10 * 9, "at least 90% of the region in 64-byte blocks");
    printf(NAME ": note: 64-byte blocks fill %.1f%% of a 64 MiB region\n", 100.0 * (double)(n * HT_BLOCK64) / (double)REGION);
    for (i = 0; i < n; i += 997) CHECK(ht_all_bytes(p[i], 64, (unsigned char)(i & 0x7f)));
    keel_validate();
    during_vm = vmem_get_usage_summary();
    during_keel = keel_get_stats();
    CHECK(during_vm.reserved_bytes == before_vm.reserved_bytes);   /* nothing reserved */
    CHECK(during_keel.reserved_bytes == before_keel.reserved_bytes);
    CHECK(during_vm.committed_bytes <= before_vm.committed_bytes + REGION);   /* commits: in the region */
#if defined(__linux__)
    maps_outside(maps_after, sizeof maps_after);
    CHECK_NOTE(strcmp(maps_before, maps_after) == 0, "a mapping outside the region changed");
#endif

    /* frees make room: medium, large and aligned blocks, all inside */
    for (i = 0; i < n; i++) keel_free(p[i]);
    {
        void* m = keel_heap_alloc(heap, 100000);
        void* big = keel_heap_alloc(heap, 9 << 20);
        void* al = keel_heap_alloc_aligned(heap, 1000, 8 << 20);
        void* z = keel_heap_calloc(heap, 1, 3 << 20);
        CHECK(m && inside(m, 100000) && keel_heap_of(m) == heap);
        CHECK(big && inside(big, 9 << 20) && keel_heap_of(big) == heap);
        CHECK(al && inside(al, 1000) && ht_aligned(al, 8 << 20));
        CHECK(z && inside(z, 3 << 20) && ht_all_bytes(z, 3 << 20, 0));
        if (big) {
            memset(big, 0xAB, 9 << 20);
            big = keel_realloc(big, 20 << 20);   /* moves within the region */
            CHECK(big && inside(big, 20 << 20) && ht_all_bytes(big, 9 << 20, 0xAB));
        }
        errno = 0;
        CHECK(keel_heap_alloc(heap, REGION) == NULL && errno == ENOMEM);   /* never fits */
        keel_validate();
        keel_free(m);
        keel_free(big);
        keel_free(al);
        keel_free(z);
    }
    n = 0;
    while (n < cap / 2 && (p[n] = keel_heap_alloc(heap, 64)) != NULL) n++;
    CHECK(n == cap / 2);
#if defined(__linux__)
    maps_outside(maps_after, sizeof maps_after);
    CHECK_NOTE(strcmp(maps_before, maps_after) == 0, "a mapping outside the region changed");
#endif
    CHECK(vmem_get_usage_summary().reserved_bytes == before_vm.reserved_bytes);

    /* destroyed: nothing of the region committed, and it serves a new heap */
    keel_heap_destroy(heap);
    after_vm = vmem_get_usage_summary();
    after_keel = keel_get_stats();
    /* all it committed is back (the map's table for the region, if
       keel_heap_new_in made one, stays: 64 KiB) */
    CHECK_NOTE(after_vm.committed_bytes <= start_vm.committed_bytes + ((size_t)64 << 10), "committed after destroy");
    CHECK(after_keel.virtual_memory_size <= start_keel.virtual_memory_size + ((size_t)64 << 10));
    CHECK(after_keel.num_live_blocks == start_keel.num_live_blocks);
    CHECK(after_vm.reserved_bytes <= start_vm.reserved_bytes + ((size_t)64 << 10));
#if defined(__linux__)
    if (ht_under_qemu()) {   /* qemu-user does not pass mincore through for such ranges */
        printf(NAME ": note: under qemu, the region's residency after destroy is not read\n");
    } else {   /* and the pages themselves: none resident */
        size_t page = (size_t)sysconf(_SC_PAGESIZE), pages = REGION / page, resident = 0;
        unsigned char* vec = (unsigned char*)malloc(pages);
        if (CHECK(vec && mincore(r, REGION, vec) == 0))
            for (i = 0; i < pages; i++) resident += vec[i] & 1;
        CHECK_NOTE(resident == 0, "pages of the region resident after destroy");
        free(vec);
    }
#endif
    heap = keel_heap_new_in(r, REGION);
    if (CHECK(heap != NULL)) {
        void* q = keel_heap_alloc(heap, 500);
        CHECK(q && inside(q, 500));
        keel_validate();
        keel_heap_destroy(heap);
    }
    CHECK(vmem_release(r, REGION));
    free(p);
    keel_validate();
}

/* Several threads on a region heap, freeing each other's blocks. */
typedef struct shared { keel_heap* heap; _Atomic(void*) slot[1024]; int bad; } shared;
static void work(void* arg) {
    shared* sh = (shared*)arg;
    unsigned rng = (unsigned)(uintptr_t)&rng;
    int r;
    for (r = 0; r < 30000; r++) {
        size_t sz = ht_rand(&rng) % 100 == 0 ? 300000 : ht_rand(&rng) % 2000 + 1;
        void* b = keel_heap_alloc(sh->heap, sz);
        void* old;
        if (b && !inside(b, sz)) sh->bad = 1;
        old = atomic_exchange(&sh->slot[ht_rand(&rng) % 1024], b);
        keel_free(old);
    }
}

static void test_threads(void) {
    uint8_t* r = (uint8_t*)vmem_reserve_aligned(REGION, KEEL_REGION_ALIGNMENT);
    shared* sh = (shared*)calloc(1, sizeof *sh);
    shim_thread t[4];
    shim_start st = {work, NULL};
    int i;
    if (!CHECK(r && sh)) return;
    lo = r;
    hi = r + REGION;
    sh->heap = keel_heap_new_in(r, REGION);
    st.arg = sh;
    if (!CHECK(sh->heap != NULL)) return;
    for (i = 0; i < 4; i++) CHECK(shim_create(&t[i], &st));
    for (i = 0; i < 4; i++) shim_join(t[i]);
    CHECK(sh->bad == 0);
    keel_validate();
    keel_heap_destroy(sh->heap);
    CHECK(vmem_release(r, REGION));
    free(sh);
}

int main(void) {
    ht_unbuffered();
    test_bad_regions();
    test_one_chunk();
    test_region();
    test_threads();
    return check_done(NAME);
}
