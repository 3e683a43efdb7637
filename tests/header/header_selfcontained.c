/* header_selfcontained.c — main of header_selfcontained_c: every public
   header compiled alone as strict C11 (one generated file each, the header
   on its first line), linked with libkeel, which this file calls through
   arena.h and vmem.h. */
#include "keel/arena.h"
#include "keel/vmem.h"
#include "hcheck.h"
#include "hvmem.h"
#include "harena.h"

/* The generated files: one function each, returning 1. */
#define HSELF(id) int hself_##id(void);
#include "hself_list.h"
#undef HSELF

int main(void) {
    int headers = 0;
#define HSELF(id) CHECK(hself_##id() == 1); headers++;
#include "hself_list.h"
#undef HSELF
    CHECK(headers >= 2);
    hvmem_exercise();
    harena_exercise();
    return hcheck_report("header_selfcontained_c");
}
