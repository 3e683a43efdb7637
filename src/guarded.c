/* guarded.c — the guarded pool: one segment of slots, each an OS page of
   data followed by a guard page (guarded.h says how sampling uses it). The
   records of the slots live here, never in the slots' pages, under one
   lock; system calls are made outside it. */
#include "guarded.h"
#include "options.h"
#include "profile.h"
#include "segment_map.h"

#include <errno.h>
#include <string.h>

enum { SLOT_FREE, SLOT_LIVE, SLOT_BUSY };

typedef struct guarded_slot {
    uint8_t* user;        /* what was handed out (the block's start, or keel_alloc_aligned's
                             pointer inside it); kept after the free: a second free of it
                             is a double free while the slot waits */
    uint32_t length;      /* the block's bytes, ending at the guard page */
    uint8_t state;        /* SLOT_*: BUSY while one thread commits or protects it */
    uint8_t committed;    /* its data page was committed once (then only protected) */
} guarded_slot;

static keel_lock pool_lock = KEEL_LOCK_INIT;
static keel_segment* pool;          /* NULL until the first sample is due */
static bool pool_failed;            /* the OS refused it: never asked again */
static uint8_t* slots_base;         /* slot i's data page: slots_base + i * 2 * page */
static size_t page, slot_count;
static guarded_slot slots[KEEL_GUARDED_SLOTS];
/* free slots, oldest free first: a slot leaves at the head, comes back at
   the tail, so a freed one waits behind every other */
static uint16_t ring[KEEL_GUARDED_SLOTS];
static size_t ring_head, ring_count;
_Static_assert(KEEL_GUARDED_SLOTS >= 1 && KEEL_GUARDED_SLOTS <= 65536, "KEEL_GUARDED_SLOTS: 1 to 65536");

/* for keel_get_stats and the report: read without the lock */
static _Atomic(size_t) a_live_blocks, a_live_bytes, a_taken, a_skipped, a_skipped_cost;

/* The cost cap (guarded.h, "What it costs"): the nanoseconds of system
   calls the pool may still spend. It earns one part in cost_share of the
   time that passes, keeps at most cost_burst, and pays what each protect
   or commit took. Under the lock. */
static int64_t budget_ns = KEEL_GUARDED_COST_BURST_NS;
static uint64_t budget_at;   /* when it last earned (keel__os_now_ns); 0: never */
static int64_t cost_burst = KEEL_GUARDED_COST_BURST_NS;
static uint64_t cost_share = KEEL_GUARDED_COST_SHARE;
_Static_assert(KEEL_GUARDED_COST_SHARE >= 1 && KEEL_GUARDED_COST_BURST_NS >= 0, "KEEL_GUARDED_COST_*");

void keel__guarded_lock(void) { keel__lock(&pool_lock); }
void keel__guarded_unlock(void) { keel__unlock(&pool_lock); }
void keel__guarded_child_reset(void) { keel__lock_reset(&pool_lock); }

static void counter_add(_Atomic(size_t)* c, size_t d) { atomic_fetch_add_explicit(c, d, memory_order_relaxed); }

/* The block's length for a request of size bytes, or 0 when no slot fits
   it. The hardened build places the size class's block, so that its
   canary (written by class, harden.h) lies inside. */
static size_t block_length(size_t size) {
    size_t len;
#if KEEL_HARDENED
    if (size > KEEL_SMALL_MAX) return 0;
    len = keel__class_size[keel__class_of(size)];
#else
    len = size == 0 ? KEEL_ALIGN : (size + KEEL_ALIGN - 1) & ~(size_t)(KEEL_ALIGN - 1);
#endif
    return len <= vmem_get_page_size() ? len : 0;
}

/* The pool's segment: reserved, header committed, registered. Caller holds
   the lock. */
