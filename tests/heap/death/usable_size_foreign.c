/* usable_size_foreign.c — keel_usable_size of a foreign pointer: reported
   and 0; the heap unchanged. */
#include "death_common.h"

int main(void) {
    char local[32];
    keel_stats before = keel_get_stats();
    void* bad = death_launder(local);
    death_expect("usable_size", bad);
    death_check(keel_usable_size(bad) == 0, "keel_usable_size of a foreign pointer is not 0");
    death_check(keel_usable_size(NULL) == 0, "keel_usable_size(NULL) is not 0");
    return death_heap_still_works(before);
}
