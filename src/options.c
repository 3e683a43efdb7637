/* options.c — the library's version and the table of run-time options (DESIGN.md section 12) and the
   three ways to set them: the compile-time default (-DKEEL_<NAME>, config.h),
   the environment at start-up (KEEL_<NAME>, read without allocating) and
   keel_option_set. The README's option table is checked against this one
   (tests/scripts/check_options_doc.sh). Calls only the OS seam, errors.c and
   counters.c (the start time). */
#include "options.h"

#include <errno.h>
#include <limits.h>

typedef enum option_kind {
    KIND_BOOL,    /* 1/0, yes/no, true/false, on/off, any case        */
    KIND_COUNT,   /* a plain non-negative number                      */
    KIND_BYTES,   /* a number of bytes; K, M, G, T suffixes (x1024)    */
    KIND_MS       /* milliseconds (-1 allowed where the range says); s suffix x1000 */
} option_kind;

typedef struct option_def {
    const char* name;       /* keel_option_set's name; the environment's is KEEL_ + upper case */
    const char* env;
    option_kind kind;
    long long def, min, max;
    const char* doc;        /* one line; the README says the same */
} option_def;

#define TIB ((long long)1 << 40)

/* One row per option, in keel_option_id order. */
static const option_def options[KEEL_OPT_COUNT] = {
    {"show_stats", "KEEL_SHOW_STATS", KIND_BOOL, KEEL_SHOW_STATS, 0, 1,
     "print keel_stats_print's report on fd 2 at exit"},
    {"verbose", "KEEL_VERBOSE", KIND_BOOL, KEEL_VERBOSE, 0, 1,
     "at start-up say keel is active and list the options; report foreign pointers given to the override"},
    {"purge_delay", "KEEL_PURGE_DELAY", KIND_MS, KEEL_PURGE_DELAY, -1, INT_MAX,
     "ms a freed large block stays cached before its memory goes back; 0: no cache keeps empty memory; -1: never by age"},
    {"limit", "KEEL_LIMIT", KIND_BYTES, (long long)KEEL_LIMIT, 0, LLONG_MAX,
     "cap on the memory keel holds committed, metadata included (0: none); past it allocations fail with ENOMEM"},
    {"profile_sample", "KEEL_PROFILE_SAMPLE", KIND_BYTES, KEEL_PROFILE_SAMPLE, 0, TIB,
     "heap profile: average bytes between sampled allocations (0: off; usual 524288)"},
    {"heap_empty_cache", "KEEL_HEAP_EMPTY_CACHE", KIND_BYTES, (long long)KEEL_HEAP_EMPTY_CACHE, 0, TIB,
     "empty page memory a thread heap keeps committed for reuse"},
    {"segment_cache_count", "KEEL_SEGMENT_CACHE_COUNT", KIND_COUNT, KEEL_SEGMENT_CACHE_COUNT, 0, 1 << 20,
     "empty segments kept reserved for reuse"},
    {"segment_cache_bytes", "KEEL_SEGMENT_CACHE_BYTES", KIND_BYTES, (long long)KEEL_SEGMENT_CACHE_BYTES, 0, TIB,
     "page memory those cached segments may keep committed"},
    {"abandoned_empty_max", "KEEL_ABANDONED_EMPTY_MAX", KIND_BYTES, (long long)KEEL_ABANDONED_EMPTY_MAX, 0, TIB,
     "empty page memory segments of exited threads may keep committed"},
    {"large_cache_count", "KEEL_LARGE_CACHE_COUNT", KIND_COUNT, KEEL_LARGE_CACHE_COUNT, 0, 1 << 20,
     "freed large blocks kept for reuse"},
    {"large_cache_bytes", "KEEL_LARGE_CACHE_BYTES", KIND_BYTES, (long long)KEEL_LARGE_CACHE_BYTES, 0, TIB,
     "committed memory those cached large blocks may keep"},
    {"large_headroom", "KEEL_LARGE_HEADROOM", KIND_BYTES, (long long)KEEL_LARGE_HEADROOM, 0, TIB,
     "address space reserved beyond a large block for realloc to grow into (64-bit)"},
    {"arena_clear_keep", "KEEL_ARENA_CLEAR_KEEP", KIND_BYTES, (long long)KEEL_ARENA_CLEAR_KEEP, 0, TIB,
     "bytes keel_arena_clear keeps committed (a new arena's keep_on_clear)"},
    {"arena_commit_min", "KEEL_ARENA_COMMIT_MIN", KIND_BYTES, (long long)KEEL_ARENA_COMMIT_MIN, 1, TIB,
     "smallest commit step of an arena (it grows to a quarter of what is committed)"},
};

/* Environment variables that are not numeric options. */
static const char* const other_env[] = {"KEEL_PROFILE"};

