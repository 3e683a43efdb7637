/* override.c — keel as the process allocator (DESIGN.md section 7): the
   malloc family with glibc's semantics, the glibc extras mapped onto keel
   (mallinfo2, malloc_stats, malloc_info report keel's numbers), and
   KEEL_VERBOSE's foreign-pointer reports. Only in
   libkeel-override.so (LD_PRELOAD) and libkeel-override.a. */
#if !defined(_WIN32)
#define _GNU_SOURCE
#include "free.h"
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OVERRIDE_API KEEL__EXPORT


/* ---- raw output: no stdio, no allocation ---- */

/* Pointers the dynamic loader (or anyone else) allocated before keel:
   never touched, reported only when asked. */
/* out of line: free keeps no stack frame of its own */
static KEEL_NOINLINE void foreign(const char* op, const void* p, const char* tail) {
    keel_line b;
    if (!keel__option(KEEL_OPT_VERBOSE)) return;
    b.len = 0;
    keel__line_put(&b, "keel: ");
    keel__line_put(&b, op);
    keel__line_put(&b, " of foreign pointer ");
    keel__line_put_hex(&b, (uintptr_t)p);
    keel__line_put(&b, tail);
    keel__line_write(&b);
}

/* Reads the options now, before the program runs (KEEL_VERBOSE=1 says
   keel is active and lists them), without allocating. */
__attribute__((constructor(101))) static void override_start(void) { keel__options_init(); }

/* KEEL_SHOW_STATS's report at exit is the core's (stats.c), printed once. */

/* ---- the malloc family ---- */

OVERRIDE_API void* malloc(size_t size) { return keel_alloc(size); }

OVERRIDE_API void* calloc(size_t count, size_t size) { return keel_calloc(count, size); }

OVERRIDE_API void free(void* ptr) {
    keel_segment* seg = keel__segment_of(ptr);
    if (KEEL_LIKELY(seg != NULL)) keel__free_in_segment(seg, ptr);
    else if (ptr) foreign("free", ptr, " ignored");
}

#if KEEL_HARDENED
/* ---- sized frees (the hardened override only; DESIGN.md section 10) ----
   C23's free_sized and free_aligned_sized, and C++'s sized and aligned
   operator delete (exported here, so that LD_PRELOAD sees the sizes that
   libstdc++'s own forms would drop): the size is checked against the block
   (harden.h), then the block is freed. The aligned forms without a size
   free as free does. */
static void sized_free(void* ptr, size_t size, size_t alignment) {
    keel_segment* seg = keel__segment_of(ptr);
    if (KEEL_UNLIKELY(seg == NULL)) {
        if (ptr) foreign("free", ptr, " ignored");
        return;
    }
    keel__harden_sized_check(seg, ptr, size, alignment);
    keel__free_in_segment(seg, ptr);
}
OVERRIDE_API void free_sized(void* ptr, size_t size);
OVERRIDE_API void free_aligned_sized(void* ptr, size_t alignment, size_t size);
OVERRIDE_API void free_sized(void* ptr, size_t size) { sized_free(ptr, size, 1); }
OVERRIDE_API void free_aligned_sized(void* ptr, size_t alignment, size_t size) { sized_free(ptr, size, alignment); }
/* the Itanium C++ ABI's names: operator delete(void*, size_t) is _ZdlPvm
   where size_t is unsigned long, _ZdlPvj where it is unsigned int; the
   alignment is std::align_val_t (St11align_val_t), of size_t's width */
