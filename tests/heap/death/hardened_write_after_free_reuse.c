/* hardened_write_after_free_reuse.c — the hardened build: 8 bytes written
   into the middle of a freed 48-byte block (past its first 16 bytes, which
   hold its quarantine mark or its link), freed here or by another thread.
   Freed blocks are zero; when the block is handed out again its bytes are
   checked: "keel: write after free detected at <b>", abort. */
#include "misuse.h"

int main(int argc, char** argv) {
    char* keep = (char*)misuse_alloc(48);
    char* b = (char*)misuse_alloc(48);
    int i;
    misuse_on(argc, argv, misuse_free_fn, b);
    misuse_expect("write after free detected at", b);
    misuse_scribble(b + 24, "dangling", 8);
    for (i = 0; i < 200000; i++) m_free(m_alloc(48));   /* out of the quarantine, then handed out */
    m_free(keep);
    return misuse_survived();
}
