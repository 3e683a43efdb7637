/* keel.h — the keel heap: a thread-safe general-purpose allocator that lives
   beside the C heap (and can replace it, see the override library).

   CONTRACT (DESIGN.md section 4)
     - Every function may be called from any thread at any time; a block may
       be freed by a thread other than the one that allocated it, including
       threads that never allocated and after the allocating thread exited.
     - Every block is 16-byte aligned. Every allocation failure returns NULL
       and sets errno = ENOMEM (after the out-of-memory handler, if any, has
       declined to retry).
     - The heap is separate from malloc's: a block goes back to the heap it
       came from. Passing keel a pointer it does not own is reported on
       stderr ("keel: free of invalid pointer 0x...") and changes nothing.
       A pointer into keel's memory that is not a live block's start (a
       double free, an interior or unaligned pointer) ends the program:
       "keel: double free of 0x..." or "keel: free of invalid pointer
       0x..." (realloc, usable_size likewise), then abort(); so does a free
       block whose link was overwritten, when keel would take it ("keel:
       heap corruption: ...").
     - Nothing is torn down at exit: frees from atexit handlers, TLS
       destructors and late threads keep working.

   Link: libkeel.a (with -lpthread) or libkeel.so. C++: keel/keel.hpp.
*/
#ifndef KEEL_KEEL_H
#define KEEL_KEEL_H

/* The version of this header; keel_version() gives the library's, which a
   program linked with another build of the library may differ from. */
#define KEEL_VERSION_MAJOR 0
#define KEEL_VERSION_MINOR 1
#define KEEL_VERSION_PATCH 0

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

/* num_bytes, 16-byte aligned. NULL (errno ENOMEM) on failure. keel_alloc(0)
   returns a unique pointer that must be freed. */
KEEL_API void* keel_alloc(size_t num_bytes);

/* ptr NULL: keel_alloc(num_bytes), 0 included. Otherwise num_bytes 0 frees
   ptr and returns NULL. Contents are kept up to the smaller size; the block
   grows or shrinks in place when it can. On failure ptr is untouched and
   still valid. */
KEEL_API void* keel_realloc(void* ptr, size_t num_bytes);

/* Frees a block from any keel function. NULL is a no-op; errno is preserved. */
KEEL_API void keel_free(void* ptr);

/* num_bytes aligned to alignment: any power of two up to at least 16 MiB
   (up to 1 GiB in fact); below 16 acts as 16. 0 or not a power of two: NULL
   with errno ENOMEM, like every failure. num_bytes 0 gives a unique pointer,
   as keel_alloc(0) does. Freed with keel_free. */
KEEL_API void* keel_alloc_aligned(size_t num_bytes, size_t alignment);

/* count * size bytes, zeroed. NULL (errno ENOMEM) when the product
   overflows. Memory fresh from the OS is not zeroed twice. */
KEEL_API void* keel_calloc(size_t count, size_t size);

/* Bytes usable in the block (>= the size asked for). 0 for NULL; 0 and a
   report on stderr for a pointer keel does not own. */
KEEL_API size_t keel_usable_size(const void* ptr);

/* C form of Plywood's Heap::create<T>/destroy: keel_create(Foo, .x = 1)
   allocates a Foo (aligned for Foo) initialised like the compound literal
   (Foo){.x = 1}; keel_create(Foo, 0) zeroes it. NULL on failure. */
#define keel_create(T, ...) \
    ((T*)keel__create_copy(&(T){__VA_ARGS__}, sizeof(T), _Alignof(T)))
#define keel_destroy(ptr) keel_free(ptr)

/* Out of memory: when the OS refuses memory, keel first gives back what it
   holds cached and retries; then it calls the handler (outside any lock)
   with the size asked for. true: "I freed something, retry" (each retry may
   flush caches again); false: the call returns NULL. NULL handler: none. */
typedef bool (*keel_oom_handler)(size_t num_bytes, void* user_data);
KEEL_API void keel_set_out_of_memory_handler(keel_oom_handler handler, void* user_data);

