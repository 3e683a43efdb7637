/* test_override_api.c — the malloc family of libkeel-override.so with
   glibc's semantics (DESIGN.md section 7), run by driver.sh under
   LD_PRELOAD: every exported function, its errors, that keel serves it,
   the glibc extras reporting keel's numbers, and pointers keel did not hand
   out. Prints "PID n", "FOREIGN op 0xhex" (each foreign call the verbose run
   must report) and "ALLOCS n" lines for the driver. */
#define _GNU_SOURCE
#include "check.h"
#include "ovr.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define TIB ((size_t)1 << 40)

static size_t page_size;

static int aligned_to(const void* p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static int owned(const void* p, size_t n) { return p && ovr.usable_size(p) >= n; }

static void foreign_note(const char* op, const void* p) {
    printf("FOREIGN %s %p\n", op, p);
    fflush(stdout);
}

/* ---- keel is the allocator ---- */

static void test_symbols(void) {
    static const char* const names[] = {
        "malloc", "calloc", "realloc", "free", "reallocarray", "posix_memalign", "aligned_alloc",
        "memalign", "valloc", "pvalloc", "malloc_usable_size", "malloc_trim", "mallinfo",
        "mallinfo2", "malloc_stats", "malloc_info", "mallopt",
        "keel_alloc", "keel_realloc", "keel_free", "keel_alloc_aligned", "keel_calloc",
        "keel_usable_size", "keel_set_out_of_memory_handler", "keel_get_stats", "keel_validate",
        "keel_trim", "keel_arena_init", "keel_arena_push", "keel_arena_push_zero",
        "keel_arena_pos", "keel_arena_pop_to", "keel_arena_clear", "keel_arena_release"};
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        void* s = dlsym(RTLD_DEFAULT, names[i]);
        Dl_info info;
        char note[256];
        int ok = s && dladdr(s, &info) && info.dli_fname && strstr(info.dli_fname, "keel-override");
        snprintf(note, sizeof note, "%s resolves to %s", names[i],
                 !s ? "nothing" : dladdr(s, &info) && info.dli_fname ? info.dli_fname : "?");
        CHECK_NOTE(ok, note);
    }
}

static void test_served(void) {
    keel_stats s0 = ovr.get_stats(), s1, s2;
    void* p = malloc(100);
    void* q;
    char* d;
    s1 = ovr.get_stats();
    CHECK(p != NULL);
    CHECK(s1.num_allocs > s0.num_allocs);
    CHECK(s1.num_live_blocks == s0.num_live_blocks + 1);
    CHECK(owned(p, 100));
    CHECK(malloc_usable_size(p) == ovr.usable_size(p));
    free(p);
    s2 = ovr.get_stats();
    CHECK(s2.num_frees == s1.num_frees + 1);
    CHECK(s2.num_live_blocks == s0.num_live_blocks);

    p = calloc(10, 10);         CHECK(owned(p, 100)); free(p);
    p = realloc(NULL, 300);     CHECK(owned(p, 300)); free(p);
    p = reallocarray(NULL, 7, 9); CHECK(owned(p, 63)); free(p);
    p = aligned_alloc(256, 512); CHECK(owned(p, 512)); free(p);
    p = memalign(128, 100);     CHECK(owned(p, 100)); free(p);
    p = valloc(10);             CHECK(owned(p, 10)); free(p);
    p = pvalloc(10);            CHECK(owned(p, 10)); free(p);
    q = NULL;
    CHECK(posix_memalign(&q, 64, 1000) == 0);
    CHECK(owned(q, 1000)); free(q);

    /* libc's own allocations (strdup, asprintf, open_memstream) come to keel too */
    d = strdup("keel serves libc");
    CHECK(owned(d, 17)); free(d);
    d = NULL;
    CHECK(asprintf(&d, "%d-%s", 42, "asprintf") > 0);
    CHECK(owned(d, 12)); free(d);

    /* the keel API and the malloc family share one heap */
    p = ovr.alloc(64);
    CHECK(malloc_usable_size(p) >= 64);
    free(p);
    p = malloc(64);
    ovr.free(p);
}

