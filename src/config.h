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

/* Symbols the shared library exports; everything else is hidden
   (-fvisibility=hidden). */
#if defined(__GNUC__) && !defined(_WIN32)
#define KEEL__EXPORT __attribute__((visibility("default")))
#else
#define KEEL__EXPORT
#endif

#endif /* KEEL_CONFIG_H */