static bool pool_make(void) {
    size_t header, i;
    keel_segment* seg;
    page = vmem_get_page_size();
    header = (sizeof(keel_segment) + sizeof(keel_page) + page - 1) & ~(page - 1);
    if (header + 3 * page > KEEL_SEGMENT_SIZE) return false;   /* pages too large for slots */
    seg = (keel_segment*)vmem_reserve_aligned(KEEL_SEGMENT_SIZE, KEEL_SEGMENT_SIZE);
    if (!seg) return false;
    if (!keel__commit_charge(header)) goto release;
    if (!vmem_commit(seg, header)) {
        keel__stat_committed(-(ptrdiff_t)header);
        goto release;
    }
    memset(seg, 0, sizeof(keel_segment) + sizeof(keel_page));
    seg->kind = KEEL_SEGMENT_GUARDED;
    seg->page_shift = (uint32_t)(sizeof(uintptr_t) * 8 - 1);   /* every address: pages[0] */
    seg->page_count = 1;                                         /* a_stat_pages 0: no class pages */
    seg->reserved = KEEL_SEGMENT_SIZE;
    seg->header_size = header;
    seg->cookie = KEEL_SEGMENT_COOKIE;
    seg->pages[0].in_full = 1;   /* never the fast free path (no owner either) */
    if (!keel__segment_register(seg)) {
        (void)vmem_decommit(seg, header);
        keel__stat_committed(-(ptrdiff_t)header);
        goto release;
    }
    keel__stat_reserved((ptrdiff_t)KEEL_SEGMENT_SIZE);
    slots_base = (uint8_t*)seg + header + page;   /* a guard page after the header */
    slot_count = (KEEL_SEGMENT_SIZE - header - page) / (2 * page);
    if (slot_count > KEEL_GUARDED_SLOTS) slot_count = KEEL_GUARDED_SLOTS;
    for (i = 0; i < slot_count; i++) ring[i] = (uint16_t)i;
    ring_head = 0;
    ring_count = slot_count;
    pool = seg;
    return true;
release:
    (void)vmem_release(seg, KEEL_SEGMENT_SIZE);
    return false;
}

static uint8_t* slot_data(size_t i) { return slots_base + i * 2 * page; }

/* The slot whose data page holds p, or NULL. Caller holds the lock. */
static guarded_slot* slot_of(const void* p) {
    size_t off, i;
    if (!pool || (const uint8_t*)p < slots_base) return NULL;
    off = (size_t)((const uint8_t*)p - slots_base);
    i = off / (2 * page);
    if (i >= slot_count || off % (2 * page) >= page) return NULL;
    return &slots[i];
}

/* Whether the budget allows a sample now. Caller holds the lock. */
static bool budget_allows(uint64_t now) {
    if (budget_at == 0 || now < budget_at) budget_at = now;
    if (now - budget_at >= cost_share) {   /* whole nanoseconds earned; the rest stays for later */
        uint64_t earned = (now - budget_at) / cost_share;
        budget_at += earned * cost_share;
        budget_ns = earned >= (uint64_t)(cost_burst - budget_ns) ? cost_burst : budget_ns + (int64_t)earned;
    }
    return budget_ns > 0;
}

/* Pays for a system call that began at t0. */
static void budget_pay(uint64_t t0) {
    uint64_t t1 = keel__os_now_ns();
    int64_t spent = t1 > t0 ? (int64_t)(t1 - t0) : 0;
    keel__lock(&pool_lock);
    budget_ns -= spent;
    keel__unlock(&pool_lock);
}

void keel__guarded_cost_cap(int64_t burst_ns, uint64_t share) {
    keel__lock(&pool_lock);
    cost_burst = burst_ns < 0 ? KEEL_GUARDED_COST_BURST_NS : burst_ns;
    cost_share = share == 0 ? KEEL_GUARDED_COST_SHARE : share;
    budget_ns = cost_burst;
    budget_at = 0;
    keel__unlock(&pool_lock);
}

