/* test_purge_start.c — when the purge thread starts (src/purge.c): a wake
   from inside keel (a cache push in the middle of a page's retire) starts
   nothing, since pthread_create allocates and would enter keel again on
   the same thread; it only makes the start due, and the thread starts at
   the end of the public call: the allocation slow path, the free of a
   large block (the large cache's push). White box: keel__purge_wake,
   keel__purge_due, keel__purge_running. The waits poll up to a generous
   bound: no timing is measured. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "annotate.h"   /* KEEL_VALGRIND */
#include "internal.h"
#include "check.h"
#include "heap_test.h"

#include <string.h>

#define NAME "test_purge_start"
#define BLOCK ((size_t)2 << 20)   /* past the big classes: a large block */

/* Polls until the thread has ended (nothing left to age), up to max_ms. */
static int thread_ends(unsigned max_ms) {
    unsigned waited;
    for (waited = 0; waited <= max_ms; waited += 10) {
        if (!keel__purge_running()) return 1;
        ht_sleep_ms(10);
    }
    return 0;
}

int main(void) {
    void* p;
    ht_unbuffered();
    CHECK(keel_option_set("purge_thread", 1));
    /* long naps (half the delay): the thread is surely still up when checked */
    CHECK(keel_option_set("purge_delay", 2000));
    if (KEEL_VALGRIND) return check_done(NAME);   /* memcheck's builds never start it */

    /* nothing cached yet: no thread */
    CHECK(!keel__purge_running());
    CHECK(atomic_load(&keel__purge_due) == 0);

    /* a wake as a cache push makes it inside a free: due, not started */
    keel__purge_wake();
    CHECK(!keel__purge_running());
    CHECK(atomic_load(&keel__purge_due) == 1);

    /* the thread's first allocation takes the slow path, whose end starts it */
    p = keel_alloc(64);
    CHECK(p != NULL);
    CHECK(keel__purge_running());
    CHECK(atomic_load(&keel__purge_due) == 0);
    keel_free(p);

    /* with nothing to age it ends; a large block's free caches it, and the
       thread runs again once keel_free has returned */
    CHECK(thread_ends(20000));
    p = keel_alloc(BLOCK);
    CHECK(p != NULL);
    if (p) memset(p, 5, 4096);
    CHECK(!keel__purge_running());   /* an allocation caches nothing */
    keel_free(p);
    CHECK(keel__purge_running());
    CHECK(atomic_load(&keel__purge_due) == 0);

    /* a second wake while it runs makes nothing due */
    keel__purge_wake();
    CHECK(atomic_load(&keel__purge_due) == 0);
    keel_validate();
    return check_done(NAME);
}
