/* profile.c — the heap profile: sampled allocations with their call stacks,
   written in the legacy heap-profile text format that google-pprof reads.
   Entry points: keel__profile_countdown (allocation), keel__profile_free_in_page
   and keel__profile_free_large (free), keel_profile_dump.

   HOW IT WORKS
   Sampling by bytes, as tcmalloc does. Each thread heap counts down
   `profile_left`: every allocation subtracts its size (the fast path in
   alloc.c spends a subtraction and a branch on the countdown it shares
   with guarded sampling, `sample_left`, and the bytes it counted reach
   profile_left at its events: alloc.c, "sampling events"). When it drops below
   zero the allocation is sampled and a new countdown is drawn from an
   exponential distribution of mean profile_sample bytes (a per-heap
   xorshift generator, -ln(u) without libm). So a block of s bytes is
   sampled with probability 1 - exp(-s/R), and a sample stands for
   1 / (1 - exp(-s/R)) blocks: that weight, times s, estimates the bytes.
   With profiling off the countdown is PROFILE_OFF (about PTRDIFF_MAX/2),
   and a heap picks up a changed profile_sample on its next slow path
   (alloc.c compares the rate the countdown was drawn for).

   A sample is the block's start, its size, its weight and a stack id. The
   samples live in an open-addressed table keyed by address, the stacks in
   a table of distinct stacks (their cumulative allocation totals are kept
   per shard, below); all come from vmem directly, never from keel's heap, reserved
   when the first sample is taken and bounded (KEEL_PROFILE_SAMPLES_MAX,
   KEEL_PROFILE_STACKS_MAX: beyond them a sample is dropped and counted).
   Threads that sample at once must not queue on one lock (larson samples
   about 100,000 times a second on two threads, and a sample's table work
   is a cache miss or two): the sample table is cut into PROF_SHARDS
   shards by address, each with its own lock, and the stack table is read
   without a lock (stacks are only ever added: an index slot is published
   after its stack is written) and locked only to add one. Allocation
   totals are kept per shard and stack, under the shard's lock, so that
   no counter passes between cores at each sample; a dump sums them. No
   two of these locks are held together,
   but by a dump and the fork handlers, which take them all in one order.
   The stack is captured before any of them.

   Frees. A page that hands out a sampled block is marked KEEL_PAGE_SAMPLED
   (internal.h), so that its frees take keel__free_slow, and the page keeps
   the offsets of up to two live sampled blocks (a_sampled, and a count of
   more): a free there takes a lock only when its block may be sampled.
   The owner unmarks the page when it holds no sampled block any more.
   Sampled small blocks come from pages of their own (alloc.c, "the heap
   profile's pages"), as tcmalloc gives a sampled object a span of its own:
   the program's other pages are never marked, so their frees keep the fast
   path. Medium blocks are sampled where they are (a free of one costs
   little next to its size).
   Large blocks always free through the slow path; once profiling has been
   on, each asks the table. Frees forget the block before it can be reused.

   Stacks. glibc's backtrace (through the OS seam) loads libgcc_s and
   allocates on its first call: that happens once, when the first sample is
   due, outside every lock, with the heap's sample_busy set so no allocation
   made there is sampled. Frames up to the public entry point are keel's
   and dropped: alloc.c passes the entry point's return address, and when
   keel is a shared object every leading frame inside it is dropped too.

   The dump (keel_profile_dump, and KEEL_PROFILE=path at exit) sums the live
   samples per stack under every lock and writes with raw writes from a stack
   buffer: no allocation while the locks are held. */
#include "profile.h"
#include "options.h"
#include "segment_map.h"

#include <errno.h>
#include <string.h>