static void ring_push(size_t i) {
    ring[(ring_head + ring_count) % slot_count] = (uint16_t)i;
    ring_count++;
}

/* A slot's data page, committed for the first time (charged against
   keel_set_limit's cap like any commit). */
static bool slot_commit(uint8_t* data) {
    if (!keel__commit_charge(page)) return false;
    if (vmem_commit(data, page)) return true;
    keel__stat_committed(-(ptrdiff_t)page);
    return false;
}

void* keel__guarded_alloc(size_t size, bool zero, size_t stands_for, bool* capped_out) {
    size_t len = block_length(size), i;
    guarded_slot* s;
    uint8_t* data;
    uint8_t* p;
    bool fresh, capped, ok;
    uint64_t t0;
    if (len == 0) return NULL;
    /* N = 1 asks for every block whatever it costs; N > 1 is sampling,
       within the cost cap */
    capped = keel__option(KEEL_OPT_GUARDED_SAMPLE_RATE) != 1;
    t0 = capped ? keel__os_now_ns() : 0;
    keel__lock(&pool_lock);
    if (capped && !budget_allows(t0)) {
        keel__unlock(&pool_lock);
        counter_add(&a_skipped_cost, stands_for);
        *capped_out = true;
        return NULL;
    }
    if (!pool && !pool_failed) pool_failed = !pool_make();
    if (!pool) {
        keel__unlock(&pool_lock);
        return NULL;
    }
    if (ring_count == 0) {   /* every slot in use: this one goes unguarded */
        keel__unlock(&pool_lock);
        counter_add(&a_skipped, 1);
        return NULL;
    }
    i = ring[ring_head];
    ring_head = (ring_head + 1) % slot_count;
    ring_count--;
    s = &slots[i];
    s->state = SLOT_BUSY;
    keel__unlock(&pool_lock);

    data = slot_data(i);
    fresh = !s->committed;
    if (capped) t0 = keel__os_now_ns();
    ok = fresh ? slot_commit(data) : vmem_protect(data, page, VMEM_READ_WRITE);
    if (capped) budget_pay(t0);
    if (!ok) {
        keel__lock(&pool_lock);
        s->state = SLOT_FREE;
        ring_push(i);
        keel__unlock(&pool_lock);
        return NULL;
    }
    s->committed = 1;
    p = data + page - len;
    if (zero && !fresh) memset(p, 0, len);

    keel__lock(&pool_lock);
    s->user = p;
    s->length = (uint32_t)len;
    s->state = SLOT_LIVE;
    counter_add(&a_live_blocks, 1);   /* under the lock: validate compares them with the slots */
    counter_add(&a_live_bytes, len);
    counter_add(&a_taken, 1);
    keel__unlock(&pool_lock);
    return p;
}

/* The live slot handed out as p, else the program ends: "double free of"
   for a free of a freed block's pointer, "<op> of invalid pointer"
   otherwise. Caller holds the lock; it is released before the end. */
static guarded_slot* live_slot(const void* p, const char* op) {
    guarded_slot* s = slot_of(p);
    if (s && s->state == SLOT_LIVE && s->user == (const uint8_t*)p) return s;
    keel__unlock(&pool_lock);
    if (s && s->state == SLOT_FREE && s->user == (const uint8_t*)p && op[0] == 'f') keel__misuse_double_free(p);
    keel__misuse_invalid(op, p);
}

void keel__guarded_moved(void* p, void* q) {
    guarded_slot* s;
    keel__lock(&pool_lock);
    s = live_slot(p, "free");
    s->user = (uint8_t*)q;
    keel__unlock(&pool_lock);
}

