/* annotate.h — what keel tells the debuggers about its memory (DESIGN.md
   section 12): Valgrind's memcheck when built with KEEL_VALGRIND (client
   requests), AddressSanitizer when keel itself is compiled with
   -fsanitize=address (shadow bytes). A block handed out is addressable for
   the size asked; free blocks, alignment padding and the tail of a block
   past that size are not, so overflows, use after free and (memcheck) leaks
   of keel blocks are reported as for malloc's. Segment headers are hidden
   from memcheck. Without either tool every function below is empty and the
   link accessors are a plain load or store: the normal build's code is
   unchanged. */
#ifndef KEEL_ANNOTATE_H
#define KEEL_ANNOTATE_H

#include "internal.h"
#include "segment_map.h"

#ifndef KEEL_VALGRIND
#define KEEL_VALGRIND 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define KEEL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEL_ASAN 1
#endif
#endif
#ifndef KEEL_ASAN
#define KEEL_ASAN 0
#endif

#if KEEL_VALGRIND
#include <valgrind/memcheck.h>
#endif
#if KEEL_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* ---- free-list links: keel's own reads and writes of free blocks ----
   Memcheck: the link word is opened (defined) around the access and closed
   (no access) again before the block can reach another thread. ASan: the
   accessors are not instrumented, so the shadow of a free block is never
   opened, not even for a moment (no window in which another thread's stray
   access goes unreported, no shadow writes); they are small, so the call
   they cost in the ASan build does not matter. */
#if KEEL_ASAN
#define KEEL_LINK_ATTR __attribute__((no_sanitize_address))
#else
#define KEEL_LINK_ATTR
#endif

/* The secret of the page holding free block b: the hardened build stores
   every link xor its page's link_key and ties the check word to it too
   (harden.h), so a link cannot be forged or redirected without it. 0, and
   no load, in the other builds. */
static inline uintptr_t keel__link_key(const keel_block* b) {
#if KEEL_HARDENED
    const keel_segment* seg = keel__segment_at(b);
    return seg->pages[((uintptr_t)b - (uintptr_t)seg) >> seg->page_shift].link_key;
#else
    (void)b;
    return 0;
#endif
}
#define KEEL_LINK_KEY_MIX ((uintptr_t)0x9E3779B97F4A7C15ull)
/* The check word that goes with link next in block b, whose page's key is
   key (block_check.h). */
static inline uintptr_t keel__link_check_with(const keel_block* b, const keel_block* next, uintptr_t key) {
    return (uintptr_t)next ^ (uintptr_t)b ^ KEEL_LINK_SALT ^ key * KEEL_LINK_KEY_MIX;
}
static inline uintptr_t keel__link_check_of(const keel_block* b, const keel_block* next) {
    return keel__link_check_with(b, next, keel__link_key(b));
}
/* A link as stored in a block of a page with secret key, and back. */
static inline keel_block* keel__link_code(const keel_block* next, uintptr_t key) {
    return (keel_block*)((uintptr_t)next ^ key);
}

/* The link, unchecked: walks that check on their own (keel_validate,
   counting) or that only count. */
static inline KEEL_LINK_ATTR keel_block* keel__link_get(const keel_block* b) {
#if KEEL_VALGRIND
    keel_block* next;
    VALGRIND_MAKE_MEM_DEFINED(b, sizeof *b);
    next = keel__link_code(b->next, keel__link_key(b));
    VALGRIND_MAKE_MEM_NOACCESS(b, sizeof *b);
    return next;
#else
    return keel__link_code(b->next, keel__link_key(b));
#endif
}

/* Whether b's two words are a link and its check word (a free block's). */
static inline KEEL_LINK_ATTR bool keel__link_intact(const keel_block* b) {
    uintptr_t key = keel__link_key(b);
#if KEEL_VALGRIND
    bool ok;
    VALGRIND_MAKE_MEM_DEFINED(b, sizeof *b);
    ok = b->check == keel__link_check_with(b, keel__link_code(b->next, key), key);
    VALGRIND_MAKE_MEM_NOACCESS(b, sizeof *b);
    return ok;
#else
    return b->check == keel__link_check_with(b, keel__link_code(b->next, key), key);
#endif
}

