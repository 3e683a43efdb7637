/* segment_map.h — which addresses are keel's: the segment map (4 MiB chunk
   of address space -> its segment) and the list of every segment, with the
   lock that guards both (segment.c's cache of empty segments shares it). The reader, keel__segment_of, is inline: keel_free
   calls it on every pointer. Writer: segment_map.c. */
#ifndef KEEL_SEGMENT_MAP_H
#define KEEL_SEGMENT_MAP_H

#include "internal.h"

/* Two levels, so no giant table is reserved up front (ulimit -v): a static
   top table and 64 KiB leaves made on demand, never freed. */
#if UINTPTR_MAX > 0xFFFFFFFFu
#define KEEL_MAP_ADDRESS_BITS 48
#else
#define KEEL_MAP_ADDRESS_BITS 32
#endif
#define KEEL_MAP_LEAF_BITS 13
#define KEEL_MAP_LEAF_COUNT ((size_t)1 << KEEL_MAP_LEAF_BITS)
#define KEEL_MAP_CHUNK_BITS (KEEL_MAP_ADDRESS_BITS - KEEL_SEGMENT_SHIFT)
#define KEEL_MAP_TOP_COUNT \
    (KEEL_MAP_CHUNK_BITS > KEEL_MAP_LEAF_BITS ? ((size_t)1 << (KEEL_MAP_CHUNK_BITS - KEEL_MAP_LEAF_BITS)) : 1)
typedef _Atomic(struct keel_segment*) keel_map_entry;
extern KEEL_HIDDEN _Atomic(keel_map_entry*) keel__map_top[KEEL_MAP_TOP_COUNT];

/* The segment holding p, or NULL when p is not keel's; never touches p.
   Relaxed loads: whoever frees a block got it, through some happens-before
   chain, from the thread that allocated it, which saw the segment published
   (release stores under the segments lock). A pointer keel never handed out
   may read a stale NULL: it is invalid anyway. */
static inline keel_segment* keel__segment_of(const void* p) {
    uintptr_t a = (uintptr_t)p;
    size_t chunk = (size_t)(a >> KEEL_SEGMENT_SHIFT), top = chunk >> KEEL_MAP_LEAF_BITS;
    keel_map_entry* leaf;
#if KEEL_MAP_ADDRESS_BITS < 64 && UINTPTR_MAX > 0xFFFFFFFFu
    /* an address past the map's bits: the top index says so (one compare
       on the index the lookup needs anyway) */
    if (KEEL_UNLIKELY(top >= KEEL_MAP_TOP_COUNT)) return NULL;
#endif
    leaf = atomic_load_explicit(&keel__map_top[top], memory_order_relaxed);
    if (KEEL_UNLIKELY(leaf == NULL)) return NULL;
    return atomic_load_explicit(&leaf[chunk & (KEEL_MAP_LEAF_COUNT - 1)], memory_order_relaxed);
}

/* Registers a new segment (map + list); false: out of memory, nothing kept. */
KEEL_HIDDEN bool keel__segment_register(keel_segment* seg);
KEEL_HIDDEN void keel__segment_unregister(keel_segment* seg);
KEEL_HIDDEN bool keel__segment_map_prepare(const void* lo, size_t bytes);   /* leaves for [lo, lo + bytes) */
/* Every registered segment, through all_next (hold keel__segments_lock). */
extern KEEL_HIDDEN keel_segment* keel__segments;
KEEL_HIDDEN void keel__segments_lock(void);
KEEL_HIDDEN bool keel__segments_lock_try(void);
KEEL_HIDDEN void keel__segments_unlock(void);
KEEL_HIDDEN void keel__segments_child_reset(void);   /* in a forked child */

#endif /* KEEL_SEGMENT_MAP_H */