void keel__guarded_free(void* p) {
    guarded_slot* s;
    size_t i, len;
    uint8_t* data;
    uint64_t t0;
    bool capped, ok;
    int saved = errno;
    keel__lock(&pool_lock);
    s = live_slot(p, "free");
    s->state = SLOT_BUSY;
    i = (size_t)(s - slots);
    len = s->length;
    counter_add(&a_live_blocks, (size_t)0 - 1);
    counter_add(&a_live_bytes, (size_t)0 - len);
    keel__unlock(&pool_lock);
    data = slot_data(i);
    if (keel__profile_ever_on()) keel__profile_free_large(data + page - len);
    /* inaccessible from now on; a slot the OS would not protect is never
       reused (it stays BUSY). Paid from the cost cap's budget at N > 1. */
    capped = keel__option(KEEL_OPT_GUARDED_SAMPLE_RATE) != 1;
    t0 = capped ? keel__os_now_ns() : 0;
    ok = vmem_protect(data, page, VMEM_NO_ACCESS);
    if (capped) budget_pay(t0);
    if (ok) {
        keel__lock(&pool_lock);
        s->state = SLOT_FREE;
        ring_push(i);
        keel__unlock(&pool_lock);
    }
    errno = saved;
}

size_t keel__guarded_usable(const void* p, const char* op) {
    guarded_slot* s;
    size_t n;
    keel__lock(&pool_lock);
    s = live_slot(p, op);
    n = (size_t)(slot_data((size_t)(s - slots)) + page - (const uint8_t*)p);
    keel__unlock(&pool_lock);
    return n;
}

uint8_t* keel__guarded_end(const void* p, uint8_t** start) {
    guarded_slot* s;
    uint8_t* end;
    keel__lock(&pool_lock);
    s = live_slot(p, "free");
    end = slot_data((size_t)(s - slots)) + page;
    if (start) *start = end - s->length;
    keel__unlock(&pool_lock);
    return end;
}

void keel__guarded_live(size_t* blocks, size_t* bytes) {
    *blocks = atomic_load_explicit(&a_live_blocks, memory_order_relaxed);
    *bytes = atomic_load_explicit(&a_live_bytes, memory_order_relaxed);
}

void keel__guarded_counts(size_t* taken, size_t* skipped, size_t* skipped_cost) {
    *taken = atomic_load_explicit(&a_taken, memory_order_relaxed);
    *skipped = atomic_load_explicit(&a_skipped, memory_order_relaxed);
    *skipped_cost = atomic_load_explicit(&a_skipped_cost, memory_order_relaxed);
}

void keel__guarded_validate(void) {
    size_t i, live = 0, bytes = 0;
    unsigned char seen[KEEL_GUARDED_SLOTS];
    keel__lock(&pool_lock);
    if (!pool) {
        keel__unlock(&pool_lock);
        return;
    }
    memset(seen, 0, sizeof seen);
    for (i = 0; i < ring_count; i++) {
        size_t k = ring[(ring_head + i) % slot_count];
        if (k >= slot_count || seen[k] || slots[k].state != SLOT_FREE) {
            keel__unlock(&pool_lock);
            keel__corruption("guarded pool: a free slot listed twice, or not free");
        }
        seen[k] = 1;
    }
    for (i = 0; i < slot_count; i++) {
        const guarded_slot* s = &slots[i];
        if (s->state == SLOT_LIVE) {
            live++;
            bytes += s->length;
            if (s->user < slot_data(i) + page - s->length || s->user >= slot_data(i) + page || !s->committed) {
                keel__unlock(&pool_lock);
                keel__corruption("guarded pool: a live block's record is out of its slot");
            }
        } else if (s->state == SLOT_FREE && !seen[i]) {
            keel__unlock(&pool_lock);
            keel__corruption("guarded pool: a free slot is not in the free ring");
        }
    }
    /* the counters move with the states, under the lock */
    if (live != atomic_load_explicit(&a_live_blocks, memory_order_relaxed) ||
        bytes != atomic_load_explicit(&a_live_bytes, memory_order_relaxed)) {
        keel__unlock(&pool_lock);
        keel__corruption("guarded pool: the live counts disagree with the slots");
    }
    keel__unlock(&pool_lock);
}