#define PROFILE_OFF KEEL_SAMPLE_OFF
#define SAMPLE_SLOTS ((size_t)65536)              /* > KEEL_PROFILE_SAMPLES_MAX: probes stay short */
#define PROF_SHARDS 16                            /* the sample table's, each with its lock */
#define SHARD_SLOTS (SAMPLE_SLOTS / PROF_SHARDS)   /* the most a shard's table grows to */
#define SHARD_FIRST_SLOTS ((size_t)64)
#define SHARD_MAX (KEEL_PROFILE_SAMPLES_MAX / PROF_SHARDS)
#define STACK_SLOTS ((size_t)2 * KEEL_PROFILE_STACKS_MAX)
#define LN2 0.69314718055994530942
_Static_assert((SAMPLE_SLOTS & (SAMPLE_SLOTS - 1)) == 0 && SAMPLE_SLOTS > KEEL_PROFILE_SAMPLES_MAX, "sample table");
_Static_assert(PROF_SHARDS == 16 && KEEL_PROFILE_SAMPLES_MAX % PROF_SHARDS == 0 && SHARD_MAX < SHARD_SLOTS,
               "shards: the top 4 bits of the address hash pick one");
_Static_assert((STACK_SLOTS & (STACK_SLOTS - 1)) == 0, "stack index");

typedef struct prof_sample {
    uintptr_t block;            /* block start; 0: empty slot                  */
    size_t size;                /* bytes asked for                             */
    double weight;              /* blocks it stands for: 1/(1 - exp(-size/R))  */
    uint32_t stack;             /* index in stacks                             */
} prof_sample;

typedef struct prof_stack {
    uint64_t hash;                      /* hash, depth and frames: written     */
    uint32_t depth;                     /* once, before the stack is published */
    double live_blocks, live_bytes;     /* the live samples, summed by a dump  */
    double alloc_blocks, alloc_bytes;   /* every sample taken, summed by a dump */
    uintptr_t frames[KEEL_PROFILE_DEPTH];   /* innermost first: [0] the program's call site */
} prof_stack;

/* Every sample a shard took under a stack, scaled (its allocations since
   start). Kept per shard, under its lock: a counter in the stack itself
   would pass between the cores of threads that sample the same place at
   each sample. */
typedef struct prof_total {
    double blocks, bytes;
} prof_total;

/* A shard of the sample table: the samples whose address hash has its
   top bits; a line of its own, so shards' locks do not share one. */
typedef struct prof_shard {
    _Alignas(64) keel_lock lock;
    /* under lock */
    size_t count;                       /* samples in the table                */
    size_t mask;                        /* its slots - 1, a power of two       */
    prof_sample* slots;                 /* the table (linear probing): area + n */
    /* set before a_prof_state turns 2 */
    prof_sample* area;                  /* 2 SHARD_SLOTS: a table of n slots lies at area + n */
    prof_total* totals;                 /* KEEL_PROFILE_STACKS_MAX, by stack index */
} prof_shard;

_Atomic(int) keel__profile_was_on;
static _Atomic(int) a_prof_state;        /* 0 not started, 1 starting, 2 ready, 3 failed */
static _Atomic(uint32_t) a_seeds;        /* heaps seeded so far                           */
static uintptr_t keel_code_lo, keel_code_hi;   /* keel's code, when a shared object       */
static prof_shard shards[PROF_SHARDS];
static _Atomic(size_t) a_dropped;        /* samples not kept: a table was full            */
static _Atomic(int) a_first_class_sampled;   /* a first-class heap's block was sampled    */
/* stacks: read without a lock, added under stack_lock */
static keel_lock stack_lock = KEEL_LOCK_INIT;
static prof_stack* stacks;               /* set before a_prof_state turns 2               */
static uint32_t stack_count;             /* under stack_lock                              */
static _Atomic(uint32_t)* stack_index;   /* STACK_SLOTS: 1 + index in stacks, 0 empty     */

/* Every lock of the profiler, in the one order (the dump, fork). */
void keel__profile_lock(void) {
    int i;
    keel__lock(&stack_lock);
    for (i = 0; i < PROF_SHARDS; i++) keel__lock(&shards[i].lock);
}

void keel__profile_unlock(void) {
    int i;
    for (i = PROF_SHARDS - 1; i >= 0; i--) keel__unlock(&shards[i].lock);
    keel__unlock(&stack_lock);
}

void keel__profile_child_reset(void) {
    int i;
    for (i = 0; i < PROF_SHARDS; i++) keel__lock_reset(&shards[i].lock);
    keel__lock_reset(&stack_lock);
}