/* Writes the link and its check word, the page's key given (carving a
   page's blocks); keel__link_set finds the key itself. */
static inline KEEL_LINK_ATTR void keel__link_set_keyed(keel_block* b, keel_block* next, uintptr_t key) {
#if KEEL_VALGRIND
    VALGRIND_MAKE_MEM_UNDEFINED(b, sizeof *b);
#endif
    b->next = keel__link_code(next, key);
    b->check = keel__link_check_with(b, next, key);
#if KEEL_VALGRIND
    VALGRIND_MAKE_MEM_NOACCESS(b, sizeof *b);
#endif
}
static inline KEEL_LINK_ATTR void keel__link_set(keel_block* b, keel_block* next) {
    keel__link_set_keyed(b, next, keel__link_key(b));
}

/* Whether the free block b is intact (its check word matches its link),
   and if so: its link in *next, its check word cleared (a live block never
   looks free to keel__link_maybe_free unless its data say so). The caller
   reports a damaged block (keel__free_block_damaged): a call it can make
   as a tail call, so the fast path keeps no stack frame. key: that of
   b's page (keel__link_key(b), or keel__page_link_key of the page whose
   list b heads). */
static inline KEEL_LINK_ATTR bool keel__link_take_keyed(keel_block* b, keel_block** next, uintptr_t key) {
    bool ok;
#if KEEL_VALGRIND
    VALGRIND_MAKE_MEM_DEFINED(b, sizeof *b);
#endif
    *next = keel__link_code(b->next, key);
    ok = b->check == keel__link_check_with(b, *next, key);
    if (KEEL_LIKELY(ok)) b->check = 0;
#if KEEL_VALGRIND
    VALGRIND_MAKE_MEM_NOACCESS(b, sizeof *b);
#endif
    return ok;
}

static inline KEEL_LINK_ATTR bool keel__link_take(keel_block* b, keel_block** next) {
    return keel__link_take_keyed(b, next, keel__link_key(b));
}
/* The key of page's blocks (keel__link_key without the address walk, for
   a block known to be of page). */
static inline uintptr_t keel__page_link_key(const keel_page* page) {
#if KEEL_HARDENED
    return page->link_key;
#else
    (void)page;
    return 0;
#endif
}

/* Zeroes the link of a block keel__link_take handed out (calloc of fresh
   memory: the check word is zero already). */
static inline KEEL_LINK_ATTR void keel__link_zero(keel_block* b) {
#if KEEL_VALGRIND
    VALGRIND_MAKE_MEM_UNDEFINED(b, sizeof *b);
    b->next = NULL;
    VALGRIND_MAKE_MEM_NOACCESS(b, sizeof *b);
#else
    b->next = NULL;
#endif
}

/* Whether the block p, being freed, may be free already: its words hold a
   link and its check word (block_check.h). Under memcheck its two words
   are made readable and defined first; the free marks them again. key:
   that of p's page (keel__page_link_key, when the page is at hand). */
static inline KEEL_LINK_ATTR bool keel__link_maybe_free_keyed(void* p, uintptr_t key) {
    const keel_block* b = (const keel_block*)p;
#if KEEL_VALGRIND
    VALGRIND_MAKE_MEM_DEFINED(b, sizeof *b);
#endif
    return KEEL_UNLIKELY(b->check == keel__link_check_with(b, keel__link_code(b->next, key), key));
}
static inline KEEL_LINK_ATTR bool keel__link_maybe_free(void* p) {
    return keel__link_maybe_free_keyed(p, keel__link_key((const keel_block*)p));
}

#if KEEL_VALGRIND || KEEL_ASAN
#define KEEL_ANNOTATED 1

/* ---- ASan: shadow bytes written directly ----
   The public interface only poisons as "user poisoned" (reported as
   use-after-poison); the values ASan's own heap uses make it report
   heap-buffer-overflow and heap-use-after-free. The shadow's place comes
   from __asan_get_shadow_mapping; instrumented code must not touch shadow
   memory, and memset would be intercepted, hence the plain volatile loop. */
