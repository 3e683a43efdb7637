/* config.h — every tunable of keel in one place, and the export macro of the
   library's own translation units. Each tunable can be overridden with -D. */
#ifndef KEEL_CONFIG_H
#define KEEL_CONFIG_H

#include <stdint.h>   /* UINTPTR_MAX: defaults that depend on the address space */

/* Every tunable below is the compile-time default of the run-time option of
   the same name (KEEL_HEAP_EMPTY_CACHE is option heap_empty_cache): the
   environment variable KEEL_<NAME> overrides it at start-up and
   keel_option_set("<name>", v) at any time (options.c has the table, with
   each option's range). Those marked COMPILE-TIME have no run-time form.

   TUNABLE: print keel_stats_print's report at exit (1) or not (0). */
#ifndef KEEL_SHOW_STATS
#define KEEL_SHOW_STATS 0
#endif

/* TUNABLE: 1: at start-up say keel is active and list every option; report
   pointers the override's free, realloc or malloc_usable_size did not
   recognise. */
#ifndef KEEL_VERBOSE
#define KEEL_VERBOSE 0
#endif

/* TUNABLE: milliseconds empty memory stays cached (freed large blocks,
   empty segments, exited threads' empty pages, the pages thread heaps
   offer the purge thread) before it goes back to the OS; 0: empty memory
   of every kind goes back at once (no cache keeps any), -1: never by age
   (the byte bounds still hold). */
#ifndef KEEL_PURGE_DELAY
#define KEEL_PURGE_DELAY 500
#endif

/* TUNABLE: 1: a background thread, started the first time memory is
   cached, gives back what has been cached longer than KEEL_PURGE_DELAY
   even while the program allocates nothing (src/purge.c); 0: memory goes
   back by age only when keel is called. */
#ifndef KEEL_PURGE_THREAD
#define KEEL_PURGE_THREAD 1
#endif

/* TUNABLE: a cap on the memory keel holds committed, in bytes, metadata
   included (0: none). keel_set_limit checks it against what is held. */
#ifndef KEEL_LIMIT
#define KEEL_LIMIT 0
#endif

/* TUNABLE: heap profile: average bytes allocated between two sampled
   allocations (0: off; 524288 is the usual rate). */
#ifndef KEEL_PROFILE_SAMPLE
#define KEEL_PROFILE_SAMPLE 0
#endif

/* TUNABLE: guarded sampling (src/guarded.h): about one allocation in this
   many is placed against a guard page and stays inaccessible for a while
   after its free (0: off; 1: every block that fits a slot). */
#ifndef KEEL_GUARDED_SAMPLE_RATE
#define KEEL_GUARDED_SAMPLE_RATE 0
#endif
/* COMPILE-TIME: slots of the guarded pool (each an OS page and a guard
   page; fewer if its 4 MiB segment holds fewer): at most this many guarded
   blocks live at once, and a freed one stays inaccessible until this many
   others were freed or never used. */
#ifndef KEEL_GUARDED_SLOTS
#define KEEL_GUARDED_SLOTS 256
#endif
/* COMPILE-TIME: the cost cap of guarded sampling at N > 1 (guarded.h): the
   pool's system calls may take one part in KEEL_GUARDED_COST_SHARE of the
   time that passes (200: 0.5%, leaving room in DESIGN.md's 1% for what
   they cost besides: the first touch of a slot's page, the TLB refills
   after a protect), with up to KEEL_GUARDED_COST_BURST_NS saved for a
   burst; a sample due beyond it goes unguarded. */
#ifndef KEEL_GUARDED_COST_SHARE
#define KEEL_GUARDED_COST_SHARE 200
#endif
#ifndef KEEL_GUARDED_COST_BURST_NS
#define KEEL_GUARDED_COST_BURST_NS 1000000
#endif

/* COMPILE-TIME: the heap profile's bounds (profile.c): frames kept per
   stack, live samples (beyond them new samples are dropped and counted;
   at 512 KiB a sample, 48K samples stand for 24 GiB live) and distinct
   stacks. Its tables are reserved once, when the first sample is taken. */
#define KEEL_PROFILE_DEPTH 32
#define KEEL_PROFILE_SAMPLES_MAX 49152
#define KEEL_PROFILE_STACKS_MAX 8192