/* Whether the tables are there (acquire: their pointers with them). */
static bool prof_tables_ready(void) { return atomic_load_explicit(&a_prof_state, memory_order_acquire) == 2; }

/* ---- numbers without libm ---- */

/* -ln(u) for u = k / 2^53, k in [1, 2^53] taken from the top bits of x:
   k = 2^e m with m in [1/sqrt 2, sqrt 2), ln m = 2 atanh(t), t = (m-1)/(m+1),
   by its series: |t| < 0.172, so six terms leave an error below 1e-11. */
/* 1/n for the series below: multiplications, not divisions (a division
   costs some 15 cycles, and a draw made 13 of them). */
static const double inverse[21] = {
    0.0,      1.0,      1.0 / 2,  1.0 / 3,  1.0 / 4,  1.0 / 5,  1.0 / 6,  1.0 / 7,  1.0 / 8,  1.0 / 9,  1.0 / 10,
    1.0 / 11, 1.0 / 12, 1.0 / 13, 1.0 / 14, 1.0 / 15, 1.0 / 16, 1.0 / 17, 1.0 / 18, 1.0 / 19, 1.0 / 20,
};

static double prof_neg_log_unit(uint64_t x) {
    uint64_t k = (x >> 11) + 1;
    int e = 63 - __builtin_clzll(k), i;
    uint64_t scale_bits = (uint64_t)(1023 - e) << 52;   /* the double 2^-e */
    double scale, m, t, t2, term, sum = 0.0;
    memcpy(&scale, &scale_bits, sizeof scale);
    m = (double)k * scale;   /* k / 2^e, exact */
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e++;
    }
    t = (m - 1.0) / (m + 1.0);
    t2 = t * t;
    term = t;
    for (i = 1; i < 13; i += 2) {
        sum += term * inverse[i];
        term *= t2;
    }
    return (53 - e) * LN2 - 2.0 * sum;
}

/* 1 - exp(-x) for x >= 0: its series for small x (no cancellation), else
   exp(-x) = 2^-k exp(-r) with r in [0, ln 2). */
static double prof_one_minus_exp_neg(double x) {
    double sum = 0.0, term = x, e = 1.0;
    int i, k;
    if (x < 0.5) {
        for (i = 1; i < 20; i++) {   /* alternating and shrinking: stop once a term is lost */
            sum += term;
            term *= -x * inverse[i + 1];
            if (term < 1e-17 * sum && -term < 1e-17 * sum) break;
        }
        return sum;
    }
    if (x > 40.0) return 1.0;
    k = (int)(x / LN2);
    x -= k * LN2;
    for (i = 1, term = 1.0; i < 20; i++) {
        term *= -x * inverse[i];
        e += term;
    }
    while (k-- > 0) e *= 0.5;
    return 1.0 - e;
}

static uint64_t prof_mix(uint64_t z) {   /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The next countdown: exponential, mean rate. Seeds are the heap's order of
   first use, so a single-threaded program samples the same allocations in
   every run (profiles compare run to run). */
static ptrdiff_t prof_draw(keel_theap* heap, long long rate) {
    uint64_t x = heap->sample_rng;
    double v;
    if (x == 0) x = prof_mix(0x6b65656c00000000ull + atomic_fetch_add_explicit(&a_seeds, 1, memory_order_relaxed)) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    heap->sample_rng = x;
    v = (double)rate * prof_neg_log_unit(x) + 1.0;
    return v >= (double)PROFILE_OFF ? PROFILE_OFF : (ptrdiff_t)v;
}

/* ---- the tables ---- */

/* The address hash: its top bits pick the shard, the next ones the home
   slot in it. */
static uint64_t sample_hash(uintptr_t block) { return ((uint64_t)block >> 4) * 0x9e3779b97f4a7c15ull; }

static prof_shard* shard_of(uintptr_t block) { return &shards[sample_hash(block) >> 60]; }

static size_t sample_home(const prof_shard* sh, uintptr_t block) { return (size_t)(sample_hash(block) >> 32) & sh->mask; }

/* (the shard's lock held, its table there) */
static prof_sample* sample_find(prof_shard* sh, uintptr_t block) {
    prof_sample* t = sh->slots;
    size_t i;
    for (i = sample_home(sh, block);; i = (i + 1) & sh->mask) {
        if (t[i].block == block) return &t[i];
        if (t[i].block == 0) return NULL;
    }
}

/* Backward-shift deletion: no tombstones, probes stay short. */
static void sample_remove(prof_shard* sh, prof_sample* s) {
    prof_sample* t = sh->slots;
    size_t i = (size_t)(s - t), j = i;
    for (;;) {
        size_t k;
        j = (j + 1) & sh->mask;
        if (t[j].block == 0) break;
        k = sample_home(sh, t[j].block);
        /* the entry at j may move to i unless its home lies cyclically in (i, j] */
        if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
            t[i] = t[j];
            i = j;
        }
    }
    t[i].block = 0;
    sh->count--;
}

