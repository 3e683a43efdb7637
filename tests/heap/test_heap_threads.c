/* test_heap_threads.c — the heap from many threads (DESIGN.md section 4):
   blocks handed between threads and checked for overlap before the receiver
   frees them; frees by threads that never allocated of blocks whose thread has
   exited; thread churn that must not pile up heaps. Threads and scale from
   KEELTEST_THREADS and KEELTEST_SCALE. Run under TSan in CI. */
#define _DEFAULT_SOURCE
#include "keel/keel.h"
#include "check.h"
#include "heap_test.h"
#include "thread_shim.h"

#include <stdatomic.h>
#include <stdint.h>

#define NAME "test_heap_threads"
#define MAX_THREADS 64

/* Every block starts with who made it and how big it is; the rest is one
   byte derived from both. Another block overlapping it breaks one or the other. */
typedef struct stamp {
    uint32_t tid;
    uint32_t serial;
    size_t size;
} stamp;

static unsigned char body_byte(uint32_t tid, uint32_t serial) {
    return (unsigned char)((tid * 131u + serial * 7u) | 1u);
}

static void stamp_block(void* p, size_t size, uint32_t tid, uint32_t serial) {
    stamp* s = (stamp*)p;
    s->tid = tid;
    s->serial = serial;
    s->size = size;
    memset((char*)p + sizeof(stamp), body_byte(tid, serial), size - sizeof(stamp));
}

/* 1 when the block holds its stamp over [0, upto) (the whole block when upto
   is 0): every byte up to 64 KiB, a sample beyond. */
static int stamp_intact(const void* p, size_t expected_size, size_t upto) {
    const stamp* s = (const stamp*)p;
    const unsigned char* b = (const unsigned char*)p;
    size_t n, i, stride;
    unsigned char v;
    if (expected_size && s->size != expected_size) return 0;
    if (s->size < sizeof(stamp) || s->size > 2 * HT_MIB || s->tid >= 1000000u) return 0;
    n = upto ? upto : s->size;
    if (n > s->size) return 0;
    v = body_byte(s->tid, s->serial);
    stride = n <= 64 * HT_KIB ? 1 : 97;
    for (i = sizeof(stamp); i < n; i += stride)
        if (b[i] != v) return 0;
    return b[n - 1] == v || n == sizeof(stamp);
}

static size_t pick_size(unsigned* rng) {
    unsigned r = ht_rand(rng);
    unsigned kind = r % 100;
    r = ht_rand(rng);
    if (kind < 90) return sizeof(stamp) + r % 1024;
    if (kind < 99) return 1024 + r % (64 * 1024);
    return 64 * 1024 + r % (1024 * 1024 - 64 * 1024);
}

/* ---- the exchange: each slot holds one block or NULL ---- */

enum { SLOTS = 64, LOCAL = 32 };
static _Atomic(void*) exchange_slots[SLOTS];

typedef struct worker {
    uint32_t id;
    long rounds;
    long errors;       /* broken stamps, NULL results */
    long received;     /* blocks of other threads checked and freed */
} worker;

static void check_and_free(worker* w, void* p) {
    if (!stamp_intact(p, 0, 0)) {
        if (w->errors++ < 5)
            fprintf(stderr, NAME ": thread %u: a block's stamp is broken (overlap or lost write)\n", (unsigned)w->id);
    } else if (((const stamp*)p)->tid != w->id) {
        w->received++;
    }
    keel_free(p);
}

static void exchange_worker(void* arg) {
    worker* w = (worker*)arg;
    void* local[LOCAL];
    unsigned rng = 0x1234567u + w->id * 7919u;
    uint32_t serial = 0;
    long r;
    int i;
    for (i = 0; i < LOCAL; i++) local[i] = NULL;
    for (r = 0; r < w->rounds; r++) {
        size_t size = pick_size(&rng);
        unsigned what = ht_rand(&rng) % 8;
        void* p = keel_alloc(size);
        if (!p) { w->errors++; continue; }
        stamp_block(p, size, w->id, serial++);
        if (what < 2) {                        /* keep it for a while */
            unsigned k = ht_rand(&rng) % LOCAL;
            if (local[k]) check_and_free(w, local[k]);
            local[k] = p;
        } else if (what == 2) {                /* realloc a kept one, contents must follow */
            unsigned k = ht_rand(&rng) % LOCAL;
            keel_free(p);
            if (local[k]) {
                size_t old = ((stamp*)local[k])->size, to = pick_size(&rng);
                void* q = keel_realloc(local[k], to);
                if (!q) { w->errors++; continue; }
                if (!stamp_intact(q, 0, old < to ? old : to)) {
                    if (w->errors++ < 5) fprintf(stderr, NAME ": thread %u: realloc lost contents\n", (unsigned)w->id);
                }
                stamp_block(q, to, w->id, serial++);
                local[k] = q;
            }
        } else {                               /* hand it to whoever takes that slot next */
            void* old = atomic_exchange_explicit(&exchange_slots[ht_rand(&rng) % SLOTS], p, memory_order_acq_rel);
            if (old) check_and_free(w, old);
        }
    }
    for (i = 0; i < LOCAL; i++)
        if (local[i]) check_and_free(w, local[i]);
}

