/* test_block_check.c — the block-start test of src/block_check.h (white
   box): for every size class, off x ceil(2^64 / d) < ceil(2^64 / d)
   exactly when d divides off, for every offset a page can have (below
   2^32; checked in full up to 1 MiB and at the top of the range), and a
   page's test accepts exactly its carved block starts. Runs on every
   target (32-bit ones do the 64-bit multiply in pieces). */
#include "block_check.h"
#include "check.h"

#include <stdio.h>

#define NAME "test_block_check"

int main(void) {
    size_t cls;
    for (cls = 1; cls < KEEL_CLASS_COUNT; cls++) {
        uint32_t d = keel__class_size[cls];
        uint64_t magic = keel__block_magic(d), off;
        size_t wrong = 0;
        for (off = 0; off < ((uint64_t)1 << 20); off++)
            wrong += ((off * magic < magic) != (off % d == 0));
        for (off = UINT32_MAX - ((uint64_t)1 << 18); off <= UINT32_MAX; off++)
            wrong += ((off * magic < magic) != (off % d == 0));
        if (!CHECK(wrong == 0)) printf(NAME ": class %zu (%u bytes): %zu offsets judged wrong\n", cls, d, wrong);
    }
    CHECK(keel__block_magic(0) == 0);
    {   /* a page of 48-byte blocks, 10 of 20 carved, at a made-up address */
        static uint8_t memory[4096];
        keel_page page;
        uint8_t* start = memory + 1024;
        int i, accepted = 0, carved_ok = 1;
        memset(&page, 0, sizeof page);
        page.start = start;
        page.block_size = 48;
        page.reserved = 20;
        page.capacity = 10;
        page.block_area = 10 * 48;
        page.block_magic = keel__block_magic(48);
        for (i = -1024; i < 2048; i++) {
            bool ok = keel__block_start_ok(&page, start + i);
            accepted += ok;
            if (ok != (i >= 0 && i < 480 && i % 48 == 0)) carved_ok = 0;
            if (keel__block_reserved_ok(&page, start + i) != (i >= 0 && i < 960 && i % 48 == 0)) carved_ok = 0;
        }
        CHECK(carved_ok);
        CHECK(accepted == 10);
        page.block_area = 0;
        page.block_magic = 0;   /* a page in no class: nothing is a block */
        CHECK(!keel__block_start_ok(&page, start));
    }
    return check_done(NAME);
}