_Atomic(long long) keel__option_values[KEEL_OPT_COUNT] = {
    KEEL_SHOW_STATS,
    KEEL_VERBOSE,
    KEEL_PURGE_DELAY,
    (long long)KEEL_LIMIT,
    KEEL_PROFILE_SAMPLE,
    (long long)KEEL_HEAP_EMPTY_CACHE,
    KEEL_SEGMENT_CACHE_COUNT,
    (long long)KEEL_SEGMENT_CACHE_BYTES,
    (long long)KEEL_ABANDONED_EMPTY_MAX,
    KEEL_LARGE_CACHE_COUNT,
    (long long)KEEL_LARGE_CACHE_BYTES,
    (long long)KEEL_LARGE_HEADROOM,
    (long long)KEEL_ARENA_CLEAR_KEEP,
    (long long)KEEL_ARENA_COMMIT_MIN,
};
_Static_assert(sizeof options / sizeof options[0] == KEEL_OPT_COUNT, "one row per option");

static unsigned char from_env[KEEL_OPT_COUNT];   /* written by init only */
static const char* profile_path;
static _Atomic(int) a_init_state;                /* 0 not begun, 1 running, 2 done */

const char* keel__option_profile_path(void) {
    keel__options_init();
    return profile_path;
}

/* ---- parsing: no libc number parsing (locale, errno), no allocation ---- */

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

static bool same_word(const char* a, const char* b) {
    while (*a && *b && lower(*a) == lower(*b)) a++, b++;
    return *a == '\0' && *b == '\0';
}

static bool parse_bool(const char* s, long long* out) {
    static const char* const yes[] = {"1", "yes", "true", "on"};
    static const char* const no[] = {"0", "no", "false", "off"};
    size_t i;
    for (i = 0; i < 4; i++) {
        if (same_word(s, yes[i])) { *out = 1; return true; }
        if (same_word(s, no[i])) { *out = 0; return true; }
    }
    return false;
}

/* [-]digits[suffix]; the suffixes the kind allows scale the number. */
static bool parse_number(const char* s, option_kind kind, long long* out) {
    unsigned long long v = 0, scale = 1;
    bool negative = false, digits = false;
    if (*s == '-') negative = true, s++;
    while (*s >= '0' && *s <= '9') {
        if (v > (ULLONG_MAX - 9) / 10) return false;
        v = v * 10 + (unsigned)(*s++ - '0');
        digits = true;
    }
    if (!digits) return false;
    if (kind == KIND_BYTES && *s) {
        switch (lower(*s)) {
        case 'k': scale = 1ull << 10; break;
        case 'm': scale = 1ull << 20; break;
        case 'g': scale = 1ull << 30; break;
        case 't': scale = 1ull << 40; break;
        case 'b': scale = 1; break;
        default: return false;
        }
        if (lower(*s) != 'b') {
            s++;
            if (lower(*s) == 'i') s++;
            if (lower(*s) == 'b') s++;
        } else {
            s++;
        }
    } else if (kind == KIND_MS && *s) {
        if (same_word(s, "ms")) s += 2;
        else if (same_word(s, "s")) scale = 1000, s++;
        else return false;
    }
    if (*s) return false;
    if (v > (unsigned long long)LLONG_MAX / scale) return false;
    v *= scale;
    *out = negative ? -(long long)v : (long long)v;
    return true;
}

static const char* kind_words(option_kind kind) {
    switch (kind) {
    case KIND_BOOL: return "1/0, yes/no, true/false or on/off";
    case KIND_COUNT: return "a number";
    case KIND_BYTES: return "a number of bytes (K, M, G, T suffixes)";
    default: return "a number of milliseconds (or seconds with s)";
    }
}

static int find_option(const char* name) {
    int i;
    if (!name) return -1;
    for (i = 0; i < KEEL_OPT_COUNT; i++)
        if (same_word(name, options[i].name)) return i;
    return -1;
}

/* ---- start-up ---- */

static void put_value(keel_line* b, long long v) {
    if (v < 0) {
        keel__line_put(b, "-");
        keel__line_put_uint(b, (unsigned long long)(-(v + 1)) + 1u);
    } else {
        keel__line_put_uint(b, (unsigned long long)v);
    }
}

static void warn_value(int i, const char* text) {
    keel_line b = {.len = 0};
    keel__line_put(&b, "keel: ");
    keel__line_put(&b, options[i].env);
    keel__line_put(&b, "=");
    keel__line_put(&b, text);
    keel__line_put(&b, ": not ");
    keel__line_put(&b, kind_words(options[i].kind));
    if (options[i].kind != KIND_BOOL) {
        keel__line_put(&b, " from ");
        put_value(&b, options[i].min);
        keel__line_put(&b, " to ");
        put_value(&b, options[i].max);
    }
    keel__line_put(&b, "; ");
    keel__line_put(&b, options[i].name);
    keel__line_put(&b, " stays ");
    put_value(&b, keel__option((keel_option_id)i));
    keel__line_write(&b);
}

