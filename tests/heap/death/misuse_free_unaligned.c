/* misuse_free_unaligned.c — free of a live 64-byte block's address + 1 (here
   or on another thread): "keel: free of invalid pointer <p+1>", abort
   (misuse.h). */
#include "misuse.h"

int main(int argc, char** argv) { return misuse_free_at_offset(argc, argv, 1); }