static void test_exchange(long threads, long scale) {
    static worker workers[MAX_THREADS];
    static shim_start starts[MAX_THREADS];
    static shim_thread handles[MAX_THREADS];
    keel_stats s0 = keel_get_stats(), s1;
    long i, errors = 0, received = 0, started = 0;
    worker drain;
    for (i = 0; i < threads; i++) {
        workers[i].id = (uint32_t)i;
        workers[i].rounds = 10000 * scale;
        workers[i].errors = workers[i].received = 0;
        starts[i].fn = exchange_worker;
        starts[i].arg = &workers[i];
        if (shim_create(&handles[i], &starts[i])) started++;
        else break;
    }
    CHECK(started == threads);
    for (i = 0; i < started; i++) shim_join(handles[i]);
    drain.id = 999999u;
    drain.errors = drain.received = 0;
    keel_validate();   /* with blocks of exited threads still in the slots */
    for (i = 0; i < SLOTS; i++) {
        void* p = atomic_exchange_explicit(&exchange_slots[i], NULL, memory_order_acq_rel);
        if (p) check_and_free(&drain, p);
    }
    for (i = 0; i < started; i++) {
        errors += workers[i].errors;
        received += workers[i].received;
    }
    printf(NAME ": %ld threads x %ld rounds: %ld blocks freed by a thread other than their own\n", started,
           10000 * scale, received + drain.received);
    CHECK(errors == 0);
    CHECK(drain.errors == 0);
    CHECK(started < 2 || received > 0);
    keel_validate();
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
}

/* ---- blocks of an exited thread, freed by a thread that never allocated ---- */

enum { ORPHANS = 3000 };
static void* orphans[ORPHANS];

static void orphan_maker(void* arg) {
    unsigned rng = 4242;
    int i;
    (void)arg;
    for (i = 0; i < ORPHANS; i++) {
        size_t size = i % 100 == 99 ? 200000 : sizeof(stamp) + ht_rand(&rng) % 5000;
        orphans[i] = keel_alloc(size);
        if (orphans[i]) stamp_block(orphans[i], size, 7, (uint32_t)i);
    }
}

typedef struct orphan_range { int from, to; long errors; } orphan_range;

/* Only frees: this thread never allocates. */
static void orphan_freer(void* arg) {
    orphan_range* r = (orphan_range*)arg;
    int i;
    for (i = r->from; i < r->to; i++) {
        if (!orphans[i]) { r->errors++; continue; }
        if (!stamp_intact(orphans[i], 0, 0) || ((const stamp*)orphans[i])->serial != (uint32_t)i) r->errors++;
        keel_free(orphans[i]);
        orphans[i] = NULL;
    }
}

static void test_orphans(void) {
    keel_stats s0 = keel_get_stats(), s1;
    shim_thread t;
    shim_start st;
    orphan_range first, second;
    st.fn = orphan_maker;
    st.arg = NULL;
    if (!shim_create(&t, &st)) { CHECK(!"thread created"); return; }
    shim_join(t);
    s1 = keel_get_stats();
    CHECK(s1.num_live_blocks - s0.num_live_blocks == ORPHANS);
    keel_validate();   /* segments of an exited thread */

    first.from = 0;
    first.to = ORPHANS / 2;
    first.errors = 0;
    st.fn = orphan_freer;
    st.arg = &first;
    if (!shim_create(&t, &st)) { CHECK(!"thread created"); return; }
    shim_join(t);
    CHECK(first.errors == 0);
    s1 = keel_get_stats();
    CHECK(s1.num_live_blocks - s0.num_live_blocks == ORPHANS - ORPHANS / 2);
    keel_validate();

    second.from = ORPHANS / 2;   /* and the rest from main */
    second.to = ORPHANS;
    second.errors = 0;
    orphan_freer(&second);
    CHECK(second.errors == 0);
    keel_validate();
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
}