#if SIZE_MAX == 0xFFFFFFFFu
#define KEEL_CXX_SIZE(name) name##j
#define KEEL_CXX_SIZE_ALIGN(a, b) a##j##b
#else
#define KEEL_CXX_SIZE(name) name##m
#define KEEL_CXX_SIZE_ALIGN(a, b) a##m##b
#endif
#define KEEL_CXX_DELETES(X)                                                                                       \
    X(void KEEL_CXX_SIZE(_ZdlPv)(void* p, size_t n), sized_free(p, n, 1))                                         \
    X(void KEEL_CXX_SIZE(_ZdaPv)(void* p, size_t n), sized_free(p, n, 1))                                         \
    X(void KEEL_CXX_SIZE_ALIGN(_ZdlPv, St11align_val_t)(void* p, size_t n, size_t a), sized_free(p, n, a))        \
    X(void KEEL_CXX_SIZE_ALIGN(_ZdaPv, St11align_val_t)(void* p, size_t n, size_t a), sized_free(p, n, a))        \
    X(void _ZdlPvSt11align_val_t(void* p, size_t a), ((void)a, free(p)))                                          \
    X(void _ZdaPvSt11align_val_t(void* p, size_t a), ((void)a, free(p)))
#define KEEL_DECLARE(sig, body) OVERRIDE_API sig;
#define KEEL_DEFINE(sig, body) \
    OVERRIDE_API sig { body; }
KEEL_CXX_DELETES(KEEL_DECLARE)
KEEL_CXX_DELETES(KEEL_DEFINE)
#endif

OVERRIDE_API void* realloc(void* ptr, size_t size) {
    void* q;
    size_t readable;
    keel_segment* seg;
    if (!ptr) return keel_alloc(size);
    seg = keel__segment_of(ptr);
    if (KEEL_LIKELY(seg != NULL)) return keel__realloc_in_segment(seg, ptr, size);
    /* a foreign block: its size is unknown, so copy what is readable of
       the new size; bytes past its end are garbage the caller ignores */
    foreign("realloc", ptr, "");
    if (size == 0) return NULL;   /* glibc: frees it; it is not ours to free */
    q = keel_alloc(size);
    if (!q) return NULL;
    readable = keel__os_readable_bytes(ptr, size);
    memcpy(q, ptr, readable);
    return q;
}

OVERRIDE_API void* reallocarray(void* ptr, size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(ptr, count * size);
}

static int is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

