/* options.c — the library's version and the table of run-time options (DESIGN.md section 12) and the
   three ways to set them: the compile-time default (-DKEEL_<NAME>, config.h),
   the environment at start-up (KEEL_<NAME>, read without allocating) and
   keel_option_set. The options themselves are listed once, in options.h
   (KEEL_OPTION_LIST). Calls only the OS seam, errors.c and
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

/* A row of KEEL_OPTION_LIST (options.h), as the code reads it. */
typedef struct option_def {
    const char* name;       /* keel_option_set's name                    */
    const char* env;        /* KEEL_ + the name in upper case            */
    option_kind kind;
    long long min, max;
    const char* doc;        /* one line; the README says the same        */
} option_def;

#define TIB ((long long)1 << 40)

#define OPTION_ROW(ID, name, kind, def, min, max, doc) {name, "KEEL_" #ID, kind, min, max, doc},
static const option_def options[KEEL_OPT_COUNT] = {KEEL_OPTION_LIST(OPTION_ROW)};
#undef OPTION_ROW

/* Environment variables that are not numeric options. */
static const char* const other_env[] = {"KEEL_PROFILE"};

/* The defaults, valid before the environment is read. */
#define OPTION_DEFAULT(ID, name, kind, def, min, max, doc) (long long)(def),
_Atomic(long long) keel__option_values[KEEL_OPT_COUNT] = {KEEL_OPTION_LIST(OPTION_DEFAULT)};
#undef OPTION_DEFAULT

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