/* The libc names work on blocks of keel's first-class heaps (DESIGN.md
   section 11): malloc_usable_size, realloc keeping a block in its heap
   through every size range, free; the heap's statistics see them. */
static void test_first_class_heaps(void) {
    keel_heap* (*heap_new)(void) = NULL;
    void* (*heap_alloc)(keel_heap*, size_t) = NULL;
    keel_heap* (*heap_of)(const void*) = NULL;
    keel_stats (*heap_stats)(const keel_heap*) = NULL;
    void (*heap_destroy)(keel_heap*) = NULL;
    keel_heap* heap;
    char* p;
    size_t n;
    OVR_SYM(heap_new, "keel_heap_new");
    OVR_SYM(heap_alloc, "keel_heap_alloc");
    OVR_SYM(heap_of, "keel_heap_of");
    OVR_SYM(heap_stats, "keel_heap_get_stats");
    OVR_SYM(heap_destroy, "keel_heap_destroy");
    if (!CHECK(heap_new && heap_alloc && heap_of && heap_stats && heap_destroy)) return;
    heap = heap_new();
    if (!CHECK(heap != NULL)) return;
    p = (char*)heap_alloc(heap, 100);
    CHECK(p != NULL && heap_of(p) == heap && malloc_usable_size(p) >= 100);
    ovr_fill(p, 100, 5);
    for (n = 100; p && n < ((size_t)4 << 20); n *= 7) {   /* small, medium, large */
        char* q = (char*)realloc(p, n * 7);
        if (!CHECK(q != NULL)) break;
        CHECK(heap_of(q) == heap && ovr_holds(q, 100, 5) && malloc_usable_size(q) >= n * 7);
        p = q;
    }
    CHECK(heap_stats(heap).num_live_blocks == 1);
    free(p);
    CHECK(heap_stats(heap).num_live_blocks == 0);
    p = (char*)heap_alloc(heap, 50);
    CHECK(heap_of(realloc(p, 0)) == NULL);   /* realloc to 0 frees it */
    CHECK(heap_stats(heap).num_live_blocks == 0);
    p = (char*)malloc(64);
    CHECK(p != NULL && heap_of(p) == NULL);   /* malloc: the default heap */
    free(p);
    heap_destroy(heap);
    ovr.validate();
}

/* ---- semantics ---- */

static void test_malloc_sizes(void) {
    static const size_t big[] = {1500, 4095, 4096, 4097, 8000, 16384, 32767, 65536, 100000,
                                 131072, 262145, 1 << 20, (1 << 20) + 3, 5 << 20, 33 << 20, 64 << 20};
    size_t n, i;
    void* z1 = malloc(0);
    void* z2 = malloc(0);
    CHECK(z1 != NULL && z2 != NULL && z1 != z2);
    CHECK(owned(z1, 0));
    free(z1);
    free(z2);
    for (i = 0; i < 1200 + sizeof big / sizeof big[0]; i++) {
        void* p;
        void* q;
        size_t u;
        n = i < 1200 ? i : big[i - 1200];
        p = malloc(n);
        if (!CHECK(p != NULL)) continue;
        CHECK(aligned_to(p, 16));
        u = malloc_usable_size(p);
        if (!CHECK(u >= n) || !CHECK(u == ovr.usable_size(p))) { free(p); continue; }
        ovr_fill(p, u, (unsigned)i);   /* every usable byte is writable */
        q = realloc(p, u);             /* redis: realloc to the usable size keeps the block */
        CHECK(q == p);
        if (q) {
            CHECK(ovr_holds(q, u, (unsigned)i));
            p = q;
        }
        free(p);
    }
    CHECK(malloc_usable_size(NULL) == 0);
}