static prof_sample* sample_slot_for(prof_shard* sh, uintptr_t block) {
    prof_sample* t = sh->slots;
    size_t i = sample_home(sh, block);
    while (t[i].block != 0) i = (i + 1) & sh->mask;
    return &t[i];
}

/* A table of n slots at area + n, zeroed by writes: a page read before it
   is written maps the zero page, and the write then replaces it, which
   flushes the TLB of every core running the program (an interrupt each,
   tens of microseconds on a VM). */
static void shard_table_at(prof_shard* sh, size_t n) {
    sh->slots = sh->area + n;
    sh->mask = n - 1;
    memset(sh->slots, 0, n * sizeof(prof_sample));
}

/* Doubles the shard's table once it is three quarters full (the old one
   stays where it was: at most as much again, touched). */
static void shard_room(prof_shard* sh) {
    prof_sample* old = sh->slots;
    size_t n = sh->mask + 1, i;
    if ((sh->count + 1) * 4 <= n * 3 || n == SHARD_SLOTS) return;
    shard_table_at(sh, 2 * n);
    for (i = 0; i < n; i++)
        if (old[i].block != 0) *sample_slot_for(sh, old[i].block) = old[i];
}

static uint64_t stack_hash(const uintptr_t* frames, uint32_t depth) {
    uint64_t h = 0x6b65656cull + depth;
    uint32_t k;
    for (k = 0; k < depth; k++) h = prof_mix(h ^ frames[k]);
    return h;
}

/* The stack's index, or UINT32_MAX; *empty: the index slot where the walk
   ended. Without a lock: a published slot's stack is complete (acquire). */
static uint32_t stack_find(uint64_t h, const uintptr_t* frames, uint32_t depth, size_t* empty) {
    size_t i;
    for (i = (size_t)h & (STACK_SLOTS - 1);; i = (i + 1) & (STACK_SLOTS - 1)) {
        uint32_t id = atomic_load_explicit(&stack_index[i], memory_order_acquire);
        const prof_stack* st;
        if (id == 0) {
            *empty = i;
            return UINT32_MAX;
        }
        st = &stacks[id - 1];
        if (st->hash == h && st->depth == depth && memcmp(st->frames, frames, depth * sizeof frames[0]) == 0)
            return id - 1;
    }
}

/* The stack's index, added if new; UINT32_MAX when the table is full. */
static uint32_t stack_intern(const uintptr_t* frames, uint32_t depth) {
    uint64_t h = stack_hash(frames, depth);
    size_t slot;
    uint32_t id = stack_find(h, frames, depth, &slot);
    if (id != UINT32_MAX) return id;
    keel__lock(&stack_lock);
    id = stack_find(h, frames, depth, &slot);   /* added meanwhile? */
    if (id == UINT32_MAX && stack_count < KEEL_PROFILE_STACKS_MAX) {
        prof_stack* st = &stacks[stack_count];
        int k;
        /* its totals: written before any shard adds to them (see
           shard_table_at); no shard touches them before it is published */
        for (k = 0; k < PROF_SHARDS; k++) shards[k].totals[stack_count] = (prof_total){0.0, 0.0};
        st->hash = h;
        st->depth = depth;
        memcpy(st->frames, frames, depth * sizeof frames[0]);
        id = stack_count++;
        /* release: the stack is written before readers can find it */
        atomic_store_explicit(&stack_index[slot], id + 1, memory_order_release);
    }
    keel__unlock(&stack_lock);
    return id;
}

