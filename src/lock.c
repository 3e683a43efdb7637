/* lock.c — the heap's one lock: spins briefly, then yields (os.h). Used on
   slow paths only; valid zero-initialised and trivially reset after fork. */
#include "os/os.h"

void keel__lock(keel_lock* lock) {
    unsigned spins = 0;
    /* acquire: the critical section's reads see the previous holder's writes */
    while (atomic_flag_test_and_set_explicit(&lock->a_held, memory_order_acquire)) {
        if (++spins > 64) keel__os_yield();
    }
}

bool keel__lock_try(keel_lock* lock) {
    return !atomic_flag_test_and_set_explicit(&lock->a_held, memory_order_acquire);
}

void keel__unlock(keel_lock* lock) {
    atomic_flag_clear_explicit(&lock->a_held, memory_order_release);
}

void keel__lock_reset(keel_lock* lock) {
    atomic_flag_clear_explicit(&lock->a_held, memory_order_relaxed);
}