static void test_realloc(void) {
    static const size_t steps[] = {1, 24, 100, 1000, 5000, 70000, 300000, 3 << 20, 40000, 500, 16, 200000, 8};
    keel_stats s0, s1;
    size_t i, prev = 0;
    unsigned char* p = NULL;
    for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t keep = prev < steps[i] ? prev : steps[i];
        unsigned char* q = realloc(p, steps[i]);
        if (!CHECK(q != NULL)) break;
        CHECK(ovr_holds(q, keep, 11));
        ovr_fill(q, steps[i], 11);
        p = q;
        prev = steps[i];
    }
    /* realloc(p, 0) frees and returns NULL (glibc) */
    s0 = ovr.get_stats();
    CHECK(realloc(p, 0) == NULL);
    s1 = ovr.get_stats();
    CHECK(s1.num_live_blocks == s0.num_live_blocks - 1);
    CHECK(s1.num_frees == s0.num_frees + 1);

    /* realloc(NULL, n) is malloc(n), 0 included */
    s0 = ovr.get_stats();
    p = realloc(NULL, 0);
    CHECK(p != NULL);
    s1 = ovr.get_stats();
    CHECK(s1.num_allocs == s0.num_allocs + 1);
    free(p);

    /* reallocarray keeps contents like realloc */
    p = reallocarray(NULL, 10, 10);
    if (CHECK(p != NULL)) {
        ovr_fill(p, 100, 5);
        p = reallocarray(p, 1000, 10);
        CHECK(p && ovr_holds(p, 100, 5));
        free(p);
    }
}

static void test_failures(void) {
    static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 64, SIZE_MAX / 2 + 1, 64 * TIB, 200 * TIB};
    unsigned char* p = malloc(1000);
    void* q;
    size_t i;
    int rc;
    if (!CHECK(p != NULL)) return;
    ovr_fill(p, 1000, 3);
    for (i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        size_t n = ovr_launder(huge[i]);
        char note[64];
        snprintf(note, sizeof note, "size %zu", n);
        errno = 0; CHECK_NOTE(malloc(n) == NULL && errno == ENOMEM, note);
        errno = 0; CHECK_NOTE(calloc(1, n) == NULL && errno == ENOMEM, note);
        errno = 0; CHECK_NOTE(realloc(ovr_launder_ptr(p), n) == NULL && errno == ENOMEM, note);
        CHECK_NOTE(ovr_holds(p, 1000, 3), "a failed realloc leaves the block as it was");
        errno = 0; CHECK_NOTE(realloc(NULL, n) == NULL && errno == ENOMEM, note);
        errno = 0; CHECK_NOTE(aligned_alloc(64, n) == NULL && errno == ENOMEM, note);
        errno = 0; CHECK_NOTE(memalign(4096, n) == NULL && errno == ENOMEM, note);
        errno = 0; CHECK_NOTE(valloc(n) == NULL && errno == ENOMEM, note);
        errno = 0; CHECK_NOTE(pvalloc(n) == NULL && errno == ENOMEM, note);
        q = &q;
        rc = posix_memalign(&q, 64, n);
        CHECK_NOTE(rc == ENOMEM, note);
        CHECK_NOTE(q == &q || q == NULL, "posix_memalign failing: *p untouched (or NULL)");
    }
    /* products that overflow */
    errno = 0; CHECK(calloc(ovr_launder(SIZE_MAX / 2), 3) == NULL && errno == ENOMEM);
    errno = 0; CHECK(calloc(ovr_launder((size_t)1 << 33), (size_t)1 << 33) == NULL && errno == ENOMEM);
    errno = 0; CHECK(calloc(ovr_launder(65536), TIB) == NULL && errno == ENOMEM);
    errno = 0; CHECK(reallocarray(ovr_launder_ptr(p), ovr_launder(SIZE_MAX / 2), 3) == NULL && errno == ENOMEM);
    CHECK(ovr_holds(p, 1000, 3));
    errno = 0; CHECK(reallocarray(NULL, ovr_launder((size_t)1 << 40), (size_t)1 << 40) == NULL && errno == ENOMEM);
    free(p);
    /* and everything still works */
    p = malloc(5000);
    CHECK(owned(p, 5000));
    free(p);
}

static int aligned_zero_broken;

static int cmp_ptr(const void* a, const void* b) {
    uintptr_t x = *(const uintptr_t*)a, y = *(const uintptr_t*)b;
    return x < y ? -1 : x > y;
}

/* Zero bytes at an alignment above 16 must still be a block of its own: no
   pointer another allocation also gets. Blocks found shared are leaked, not
   freed, so that the rest of the test runs on an intact heap. */