/* ---- the page marks: offsets of a page's live sampled blocks ---- */

static void page_tag_add(keel_page* page, uint32_t tag) {
    if (atomic_load_explicit(&page->a_sampled[0], memory_order_relaxed) == 0)
        atomic_store_explicit(&page->a_sampled[0], tag, memory_order_relaxed);
    else if (atomic_load_explicit(&page->a_sampled[1], memory_order_relaxed) == 0)
        atomic_store_explicit(&page->a_sampled[1], tag, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&page->a_sampled_more, 1, memory_order_relaxed);
}

static void page_tag_remove(keel_page* page, uint32_t tag) {
    int i;
    for (i = 0; i < 2; i++) {
        if (atomic_load_explicit(&page->a_sampled[i], memory_order_relaxed) == tag) {
            atomic_store_explicit(&page->a_sampled[i], 0, memory_order_relaxed);
            return;
        }
    }
    if (atomic_load_explicit(&page->a_sampled_more, memory_order_relaxed) > 0)
        atomic_fetch_sub_explicit(&page->a_sampled_more, 1, memory_order_relaxed);
}

/* ---- taking samples ---- */

/* Reserves the tables and loads what stack capture needs, once; false
   while another thread does it, or for good if it failed. */
static KEEL_NOINLINE bool prof_ready(keel_theap* heap) {
    int expected = 0, state = atomic_load_explicit(&a_prof_state, memory_order_acquire), i;
    size_t bytes;
    uint8_t* mem;
    uint8_t* at;
    if (state == 2) return true;
    if (state != 0 || !atomic_compare_exchange_strong_explicit(&a_prof_state, &expected, 1, memory_order_acq_rel,
                                                               memory_order_acquire))
        return false;
    bytes = 2 * SAMPLE_SLOTS * sizeof(prof_sample) + KEEL_PROFILE_STACKS_MAX * sizeof(prof_stack) +
            STACK_SLOTS * sizeof(stack_index[0]) + PROF_SHARDS * KEEL_PROFILE_STACKS_MAX * sizeof(prof_total);
    mem = (uint8_t*)vmem_alloc(bytes);   /* zero; its pages are touched as the tables fill */
    if (mem) {
        keel__stat_reserved((ptrdiff_t)bytes);
        keel__stat_committed((ptrdiff_t)bytes);
        heap->sample_busy = 1;   /* backtrace's first call allocates */
        keel__os_backtrace_init();
        if (!keel__os_code_range(__builtin_return_address(0), &keel_code_lo, &keel_code_hi))
            keel_code_lo = keel_code_hi = 0;
        heap->sample_busy = 0;
        at = mem + 2 * SAMPLE_SLOTS * sizeof(prof_sample);
        stacks = (prof_stack*)(void*)at;
        at += KEEL_PROFILE_STACKS_MAX * sizeof(prof_stack);
        stack_index = (_Atomic(uint32_t)*)(void*)at;
        at += STACK_SLOTS * sizeof(stack_index[0]);
        for (i = 0; i < PROF_SHARDS; i++) {
            shards[i].area = (prof_sample*)(void*)mem + (size_t)i * 2 * SHARD_SLOTS;
            shards[i].totals = (prof_total*)(void*)at + (size_t)i * KEEL_PROFILE_STACKS_MAX;
            shard_table_at(&shards[i], SHARD_FIRST_SLOTS);
        }
        memset((void*)stack_index, 0, STACK_SLOTS * sizeof(stack_index[0]));   /* written first, as above */
    }
    /* release: the tables' pointers are set before anyone can see state 2 */
    atomic_store_explicit(&a_prof_state, mem ? 2 : 3, memory_order_release);
    return mem != NULL;
}

