/* test_purge.c — the purge thread (src/purge.c; purge_delay, purge_thread):
   memory cached longer than purge_delay goes back while the program calls
   keel no more:
   - freed large blocks (the large cache) with purge_delay 200 ms;
   - the empty pages of a thread that exited (segment cache, abandoned
     segments);
   - in a forked child (POSIX), whose parent's thread did not come along;
   and it does not with purge_thread 0, nor with purge_delay -1 (never by
   age). The waits poll keel_get_stats up to a generous bound: no timing
   is measured. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#if !defined(_WIN32)
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#define NAME "test_purge"
#define BLOCKS 12
#define BLOCK ((size_t)2 << 20)   /* past the big classes: a large block */

/* Polls (every 20 ms, up to max_ms) until the cached bytes are at most
   `below`; returns whether they got there. */
static int cached_falls_to(size_t below, unsigned max_ms) {
    unsigned waited;
    for (waited = 0; waited <= max_ms; waited += 20) {
        if (keel_get_stats().cached_bytes <= below) return 1;
        ht_sleep_ms(20);
    }
    return 0;
}

/* BLOCKS large blocks, written, freed: into the large cache. Returns the
   cached bytes right after. */
static size_t cache_large(void) {
    void* p[BLOCKS];
    int i;
    for (i = 0; i < BLOCKS; i++) {
        p[i] = keel_alloc(BLOCK);
        if (p[i]) memset(p[i], 7, BLOCK);
    }
    for (i = 0; i < BLOCKS; i++) keel_free(p[i]);
    return keel_get_stats().cached_bytes;
}

static int large_goes_back(void) {
    size_t cached;
    if (!keel_option_set("purge_delay", 200) || !keel_option_set("purge_thread", 1)) return 0;
    cached = cache_large();
    if (cached < 4 * BLOCK) return 0;   /* the cache kept them: there is something to give back */
    return cached_falls_to(BLOCK, 10000);
}

static void test_large(void) {
    size_t cached;
    CHECK_NOTE(large_goes_back(), "freed large blocks stay cached past purge_delay with the purge thread on");

    /* off: nothing gives them back while keel is not called */
    CHECK(keel_option_set("purge_thread", 0));
    cached = cache_large();
    CHECK(cached >= 4 * BLOCK);
    ht_sleep_ms(1000);   /* five times the delay */
    CHECK_NOTE(keel_get_stats().cached_bytes >= 4 * BLOCK, "cached memory went back with purge_thread 0");
    keel_trim();
    CHECK(keel_option_set("purge_thread", 1));

    /* purge_delay -1: never by age, thread or not */
    CHECK(keel_option_set("purge_delay", -1));
    cached = cache_large();
    CHECK(cached >= 4 * BLOCK);
    ht_sleep_ms(600);
    CHECK_NOTE(keel_get_stats().cached_bytes >= 4 * BLOCK, "cached memory went back with purge_delay -1");
    keel_trim();
    CHECK(keel_option_set("purge_delay", 200));
}

/* Offered slots (src/segment.c): a heap that empties pages past its own
   4 MiB (heap_empty_cache) while its segments still hold blocks offers
   them to the purge thread. They stay committed for purge_delay: built
   again at once, the same memory serves (committed barely grows); left
   alone, the thread resets them although this thread calls nothing that
   allocates. With purge_thread 0 they are reset at the free. */
enum { OF_N = 40 * 1024, OF_KEEP = 1024 };   /* 40 MiB of 1 KiB blocks; one in 1024 stays */
static void* of_blocks[OF_N];

static size_t committed_now(void) { return keel_get_stats().virtual_memory_size; }

static void of_fill(void) {
    size_t i;
    for (i = 0; i < OF_N; i++) {
        if (of_blocks[i]) continue;
        of_blocks[i] = keel_alloc(1000);
        if (of_blocks[i]) memset(of_blocks[i], 3, 1000);
    }
}
/* A freed large block enters the large cache, which starts the purge
   thread: heaps offer pages only while it runs (they never start it in
   the middle of a free). */
static void purge_thread_up(void) {
    void* p = keel_alloc(BLOCK);
    if (p) memset(p, 1, 4096);
    keel_free(p);
}

static void of_free_most(void) {
    size_t i;
    for (i = 0; i < OF_N; i++)
        if (i % OF_KEEP != 0) {
            keel_free(of_blocks[i]);
            of_blocks[i] = NULL;
        }
}

static void of_free_all(void) {
    size_t i;
    for (i = 0; i < OF_N; i++) {
        keel_free(of_blocks[i]);
        of_blocks[i] = NULL;
    }
}