static void test_aligned_zero(void) {
    enum { N = 64 };
    static const size_t aligns[] = {32, 64, 128, 256, 4096};
    size_t i, k;
    for (k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
        void* all[3 * N];
        int shared = 0;
        char note[96];
        for (i = 0; i < N; i++) {
            void* p = NULL;
            if (posix_memalign(&p, aligns[k], 0) != 0) p = NULL;
            all[3 * i] = p;
            all[3 * i + 1] = malloc(1);
            all[3 * i + 2] = i % 2 ? aligned_alloc(aligns[k], 0) : memalign(aligns[k], 0);
        }
        for (i = 0; i < 3 * N; i++) shared |= all[i] == NULL;
        qsort(all, 3 * N, sizeof all[0], cmp_ptr);
        for (i = 1; i < 3 * N; i++) shared |= all[i] == all[i - 1];
        snprintf(note, sizeof note, "posix_memalign/aligned_alloc/memalign(%zu, 0): a pointer malloc(1) also got", aligns[k]);
        if (!CHECK_NOTE(!shared, note)) {
            aligned_zero_broken = 1;
            continue;   /* leaked: freeing would free a neighbour twice */
        }
        for (i = 0; i < 3 * N; i++) free(all[i]);
    }
}

static void test_aligned(void) {
    static const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4097, SIZE_MAX};
    static const size_t sizes[] = {0, 1, 100, 5000, 70000};
    size_t a, i, j;
    /* posix_memalign: EINVAL for an alignment that is not a power of two or
       not a multiple of sizeof(void*), *p untouched */
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void* p = &p;
        char note[64];
        if (bad[i] >= sizeof(void*) && (bad[i] & (bad[i] - 1)) == 0) continue;   /* a valid one */
        snprintf(note, sizeof note, "alignment %zu", bad[i]);
        CHECK_NOTE(posix_memalign(&p, ovr_launder(bad[i]), 64) == EINVAL, note);
        CHECK_NOTE(p == &p, note);
    }
    for (a = sizeof(void*); a <= ((size_t)16 << 20); a <<= 1) {
        for (j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
            void* p = NULL;
            size_t n = sizes[j];
            char note[64];
            if (n == 0 && aligned_zero_broken) continue;   /* reported by test_aligned_zero */
            snprintf(note, sizeof note, "alignment %zu size %zu", a, n);
            CHECK_NOTE(posix_memalign(&p, a, n) == 0 && p && aligned_to(p, a) && owned(p, n), note);
            free(p);
            p = aligned_alloc(a, n);
            CHECK_NOTE(p && aligned_to(p, a) && owned(p, n), note);
            if (p) memset(p, 1, n);
            free(p);
            p = memalign(a, n);
            CHECK_NOTE(p && aligned_to(p, a) && owned(p, n), note);
            free(p);
        }
    }
    /* aligned_alloc: an alignment that is not a power of two fails with EINVAL */
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char note[64];
        if (bad[i] == 0 || (bad[i] & (bad[i] - 1)) == 0) continue;
        snprintf(note, sizeof note, "alignment %zu", bad[i]);
        errno = 0;
        CHECK_NOTE(aligned_alloc(ovr_launder(bad[i]), 64) == NULL && errno == EINVAL, note);
    }
    /* memalign rounds an alignment that is not a power of two up to one (glibc) */
    {
        static const size_t odd[][2] = {{3, 4}, {24, 32}, {48, 64}, {100, 128}, {1000, 1024}, {4097, 8192}, {40000, 65536}};
        for (i = 0; i < sizeof odd / sizeof odd[0]; i++) {
            void* p = memalign(ovr_launder(odd[i][0]), 200);
            char note[64];
            snprintf(note, sizeof note, "memalign(%zu) wants %zu-aligned", odd[i][0], odd[i][1]);
            CHECK_NOTE(p && aligned_to(p, odd[i][1]) && owned(p, 200), note);
            free(p);
        }
        {
            void* p = memalign(ovr_launder(0), 10);   /* glibc: below the minimum acts as malloc */
            CHECK(owned(p, 10));
            free(p);
        }
    }
    /* valloc: page-aligned; pvalloc: page-aligned and a whole number of pages */
    {
        static const size_t vs[] = {0, 1, 100, 4095, 4096, 4097, 10000, 1 << 20};
        for (i = 0; i < sizeof vs / sizeof vs[0]; i++) {
            size_t n = vs[i], pages = n == 0 ? page_size : (n + page_size - 1) / page_size * page_size;
            char note[64];
            void* p;
            if (n == 0 && aligned_zero_broken) continue;
            p = valloc(n);
            snprintf(note, sizeof note, "size %zu", n);
            CHECK_NOTE(p && aligned_to(p, page_size) && owned(p, n), note);
            free(p);
            p = pvalloc(n);
            CHECK_NOTE(p && aligned_to(p, page_size) && owned(p, pages), note);
            CHECK_NOTE(p && malloc_usable_size(p) >= pages, note);
            if (p) memset(p, 2, pages);   /* the whole rounded size is usable */
            free(p);
        }
    }
}