/* TUNABLE: bytes keel_arena_clear keeps committed by default. */
#ifndef KEEL_ARENA_CLEAR_KEEP
#define KEEL_ARENA_CLEAR_KEEP ((size_t)1 << 20)
#endif

/* TUNABLE: smallest commit step of an arena; it grows to committed/4. */
#ifndef KEEL_ARENA_COMMIT_MIN
#define KEEL_ARENA_COMMIT_MIN ((size_t)64 << 10)
#endif

/* TUNABLE: committed empty page slots a thread heap keeps for reuse;
   beyond this an emptied page is reset (its memory goes back) at once. */
#ifndef KEEL_HEAP_EMPTY_CACHE
#define KEEL_HEAP_EMPTY_CACHE ((size_t)4 << 20)
#endif

/* TUNABLE: a heap's first pages of a medium class up to
   KEEL_SMALL_SLOT_CLASS_MAX take small page slots (64 KiB), until it holds
   KEEL_SMALL_SLOT_PAGES pages of the class (as much memory as one medium
   page); its later pages are medium (512 KiB). A heap with a few blocks of
   a class then holds 64 KiB for them, not 512 KiB; one with many pays a
   small page's tail (up to 19% of 64 KiB, 13 KiB blocks) on those first
   pages only. 0 pages: medium classes always take medium pages. */
#ifndef KEEL_SMALL_SLOT_CLASS_MAX
#define KEEL_SMALL_SLOT_CLASS_MAX ((size_t)16 << 10)
#endif
#ifndef KEEL_SMALL_SLOT_PAGES
#define KEEL_SMALL_SLOT_PAGES 8
#endif

/* TUNABLE: empty segments kept reserved for reuse, and how much of their
   page memory may stay committed (warm for the next thread) in all. */
#ifndef KEEL_SEGMENT_CACHE_COUNT
#define KEEL_SEGMENT_CACHE_COUNT 4
#endif
#ifndef KEEL_SEGMENT_CACHE_BYTES
#define KEEL_SEGMENT_CACHE_BYTES ((size_t)8 << 20)
#endif

/* TUNABLE: empty page memory that segments of exited threads may keep
   committed, in all, until another thread adopts them. */
#ifndef KEEL_ABANDONED_EMPTY_MAX
#define KEEL_ABANDONED_EMPTY_MAX ((size_t)16 << 20)
#endif

/* TUNABLE: freed large blocks kept for reuse: at most this many spans (64
   where address space is plentiful, 16 on 32-bit: each keeps its
   reservation), this many committed bytes or, when more,
   KEEL_LARGE_CACHE_RATIO times the memory the program uses (keel's
   committed memory less its caches); memory cached longer than
   KEEL_PURGE_DELAY is decommitted by the purge thread or at the next cache
   operation. The slack live large blocks keep to grow into (memory
   committed past their usable size): KEEL_LARGE_CACHE_BYTES in all or,
   when more, one part in KEEL_LARGE_SLACK_SHARE of the memory in use. */
#ifndef KEEL_LARGE_CACHE_COUNT
#if UINTPTR_MAX > 0xFFFFFFFFu
#define KEEL_LARGE_CACHE_COUNT 64
#else
#define KEEL_LARGE_CACHE_COUNT 16
#endif
#endif
#ifndef KEEL_LARGE_CACHE_BYTES
#define KEEL_LARGE_CACHE_BYTES ((size_t)32 << 20)
#endif
#ifndef KEEL_LARGE_CACHE_RATIO
#define KEEL_LARGE_CACHE_RATIO 2
#endif
#ifndef KEEL_LARGE_SLACK_SHARE
#define KEEL_LARGE_SLACK_SHARE 4
#endif

/* TUNABLE: address space reserved beyond a large block (64-bit, and none
   under ulimit -v, where address space is short), so that
   realloc grows it in place: max(its size, this). */
#ifndef KEEL_LARGE_HEADROOM
#define KEEL_LARGE_HEADROOM ((size_t)32 << 20)
#endif

/* COMPILE-TIME: how far find_page looks before taking a fresh page: pages of the
   class's queue checked (each may be collected and extended), then full
   pages checked for blocks other threads freed into them. */
#ifndef KEEL_PAGE_SCAN_MAX
#define KEEL_PAGE_SCAN_MAX 16
#endif
/* A large span taken from the cache for a bigger block moves other cached
   spans' pages in (Linux) only in runs of at least this many bytes
   (large.c, span_pull_locked). */
