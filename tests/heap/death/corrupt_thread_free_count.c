/* corrupt_thread_free_count.c — blocks of the main thread freed by another
   thread wait on their page's a_thread_free, the word that holds the
   stack's top and its count (src/internal.h); the count is then
   overwritten with more blocks than the page has in use, as a stray write
   into the page's descriptor would. The owner takes the stack in at its
   next refill without walking it (src/page.c), so it must test the count:
   the allocations that follow abort with "keel: heap corruption: ...". */
#include "death_common.h"
#include "thread_shim.h"
#include "internal.h"   /* the page descriptor: white box */
#include "segment_map.h"

#include <stdint.h>

enum { N = 16 };
static unsigned char* b[N];

static void free_some(void* arg) {
    (void)arg;
    keel_free(b[2]);
    keel_free(b[4]);
    keel_free(b[6]);
    keel_free(b[8]);
}

int main(void) {
    shim_thread t;
    shim_start s;
    keel_page* page;
    uint64_t w;
    int i;
    for (i = 0; i < N; i++) {
        b[i] = (unsigned char*)keel_alloc(80);
        if (!b[i]) { printf("FAIL keel_alloc\n"); return 1; }
    }
    s.fn = free_some;
    s.arg = NULL;
    if (!shim_create(&t, &s)) { printf("FAIL thread\n"); return 1; }
    shim_join(t);
    page = keel__page_of(keel__segment_of(b[0]), b[0]);
    w = atomic_load(&page->a_thread_free);
    if (keel__thread_free_count(w) != 4) { printf("FAIL the stack holds %u blocks, not 4\n", keel__thread_free_count(w)); return 1; }
    atomic_store(&page->a_thread_free, w + (uint64_t)1000 * KEEL_THREAD_FREE_ONE);
    printf("corrupted the count of blocks freed by another thread\n");
    fflush(stdout);
    for (i = 0; i < 100000; i++) (void)keel_alloc(80);   /* the owner takes the stack in */
    printf("validate returned\n");   /* no abort: what death_test.sh looks for */
    return 3;
}