static void test_calloc(void) {
    enum { N = 512 };
    void* blocks[N];
    unsigned char* c;
    size_t i, j;
    int zero = 1;
    /* dirty memory, free it, then calloc it back */
    for (i = 0; i < N; i++) {
        blocks[i] = malloc(256);
        if (blocks[i]) memset(blocks[i], 0xAB, 256);
    }
    for (i = 0; i < N; i++) free(blocks[i]);
    for (i = 0; i < N; i++) {
        c = calloc(16, 16);
        blocks[i] = c;
        for (j = 0; c && j < 256; j++) zero &= c[j] == 0;
    }
    CHECK(zero);
    for (i = 0; i < N; i++) free(blocks[i]);
    c = malloc(8 << 20);
    if (c) memset(c, 0xCD, 8 << 20);
    free(c);
    c = calloc(1, 8 << 20);
    zero = c != NULL;
    for (j = 0; c && j < (8 << 20); j++) zero &= c[j] == 0;
    CHECK(zero);
    free(c);
    c = calloc(0, 0);
    CHECK(c != NULL);
    free(c);
}

static void test_errno_kept(void) {
    void* small = malloc(32);
    void* large = malloc(48 << 20);
    void* many[2000];
    size_t i;
    int local;
    errno = EDOM;
    free(NULL);
    CHECK(errno == EDOM);
    free(small);
    CHECK(errno == EDOM);
    free(large);   /* a large block: its memory may go back to the OS */
    CHECK(errno == EDOM);
    for (i = 0; i < 2000; i++) many[i] = malloc(i * 13 % 3000);
    errno = ERANGE;
    for (i = 0; i < 2000; i++) free(many[i]);   /* pages empty and retire */
    CHECK(errno == ERANGE);
    errno = EDOM;
    free(ovr_launder_ptr(&local));   /* foreign */
    foreign_note("free", &local);
    CHECK(errno == EDOM);
}

/* ---- pointers keel did not hand out ---- */

static unsigned char global_buf[512];