OVERRIDE_API int posix_memalign(void** out, size_t alignment, size_t size) {
    void* p;
    if (!is_pow2(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
    p = keel_alloc_aligned(size, alignment);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

OVERRIDE_API void* aligned_alloc(size_t alignment, size_t size) {
    if (!is_pow2(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    return keel_alloc_aligned(size, alignment);
}

/* glibc rounds an alignment that is not a power of two up to one. */
OVERRIDE_API void* memalign(size_t alignment, size_t size) {
    size_t a = 1;
    if (alignment > (SIZE_MAX >> 1) + 1) {
        errno = EINVAL;
        return NULL;
    }
    while (a < alignment) a <<= 1;
    return keel_alloc_aligned(size, a);
}

OVERRIDE_API void* valloc(size_t size) { return keel_alloc_aligned(size, vmem_get_page_size()); }

OVERRIDE_API void* pvalloc(size_t size) {
    size_t page = vmem_get_page_size();
    if (size > SIZE_MAX - (page - 1)) {
        errno = ENOMEM;
        return NULL;
    }
    size = size == 0 ? page : (size + page - 1) & ~(page - 1);
    return keel_alloc_aligned(size, page);
}

OVERRIDE_API size_t malloc_usable_size(void* ptr) {
    keel_segment* seg;
    if (!ptr) return 0;
    seg = keel__segment_of(ptr);
    if (!seg) {
        foreign("usable_size", ptr, "");
        return 0;
    }
    return keel__usable_size_in(seg, ptr);
}

/* ---- the glibc extras, reporting keel's numbers ---- */

OVERRIDE_API int malloc_trim(size_t pad) {
    (void)pad;
    return keel_trim() > 0;
}

/* Every number of a statistics walk, gathered under keel's locks before
   anything is printed (printing may allocate). classes: KEEL_CLASS_COUNT. */
static keel_stats read_stats(keel_class_usage* classes) {
    size_t i;
    for (i = 0; i < KEEL_CLASS_COUNT; i++) classes[i].pages = classes[i].blocks = classes[i].bytes = classes[i].committed = 0;
    return keel__stats_read(classes);
}

/* glibc's fields, keel's meaning: large blocks (glibc: mmapped chunks) in
   hblks/hblkhd, the rest of the live bytes in uordblks. */
OVERRIDE_API struct mallinfo2 mallinfo2(void) {
    struct mallinfo2 mi;
    keel_class_usage classes[KEEL_CLASS_COUNT];
    keel_stats st = read_stats(classes);
    size_t large = classes[0].bytes < st.num_bytes_allocated ? classes[0].bytes : st.num_bytes_allocated;
    memset(&mi, 0, sizeof mi);
    mi.arena = st.virtual_memory_size;           /* memory held from the OS  */
    mi.usmblks = st.peak_virtual_memory_size;
    mi.hblks = classes[0].blocks;                /* live large blocks        */
    mi.hblkhd = large;
    mi.uordblks = st.num_bytes_allocated - large;   /* in use in pages       */
    mi.fordblks = st.virtual_memory_size > st.num_bytes_allocated ? st.virtual_memory_size - st.num_bytes_allocated : 0;
    mi.keepcost = st.cached_bytes;               /* could be given back now  */
    mi.ordblks = st.num_live_blocks;
    return mi;
}

static int clamp_int(size_t v) { return v > (size_t)INT_MAX ? INT_MAX : (int)v; }

OVERRIDE_API struct mallinfo mallinfo(void) {
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = clamp_int(m2.arena);
    mi.usmblks = clamp_int(m2.usmblks);
    mi.uordblks = clamp_int(m2.uordblks);
    mi.fordblks = clamp_int(m2.fordblks);
    mi.keepcost = clamp_int(m2.keepcost);
    mi.ordblks = clamp_int(m2.ordblks);
    mi.hblks = clamp_int(m2.hblks);
    mi.hblkhd = clamp_int(m2.hblkhd);
    return mi;
}

OVERRIDE_API void malloc_stats(void) { keel_stats_print(NULL, NULL); }

/* glibc's XML, keel's numbers: live blocks per size class (glibc lists free
   chunks), large blocks as "mmap", and the process-wide totals. */
OVERRIDE_API int malloc_info(int options, FILE* fp) {
    keel_class_usage classes[KEEL_CLASS_COUNT];
    keel_stats st;
    size_t i, from = 1;
    if (options != 0 || fp == NULL) {
        errno = EINVAL;
        return -1;
    }
    st = read_stats(classes);   /* no lock is held while printing */
    fputs("<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n", fp);
    for (i = 1; i < KEEL_CLASS_COUNT; i++) {
        if (classes[i].blocks > 0)
            fprintf(fp, "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n", from,
                    (size_t)keel__class_size[i], classes[i].bytes, classes[i].blocks);
        from = (size_t)keel__class_size[i] + 1;
    }
    fputs("</sizes>\n", fp);
    fprintf(fp, "<total type=\"live\" count=\"%zu\" size=\"%zu\"/>\n", st.num_live_blocks, st.num_bytes_allocated);
    fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n",
            st.virtual_memory_size, st.peak_virtual_memory_size);
    fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n</heap>\n", st.reserved_bytes);
    fprintf(fp, "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n",
            st.num_live_blocks - (classes[0].blocks < st.num_live_blocks ? classes[0].blocks : st.num_live_blocks),
            st.num_bytes_allocated - (classes[0].bytes < st.num_bytes_allocated ? classes[0].bytes : st.num_bytes_allocated));
    fprintf(fp, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", classes[0].blocks, classes[0].bytes);
    fprintf(fp, "<total type=\"live\" count=\"%zu\" size=\"%zu\"/>\n", st.num_live_blocks, st.num_bytes_allocated);
    fprintf(fp, "<total type=\"cached\" size=\"%zu\"/>\n", st.cached_bytes);
    fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n",
            st.virtual_memory_size, st.peak_virtual_memory_size);
    fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n</malloc>\n", st.reserved_bytes);
    return ferror(fp) ? -1 : 0;
}

OVERRIDE_API int mallopt(int param, int value) {
    (void)param;
    (void)value;
    return 1;
}

#else
typedef int keel_override_unused; /* ISO C: a translation unit needs a declaration */
#endif
