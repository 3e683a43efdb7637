/* arena.h — bump allocation on one reservation of address space, committing
   as it grows. Built on vmem.h; part of libkeel.

   COST MODEL
     keel_arena_init      one reserve system call; nothing committed, so an
                          arena of 64 GiB costs address space only.
     keel_arena_push      a few additions and one compare. When the block
                          crosses the committed end, one commit system call
                          extends it by max(64 KiB, committed/4), rounded to
                          pages: growing to N bytes takes O(log N) commits.
     keel_arena_push_zero as push, plus a memset of only the part of the block
                          that earlier pushes may have written (pages committed
                          fresh already read as zero).
     keel_arena_pop_to    one store; memory stays committed for reuse.
     keel_arena_clear     pos back to 0; one decommit system call gives back
                          everything committed beyond keep_on_clear (1 MiB by
                          default), so a reused arena stays warm but bounded.
     keel_arena_release   one decommit and one release system call.

   ERRORS
     push returns NULL, with errno ENOMEM, when the reservation is exhausted
     or the OS refuses a commit; the arena is unchanged and stays usable.
     Alignment 0 or not a power of two gives NULL with errno EINVAL.
     Alignments are honoured on the absolute address, so any power of two
     works (above the page size, the padding comes out of the reservation).
     All size arithmetic is checked for overflow.

   THREADS
     An arena belongs to one thread at a time; it has no lock.
*/
#ifndef KEEL_ARENA_H
#define KEEL_ARENA_H

#include <stddef.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif

#ifndef KEEL_API
#  if defined(_WIN32) && defined(KEEL_DLL_EXPORT)
#    define KEEL_API __declspec(dllexport)
#  elif defined(_WIN32) && defined(KEEL_DLL)
#    define KEEL_API __declspec(dllimport)
#  elif defined(__GNUC__)
#    define KEEL_API __attribute__((visibility("default")))
#  else
#    define KEEL_API
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct keel_arena {    /* fields public so it can live on the stack; treat as read-only */
    char*  base;               /* start of the reservation (NULL: not initialised / released)   */
    size_t reserved;           /* bytes reserved                                                  */
    size_t committed;          /* bytes committed from base; pos <= committed <= reserved         */
    size_t pos;                /* bytes in use from base                                          */
    size_t keep_on_clear;      /* bytes clear() keeps committed; the one field a caller may set  */
    size_t dirty;              /* bytes from base that may hold non-zero data                     */
} keel_arena;

/* Reserves max_bytes (rounded up to the allocation granularity), commits
   nothing. False (errno EINVAL for 0, ENOMEM when the OS refuses) leaves
   *arena zeroed. */
KEEL_API bool keel_arena_init(keel_arena* arena, size_t max_bytes);

/* num_bytes aligned to alignment (a power of two). NULL when full or a commit
   fails (errno ENOMEM), or for a bad alignment (errno EINVAL); the arena is
   unchanged. num_bytes 0 gives a valid pointer to no bytes. */
KEEL_API void* keel_arena_push(keel_arena* arena, size_t num_bytes, size_t alignment);

/* As keel_arena_push, with the block zeroed. */
KEEL_API void* keel_arena_push_zero(keel_arena* arena, size_t num_bytes, size_t alignment);

/* Current position: bytes in use from base, for keel_arena_pop_to. */
KEEL_API size_t keel_arena_pos(const keel_arena* arena);

/* Frees everything pushed after pos. A pos beyond the current one changes
   nothing and sets errno EINVAL. */
KEEL_API void keel_arena_pop_to(keel_arena* arena, size_t pos);

/* Back to 0; keeps at most keep_on_clear bytes (1 MiB by default) committed
   and gives the rest back to the OS. */
KEEL_API void keel_arena_clear(keel_arena* arena);

/* Decommits and releases everything; vmem's counters return to where init
   found them and *arena is zeroed. If the OS refuses the decommit (in
   practice only under fault injection) the arena is left as it was, still
   usable, errno is set, and a later release can finish the job. NULL or a
   released arena: no-op. */
KEEL_API void keel_arena_release(keel_arena* arena);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_ARENA_H */