static void test_foreign(void) {
    unsigned char local[256];
    unsigned char* p;
    unsigned char* q;
    void* (*libc_malloc)(size_t);
    void* s;
    keel_stats s0, s1;

    /* a stack address */
    ovr_fill(local, sizeof local, 21);
    p = ovr_launder_ptr(local + 32);
    s0 = ovr.get_stats();
    free(p);
    foreign_note("free", p);
    s1 = ovr.get_stats();
    CHECK(s1.num_frees == s0.num_frees);
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(malloc_usable_size(p) == 0);
    foreign_note("usable_size", p);
    q = realloc(p, 64);
    foreign_note("realloc", p);
    CHECK(owned(q, 64));
    CHECK(q && memcmp(q, local + 32, 64) == 0);
    CHECK(ovr_holds(local, sizeof local, 21));   /* the old memory is left alone */
    free(q);

    /* a global */
    ovr_fill(global_buf, sizeof global_buf, 22);
    p = ovr_launder_ptr(global_buf);
    free(p);
    foreign_note("free", p);
    q = realloc(p, 4000);   /* larger than the global: copy what is readable */
    foreign_note("realloc", p);
    CHECK(owned(q, 4000));
    CHECK(q && ovr_holds(q, sizeof global_buf, 22));
    free(q);

    /* a block that ends at an unreadable page: the copy stops there */
    p = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (CHECK(p != MAP_FAILED)) {
        unsigned char* tail = p + page_size - 48;
        CHECK(mprotect(p + page_size, page_size, PROT_NONE) == 0);
        ovr_fill(tail, 48, 23);
        q = realloc(tail, 3 * page_size);
        foreign_note("realloc", tail);
        CHECK(owned(q, 3 * page_size));
        CHECK(q && ovr_holds(q, 48, 23));
        free(q);
        CHECK(realloc(ovr_launder_ptr(tail), 0) == NULL);   /* glibc frees it; keel must not */
        foreign_note("realloc", tail);
        munmap(p, 2 * page_size);
    }

    /* a block of glibc's own malloc, as the loader's blocks are */
    s = dlsym(RTLD_DEFAULT, "__libc_malloc");
    memcpy(&libc_malloc, &s, sizeof s);
    if (libc_malloc) {
        p = libc_malloc(200);
        if (CHECK(p != NULL)) {
            ovr_fill(p, 200, 24);
            CHECK(malloc_usable_size(p) == 0);
            foreign_note("usable_size", p);
            q = realloc(p, 500);
            foreign_note("realloc", p);
            CHECK(owned(q, 500) && ovr_holds(q, 200, 24));
            free(q);
            free(p);
            foreign_note("free", p);
        }
    }
    /* the heap is intact */
    ovr.validate();
    p = malloc(100);
    CHECK(owned(p, 100));
    free(p);
}

/* ---- the glibc extras report keel's numbers ---- */

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static struct mallinfo old_mallinfo(void) { return mallinfo(); }
#pragma GCC diagnostic pop

static void test_mallinfo(void) {
    void* blocks[64];
    struct mallinfo2 m0, m1;
    struct mallinfo mi;
    keel_stats s;
    size_t i;
    m0 = mallinfo2();
    for (i = 0; i < 64; i++) blocks[i] = malloc(128 << 10);   /* 8 MiB live */
    m1 = mallinfo2();
    s = ovr.get_stats();
    CHECK(m1.uordblks + m1.hblkhd == s.num_bytes_allocated);
    CHECK(m1.uordblks + m1.hblkhd >= m0.uordblks + m0.hblkhd + (8 << 20));
    CHECK(m1.arena + m1.hblkhd >= s.num_bytes_allocated);
    mi = old_mallinfo();
    s = ovr.get_stats();
    CHECK(s.num_bytes_allocated > INT_MAX ||
          (size_t)mi.uordblks + (size_t)mi.hblkhd == s.num_bytes_allocated);
    for (i = 0; i < 64; i++) free(blocks[i]);
    m1 = mallinfo2();
    s = ovr.get_stats();
    CHECK(m1.uordblks + m1.hblkhd == s.num_bytes_allocated);
    {   /* a live 2 MiB block is a large block (past the big classes): hblks and hblkhd count it */
        void* big = malloc(2 << 20);
        size_t u = malloc_usable_size(big);
        m1 = mallinfo2();
        CHECK(big != NULL && u >= (2 << 20));
        CHECK(m1.hblks >= m0.hblks + 1 && m1.hblkhd >= m0.hblkhd + u);
        free(big);
        m0 = mallinfo2();
        CHECK(m0.hblks + 1 == m1.hblks && m0.hblkhd + u == m1.hblkhd);
    }
}

