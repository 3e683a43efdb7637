/* arena.c — bump allocation on one vmem reservation (include/keel/arena.h). */
#include "keel/arena.h"
#include "keel/vmem.h"
#include "options.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static bool arena_is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

static size_t arena_min(size_t a, size_t b) { return a < b ? a : b; }

bool keel_arena_init(keel_arena* arena, size_t max_bytes) {
    size_t gran = vmem_get_page_info().alloc_alignment;
    if (!arena) { errno = EINVAL; return false; }
    memset(arena, 0, sizeof *arena);
    if (max_bytes == 0 || max_bytes > SIZE_MAX - (gran - 1)) { errno = max_bytes ? ENOMEM : EINVAL; return false; }
    arena->base = (char*)vmem_reserve(max_bytes);
    if (!arena->base) { errno = ENOMEM; return false; }
    arena->reserved = (max_bytes + (gran - 1)) & ~(gran - 1);
    arena->keep_on_clear = keel__option_size(KEEL_OPT_ARENA_CLEAR_KEEP);
    return true;
}

/* Commits so that at least `need` bytes from base are usable; need <= reserved. */
static bool arena_grow(keel_arena* arena, size_t need) {
    size_t page = vmem_get_page_size();
    size_t room = arena->reserved - arena->committed;
    size_t step = arena->committed / 4, target;
    if (step < keel__option_size(KEEL_OPT_ARENA_COMMIT_MIN)) step = keel__option_size(KEEL_OPT_ARENA_COMMIT_MIN);
    target = step < room && arena->committed + step > need ? arena->committed + step : need;
    /* reserved is a multiple of the page size: round up, never past it */
    target = target > arena->reserved - (page - 1) ? arena->reserved : (target + (page - 1)) & ~(page - 1);
    if (!vmem_commit(arena->base + arena->committed, target - arena->committed)) {
        errno = ENOMEM;
        return false;
    }
    arena->committed = target;
    return true;
}

/* Where a block of num_bytes aligned to alignment starts; false when it does
   not fit (errno set). */
static bool arena_place(keel_arena* arena, size_t num_bytes, size_t alignment, size_t* start) {
    uintptr_t cur, aligned;
    if (!arena || !arena->base || !arena_is_pow2(alignment)) { errno = EINVAL; return false; }
    cur = (uintptr_t)arena->base + arena->pos;
    if (cur > UINTPTR_MAX - (alignment - 1)) { errno = ENOMEM; return false; }
    aligned = (cur + (alignment - 1)) & ~(uintptr_t)(alignment - 1);
    *start = (size_t)(aligned - (uintptr_t)arena->base);
    if (*start > arena->reserved || num_bytes > arena->reserved - *start) { errno = ENOMEM; return false; }
    if (*start + num_bytes > arena->committed && !arena_grow(arena, *start + num_bytes)) return false;
    return true;
}

void* keel_arena_push(keel_arena* arena, size_t num_bytes, size_t alignment) {
    size_t start;
    if (!arena_place(arena, num_bytes, alignment, &start)) return NULL;
    arena->pos = start + num_bytes;
    if (arena->pos > arena->dirty) arena->dirty = arena->pos;
    return arena->base + start;
}

void* keel_arena_push_zero(keel_arena* arena, size_t num_bytes, size_t alignment) {
    size_t start;
    if (!arena_place(arena, num_bytes, alignment, &start)) return NULL;
    if (start < arena->dirty) memset(arena->base + start, 0, arena_min(num_bytes, arena->dirty - start));
    arena->pos = start + num_bytes;
    if (arena->pos > arena->dirty) arena->dirty = arena->pos;
    return arena->base + start;
}

size_t keel_arena_pos(const keel_arena* arena) { return arena ? arena->pos : 0; }

void keel_arena_pop_to(keel_arena* arena, size_t pos) {
    if (!arena || pos > arena->pos) { errno = EINVAL; return; }
    arena->pos = pos;
}

void keel_arena_clear(keel_arena* arena) {
    size_t page = vmem_get_page_size(), keep;
    if (!arena || !arena->base) return;
    arena->pos = 0;
    /* committed is a multiple of the page size, so rounding up stays below it */
    keep = arena_min(arena->keep_on_clear, arena->committed);
    keep = (keep + (page - 1)) & ~(page - 1);
    if (keep < arena->committed && vmem_decommit(arena->base + keep, arena->committed - keep)) {
        arena->committed = keep;
        if (arena->dirty > keep) arena->dirty = keep;
    }
}

void keel_arena_release(keel_arena* arena) {
    if (!arena || !arena->base) return;
    if (arena->committed && !vmem_decommit(arena->base, arena->committed)) { errno = ENOMEM; return; }
    arena->committed = 0;
    arena->dirty = 0;
    if (!vmem_release(arena->base, arena->reserved)) { errno = EINVAL; return; }
    memset(arena, 0, sizeof *arena);
}