static bool in_keel(uintptr_t pc) { return pc >= keel_code_lo && pc < keel_code_hi; }

/* Captures the stack and records block under it. */
static void prof_record(keel_theap* heap, keel_page* page, void* block, size_t size, long long rate, void* caller) {
    void* raw[KEEL_PROFILE_DEPTH + 16];
    uintptr_t frames[KEEL_PROFILE_DEPTH];
    int n, first;
    uint32_t depth = 0, id;
    double weight;
    prof_sample* s;
    prof_shard* sh;
    if (!prof_ready(heap)) return;
    heap->sample_busy = 1;
    n = keel__os_backtrace(raw, KEEL_PROFILE_DEPTH + 16, heap->sample_captures);
    if (heap->sample_captures < UINT32_MAX) heap->sample_captures++;
    heap->sample_busy = 0;
    /* the program's frames begin at the entry point's return address ... */
    for (first = 0; first < n && raw[first] != caller; first++) {}
    if (first == n) first = 0;
    /* ... and, keel being a shared object, after every frame inside it */
    while (first < n && in_keel((uintptr_t)raw[first])) first++;
    if (first == n) {   /* nothing of the program's: keep the entry point's return address */
        raw[0] = caller;
        first = 0;
        n = caller ? 1 : 0;
    }
    for (; first < n && depth < KEEL_PROFILE_DEPTH; first++) frames[depth++] = (uintptr_t)raw[first];
    weight = 1.0 / prof_one_minus_exp_neg((double)(size ? size : 1) / (double)rate);
    id = stack_intern(frames, depth);
    sh = shard_of((uintptr_t)block);
    keel__lock(&sh->lock);
    s = sample_find(sh, (uintptr_t)block);
    if (s) {   /* a block freed without being forgotten: cannot happen, but stay consistent */
        if (page) page_tag_remove(page, keel__profile_page_tag(page, block));
        sample_remove(sh, s);
    }
    if (heap->first_class && !atomic_load_explicit(&a_first_class_sampled, memory_order_relaxed))
        atomic_store_explicit(&a_first_class_sampled, 1, memory_order_relaxed);
    if (id != UINT32_MAX) {   /* the totals since start count samples a full table drops */
        sh->totals[id].blocks += weight;
        sh->totals[id].bytes += weight * (double)size;
    }
    if (id == UINT32_MAX || sh->count >= SHARD_MAX) {
        atomic_fetch_add_explicit(&a_dropped, 1, memory_order_relaxed);
    } else {
        shard_room(sh);
        s = sample_slot_for(sh, (uintptr_t)block);
        s->block = (uintptr_t)block;
        s->size = size;
        s->weight = weight;
        s->stack = id;
        sh->count++;
        if (page) {
            page_tag_add(page, keel__profile_page_tag(page, block));
            keel__page_flag_set(page, KEEL_PAGE_SAMPLED, true);
        }
    }
    keel__unlock(&sh->lock);
}

bool keel__profile_countdown(keel_theap* heap, ptrdiff_t used) {
    long long rate = keel__option(KEEL_OPT_PROFILE_SAMPLE);
    bool take;
    if (rate <= 0 || !keel__os_profile_supported()) {
        heap->sample_rate = rate;
        heap->profile_left = PROFILE_OFF;
        return false;
    }
    if (!keel__profile_ever_on()) atomic_store_explicit(&keel__profile_was_on, 1, memory_order_relaxed);
    if (rate != heap->sample_rate) {   /* drawn for another rate: drawn again, no sample */
        heap->sample_rate = rate;
        heap->profile_left = prof_draw(heap, rate);
        return false;
    }
    heap->profile_left -= used;
    if (heap->profile_left >= 0) return false;
    take = !heap->sample_busy;
    heap->profile_left = prof_draw(heap, rate);
    return take;
}

void keel__profile_record(keel_theap* heap, keel_page* page, void* block, size_t size, void* caller) {
    prof_record(heap, page, block, size, heap->sample_rate, caller);
}

/* ---- forgetting freed blocks ---- */