/* malloc_stats writes keel's numbers to stderr: catch them in a pipe */
static void test_malloc_stats(void) {
    int fds[2], saved;
    static char out[32 << 10];
    char want[96];
    ssize_t n;
    size_t len = 0;
    keel_stats s;
    void* live = malloc(12345);
    if (!CHECK(pipe(fds) == 0)) return;   /* the report is a few KiB: the pipe holds it */
    fflush(stderr);
    saved = dup(2);
    dup2(fds[1], 2);
    s = ovr.get_stats();
    malloc_stats();
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    while (len < sizeof out - 1 && (n = read(fds[0], out + len, sizeof out - 1 - len)) > 0) len += (size_t)n;
    close(fds[0]);
    out[len] = '\0';
    snprintf(want, sizeof want, "\nkeel: allocs %zu, frees %zu\n", s.num_allocs, s.num_frees);
    CHECK_NOTE(len > 0 && strncmp(out, "keel: stats (pid ", 17) == 0, out);   /* keel_stats_print's report */
    CHECK_NOTE(strstr(out, want) != NULL, out);   /* keel's counts, not glibc's */
    CHECK_NOTE(strstr(out, "\nkeel: large ") != NULL, out);
    CHECK_NOTE(strstr(out, "Arena") == NULL, out);
    free(live);
}

/* malloc_info: glibc's XML shape with keel's numbers */
static void test_malloc_info(void) {
    static char xml[64 << 10];
    void* blocks[40];
    void* big = malloc(3 << 20);
    FILE* f = tmpfile();
    size_t i, len;
    keel_stats s;
    char want[96];
    for (i = 0; i < 40; i++) blocks[i] = malloc(3000);
    if (!CHECK(f != NULL && big != NULL)) return;
    errno = 0;
    CHECK(malloc_info(1, f) == -1 && errno == EINVAL);   /* options must be 0, as in glibc */
    errno = 0;
    CHECK(malloc_info(0, NULL) == -1 && errno == EINVAL);
    CHECK(ftell(f) == 0);
    s = ovr.get_stats();
    CHECK(malloc_info(0, f) == 0);
    rewind(f);
    len = fread(xml, 1, sizeof xml - 1, f);
    xml[len] = '\0';
    fclose(f);
    CHECK_NOTE(strncmp(xml, "<malloc version=\"1\">\n<heap nr=\"0\">\n", 35) == 0, xml);
    CHECK_NOTE(len > 10 && strcmp(xml + len - 10, "</malloc>\n") == 0, xml);
    CHECK_NOTE(strstr(xml, "<heap nr=\"0\">") && strstr(xml, "</heap>") && strstr(xml, "<sizes>") &&
                   strstr(xml, "</sizes>"), xml);
    /* the class of the 3000-byte blocks: its block size is their usable
       size, or in the hardened build the smallest class with room for an
       8-byte canary too (src/harden.h; classes at most 12.5% apart) */
    {
        size_t u = malloc_usable_size(blocks[0]), lo = KEEL_HARDENED ? u + 8 : u,
               hi = KEEL_HARDENED ? (u + 8) + (u + 8) / 8 + 16 : u, to;
        const char* at = xml;
        int found = 0;
        while ((at = strstr(at, " to=\"")) != NULL) {
            at += 5;
            to = (size_t)strtoull(at, NULL, 10);
            if (to >= lo && to <= hi) found = 1;
        }
        CHECK_NOTE(strstr(xml, "<size from=\"") && found, xml);
    }
    snprintf(want, sizeof want, "<total type=\"mmap\" count=\"");
    CHECK_NOTE(strstr(xml, want) != NULL, xml);
    {   /* the large block is counted, and the totals are keel's */
        const char* m = strstr(xml, want);
        size_t count = 0, size = 0;
        CHECK_NOTE(m && sscanf(m, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"", &count, &size) == 2 &&
                       count >= 1 && size >= malloc_usable_size(big), xml);
    }
    snprintf(want, sizeof want, "<total type=\"live\" count=\"%zu\" size=\"%zu\"/>", s.num_live_blocks,
             s.num_bytes_allocated);
    CHECK_NOTE(strstr(xml, want) != NULL, xml);
    snprintf(want, sizeof want, "<aspace type=\"total\" size=\"%zu\"/>", s.reserved_bytes);
    CHECK_NOTE(strstr(xml, want) != NULL, xml);
    CHECK_NOTE(strstr(xml, "<system type=\"current\" size=\"") && strstr(xml, "<system type=\"max\" size=\"") &&
                   strstr(xml, "<total type=\"cached\" size=\""), xml);
    {   /* every element opened is closed: as many '<' as '>' and no stray text */
        size_t lt = 0, gt = 0;
        for (i = 0; i < len; i++) lt += xml[i] == '<', gt += xml[i] == '>';
        CHECK(lt == gt && lt > 10);
    }
    for (i = 0; i < 40; i++) free(blocks[i]);
    free(big);
}

