/* test_heap_validate.c — keel_validate passes on a healthy heap in every
   state it can be in (DESIGN.md section 4): empty, mixed, with frees from
   other threads pending, with blocks of exited threads, after trim, while
   other threads allocate, and called from a thread that never allocated.
   A broken heap aborts; that side is tests/heap/death/. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#include <stdatomic.h>

#define NAME "test_heap_validate"
#define COUNT 4000

static void* blocks[COUNT];

/* keel_validate aborts on a broken heap (tests/heap/death/ shows it can);
   after it, the stats must still be coherent. */
static void validated(const char* when) {
    keel_stats st;
    keel_validate();
    st = keel_get_stats();
    CHECK_NOTE(st.num_frees <= st.num_allocs && st.num_live_blocks == st.num_allocs - st.num_frees, when);
    CHECK_NOTE(st.virtual_memory_size >= st.num_bytes_allocated, when);
}

static size_t mixed_size(int i) {
    return i % 400 == 0 ? 2 * HT_MIB + (size_t)i : i % 40 == 0 ? 50000 + (size_t)i : (size_t)(i * 13 % 1500);
}

/* Returns how many allocations failed: it also runs on other threads, where
   CHECK (not thread-safe) is not used. */
static int alloc_blocks(int from, int to) {
    int i, failed = 0;
    for (i = from; i < to; i++) {
        blocks[i] = keel_alloc(mixed_size(i));
        if (!blocks[i]) failed++;
        else memset(blocks[i], i & 0xff, mixed_size(i) < 64 ? mixed_size(i) : 64);
    }
    return failed;
}

static int thread_failed;

static void free_every(int from, int to, int step) {
    int i;
    for (i = from; i < to; i += step) {
        keel_free(blocks[i]);
        blocks[i] = NULL;
    }
}

static void thread_frees_all(void* arg) {
    (void)arg;
    free_every(0, COUNT, 1);
}

static void thread_allocates(void* arg) {
    (void)arg;
    thread_failed = alloc_blocks(0, COUNT);
}

static void thread_validates(void* arg) {
    (void)arg;
    keel_validate();
}

static void run_thread(shim_fn fn) {
    shim_thread t;
    shim_start s;
    int created;
    s.fn = fn;
    s.arg = NULL;
    created = shim_create(&t, &s);
    if (created) shim_join(t);
    CHECK(created);
}

static atomic_int stop_busy;

static void busy(void* arg) {
    void* keep[32] = {0};
    unsigned rng = 5u + (unsigned)(size_t)arg;
    while (!atomic_load_explicit(&stop_busy, memory_order_relaxed)) {
        unsigned k = ht_rand(&rng) % 32;
        keel_free(keep[k]);
        keep[k] = keel_alloc(ht_rand(&rng) % (k == 0 ? 300000u : 3000u));
    }
    {
        int i;
        for (i = 0; i < 32; i++) keel_free(keep[i]);
    }
}

int main(void) {
    keel_stats s0 = keel_get_stats(), s1;
    int i;
    ht_unbuffered();

    validated("before anything was allocated");
    keel_free(keel_alloc(0));
    validated("after one block came and went");

    CHECK(alloc_blocks(0, COUNT) == 0);
    validated("many live blocks");
    free_every(0, COUNT, 3);
    validated("a third freed (local free lists)");
    for (i = 0; i < COUNT; i += 3) blocks[i] = keel_alloc(mixed_size(i) / 2);   /* into the holes */
    validated("holes filled again");
    free_every(0, COUNT, 1);
    validated("all freed");

    /* main's blocks freed by another thread: pending on main's pages */
    CHECK(alloc_blocks(0, COUNT) == 0);
    run_thread(thread_frees_all);
    validated("frees from another thread pending");
    keel_free(keel_alloc(100));
    validated("after main allocated again");

    /* blocks of an exited thread */
    run_thread(thread_allocates);
    CHECK(thread_failed == 0);
    validated("blocks of an exited thread alive");
    free_every(0, COUNT, 2);
    validated("half the exited thread's blocks freed by main");
    run_thread(thread_validates);   /* validate from a thread that never allocated */
    validated("validate from another thread, then here");
    free_every(1, COUNT, 2);
    validated("the exited thread's blocks all freed");

    /* realloc, aligned and huge blocks */
    {
        void* p = keel_alloc(10);
        void* q = keel_alloc_aligned(5000, 1 << 16);
        void* h = keel_alloc(40 * HT_MIB);
        for (i = 0; i < 20 && p; i++) p = keel_realloc(p, (size_t)1 << i);
        validated("after realloc growth through every range");
        keel_free(p);
        keel_free(q);
        keel_free(h);
        validated("after aligned and huge blocks freed");
    }

    (void)keel_trim();
    validated("after trim");

    /* while other threads allocate */
    {
        shim_thread t[3];
        shim_start st[3];
        int started = 0;
        CHECK(alloc_blocks(0, COUNT / 4) == 0);
        for (i = 0; i < 3; i++) {
            st[i].fn = busy;
            st[i].arg = (void*)(size_t)i;
            if (shim_create(&t[i], &st[i])) started++;
        }
        CHECK(started == 3);
        for (i = 0; i < 30; i++) {
            keel_validate();
            ht_sleep_ms(2);
        }
        atomic_store(&stop_busy, 1);
        for (i = 0; i < started; i++) shim_join(t[i]);
        free_every(0, COUNT / 4, 1);
        validated("after the busy threads exited");
    }

    (void)keel_trim();
    validated("after the final trim");
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    return check_done(NAME);
}
