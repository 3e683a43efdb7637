/* guarded.h — guarded sampling (DESIGN.md section 12: guarded_sample_rate),
   in every build. guarded.c holds the pool; alloc.c decides which
   allocations go there.

   HOW IT WORKS (a newcomer's five minutes)

   Which allocations. With guarded_sample_rate N > 0 about one allocation
   in N of a thread heap is a guarded sample. The fast path spends nothing
   more on it: it already counts down `sample_left` (bytes) for the heap
   profile, and that countdown now ends at the nearer of two events, the
   profile's next sample and the next guarded one (alloc.c, "sampling
   events"). The guarded one is counted in allocations: the heap draws the
   number of its next guarded allocation (`guard_next`, uniform in
   [1, 2N-1] allocations ahead: mean N) and turns the allocations still to
   go into bytes with the mean size it has seen since its last event. An
   estimate that ends early only makes an extra event that re-aims; one
   that ends late guards the allocation it ends at. N = 1 guards every
   allocation that can be guarded.

   Which sizes. A block up to one OS page (4 KiB on x86), of a thread heap,
   at KEEL_ALIGN or an alignment up to the page: its length (the size
   rounded up to 16; in the hardened build its size class, so that the
   canary lands where harden.h expects it) is placed to end exactly where a
   guard page begins. A larger block, or one when the pool has no slot, is
   allocated as usual. Not in the memcheck or ASan builds: those tools
   see every block.

   The pool. One segment (4 MiB, KEEL_SEGMENT_GUARDED in the segment map,
   so keel_free finds it as it finds any block), reserved when the first
   sample is due: its header, a guard page, then slots of one data page
   followed by one guard page (never committed). A slot's data page is
   committed the first time it is used, made inaccessible (vmem_protect)
   when its block is freed, and accessible again when the slot is reused;
   a freed slot waits behind every other free slot (a FIFO), so a stale
   pointer faults for as long as possible. So an overflow past the block's
   length and any use after free fault at once (SIGSEGV); an overflow into
   the block's last few bytes of rounding is caught by nothing in the
   default build, by the canary in the hardened one. Frees and reuses each
   cost one system call: the price of N.

   Checks. A free, realloc or usable_size of a pointer in the pool that is
   not a live guarded block's start (or the aligned pointer handed out) ends
   the program with section 10's messages, "double free of" for a freed
   one. The pool's own records never lie in the slots' pages.

   Statistics: guarded blocks count in keel_get_stats' live bytes and
   blocks (their length); keel_stats_print adds a line of how many were
   guarded, are live, and were skipped for want of a slot or by the cost
   cap.

   What it costs: two system calls a sample (protect, unprotect), each a
   few microseconds where page tables are a hypervisor's: at N = 1000 an
   allocation of 10 ns pays 6 ns more on average, far past the 1% that
   section 12 allows. So at N > 1 a cost cap holds: every protect and
   commit of the pool is timed and paid from a budget that earns 0.5% of
   the time passing (KEEL_GUARDED_COST_SHARE: the other half of the 1%
   is room for what the calls cost besides their own time, the first touch
   of a page and the TLB refills after a protect), saving up to 1 ms
   (KEEL_GUARDED_COST_BURST_NS) for a burst. A sample due while the budget
   is spent goes unguarded and is counted ("skipped, the cost cap" in
   keel_stats_print). A program that allocates slowly gets its one in N; a
   program that allocates a hundred million blocks a second gets as many
   samples as 0.5% of its time buys (about 700 a second where a protect
   takes 3.5 µs). N = 1, the debugging setting, has no cap. make
   bench's "Guarded sampling cost" section measures it at N = 1000.

   Backing off. A sample the cap refuses still costs its event: the
   clock, the pool's lock (a line every sampling thread writes) and the
   draw. Where the budget is spent, those events come about every 10 µs a
   thread (larson), 1% of its time for nothing. So a heap whose sample the
   cap refused doubles its next gaps (alloc.c, guard_backoff: up to 64
   times the mean) until a sample is taken again, and each refused event
   counts as the 2^backoff samples it stands for. The gaps come from a
   per-heap xorshift generator seeded from keel__random once, not from
   keel__random itself, whose counter is one more line shared by every
   sampling thread. */
#ifndef KEEL_GUARDED_H
#define KEEL_GUARDED_H

#include "internal.h"

/* A guarded block of `size` bytes (zeroed for zero), or NULL: too large
   for a slot, no slot free, the cost cap's budget spent (*capped set
   then, and stands_for samples counted as skipped: the event stands for
   that many, see "backing off" below), or the OS refused. The caller
   counts it as an allocation of its heap. */
KEEL_HIDDEN void* keel__guarded_alloc(size_t size, bool zero, size_t stands_for, bool* capped);
/* The most a heap backs off: gaps up to 2^this times the mean. */
#define KEEL_GUARDED_BACKOFF_MAX 6u
/* keel_alloc_aligned handed out q, inside the guarded block p: frees and
   usable_size of q are then those of the block. */
KEEL_HIDDEN void keel__guarded_moved(void* p, void* q);
/* free of p, a pointer of the pool's segment: a live block's made
   inaccessible, anything else ends the program. */
KEEL_HIDDEN void keel__guarded_free(void* p);
/* The bytes p may use up to the guard page; op names the call for the
   misuse message when p is not a live block. */
KEEL_HIDDEN size_t keel__guarded_usable(const void* p, const char* op);
/* Where the live block handed out as p ends (the guard page), and in
   *start (when not NULL) where it starts. */
KEEL_HIDDEN uint8_t* keel__guarded_end(const void* p, uint8_t** start);
/* Live guarded blocks and their bytes, for keel_get_stats. */
KEEL_HIDDEN void keel__guarded_live(size_t* blocks, size_t* bytes);
/* Guarded samples taken, those skipped for want of a slot, and those
   skipped by the cost cap. */
KEEL_HIDDEN void keel__guarded_counts(size_t* taken, size_t* skipped, size_t* skipped_cost);
/* The cost cap's burst (ns) and share (1/share of the time), and a full
   budget; burst_ns < 0 or share 0: the defaults of config.h. For tests. */
KEEL_HIDDEN void keel__guarded_cost_cap(int64_t burst_ns, uint64_t share);
/* keel_validate's part: the pool's records agree with each other. */
KEEL_HIDDEN void keel__guarded_validate(void);
/* The pool's lock, for the fork handlers (heap.c). */
KEEL_HIDDEN void keel__guarded_lock(void);
KEEL_HIDDEN void keel__guarded_unlock(void);
KEEL_HIDDEN void keel__guarded_child_reset(void);

#endif /* KEEL_GUARDED_H */