static void test_trim_mallopt(void) {
    enum { N = 20000 };
    static void* blocks[N];
    keel_stats s0, s1;
    size_t i;
    int r;
    for (i = 0; i < N; i++) blocks[i] = malloc(i % 7 == 0 ? 20000 : 200);
    for (i = 0; i < N; i++) free(blocks[i]);
    s0 = ovr.get_stats();
    r = malloc_trim(0);
    s1 = ovr.get_stats();
    CHECK(r == 0 || r == 1);
    CHECK(r == (s1.virtual_memory_size < s0.virtual_memory_size || s1.reserved_bytes < s0.reserved_bytes));
    if (s0.cached_bytes > 0) CHECK(r == 1 && s1.cached_bytes < s0.cached_bytes);
    CHECK(malloc_trim(0) == 0);   /* nothing left to give back */

    CHECK(mallopt(M_MMAP_THRESHOLD, 64 * 1024) == 1);
    CHECK(mallopt(M_ARENA_MAX, 1) == 1);
    CHECK(mallopt(M_TRIM_THRESHOLD, 0) == 1);
    CHECK(mallopt(M_PERTURB, 0xAA) == 1);   /* ignored: keel does not perturb */
    CHECK(mallopt(12345, 6789) == 1);
    s0 = ovr.get_stats();
    blocks[0] = malloc(1 << 20);
    s1 = ovr.get_stats();
    CHECK(owned(blocks[0], 1 << 20) && s1.num_allocs == s0.num_allocs + 1);
    free(blocks[0]);
}

/* churn with contents checked, then keel_validate */
static void test_churn(void) {
    enum { SLOTS = 4096 };
    static unsigned char* slot[SLOTS];
    static size_t size[SLOTS];
    unsigned x = 12345;
    long i, rounds = 200000 * check_env_long("KEELTEST_SCALE", 1);
    int bad = 0;
    for (i = 0; i < rounds; i++) {
        unsigned k;
        x = x * 1103515245u + 12345u;
        k = (x >> 8) % SLOTS;
        if (slot[k]) {
            bad += !ovr_holds(slot[k], size[k] < 64 ? size[k] : 64, k);
            if (x & 0x10000) {
                size_t n = (x >> 17) % 3000;
                unsigned char* q = realloc(slot[k], n);
                if (q || n == 0) {
                    bad += q && !ovr_holds(q, (n < size[k] ? n : size[k]) < 64 ? (n < size[k] ? n : size[k]) : 64, k);
                    slot[k] = q;
                    size[k] = n;
                    if (q) ovr_fill(q, n < 64 ? n : 64, k);
                }
            } else {
                free(slot[k]);
                slot[k] = NULL;
            }
        } else {
            size[k] = (x >> 4) % 8 == 0 ? (x >> 12) % 300000 : (x >> 12) % 1000;
            slot[k] = (x & 1) ? malloc(size[k]) : calloc(1, size[k]);
            if (slot[k]) ovr_fill(slot[k], size[k] < 64 ? size[k] : 64, k);
            else bad++;
        }
    }
    CHECK(bad == 0);
    ovr.validate();
    for (i = 0; i < SLOTS; i++) free(slot[i]);
    ovr.validate();
}

int main(void) {
    printf("PID %ld\n", (long)getpid());
    fflush(stdout);
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    if (!CHECK_NOTE(ovr_resolve(), "keel_* not found: run under LD_PRELOAD=libkeel-override.so")) {
        return check_done("test_override_api");
    }
    test_symbols();
    test_served();
    test_malloc_sizes();
    test_realloc();
    test_failures();
    test_aligned_zero();
    test_aligned();
    test_calloc();
    test_errno_kept();
    test_foreign();
    test_mallinfo();
    test_malloc_stats();
    test_malloc_info();
    test_trim_mallopt();
    test_churn();
    test_first_class_heaps();
    printf("ALLOCS %zu\n", ovr.get_stats().num_allocs);
    return check_done("test_override_api");
}