/* name=value of one environment entry that starts with KEEL_. */
static void env_entry(const char* entry) {
    size_t n = 0, i;
    int opt = -1;
    const char* value;
    while (entry[n] && entry[n] != '=') n++;
    if (!entry[n]) return;
    value = entry + n + 1;
    for (i = 0; i < KEEL_OPT_COUNT && opt < 0; i++) {
        size_t k = 0;
        while (k < n && options[i].env[k] == entry[k]) k++;
        if (k == n && options[i].env[k] == '\0') opt = (int)i;
    }
    if (opt >= 0) {
        long long v;
        bool ok = options[opt].kind == KIND_BOOL ? parse_bool(value, &v) : parse_number(value, options[opt].kind, &v);
        if (ok && v >= options[opt].min && v <= options[opt].max) {
            atomic_store_explicit(&keel__option_values[opt], v, memory_order_relaxed);
            from_env[opt] = 1;
        } else {
            warn_value(opt, value);
        }
        return;
    }
    for (i = 0; i < sizeof other_env / sizeof other_env[0]; i++) {
        size_t k = 0;
        while (k < n && other_env[i][k] == entry[k]) k++;
        if (k == n && other_env[i][k] == '\0') {
            if (same_word(other_env[i], "KEEL_PROFILE")) profile_path = *value ? value : NULL;
            return;
        }
    }
    {
        keel_line b = {.len = 0};
        keel__line_put(&b, "keel: unknown option ");
        for (i = 0; i < n && i < 60; i++) {
            char c[2] = {entry[i], '\0'};
            keel__line_put(&b, c);
        }
        keel__line_put(&b, " in the environment ignored (KEEL_VERBOSE=1 lists the options)");
        keel__line_write(&b);
    }
}

static void list_options(void) {
    int i;
    for (i = 0; i < KEEL_OPT_COUNT; i++) {
        keel_line b = {.len = 0};
        keel__line_put(&b, "keel: option ");
        keel__line_put(&b, options[i].name);
        keel__line_put(&b, " = ");
        put_value(&b, keel__option((keel_option_id)i));
        keel__line_put(&b, from_env[i] ? " (from " : " (default)");
        if (from_env[i]) {
            keel__line_put(&b, options[i].env);
            keel__line_put(&b, ")");
        }
        keel__line_write(&b);
    }
    if (profile_path) {
        keel_line b = {.len = 0};
        keel__line_put(&b, "keel: heap profile written at exit to ");
        keel__line_put(&b, profile_path);
        keel__line_write(&b);
    }
}

void keel__options_init(void) {
    int expected = 0;
    char* const* env;
    if (atomic_load_explicit(&a_init_state, memory_order_acquire) == 2) return;
    if (!atomic_compare_exchange_strong_explicit(&a_init_state, &expected, 1, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        while (atomic_load_explicit(&a_init_state, memory_order_acquire) != 2) keel__os_yield();
        return;
    }
    keel__stat_mark_start();   /* keel_stats_print's elapsed time */
    for (env = keel__os_environ(); env && *env; env++) {
        const char* e = *env;
        if (e[0] == 'K' && e[1] == 'E' && e[2] == 'E' && e[3] == 'L' && e[4] == '_') env_entry(e);
    }
    if (keel__option(KEEL_OPT_VERBOSE)) {
        keel_line b = {.len = 0};
        keel__line_put(&b, "keel: active (pid ");
        keel__line_put_uint(&b, keel__os_pid());
        keel__line_put(&b, "), version ");
        keel__line_put(&b, keel_version());
        keel__line_write(&b);
        keel__line_put(&b, "keel: options (set with KEEL_<NAME> in the environment or keel_option_set):");
        keel__line_write(&b);
        list_options();
    }
    atomic_store_explicit(&a_init_state, 2, memory_order_release);
}

#if defined(__GNUC__)
/* Before main, so that KEEL_VERBOSE lists the options even in a program that
   never allocates; the first allocation calls it too, if it comes first. */
__attribute__((constructor(101))) static void options_at_start(void) { keel__options_init(); }
#endif

/* ---- the API ---- */

#define KEEL__STR2(x) #x
#define KEEL__STR(x) KEEL__STR2(x)
const char* keel_version(void) {
    return KEEL__STR(KEEL_VERSION_MAJOR) "." KEEL__STR(KEEL_VERSION_MINOR) "." KEEL__STR(KEEL_VERSION_PATCH);
}

bool keel_option_set(const char* name, long long value) {
    int i = find_option(name);
    keel__options_init();
    if (i < 0 || value < options[i].min || value > options[i].max) {
        errno = EINVAL;
        return false;
    }
    atomic_store_explicit(&keel__option_values[i], value, memory_order_relaxed);
    return true;
}

long long keel_option_get(const char* name) {
    int i = find_option(name);
    keel__options_init();
    if (i < 0) {
        errno = EINVAL;
        return -1;
    }
    return keel__option((keel_option_id)i);
}
