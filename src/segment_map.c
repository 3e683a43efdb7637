/* segment_map.c — the writer side of the segment map and the list of every
   segment (segment_map.h has the reader). Entries are atomics: writers
   publish under keel__segments_lock, readers (free, usable_size) take no
   lock. Entry points: keel__segment_register, keel__segment_unregister. */
#include "segment_map.h"

_Atomic(keel_map_entry*) keel__map_top[KEEL_MAP_TOP_COUNT];
keel_segment* keel__segments;                      /* every segment, for stats/validate/fork */
static keel_lock segments_lock = KEEL_LOCK_INIT;

void keel__segments_lock(void) { keel__lock(&segments_lock); }
bool keel__segments_lock_try(void) { return keel__lock_try(&segments_lock); }
void keel__segments_unlock(void) { keel__unlock(&segments_lock); }
void keel__segments_child_reset(void) { keel__lock_reset(&segments_lock); }

/* The chunks of [lo, lo + bytes) by index: a span may end at the top of
   the address space (32-bit), where lo + bytes wraps to 0, so addresses are
   never stepped past its last byte. */
static size_t chunk_first(uintptr_t lo) { return (size_t)(lo >> KEEL_SEGMENT_SHIFT); }
static size_t chunk_last(uintptr_t lo, size_t bytes) { return (size_t)((lo + (bytes - 1)) >> KEEL_SEGMENT_SHIFT); }

/* Caller holds segments_lock. false: no memory for a leaf. */
static bool map_set_locked(keel_segment* seg, bool present) {
    size_t chunk, last = chunk_last((uintptr_t)seg, seg->reserved);
    for (chunk = chunk_first((uintptr_t)seg); chunk <= last; chunk++) {
        keel_map_entry* leaf = atomic_load_explicit(&keel__map_top[chunk >> KEEL_MAP_LEAF_BITS], memory_order_relaxed);
        if (!leaf) {
            if (!present) continue;
            if (!keel__commit_charge(KEEL_MAP_LEAF_COUNT * sizeof(keel_map_entry))) return false;
            leaf = (keel_map_entry*)vmem_alloc(KEEL_MAP_LEAF_COUNT * sizeof(keel_map_entry));
            if (!leaf) {
                keel__stat_committed(-(ptrdiff_t)(KEEL_MAP_LEAF_COUNT * sizeof(keel_map_entry)));
                return false;
            }
            keel__stat_reserved((ptrdiff_t)(KEEL_MAP_LEAF_COUNT * sizeof(keel_map_entry)));
            /* release: the leaf's zero entries are visible before the leaf */
            atomic_store_explicit(&keel__map_top[chunk >> KEEL_MAP_LEAF_BITS], leaf, memory_order_release);
        }
        /* release: the segment header is initialised before anyone finds it */
        atomic_store_explicit(&leaf[chunk & (KEEL_MAP_LEAF_COUNT - 1)], present ? seg : NULL, memory_order_release);
    }
    return true;
}

static void all_list_add(keel_segment* seg) {
    seg->all_prev = NULL;
    seg->all_next = keel__segments;
    if (keel__segments) keel__segments->all_prev = seg;
    keel__segments = seg;
}

static void all_list_remove(keel_segment* seg) {
    if (seg->all_prev) seg->all_prev->all_next = seg->all_next;
    else keel__segments = seg->all_next;
    if (seg->all_next) seg->all_next->all_prev = seg->all_prev;
    seg->all_next = seg->all_prev = NULL;
}

/* Makes the map's leaves for [lo, hi) that do not exist yet, so that
   registering segments there later needs no memory (keel_heap_new_in);
   false: out of memory. */
bool keel__segment_map_prepare(const void* lo, size_t bytes) {
    size_t chunk, last = chunk_last((uintptr_t)lo, bytes);
    bool ok = true;
    keel__segments_lock();
    for (chunk = chunk_first((uintptr_t)lo); ok && chunk <= last; chunk++) {
        size_t top = chunk >> KEEL_MAP_LEAF_BITS;
        keel_map_entry* leaf = atomic_load_explicit(&keel__map_top[top], memory_order_relaxed);
        if (leaf) continue;
        ok = keel__commit_charge(KEEL_MAP_LEAF_COUNT * sizeof(keel_map_entry));
        leaf = ok ? (keel_map_entry*)vmem_alloc(KEEL_MAP_LEAF_COUNT * sizeof(keel_map_entry)) : NULL;
        if (!leaf) {
            if (ok) keel__stat_committed(-(ptrdiff_t)(KEEL_MAP_LEAF_COUNT * sizeof(keel_map_entry)));
            ok = false;
            break;
        }
        keel__stat_reserved((ptrdiff_t)(KEEL_MAP_LEAF_COUNT * sizeof(keel_map_entry)));
        /* release: the leaf's zero entries are visible before the leaf */
        atomic_store_explicit(&keel__map_top[top], leaf, memory_order_release);
    }
    keel__segments_unlock();
    return ok;
}

bool keel__segment_register(keel_segment* seg) {
    bool ok;
    keel__segments_lock();
    ok = map_set_locked(seg, true);
    if (ok) all_list_add(seg);
    else (void)map_set_locked(seg, false);
    keel__segments_unlock();
    return ok;
}

void keel__segment_unregister(keel_segment* seg) {
    keel__segments_lock();
    (void)map_set_locked(seg, false);
    all_list_remove(seg);
    keel__segments_unlock();
}