typedef struct keel_stats {
    size_t num_bytes_allocated;       /* sum of the usable sizes of all live blocks, process-wide */
    size_t virtual_memory_size;       /* memory the heap holds committed (and not reset), bookkeeping included */
    size_t peak_virtual_memory_size;  /* highest virtual_memory_size so far */
    size_t reserved_bytes;            /* address space the heap holds reserved */
    size_t cached_bytes;              /* part of virtual_memory_size held in caches of empty memory */
    size_t num_allocs;                /* allocations so far (a moving realloc counts one alloc and one free) */
    size_t num_frees;                 /* frees so far: num_allocs - num_live_blocks */
    size_t num_live_blocks;           /* num_allocs - num_frees */
    size_t num_segments;              /* segments held (small/medium pages and large blocks) */
    size_t num_heaps;                 /* thread heaps alive */
} keel_stats;

/* Process-wide and exact whenever no other thread is allocating at that
   moment. After every block is freed num_bytes_allocated is back where it
   started; keel's metadata is never in it. */
KEEL_API keel_stats keel_get_stats(void);

/* Checks the heap: fully the calling thread's heap, the segments of exited
   threads and every shared structure (deferred and cached free lists); of
   other live threads' pages what can be read safely. On a broken invariant
   writes "keel: heap corruption: <what>" to stderr and calls abort(). */
KEEL_API void keel_validate(void);

/* A cap on the memory the heap holds committed, metadata included (0:
   none; also option limit, KEEL_LIMIT=512M). An allocation that would
   cross it runs the out-of-memory policy as an OS refusal does (caches
   given back, the handler called), then returns NULL with errno ENOMEM.
   false + EINVAL when max_bytes is below what keel holds after giving its
   caches back. Arenas are not counted (they commit through vmem.h). */
KEEL_API bool keel_set_limit(size_t max_bytes);

/* Gives memory back to the OS now: everything empty in the calling thread's
   heap, in segments of exited threads and in shared caches (cached
   reservations are unmapped). Returns the bytes given back. */
KEEL_API size_t keel_trim(void);

/* The library's version, "MAJOR.MINOR.PATCH" (a static string). */
KEEL_API const char* keel_version(void);

/* ---- options, statistics, heap profile (DESIGN.md section 12) ----
   Run-time options by name (README "Options" lists them with their
   ranges): KEEL_<NAME> in the environment sets one at start-up, these at
   any time. keel_option_set: false + errno EINVAL for an unknown name or a
   value out of range (nothing changes). keel_option_get: the value, or -1 +
   errno EINVAL for an unknown name (purge_delay can be -1 too: check errno). */
KEEL_API bool keel_option_set(const char* name, long long value);
KEEL_API long long keel_option_get(const char* name);

/* A human-readable report: live bytes and their peak, committed and its
   peak, reserved, cached, RSS and peak RSS, allocations and frees, threads
   seen (heaps ever created), elapsed time (since keel started) and CPU time
   (user + system), and a table per size class in use (block size, live
   blocks, live bytes, pages, committed, use % = live bytes / committed),
   large blocks as its last row. Sizes in B/KiB/MiB/GiB with one decimal,
   times in seconds with ms precision. Written one line at a time (each
   starting "keel: " and ending "\n") to out(line, user_data); out NULL: to
   fd 2 with raw writes (nothing if fd 2 is closed). Allocates nothing, so
   it may run inside an allocator; out is called with no keel lock held.
   The peak of live bytes is sampled (live bytes are not counted on the fast
   paths): the highest live total seen at statistics readings
   (keel_get_stats, keel_stats_print, mallinfo2) and at each 12.5% growth of
   committed memory; a lower bound of the true peak. A class row counts the
   blocks of its pages as their owner thread sees them: blocks other threads
   freed and the owner has not collected yet still count there. */
typedef void (*keel_output_fn)(const char* text, void* user_data);
KEEL_API void keel_stats_print(keel_output_fn out, void* user_data);

/* Writes the heap profile (the live sampled blocks with their call stacks,
   scaled to estimates) to path, in the legacy heap-profile text format that
   google-pprof reads. Needs profile_sample > 0 (KEEL_PROFILE_SAMPLE) since
   the blocks were allocated. false + errno on failure (EINVAL: profiling was
   never on; ENOSYS: no profiler on this platform; else the open or write
   error). KEEL_PROFILE=path writes one at exit. */
KEEL_API bool keel_profile_dump(const char* path);