/* ---- thread churn: many short threads, a few alive at a time ---- */

typedef struct churner {
    uint32_t id;
    void* left_behind;   /* one block per thread, freed by main after the thread is gone */
    size_t heaps_seen;   /* num_heaps while this thread was alive */
    long errors;
} churner;

static void churn_worker(void* arg) {
    churner* c = (churner*)arg;
    void* p[100];
    unsigned rng = 99u + c->id;
    int i;
    for (i = 0; i < 100; i++) {
        size_t size = sizeof(stamp) + ht_rand(&rng) % 2000;
        p[i] = keel_alloc(size);
        if (!p[i]) { c->errors++; continue; }
        stamp_block(p[i], size, c->id, (uint32_t)i);
    }
    c->heaps_seen = keel_get_stats().num_heaps;
    for (i = 1; i < 100; i++) {
        if (!p[i]) continue;
        if (!stamp_intact(p[i], 0, 0)) c->errors++;
        keel_free(p[i]);
    }
    c->left_behind = p[0];
}

static void test_churn(long batch, long scale) {
    static churner churners[MAX_THREADS];
    static shim_start starts[MAX_THREADS];
    static shim_thread handles[MAX_THREADS];
    const long total = 200 * scale;
    keel_stats s0, s1;
    size_t max_heaps = 0, max_alive = 0;
    long done = 0, errors = 0, i;
    keel_free(keel_alloc(1));   /* main's own heap exists before the count starts */
    s0 = keel_get_stats();
    while (done < total) {
        long n = total - done < batch ? total - done : batch, started = 0;
        for (i = 0; i < n; i++) {
            churners[i].id = (uint32_t)(done + i);
            churners[i].left_behind = NULL;
            churners[i].heaps_seen = 0;
            churners[i].errors = 0;
            starts[i].fn = churn_worker;
            starts[i].arg = &churners[i];
            if (!shim_create(&handles[i], &starts[i])) break;
            started++;
        }
        for (i = 0; i < started; i++) shim_join(handles[i]);
        for (i = 0; i < started; i++) {
            errors += churners[i].errors;
            if (churners[i].heaps_seen > max_alive) max_alive = churners[i].heaps_seen;
            if (churners[i].left_behind && !stamp_intact(churners[i].left_behind, 0, 0)) errors++;
            keel_free(churners[i].left_behind);
        }
        s1 = keel_get_stats();
        if (s1.num_heaps > max_heaps) max_heaps = s1.num_heaps;
        if (started < n) { CHECK(started == n); break; }
        done += n;
    }
    s1 = keel_get_stats();
    printf(NAME ": churn: %ld threads, %ld at a time; heaps alive: %lu at start, at most %lu while a batch ran, "
           "at most %lu after one, %lu at the end\n", done, batch, (unsigned long)s0.num_heaps,
           (unsigned long)max_alive, (unsigned long)max_heaps, (unsigned long)s1.num_heaps);
    CHECK(errors == 0);
    CHECK_NOTE(max_alive <= s0.num_heaps + (size_t)batch + 4, "heaps of exited threads pile up");
    CHECK_NOTE(max_heaps <= s0.num_heaps + 4, "heaps of exited threads pile up");
    CHECK_NOTE(s1.num_heaps <= s0.num_heaps + 4, "heaps of exited threads pile up");
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    keel_validate();
}

int main(void) {
    long threads = check_env_long("KEELTEST_THREADS", 4);
    long scale = check_env_long("KEELTEST_SCALE", 1);
    keel_stats s0 = keel_get_stats(), s1;
    ht_unbuffered();
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    test_exchange(threads, scale);
    test_orphans();
    test_churn(threads, scale);
    s1 = keel_get_stats();
    CHECK(s1.num_bytes_allocated == s0.num_bytes_allocated);
    CHECK(s1.num_live_blocks == s0.num_live_blocks);
    keel_validate();
    return check_done(NAME);
}