static void prof_forget(keel_page* page, const void* block) {
    prof_shard* sh = shard_of((uintptr_t)block);
    prof_sample* s;
    if (!prof_tables_ready()) return;   /* no sample taken yet */
    keel__lock(&sh->lock);
    s = sample_find(sh, (uintptr_t)block);
    if (s) {
        if (page) page_tag_remove(page, keel__profile_page_tag(page, block));
        sample_remove(sh, s);
    }
    keel__unlock(&sh->lock);
}

void keel__profile_free_in_page(keel_page* page, const void* block, bool owner) {
    uint32_t tag = keel__profile_page_tag(page, block);
    /* the block's own mark, if it is sampled, was written before it escaped */
    if (atomic_load_explicit(&page->a_sampled[0], memory_order_relaxed) == tag ||
        atomic_load_explicit(&page->a_sampled[1], memory_order_relaxed) == tag ||
        atomic_load_explicit(&page->a_sampled_more, memory_order_relaxed) != 0)
        prof_forget(page, block);
    /* only the owner adds marks, so none can appear behind its back */
    if (owner && atomic_load_explicit(&page->a_sampled[0], memory_order_relaxed) == 0 &&
        atomic_load_explicit(&page->a_sampled[1], memory_order_relaxed) == 0 &&
        atomic_load_explicit(&page->a_sampled_more, memory_order_relaxed) == 0)
        keel__page_flag_set(page, KEEL_PAGE_SAMPLED, false);
}

void keel__profile_free_large(const void* block) { prof_forget(NULL, block); }

/* Backward-shift deletion moves a later entry into the freed slot, so the
   slot is looked at again before the walk goes on. Nothing to walk unless
   a first-class heap's block was ever sampled. */
void keel__profile_forget_heap(const keel_theap* heap) {
    int k;
    if (!atomic_load_explicit(&a_first_class_sampled, memory_order_relaxed) || !prof_tables_ready()) return;
    for (k = 0; k < PROF_SHARDS; k++) {
        prof_shard* sh = &shards[k];
        size_t i = 0;
        keel__lock(&sh->lock);
        while (sh->count > 0 && i <= sh->mask) {
            uintptr_t b = sh->slots[i].block;
            keel_segment* seg = b ? keel__segment_of((const void*)b) : NULL;
            if (seg && atomic_load_explicit(&seg->a_heap, memory_order_relaxed) == heap) {
                sample_remove(sh, &sh->slots[i]);
                continue;
            }
            i++;
        }
        keel__unlock(&sh->lock);
    }
}

/* ---- the dump ---- */

typedef struct prof_out {
    int fd;
    int failed;            /* a write failed; errno says why */
    size_t len;
    char buf[4096];
} prof_out;

static void out_flush(prof_out* o) {
    if (!o->failed && o->len && keel__os_file_write(o->fd, o->buf, o->len) != 0) o->failed = 1;
    o->len = 0;
}

static void out_str(prof_out* o, const char* s) {
    for (; *s; s++) {
        if (o->len == sizeof o->buf) out_flush(o);
        o->buf[o->len++] = *s;
    }
}