static void test_offered(void) {
    size_t full, freed, again, waited;
    size_t i, made = 0;
    (void)keel_trim();
    CHECK(keel_option_set("purge_delay", 300) && keel_option_set("purge_thread", 1));
    of_fill();
    for (i = 0; i < OF_N; i++) made += of_blocks[i] != NULL;
    CHECK(made == OF_N);
    full = committed_now();
    purge_thread_up();
    of_free_most();
    keel_validate();   /* offered slots are out of the heap's count */
    freed = committed_now();
    of_fill();
    again = committed_now();
    printf(NAME ": offered slots: %.1f MiB committed full, %.1f freed, %.1f built again at once\n", ht_mib(full),
           ht_mib(freed), ht_mib(again));
    CHECK_NOTE(freed + 8 * HT_MIB >= full, "emptied pages were given back at once with the purge thread on");
    CHECK_NOTE(again <= freed + 2 * HT_MIB, "building again within purge_delay did not take the offered pages back");
    purge_thread_up();
    of_free_most();
    for (waited = 0; waited < 10000; waited += 20) {
        if (committed_now() <= 12 * HT_MIB) break;
        ht_sleep_ms(20);
    }
    printf(NAME ": offered slots: %.1f MiB committed %zu ms after the free\n", ht_mib(committed_now()), waited);
    CHECK_NOTE(waited < 10000, "offered pages were not reset by the purge thread while this thread was idle");
    keel_validate();
    /* off: reset at the free */
    CHECK(keel_option_set("purge_thread", 0));
    of_fill();
    full = committed_now();
    of_free_most();
    freed = committed_now();
    printf(NAME ": purge thread off: %.1f MiB committed full, %.1f right after the free\n", ht_mib(full), ht_mib(freed));
    CHECK_NOTE(freed + 16 * HT_MIB <= full, "with purge_thread 0 emptied pages stayed committed");
    of_free_all();
    CHECK(keel_option_set("purge_thread", 1) && keel_option_set("purge_delay", 200));
    (void)keel_trim();
    keel_validate();
}

/* keel_trim (as the out-of-memory policy) resets the slots another, live
   thread offered, at once: here the purge thread would wait a minute. */
static _Atomic int of_stage;
static void of_worker(void* arg) {
    (void)arg;
    of_fill();
    purge_thread_up();
    of_free_most();
    atomic_store(&of_stage, 1);
    while (atomic_load(&of_stage) != 2) ht_sleep_ms(5);   /* alive, its heap holding the offers */
    of_free_all();
}

static void test_offered_trim(void) {
    shim_thread t;
    shim_start st;
    size_t before, after;
    (void)keel_trim();
    CHECK(keel_option_set("purge_delay", 60000) && keel_option_set("purge_thread", 1));
    atomic_store(&of_stage, 0);
    st.fn = of_worker;
    st.arg = NULL;
    if (!CHECK(shim_create(&t, &st))) return;
    while (atomic_load(&of_stage) != 1) ht_sleep_ms(5);
    before = committed_now();
    (void)keel_trim();
    after = committed_now();
    printf(NAME ": another thread's offered slots: %.1f MiB committed, %.1f after keel_trim\n", ht_mib(before),
           ht_mib(after));
    CHECK_NOTE(before >= 30 * HT_MIB && after + 24 * HT_MIB <= before, "keel_trim left another thread's offered slots committed");
    atomic_store(&of_stage, 2);
    shim_join(t);
    CHECK(keel_option_set("purge_delay", 200));
    (void)keel_trim();
    keel_validate();
}

/* A thread fills 24 MiB of small blocks, frees them and exits: its empty
   pages go to the segment cache or stay in abandoned segments, committed
   for a while. */
static void small_churn(void* arg) {
    enum { N = 24 * 1024 };
    static void* p[N];
    int i;
    (void)arg;
    for (i = 0; i < N; i++) {
        p[i] = keel_alloc(1000);
        if (p[i]) memset(p[i], 1, 1000);
    }
    for (i = 0; i < N; i++) keel_free(p[i]);
}

static void test_exited_thread(void) {
    shim_thread t;
    shim_start s = {small_churn, NULL};
    size_t before, after;
    int back = 0;
    unsigned waited;
    CHECK(keel_option_set("purge_delay", 200));
    keel_trim();
    before = keel_get_stats().virtual_memory_size;
    if (!CHECK(shim_create(&t, &s))) return;
    shim_join(t);
    after = keel_get_stats().virtual_memory_size;
    CHECK_NOTE(after > before + 2 * HT_MIB, "an exited thread's empty pages were not kept at all (nothing to test)");
    for (waited = 0; waited <= 10000 && !back; waited += 20) {
        back = keel_get_stats().virtual_memory_size <= before + HT_MIB;
        if (!back) ht_sleep_ms(20);
    }
    CHECK_NOTE(back, "an exited thread's empty pages stay committed past purge_delay");
}

static void test_fork(void) {
#if !defined(_WIN32)
    pid_t pid;
    int status = 0;
    if (ht_under_qemu()) {   /* qemu-user cannot fork while a second thread runs */
        printf("%s: fork case left out under qemu-user\n", NAME);
        return;
    }
    (void)cache_large();   /* the parent's thread runs */
    fflush(stdout);
    pid = fork();
    if (pid == 0) _exit(large_goes_back() ? 0 : 1);
    if (!CHECK(pid > 0)) return;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_NOTE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "in a forked child cached memory stays past purge_delay");
    CHECK(cached_falls_to(BLOCK, 10000));
#endif
}

int main(void) {
    test_large();
    test_offered();
    test_offered_trim();
    test_exited_thread();
    test_fork();
    keel_validate();
    return check_done(NAME);
}
