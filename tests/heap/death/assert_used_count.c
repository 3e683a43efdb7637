/* assert_used_count.c — debug builds only (KEEL_DEBUG >= 1): a page whose
   count of blocks in use says 0 while a block of it is freed trips the free
   fast path's assertion: "keel: assertion failed: ..." and SIGABRT. White
   box: it reaches the page through internal.h. */
#include "death_common.h"
#include "internal.h"
#include "segment_map.h"

int main(void) {
    void* p = keel_alloc(100);
    keel_segment* seg;
    if (!p) { printf("FAIL keel_alloc\n"); return 1; }
    seg = keel__segment_of(p);
    if (!seg) { printf("FAIL no segment for a keel block\n"); return 1; }
    keel__page_used_set(keel__page_of(seg, p), 0);
    fflush(stdout);
    keel_free(p);
    printf("validate returned\n");   /* the free came back: no assertion */
    return 3;
}
