/* hardened_overflow_realloc.c — the hardened build: a 4-byte overflow of
   a 100-byte block, found by realloc (which checks the canary as free
   does) before anything is copied: "keel: heap overflow detected at <p>
   (block of 100 bytes)", abort. */
#include "misuse.h"

static void* volatile sink;
static void bad(void* q) { sink = m_realloc(q, 300); }

int main(int argc, char** argv) {
    char* p = (char*)misuse_alloc(100);
    misuse_expect_tail("heap overflow detected at", p, " (block of 100 bytes)");
    misuse_scribble(p + 100, "AAAA", 4);   /* the canary bytes before its last word */
    misuse_on(argc, argv, bad, misuse_launder(p));
    return misuse_survived();
}
