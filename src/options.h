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

/* Every option, once: X(ID, name, kind, default, min, max, doc). The
   environment variable is KEEL_ID, the default the config.h macro of that
   name; options.c expands the list into its table and the values, this
   header into keel_option_id. The README's run-time table is checked
   against it (tests/scripts/check_options_doc.sh). The kinds (KIND_*) and
   TIB are options.c's. */
#define KEEL_OPTION_LIST(X) \
    X(SHOW_STATS, "show_stats", KIND_BOOL, KEEL_SHOW_STATS, 0, 1, \
      "print keel_stats_print's report on fd 2 at exit") \
    X(VERBOSE, "verbose", KIND_BOOL, KEEL_VERBOSE, 0, 1, \
      "at start-up say keel is active and list the options; report foreign pointers given to the override") \
    X(PURGE_DELAY, "purge_delay", KIND_MS, KEEL_PURGE_DELAY, -1, INT_MAX, \
      "ms empty memory stays cached before it goes back; 0: no cache keeps empty memory; -1: never by age") \
    X(PURGE_THREAD, "purge_thread", KIND_BOOL, KEEL_PURGE_THREAD, 0, 1, \
      "a background thread gives back memory cached longer than purge_delay, also while the program is idle") \
    X(LIMIT, "limit", KIND_BYTES, KEEL_LIMIT, 0, LLONG_MAX, \
      "cap on the memory keel holds committed, metadata included (0: none); past it allocations fail with ENOMEM") \
    X(PROFILE_SAMPLE, "profile_sample", KIND_BYTES, KEEL_PROFILE_SAMPLE, 0, TIB, \
      "heap profile: average bytes between sampled allocations (0: off; usual 524288)") \
    X(GUARDED_SAMPLE_RATE, "guarded_sample_rate", KIND_COUNT, KEEL_GUARDED_SAMPLE_RATE, 0, 1 << 30, \
      "about one allocation in N (up to an OS page) placed against a guard page, inaccessible after free (0: off)") \
    X(HEAP_EMPTY_CACHE, "heap_empty_cache", KIND_BYTES, KEEL_HEAP_EMPTY_CACHE, 0, TIB, \
      "empty page memory a thread heap keeps committed for reuse") \
    X(SEGMENT_CACHE_COUNT, "segment_cache_count", KIND_COUNT, KEEL_SEGMENT_CACHE_COUNT, 0, 1 << 20, \
      "empty segments kept reserved for reuse") \
    X(SEGMENT_CACHE_BYTES, "segment_cache_bytes", KIND_BYTES, KEEL_SEGMENT_CACHE_BYTES, 0, TIB, \
      "page memory those cached segments may keep committed") \
    X(ABANDONED_EMPTY_MAX, "abandoned_empty_max", KIND_BYTES, KEEL_ABANDONED_EMPTY_MAX, 0, TIB, \
      "empty page memory segments of exited threads may keep committed") \
    X(LARGE_CACHE_COUNT, "large_cache_count", KIND_COUNT, KEEL_LARGE_CACHE_COUNT, 0, 1 << 20, \
      "freed large blocks kept for reuse") \
    X(LARGE_CACHE_BYTES, "large_cache_bytes", KIND_BYTES, KEEL_LARGE_CACHE_BYTES, 0, TIB, \
      "committed memory those cached large blocks may keep, or twice the memory in use when that is more (KEEL_LARGE_CACHE_RATIO); also the slack live large blocks keep, or a quarter of the memory in use (KEEL_LARGE_SLACK_SHARE); 0: none") \
    X(LARGE_HEADROOM, "large_headroom", KIND_BYTES, KEEL_LARGE_HEADROOM, 0, TIB, \
      "address space reserved beyond a large block for realloc to grow into (64-bit; none under ulimit -v)") \
    X(ARENA_CLEAR_KEEP, "arena_clear_keep", KIND_BYTES, KEEL_ARENA_CLEAR_KEEP, 0, TIB, \
      "bytes keel_arena_clear keeps committed (a new arena's keep_on_clear)") \
    X(ARENA_COMMIT_MIN, "arena_commit_min", KIND_BYTES, KEEL_ARENA_COMMIT_MIN, 1, TIB, \
      "smallest commit step of an arena (it grows to a quarter of what is committed)")

typedef enum keel_option_id {
#define KEEL__OPTION_ID(ID, name, kind, def, min, max, doc) KEEL_OPT_##ID,
    KEEL_OPTION_LIST(KEEL__OPTION_ID)
#undef KEEL__OPTION_ID
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