#if KEEL_ASAN
#define KEEL_ASAN_REDZONE 0xfa   /* ASan's heap redzone: heap-buffer-overflow  */
#define KEEL_ASAN_FREED 0xfd     /* ASan's freed heap memory: heap-use-after-free */

/* Shadow of [a, a + n) set to v, a aligned to the granule. With v == 0 a
   last partial granule gets its count of addressable bytes. */
static inline __attribute__((no_sanitize_address)) void keel__asan_shadow(uintptr_t a, size_t n, uint8_t v) {
    size_t scale, offset, i, full;
    volatile uint8_t* s;
    __asan_get_shadow_mapping(&scale, &offset);
    s = (volatile uint8_t*)((a >> scale) + offset);
    full = n >> scale;
    for (i = 0; i < full; i++) s[i] = v;
    if (n & (((size_t)1 << scale) - 1)) s[full] = v ? v : (uint8_t)(n & (((size_t)1 << scale) - 1));
}

/* The block [start, start + size) with the program's bytes [p, p + n)
   addressable and the rest (padding before p, the tail) a heap redzone. */
static inline void keel__asan_block(uint8_t* start, size_t size, const uint8_t* p, size_t n) {
    size_t head = (size_t)(p - start), granule = 8, body;
    keel__asan_shadow((uintptr_t)start, head, KEEL_ASAN_REDZONE);
    keel__asan_shadow((uintptr_t)p, n, 0);
    body = head + ((n + granule - 1) & ~(granule - 1));
    if (body < size) keel__asan_shadow((uintptr_t)start + body, size - body, KEEL_ASAN_REDZONE);
}
#endif

/* The block p lies in (p: what keel handed out, maybe an aligned interior
   address): its start and size (a large block: its committed span). */
static inline void keel__ann_extent(const void* p, uint8_t** start, size_t* size) {
    keel_segment* seg = keel__segment_of(p);
    if (seg->kind == KEEL_SEGMENT_LARGE) {
        *start = (uint8_t*)seg + seg->large_offset;
        *size = seg->large_committed;
    } else {
        keel_page* page = keel__page_of(seg, p);
        size_t off = (size_t)((const uint8_t*)p - page->start);
        *start = page->start + (off - off % page->block_size);
        *size = page->block_size;
    }
}

/* A block handed out at p for n bytes asked (zeroed: calloc's). */
static inline void keel__ann_alloc(void* p, size_t n, bool zeroed) {
    uint8_t* start;
    size_t size;
    if (!p) return;
    keel__ann_extent(p, &start, &size);
#if KEEL_VALGRIND
    VALGRIND_MAKE_MEM_NOACCESS(start, size);   /* a large span's fresh pages are addressable */
    VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, zeroed);
#else
    (void)zeroed;
#endif
#if KEEL_ASAN
    keel__asan_block(start, size, (const uint8_t*)p, n);
#endif
}

/* Block p is freed: before keel writes its link into it. */
static inline void keel__ann_free(void* p) {
#if KEEL_VALGRIND
    VALGRIND_FREELIKE_BLOCK(p, 0);
#endif
#if KEEL_ASAN
    {
        uint8_t* start;
        size_t size;
        keel__ann_extent(p, &start, &size);
        keel__asan_shadow((uintptr_t)start, size, KEEL_ASAN_FREED);
    }
#endif
}

/* realloc kept block p in place: the program had old_n bytes, now new_n. */
static inline void keel__ann_resize(void* p, size_t old_n, size_t new_n) {
    uint8_t* start;
    size_t size;
    keel__ann_extent(p, &start, &size);
#if KEEL_VALGRIND
    VALGRIND_RESIZEINPLACE_BLOCK(p, old_n, new_n, 0);
    /* pages a large block just committed are addressable past new_n */
    if ((uint8_t*)p + new_n < start + size)
        VALGRIND_MAKE_MEM_NOACCESS((uint8_t*)p + new_n, (size_t)(start + size - ((uint8_t*)p + new_n)));
#else
    (void)old_n;
#endif
#if KEEL_ASAN
    keel__asan_block(start, size, (const uint8_t*)p, new_n);
#endif
}

