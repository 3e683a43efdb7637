/* corrupt_slot_state.c — a page in use whose slot says its memory was
   given back (KEEL_SLOT_RESET): keel_validate must abort with "keel: heap
   corruption: ...". White box: it reaches the page through internal.h. */
#include "death_common.h"
#include "internal.h"
#include "segment_map.h"

int main(void) {
    void* p = keel_alloc(100);
    keel_segment* seg;
    if (!p) { printf("FAIL keel_alloc\n"); return 1; }
    keel_validate();   /* healthy so far: this must return */
    printf("healthy heap validated\n");
    seg = keel__segment_of(p);
    if (!seg) { printf("FAIL no segment for a keel block\n"); return 1; }
    keel__page_of(seg, p)->slot_state = KEEL_SLOT_RESET;
    fflush(stdout);
    keel_validate();
    printf("validate returned\n");
    return 3;
}
