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

void keel__misuse_invalid(const char* op, const void* p) {
    keel__report_invalid(op, p);   /* the same line, then the end */
    keel__os_abort();
}

void keel__misuse_double_free(const void* p) {
    keel_line b = {.len = 0};
    keel__line_put(&b, "keel: double free of ");
    keel__line_put_hex(&b, (uintptr_t)p);
    keel__line_write(&b);
    keel__os_abort();
}

void keel__corruption_at(const char* what, const void* p, const char* tail) {
    keel_line b = {.len = 0};
    keel__line_put(&b, "keel: heap corruption: ");
    keel__line_put(&b, what);
    keel__line_put_hex(&b, (uintptr_t)p);
    keel__line_put(&b, tail);
    keel__line_write(&b);
    keel__os_abort();
}

void* keel__free_block_damaged(const void* b) {
    keel__corruption_at("free block ", b, " damaged (its link was overwritten: a heap overflow or a write after free)");
}

void keel__corruption(const char* what) {
    say("keel: heap corruption: ");
    say(what);
    say("\n");
    keel__os_abort();
}

/* ---- one line built without stdio or the heap, written at once ---- */

void keel__line_put(keel_line* b, const char* s) {
    while (*s && b->len < sizeof b->text - 1) b->text[b->len++] = *s++;
}

/* v in base 10 or 16 (lower-case digits, no prefix). */
static void put_digits(keel_line* b, unsigned long long v, unsigned base) {
    char d[24];
    int n = 0;
    do {
        d[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n > 0 && b->len < sizeof b->text - 1) b->text[b->len++] = d[--n];
}

void keel__line_put_uint(keel_line* b, unsigned long long v) { put_digits(b, v, 10); }

void keel__line_put_hex(keel_line* b, uintptr_t v) {
    keel__line_put(b, "0x");
    put_digits(b, (unsigned long long)v, 16);
}

void keel__line_write(keel_line* b) {
    b->text[b->len++] = '\n';
    keel__os_write_stderr(b->text, b->len);
    b->len = 0;
}

/* "keel: free of invalid pointer 0x7ffd..." in one write, as %p prints it. */
void keel__report_invalid(const char* op, const void* p) {
    keel_line b = {.len = 0};
    keel__line_put(&b, "keel: ");
    keel__line_put(&b, op);
    keel__line_put(&b, " of invalid pointer ");
    keel__line_put_hex(&b, (uintptr_t)p);
    keel__line_write(&b);
}

void keel__assert_fail(const char* what, const char* file, int line) {
    keel_line b = {.len = 0};
    keel__line_put(&b, "keel: assertion failed: ");
    keel__line_put(&b, what);
    keel__line_put(&b, " (");
    keel__line_put(&b, file);
    keel__line_put(&b, ":");
    keel__line_put_uint(&b, line > 0 ? (unsigned long long)line : 0u);
    keel__line_put(&b, ")");
    keel__line_write(&b);
    keel__os_abort();
}