static void out_uint(prof_out* o, unsigned long long v, int width) {
    char tmp[24];
    int n = 0;
    do tmp[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
    while (width-- > n) out_str(o, " ");
    while (n > 0) {
        char c[2] = {tmp[--n], '\0'};
        out_str(o, c);
    }
}

static void out_hex(prof_out* o, uintptr_t v) {
    char tmp[2 + 2 * sizeof v + 1];
    int n = 0, i;
    do tmp[n++] = "0123456789abcdef"[v & 15]; while ((v >>= 4) != 0);
    out_str(o, " 0x");
    for (i = n - 1; i >= 0; i--) {
        char c[2] = {tmp[i], '\0'};
        out_str(o, c);
    }
}

static unsigned long long round_count(double v) { return v <= 0.0 ? 0 : (unsigned long long)(v + 0.5); }

/* "<blocks>: <bytes> [<blocks>: <bytes>]": live, then allocated since start */
static void out_counts(prof_out* o, unsigned long long lb, unsigned long long ly, unsigned long long ab,
                       unsigned long long ay) {
    out_uint(o, lb, 6);
    out_str(o, ": ");
    out_uint(o, ly, 8);
    out_str(o, " [");
    out_uint(o, ab, 6);
    out_str(o, ": ");
    out_uint(o, ay, 8);
    out_str(o, "]");
}

/* Header and one line per stack (every lock of the profiler held). */
static void write_stacks_locked(prof_out* o) {
    unsigned long long t[4] = {0, 0, 0, 0};
    uint32_t i, k;   /* stacks, and frames or shards */
    size_t j;
    for (i = 0; i < stack_count; i++) {
        prof_stack* st = &stacks[i];
        st->live_blocks = st->live_bytes = st->alloc_blocks = st->alloc_bytes = 0.0;
        for (k = 0; k < PROF_SHARDS; k++) {
            st->alloc_blocks += shards[k].totals[i].blocks;
            st->alloc_bytes += shards[k].totals[i].bytes;
        }
    }
    if (prof_tables_ready()) {   /* else no shard has a table yet */
        for (k = 0; k < PROF_SHARDS; k++) {
            const prof_sample* t = shards[k].slots;
            for (j = 0; j <= shards[k].mask; j++) {
                if (t[j].block == 0) continue;
                stacks[t[j].stack].live_blocks += t[j].weight;
                stacks[t[j].stack].live_bytes += t[j].weight * (double)t[j].size;
            }
        }
    }
    for (i = 0; i < stack_count; i++) {
        t[0] += round_count(stacks[i].live_blocks);
        t[1] += round_count(stacks[i].live_bytes);
        t[2] += round_count(stacks[i].alloc_blocks);
        t[3] += round_count(stacks[i].alloc_bytes);
    }
    out_str(o, "heap profile: ");
    out_counts(o, t[0], t[1], t[2], t[3]);
    out_str(o, " @ heapprofile\n");
    for (i = 0; i < stack_count; i++) {
        const prof_stack* st = &stacks[i];
        out_counts(o, round_count(st->live_blocks), round_count(st->live_bytes), round_count(st->alloc_blocks),
                   round_count(st->alloc_bytes));
        out_str(o, " @");
        /* pprof takes the first address as it is and the others as return
           addresses (it subtracts one): the first is a return address too */
        for (k = 0; k < st->depth; k++) out_hex(o, st->frames[k] - (k == 0 ? 1 : 0));
        out_str(o, "\n");
    }
}

bool keel_profile_dump(const char* path) {
    prof_out o;
    int saved = errno, err = 0, fd;
    if (!keel__os_profile_supported()) {
        errno = ENOSYS;
        return false;
    }
    if (!path || !*path || !keel__profile_ever_on()) {
        errno = EINVAL;
        return false;
    }
    fd = keel__os_file_create(path);
    if (fd < 0) return false;
    o.fd = fd;
    o.failed = 0;
    o.len = 0;
    keel__profile_lock();
    write_stacks_locked(&o);
    out_str(&o, "\nMAPPED_LIBRARIES:\n");
    out_flush(&o);
    keel__profile_unlock();
    if (o.failed || keel__os_file_write_maps(fd) != 0) err = errno ? errno : EIO;
    if (keel__os_file_close(fd) != 0 && !err) err = errno ? errno : EIO;
    errno = err ? err : saved;
    return err == 0;
}

#if defined(__GNUC__)
/* KEEL_PROFILE=path: the profile at exit. */
__attribute__((destructor)) static void profile_at_exit(void) {
    const char* path = keel__option_profile_path();
    keel_line b = {.len = 0};
    if (!path) return;
    if (!keel__profile_ever_on()) {
        if (!keel__os_profile_supported()) keel__line_put(&b, "keel: no heap profile on this platform; KEEL_PROFILE ignored");
        else keel__line_put(&b, "keel: KEEL_PROFILE is set but profile_sample is 0: no heap profile written");
        keel__line_write(&b);
        return;
    }
    if (keel_profile_dump(path)) return;
    keel__line_put(&b, "keel: cannot write the heap profile to ");
    keel__line_put(&b, path);
    keel__line_write(&b);
}
#endif
