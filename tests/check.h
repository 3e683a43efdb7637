/* check.h — the tests' whole framework: CHECK, a counter, and the closing line
   "name: N passed, N failed". Include once per test program. */
#ifndef KEEL_TEST_CHECK_H
#define KEEL_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond) check_record((cond) ? 1 : 0, #cond, __FILE__, __LINE__, NULL)
/* CHECK with a note printed on failure (an error message, a value). */
#define CHECK_NOTE(cond, note) check_record((cond) ? 1 : 0, #cond, __FILE__, __LINE__, (note))

static inline int check_record(int ok, const char* what, const char* file, int line, const char* note) {
    /* atomic adds: tests may CHECK from several threads */
    if (ok) {
        __atomic_fetch_add(&check_passed, 1, __ATOMIC_RELAXED);
    } else {
        __atomic_fetch_add(&check_failed, 1, __ATOMIC_RELAXED);
        fprintf(stderr, "%s:%d: CHECK failed: %s%s%s\n", file, line, what, note ? " -- " : "", note ? note : "");
        fflush(stderr);
    }
    return ok;
}

/* Substring test that tolerates NULL. */
static inline int check_contains(const char* text, const char* part) {
    return text && part && strstr(text, part) != NULL;
}

/* Integer from the environment, for thread counts and scales. */
static inline long check_env_long(const char* name, long fallback) {
    const char* s = getenv(name);
    char* end;
    long v;
    if (!s || !*s) return fallback;
    v = strtol(s, &end, 10);
    return *end == '\0' && v > 0 ? v : fallback;
}

/* The closing line; the exit status fails a test that failed a check or
   made none (a test that checks nothing proves nothing). */
static inline int check_done(const char* name) {
    int passed = __atomic_load_n(&check_passed, __ATOMIC_RELAXED);
    int failed = __atomic_load_n(&check_failed, __ATOMIC_RELAXED);
    printf("%s: %d passed, %d failed%s\n", name, passed, failed,
           passed + failed == 0 ? " (no check was made: a failure)" : "");
    fflush(stdout);
    return failed || passed + failed == 0 ? 1 : 0;
}

#endif