/* The bytes of block p the program may use: the tool knows the size asked,
   which may be less than keel's usable size; realloc copies no more. */
static inline size_t keel__ann_visible(const void* p, size_t usable) {
#if KEEL_ASAN
    {
        const uint8_t* bad = (const uint8_t*)__asan_region_is_poisoned((void*)(uintptr_t)p, usable);
        if (bad) usable = (size_t)(bad - (const uint8_t*)p);
    }
#endif
#if KEEL_VALGRIND
    if (RUNNING_ON_VALGRIND) {
        uintptr_t bad;
        VALGRIND_DISABLE_ERROR_REPORTING;   /* a question, not an access */
        bad = (uintptr_t)VALGRIND_CHECK_MEM_IS_ADDRESSABLE(p, usable);
        VALGRIND_ENABLE_ERROR_REPORTING;
        if (bad) usable = (size_t)(bad - (uintptr_t)p);
    }
#endif
    return usable;
}

/* keel_usable_size told the program it may use all `usable` bytes of block
   p: from now on the tool agrees (the block grows to its usable size, as
   if realloc'd in place), so the answer stays true and keel's statistics
   and usable sizes stay what they are without a tool. Overflows into the
   block's slack are no longer reported for that block. */
static inline size_t keel__ann_usable(void* p, size_t usable) {
    size_t visible = keel__ann_visible(p, usable);
    if (visible < usable) keel__ann_resize(p, visible, usable);
    return usable;
}

/* keel writes n bytes at p of a block not handed out yet (calloc's zeroing). */
static inline void keel__ann_writable(void* p, size_t n) {
#if KEEL_VALGRIND
    VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#endif
#if KEEL_ASAN
    keel__asan_shadow((uintptr_t)p, n, 0);
#endif
}

/* Memory of a page slot that holds no block handed out. */
static inline void keel__ann_unused(void* p, size_t n) {
#if KEEL_VALGRIND
    VALGRIND_MAKE_MEM_NOACCESS(p, n);
#endif
#if KEEL_ASAN
    keel__asan_shadow((uintptr_t)p, n, KEEL_ASAN_REDZONE);
#endif
}

/* Committed memory about to be decommitted or released: its shadow is
   cleared, so that what is mapped there later (or a fault probe) finds no
   stale poison. Memcheck follows mprotect and munmap itself. */
static inline void keel__ann_returned(void* p, size_t n) {
#if KEEL_ASAN
    keel__asan_shadow((uintptr_t)p, n, 0);
#else
    (void)p;
    (void)n;
#endif
}

/* A segment header, registered: memcheck must neither report keel's own
   accesses to it nor scan it for pointers (a page descriptor points at its
   first block, which would make a leaked block "still reachable"). No
   access, and address errors in it ignored; shown again before release. */
static inline void keel__ann_header_hide(void* seg, size_t n) {
#if KEEL_VALGRIND
    VALGRIND_MAKE_MEM_NOACCESS(seg, n);
    VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(seg, n);
#else
    (void)seg;
    (void)n;
#endif
}

static inline void keel__ann_header_show(void* seg, size_t n) {
#if KEEL_VALGRIND
    VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(seg, n);
#else
    (void)seg;
    (void)n;
#endif
}

#else /* neither tool: nothing is compiled */
#define keel__ann_alloc(p, n, zeroed) ((void)0)
#define keel__ann_free(p) ((void)0)
#define keel__ann_resize(p, old_n, new_n) ((void)0)
#define keel__ann_visible(p, usable) (usable)
#define keel__ann_usable(p, usable) (usable)
#define keel__ann_writable(p, n) ((void)0)
#define keel__ann_unused(p, n) ((void)0)
#define keel__ann_returned(p, n) ((void)0)
#define keel__ann_header_hide(seg, n) ((void)0)
#define keel__ann_header_show(seg, n) ((void)0)
#endif

#endif /* KEEL_ANNOTATE_H */
