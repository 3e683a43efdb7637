/* secret.c — the process's secret and a source of random bits, for the
   hardened build (harden.h): the per-page keys of its free-list links, its
   canaries and quarantine marks, its random choices. Drawn from the OS
   once (os.h: keel__os_random_seed), on first use, without allocating. */
#include "internal.h"

_Atomic(uint64_t) keel__a_secret;   /* drawn once; 0 until then */
static _Atomic(uint64_t) a_counter;

uint64_t keel__mix64(uint64_t z) {
    /* splitmix64's finaliser: every input bit moves every output bit */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

uint64_t keel__secret_draw(void) {
    /* relaxed: a value with no memory behind it; every thread ends with
       the one the first exchange stored */
    uint64_t fresh = keel__os_random_seed() | 1, expected = 0;
    if (!atomic_compare_exchange_strong_explicit(&keel__a_secret, &expected, fresh, memory_order_relaxed,
                                                 memory_order_relaxed))
        return expected;
    return fresh;
}

uint64_t keel__random(void) {
    /* relaxed: only the counter's uniqueness matters */
    return keel__mix64(keel__secret() + atomic_fetch_add_explicit(&a_counter, 0x9E3779B97F4A7C15u, memory_order_relaxed));
}
