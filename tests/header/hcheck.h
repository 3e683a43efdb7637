/* hcheck.h — the CHECK helper of the header compile tests: counts checks,
   prints each failure, closes with "name: N passed, N failed". Include it
   after the header under test (some tests must include that one first). */
#ifndef KEEL_HCHECK_H
#define KEEL_HCHECK_H

#include <stdio.h>

/* Per translation unit; a test spread over several files adds them up. */
static int hcheck_passed;
static int hcheck_failed;

#define CHECK(cond) \
    ((cond) ? (void)hcheck_passed++ \
            : (void)(hcheck_failed++, \
                     fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond)))

static inline void hcheck_print_msg(const char* file, int line, const char* cond, const char* msg) {
    fprintf(stderr, "%s:%d: CHECK failed: %s (message: \"%s\")\n", file, line, cond, msg ? msg : "(null)");
}

/* As CHECK, printing the vmem error message with the failure. */
#define CHECK_MSG(cond, msg) \
    ((cond) ? (void)hcheck_passed++ \
            : (void)(hcheck_failed++, \
                     hcheck_print_msg(__FILE__, __LINE__, #cond, (msg))))

/* Prints the closing line; returns the exit status of the test. */
static inline int hcheck_report(const char* name) {
    printf("%s: %d passed, %d failed\n", name, hcheck_passed, hcheck_failed);
    fflush(stdout);
    return hcheck_failed == 0 && hcheck_passed > 0 ? 0 : 1;
}

#endif /* KEEL_HCHECK_H */
