/* config.h — every tunable of keel in one place, and the export macro of the
   library's own translation units. Each tunable can be overridden with -D. */
#ifndef KEEL_CONFIG_H
#define KEEL_CONFIG_H

/* TUNABLE: bytes keel_arena_clear keeps committed by default. */
#ifndef KEEL_ARENA_CLEAR_KEEP
#define KEEL_ARENA_CLEAR_KEEP ((size_t)1 << 20)
#endif

/* TUNABLE: smallest commit step of an arena; it grows to committed/4. */
#ifndef KEEL_ARENA_COMMIT_MIN
#define KEEL_ARENA_COMMIT_MIN ((size_t)64 << 10)
#endif

/* TUNABLE: committed empty page slots a thread heap keeps for reuse;
   beyond this an emptied page is reset (its memory goes back) at once. */
#ifndef KEEL_HEAP_EMPTY_CACHE
#define KEEL_HEAP_EMPTY_CACHE ((size_t)4 << 20)
#endif

/* TUNABLE: empty segments kept reserved for reuse, and how much of their
   page memory may stay committed (warm for the next thread) in all. */
#ifndef KEEL_SEGMENT_CACHE_COUNT
#define KEEL_SEGMENT_CACHE_COUNT 4
#endif
#ifndef KEEL_SEGMENT_CACHE_BYTES
#define KEEL_SEGMENT_CACHE_BYTES ((size_t)8 << 20)
#endif

/* TUNABLE: empty page memory that segments of exited threads may keep
   committed, in all, until another thread adopts them. */
#ifndef KEEL_ABANDONED_EMPTY_MAX
#define KEEL_ABANDONED_EMPTY_MAX ((size_t)16 << 20)
#endif

/* TUNABLE: freed large blocks kept for reuse: at most this many spans, this
   many committed bytes, and memory cached longer than KEEL_LARGE_CACHE_MS is
   decommitted at the next cache operation. */
#ifndef KEEL_LARGE_CACHE_COUNT
#define KEEL_LARGE_CACHE_COUNT 16
#endif
#ifndef KEEL_LARGE_CACHE_BYTES
#define KEEL_LARGE_CACHE_BYTES ((size_t)32 << 20)
#endif
#ifndef KEEL_LARGE_CACHE_MS
#define KEEL_LARGE_CACHE_MS 1000
#endif

/* TUNABLE: address space reserved beyond a large block (64-bit), so that
   realloc grows it in place: max(its size, this). */
#ifndef KEEL_LARGE_HEADROOM
#define KEEL_LARGE_HEADROOM ((size_t)32 << 20)
#endif

/* Symbols the shared library exports; everything else is hidden
   (-fvisibility=hidden). libkeel.dll is built with KEEL_DLL_EXPORT, as the
   keel_* declarations of keel.h and arena.h are. */
#if defined(_WIN32) && defined(KEEL_DLL_EXPORT)
#define KEEL__EXPORT __declspec(dllexport)
#elif defined(__GNUC__) && !defined(_WIN32)
#define KEEL__EXPORT __attribute__((visibility("default")))
#else
#define KEEL__EXPORT
#endif

#endif /* KEEL_CONFIG_H */
