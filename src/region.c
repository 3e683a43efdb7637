/* region.c — the chunks of a caller's reservation that a first-class heap
   lives in (keel_heap_new_in, DESIGN.md section 11): a bitmap of
   KEEL_SEGMENT_SIZE chunks, the first of them the heap's home segment.
   Segments (segment.c) and large blocks (large.c) take their address
   space here instead of from vmem, and commit and decommit inside it.
   Entry points: keel__region_take, keel__region_give. */
#include "internal.h"

static bool chunk_used(const keel_region* r, size_t i) {
    return (r->used[i / 64] >> (i % 64)) & 1;
}

static void chunks_mark(keel_region* r, size_t first, size_t n, bool used) {
    size_t i;
    for (i = first; i < first + n; i++) {
        if (used) r->used[i / 64] |= (uint64_t)1 << (i % 64);
        else r->used[i / 64] &= ~((uint64_t)1 << (i % 64));
    }
    if (used) r->used_count += n;
    else r->used_count -= n;
}

/* First fit; a run may start only at a chunk aligned as asked. */
void* keel__region_take(keel_region* r, size_t n, size_t alignment) {
    size_t step = alignment > KEEL_SEGMENT_SIZE ? alignment / KEEL_SEGMENT_SIZE : 1;
    size_t first, i;
    void* at = NULL;
    keel__lock(&r->lock);
    /* the first chunk whose address is aligned */
    first = (size_t)((((uintptr_t)r->base + alignment - 1) & ~(uintptr_t)(alignment - 1)) - (uintptr_t)r->base) /
            KEEL_SEGMENT_SIZE;
    if (alignment < KEEL_SEGMENT_SIZE) first = 0;
    for (; n <= r->chunk_count - r->used_count && first + n <= r->chunk_count; first += step) {
        for (i = 0; i < n && !chunk_used(r, first + i); i++) {
        }
        if (i == n) {
            chunks_mark(r, first, n, true);
            at = r->base + first * KEEL_SEGMENT_SIZE;
            break;
        }
    }
    keel__unlock(&r->lock);
    return at;
}

void keel__region_give(keel_region* r, void* at, size_t n) {
    size_t first = (size_t)((uint8_t*)at - r->base) / KEEL_SEGMENT_SIZE;
    keel__lock(&r->lock);
    chunks_mark(r, first, n, false);
    keel__unlock(&r->lock);
}
