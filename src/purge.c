/* purge.c — the purge thread: memory cached longer than purge_delay goes
   back to the OS even while the program calls nothing (DESIGN.md
   section 9, the purge_delay option of section 12).

   HOW IT WORKS
   keel keeps empty memory committed in three caches that any thread may
   use: freed large blocks (large.c), empty segments (segment.c), and the
   empty pages of segments whose thread has exited (heap.c). Each entry
   carries the time it was cached. Every cache operation already gives
   back what is too old, but a program that stops calling keel would keep
   it forever. So when memory enters one of these caches, the cache calls
   keel__purge_wake, which starts the purge thread if none runs (and
   purge_thread is on, purge_delay above 0). The thread sleeps half the
   delay (10 ms to 1 s), runs the pass (reclaim.c: each cache gives back
   its memory older than the delay), and goes on while any cache still
   holds memory; when none does it ends, and the next wake starts a new
   one. A thread started for nothing costs a few tens of microseconds; an
   idle process has no thread and no timer.

   Ending without losing a wake: the thread says it stops (state 0), then
   looks at the caches again; a waker caches first, then reads the state.
   With a full fence on both sides one of them sees the other: either the
   waker finds state 0 and starts a thread, or the ending thread finds the
   memory and carries on.

   The thread takes no signals (os.h), never allocates, and holds no lock
   while it sleeps. A forked child has no such thread: the child handler
   forgets it, and the child's next wake starts its own. The thread heaps'
   own empty pages up to heap_empty_cache are their thread's; past that,
   while this thread runs, a heap offers its emptied pages to it instead of
   resetting them at once (segment.c, "offered slots"): the heap takes them
   back warm if it needs pages within purge_delay, else this thread resets
   them. It touches nothing else of a live thread's heap.

   Starting it allocates: pthread_create takes glibc's thread vector from
   malloc, which is keel, on the calling thread. A wake comes from deep
   inside keel (a cache push at the end of a page's retire, whose caller
   may be walking a page queue and holding the next page), where a nested
   allocation could move or retire pages under the caller. So a wake only
   marks the start due (a_start_due); the thread starts at the end of the
   public call that woke it (keel__purge_start_due: the top-level free,
   the allocation slow path, keel_trim, a heap's destroy, a thread's exit),
   where this thread's heap is whole and no keel lock is held. The flag is
   global: whichever thread next reaches such a point starts it.

   Layer 2: the pass it runs is registered by the process set-up
   (keel__purge_register, heap.c), so the caches above call down to wake
   it. */
#include "annotate.h"   /* KEEL_VALGRIND */
#include "internal.h"
#include "options.h"

#include <errno.h>
#include <string.h>

enum { PURGE_IDLE, PURGE_RUNNING, PURGE_REFUSED };

static _Atomic(int) a_state;                   /* PURGE_* */
_Atomic(int) keel__purge_due;                  /* a wake found no thread: start one at the next safe point */
static _Atomic(keel_purge_pass_fn) a_pass;     /* reclaim.c's pass, registered at set-up */

void keel__purge_register(keel_purge_pass_fn pass) { atomic_store_explicit(&a_pass, pass, memory_order_release); }

static bool purge_wanted(void) {
    return keel__option(KEEL_OPT_PURGE_THREAD) && keel__option(KEEL_OPT_PURGE_DELAY) > 0 &&
           atomic_load_explicit(&a_pass, memory_order_acquire) != NULL;
}

/* The pass: memory older than the delay goes back; true while some is
   still cached (to age). */
static bool purge_run(void) {
    keel_purge_pass_fn pass = atomic_load_explicit(&a_pass, memory_order_acquire);
    return pass && pass() > 0;
}

static void purge_main(void) {
    for (;;) {
        long long delay = keel__option(KEEL_OPT_PURGE_DELAY);
        long long nap = delay / 2 < 10 ? 10 : delay / 2 > 1000 ? 1000 : delay / 2;
        if (purge_wanted()) {
            keel__os_sleep_ms((unsigned)nap);
            if (purge_run()) continue;
        }
        /* nothing left to age (or switched off): stop, unless memory came
           in meanwhile */
        atomic_store_explicit(&a_state, PURGE_IDLE, memory_order_seq_cst);
        atomic_thread_fence(memory_order_seq_cst);
        if (!purge_wanted() || !purge_run()) return;
        {
            int idle = PURGE_IDLE;
            if (!atomic_compare_exchange_strong_explicit(&a_state, &idle, PURGE_RUNNING, memory_order_seq_cst,
                                                         memory_order_relaxed))
                return;   /* a waker started another */
        }
    }
}

/* Whether the process runs under Valgrind (its preloaded helpers are in
   LD_PRELOAD): a thread still running at exit leaves glibc's thread block
   "possibly lost" in memcheck's report, an error keel must not raise. */
static bool under_valgrind(void) {
    char* const* env;
    for (env = keel__os_environ(); env && *env; env++)
        if (strncmp(*env, "LD_PRELOAD=", 11) == 0 && strstr(*env + 11, "vgpreload")) return true;
    return false;
}

void keel__purge_wake(void) {
    atomic_thread_fence(memory_order_seq_cst);   /* the cached memory first, then the state */
    if (atomic_load_explicit(&a_state, memory_order_seq_cst) != PURGE_IDLE || !purge_wanted()) return;
    atomic_store_explicit(&keel__purge_due, 1, memory_order_relaxed);
}

void keel__purge_start(void) {
    int idle = PURGE_IDLE, saved = errno;   /* the public calls keep errno */
    atomic_store_explicit(&keel__purge_due, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);   /* as a wake: the state after the memory */
    if (atomic_load_explicit(&a_state, memory_order_seq_cst) != PURGE_IDLE || !purge_wanted() ||
        !atomic_compare_exchange_strong_explicit(&a_state, &idle, PURGE_RUNNING, memory_order_seq_cst,
                                                 memory_order_relaxed)) {
        errno = saved;
        return;
    }
    if (KEEL_VALGRIND || under_valgrind() || !keel__os_thread_start(purge_main)) {
        /* no threads here (a sandbox, a limit), or memcheck, which
           reports a thread alive at exit as a possible leak (the process
           runs under Valgrind, or the build is memcheck's): memory goes
           back by age when keel is called, as with purge_thread 0 */
        atomic_store_explicit(&a_state, PURGE_REFUSED, memory_order_relaxed);
    }
    errno = saved;
}

bool keel__purge_running(void) {
    return atomic_load_explicit(&a_state, memory_order_relaxed) == PURGE_RUNNING && purge_wanted();
}

void keel__purge_child_reset(void) {
    /* the parent's thread did not come along */
    if (atomic_load_explicit(&a_state, memory_order_relaxed) == PURGE_RUNNING)
        atomic_store_explicit(&a_state, PURGE_IDLE, memory_order_relaxed);
}
