/* free_global.c — keel_free of a static object's address: reported, not
   aborted, and the heap unchanged. */
#include "death_common.h"

static char global_buffer[4096];

int main(void) {
    keel_stats before = keel_get_stats();
    void* bad = death_launder(global_buffer + 1024);
    death_expect("free", bad);
    keel_free(bad);
    return death_heap_still_works(before);
}
