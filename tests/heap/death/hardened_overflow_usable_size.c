/* hardened_overflow_usable_size.c — the hardened build: an overflow that
   reaches the canary's last word (the 40 bytes asked end 8 bytes before
   the block does), found by usable_size: the size asked is lost with it,
   and the message gives the most the block held: "keel: heap overflow
   detected at <p> (block of 40 bytes)", abort. */
#include "misuse.h"

static void bad(void* q) { printf("usable size %zu\n", (size_t)m_usable(q)); }

int main(int argc, char** argv) {
    char* p = (char*)misuse_alloc(40);
    misuse_expect_tail("heap overflow detected at", p, " (block of 40 bytes)");
    misuse_scribble(p + 40, "\x7f\x7f\x7f\x7f", 4);
    misuse_on(argc, argv, bad, misuse_launder(p));
    return misuse_survived();
}
