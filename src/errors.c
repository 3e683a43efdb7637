/* errors.c — fatal errors, corruption and invalid-pointer reports: raw
   writes, no allocation, nothing called but the OS seam (a leaf: every
   layer may report). */
#include "internal.h"

static void say(const char* s) {
    size_t n = 0;
    while (s[n]) n++;
    keel__os_write_stderr(s, n);
}

void keel__fatal(const char* what) {
    say("keel: ");
    say(what);
    say("\n");
    keel__os_abort();
}

void keel__corruption(const char* what) {
    say("keel: heap corruption: ");
    say(what);
    say("\n");
    keel__os_abort();
}

/* "keel: free of invalid pointer 0x7ffd..." in one write, as %p prints it. */
void keel__report_invalid(const char* op, const void* p) {
    char line[96];
    char digits[2 * sizeof(uintptr_t)];
    size_t n = 0, d = 0;
    uintptr_t v = (uintptr_t)p;
    const char* parts[3];
    size_t k;
    parts[0] = "keel: ";
    parts[1] = op;
    parts[2] = " of invalid pointer 0x";
    for (k = 0; k < 3; k++) {
        const char* s = parts[k];
        while (*s && n < sizeof line - 2) line[n++] = *s++;
    }
    do {
        digits[d++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    while (d > 0 && n < sizeof line - 2) line[n++] = digits[--d];
    line[n++] = '\n';
    keel__os_write_stderr(line, n);
}
