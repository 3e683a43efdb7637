/* options.h — keel's run-time options (DESIGN.md section 12). The table
   itself, with each option's type, default, range and documentation, is in
   options.c; this is how the rest of the heap reads them.

   One name per option, three ways to set it:
     compile time  -DKEEL_<NAME>=v   (the default; config.h lists them)
     start-up      KEEL_<NAME>=v in the environment (read without allocating)
     run time      keel_option_set("<name>", v)
   Reads are relaxed atomic loads: an option is read on slow paths only. */
#ifndef KEEL_OPTIONS_H
#define KEEL_OPTIONS_H

#include "internal.h"

typedef enum keel_option_id {
    KEEL_OPT_SHOW_STATS,
    KEEL_OPT_VERBOSE,
    KEEL_OPT_PURGE_DELAY,
    KEEL_OPT_LIMIT,
    KEEL_OPT_PROFILE_SAMPLE,
    KEEL_OPT_HEAP_EMPTY_CACHE,
    KEEL_OPT_SEGMENT_CACHE_COUNT,
    KEEL_OPT_SEGMENT_CACHE_BYTES,
    KEEL_OPT_ABANDONED_EMPTY_MAX,
    KEEL_OPT_LARGE_CACHE_COUNT,
    KEEL_OPT_LARGE_CACHE_BYTES,
    KEEL_OPT_LARGE_HEADROOM,
    KEEL_OPT_ARENA_CLEAR_KEEP,
    KEEL_OPT_ARENA_COMMIT_MIN,
    KEEL_OPT_COUNT
} keel_option_id;

extern KEEL_HIDDEN _Atomic(long long) keel__option_values[KEEL_OPT_COUNT];

/* Reads the environment once (any thread may race to it; one does it, the
   others wait). Every entry point that can run first calls it. */
KEEL_HIDDEN void keel__options_init(void);

static inline long long keel__option(keel_option_id id) {
    return atomic_load_explicit(&keel__option_values[id], memory_order_relaxed);
}
static inline size_t keel__option_size(keel_option_id id) {
    long long v = keel__option(id);
    return v < 0 ? 0 : (size_t)v;
}

/* A byte budget for memory kept cached while empty: the option's value,
   or 0 when purge_delay is 0 (empty memory goes back at once). */
static inline size_t keel__cache_budget(keel_option_id id) {
    return keel__option(KEEL_OPT_PURGE_DELAY) == 0 ? 0 : keel__option_size(id);
}

/* The value of KEEL_PROFILE (a path, not a number): NULL when unset. */
KEEL_HIDDEN const char* keel__option_profile_path(void);

#endif /* KEEL_OPTIONS_H */
