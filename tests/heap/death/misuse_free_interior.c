/* misuse_free_interior.c — free of a live 64-byte block's address + 16 (here
   or on another thread): "keel: free of invalid pointer <p+16>", abort
   (misuse.h). */
#include "misuse.h"

int main(int argc, char** argv) { return misuse_free_at_offset(argc, argv, 16); }
