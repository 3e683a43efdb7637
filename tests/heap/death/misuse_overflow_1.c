/* misuse_overflow_1.c — a 1-byte overflow of a live 48-byte block into
   the next block, which is free: "keel: heap corruption: ..." when an
   allocation reaches it (misuse.h). */
#include "misuse.h"

int main(int argc, char** argv) { return misuse_overflow_into_free(argc, argv, 1); }