/* ---- first-class heaps (DESIGN.md section 11) ----
   A heap the program creates and throws away whole. Any thread may use a
   heap, several at once (each call holds the heap's lock). Its blocks follow
   keel_alloc's rules (16-byte alignment, NULL + ENOMEM on failure or
   overflow, a failed realloc leaves the block as it was) and are freed with
   keel_free, resized with keel_realloc and measured with keel_usable_size,
   from any thread; realloc keeps a block in its heap. The calls below take
   NULL for the default heap (keel_alloc's). While a heap's allocation runs
   out of memory the out-of-memory handler is called with that heap's lock
   held: the handler may free anything but must not allocate from it. */
typedef struct keel_heap keel_heap;

/* A new, empty heap; NULL + ENOMEM on failure. */
KEEL_API keel_heap* keel_heap_new(void);

/* A heap inside [memory, memory + num_bytes), a range the caller reserved
   (e.g. with vmem_reserve_aligned(num_bytes, KEEL_REGION_ALIGNMENT)) and
   keeps until after keel_heap_destroy: both multiples of
   KEEL_REGION_ALIGNMENT, else NULL + EINVAL. keel commits and decommits
   inside it and puts the heap's own metadata there too; the one thing it
   may add outside, once, is the segment map's table for those addresses
   (64 KiB per 32 GiB of address space, shared, kept), made by this call
   when keel has none there yet. A region of one KEEL_REGION_ALIGNMENT
   serves small blocks (up to 8 KiB); larger blocks take whole chunks of
   it. Full: NULL + ENOMEM, and frees make room again. After
   keel_heap_destroy nothing of the region is committed: it may be
   released or given to a new heap. */
#define KEEL_REGION_ALIGNMENT ((size_t)4 << 20)
KEEL_API keel_heap* keel_heap_new_in(void* memory, size_t num_bytes);
/* A cap on the memory the heap holds committed, its segments' and large
   blocks' headers included (0: none). At the cap an allocation runs the
   out-of-memory policy (the heap's empty pages and keel's caches given
   back, the handler called), then returns NULL + ENOMEM. false + EINVAL
   when max_bytes is below what the heap holds once its empty pages are
   given back. NULL: keel_set_limit. keel_set_limit's cap counts every heap. */
KEEL_API bool keel_heap_set_limit(keel_heap* heap, size_t max_bytes);
KEEL_API void* keel_heap_alloc(keel_heap* heap, size_t num_bytes);
KEEL_API void* keel_heap_calloc(keel_heap* heap, size_t count, size_t size);
/* Alignments as keel_alloc_aligned takes them. Every block is handed out
   at its start: an alignment no size class serves (above the OS page, or
   a size past the medium classes) takes a large block of its own. */
KEEL_API void* keel_heap_alloc_aligned(keel_heap* heap, size_t num_bytes, size_t alignment);
/* ptr: a block of this heap, or NULL (then keel_heap_alloc). A block of
   another heap: NULL + EINVAL, the block untouched. */
KEEL_API void* keel_heap_realloc(keel_heap* heap, void* ptr, size_t num_bytes);
/* The heap a block belongs to; NULL for the default heap's blocks and for
   pointers that are not keel's. */
KEEL_API keel_heap* keel_heap_of(const void* ptr);
/* keel_stats for this heap alone (num_heaps 1): its live blocks (frees by
   other threads included), what its segments and large blocks hold
   committed and reserved (and the peak of that), its empty pages kept
   (cached_bytes). Zeroes for NULL. */
KEEL_API keel_stats keel_heap_get_stats(const keel_heap* heap);
/* Calls visit(block, usable size, user_data) for each live block of the
   heap once, as the allocation returned it, until visit returns false.
   Blocks freed before the call, by any thread, are not visited. The visitor
   must not allocate from or free into the heap it visits. Returns false
   when visit stopped the walk (or heap or visit is NULL: EINVAL). */
typedef bool (*keel_block_visitor)(void* block, size_t usable_size, void* user_data);
KEEL_API bool keel_heap_visit(keel_heap* heap, keel_block_visitor visit, void* user_data);
/* Frees every block of the heap at once and gives its memory back (to the
   caches and the OS as freed blocks' memory goes), in time proportional to
   its segments, not its blocks; then the heap itself. Its blocks must no
   longer be used, freed or reallocated; a free of one afterwards is a
   misuse. NULL does nothing. */
KEEL_API void keel_heap_destroy(keel_heap* heap);

/* Implementation of keel_create; not for direct use. */
KEEL_API void* keel__create_copy(const void* init, size_t size, size_t alignment);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_KEEL_H */
