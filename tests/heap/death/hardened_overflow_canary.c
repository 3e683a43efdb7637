/* hardened_overflow_canary.c — the hardened build (src/harden.h): one byte
   written past the 20 bytes asked, inside the block's slack, where no
   other build looks: its canary is checked when the block is freed, here
   or by another thread: "keel: heap overflow detected at <p> (block of 20
   bytes)", abort. */
#include "misuse.h"

int main(int argc, char** argv) {
    char* p = (char*)misuse_alloc(20);
    misuse_expect_tail("heap overflow detected at", p, " (block of 20 bytes)");
    misuse_scribble(p + 20, "", 1);   /* a string's terminator, one past the end */
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(p));
    return misuse_survived();
}