#ifndef KEEL_LARGE_PULL_MIN
#define KEEL_LARGE_PULL_MIN ((size_t)256 << 10)
#endif
/* The most OS mappings moves may cut a large span's memory into (each
   page run moved in from another span is one): past it no more is moved
   in, so that the process's mapping count stays bounded. */
#ifndef KEEL_LARGE_PIECES_MAX
#define KEEL_LARGE_PIECES_MAX 16
#endif
/* The most mappings moves may add over all large spans together (each
   span's own bound is KEEL_LARGE_PIECES_MAX): past it pages are no longer
   moved, so the process stays far below the kernel's mapping limit. */
#ifndef KEEL_LARGE_CUTS_MAX
#define KEEL_LARGE_CUTS_MAX 4096
#endif
/* Cold page slots committed with the one a thread heap takes, in the same
   system call, at most this many bytes (segment.c, ahead_slots): as many
   slots as the segment has in use, only while the heap holds no empty
   slot. 0: one slot per call. */
#ifndef KEEL_COMMIT_AHEAD
#define KEEL_COMMIT_AHEAD ((size_t)1 << 20)
#endif
/* COMPILE-TIME: a heap no other thread has freed into (a_freed_into)
   still scans its full pages once in this many allocation slow paths that
   look for a page: the flag can miss a free into a segment that changed
   owner meanwhile (free.c, thread_free_push). */
#ifndef KEEL_FULL_SCAN_EVERY
#define KEEL_FULL_SCAN_EVERY 64
#endif
#ifndef KEEL_FULL_SCAN_MAX
#define KEEL_FULL_SCAN_MAX 64
#endif

/* COMPILE-TIME: a small or medium block shrunk by realloc stays where it is
   while it would waste at most half its usable size, or this many bytes,
   whichever is larger; beyond that a smaller class pays for the copy. */
#ifndef KEEL_REALLOC_SHRINK_SLACK
#define KEEL_REALLOC_SHRINK_SLACK 128
#endif

/* COMPILE-TIME: large-block reservations are rounded up to this (a multiple of
   every OS's allocation granularity: 64 KiB on Windows). */
#ifndef KEEL_LARGE_RESERVE_ROUND
#define KEEL_LARGE_RESERVE_ROUND ((size_t)64 << 10)
#endif

/* TUNABLE: a realloc that moves a large block of at least twice this
   copies it in chunks of this size and gives back each chunk of the old
   block once copied (large.c, keel__large_copy_out). */
#ifndef KEEL_LARGE_COPY_CHUNK
#define KEEL_LARGE_COPY_CHUNK ((size_t)2 << 20)
#endif

/* COMPILE-TIME: the hardened build (CMake: KEEL_HARDENED builds its
   libraries beside the others; src/harden.h). 0 in the plain libraries. */
#ifndef KEEL_HARDENED
#define KEEL_HARDENED 0
#endif
/* COMPILE-TIME (hardened build): slots of each of the quarantine's two
   stages (a random array, then a FIFO): a freed small or medium block is
   reused only after about this many frees, and twice as many at most. */
#ifndef KEEL_QUARANTINE_SLOTS
#define KEEL_QUARANTINE_SLOTS 64
#endif

/* Internal assertions (CMake option KEEL_DEBUG): 0 none (release); 1 cheap
   invariants, keel__assert; 2 also expensive ones (walks of lists and
   recomputed counters), keel__assert_expensive. A failed one writes
   "keel: assertion failed: ..." and aborts. */
#ifndef KEEL_DEBUG
#define KEEL_DEBUG 0
#endif
#if KEEL_DEBUG < 0 || KEEL_DEBUG > 2
#error "KEEL_DEBUG must be 0, 1 or 2"
#endif

/* Symbols the shared library exports; everything else is hidden
   (-fvisibility=hidden). libkeel.dll is built with KEEL_DLL_EXPORT, as the
   keel_* declarations of keel.h and arena.h are. */
#if defined(_WIN32) && defined(KEEL_DLL_EXPORT)
#define KEEL__EXPORT __declspec(dllexport)
#elif defined(__GNUC__) && !defined(_WIN32)
#define KEEL__EXPORT __attribute__((visibility("default")))
#else
#define KEEL__EXPORT
#endif

#endif /* KEEL_CONFIG_H */
