/* heap_tls.c — the calling thread's heap pointer, and the empty heap and
   empty page every thread starts on. The lowest layer of the heap: data
   only, which every other file may read. */
#include "internal.h"

#define E &keel__page_empty
#define E8 E, E, E, E, E, E, E, E
#define E64 E8, E8, E8, E8, E8, E8, E8, E8

/* Every thread starts on this heap: its direct table points at a page with
   no free block, so the first allocation takes the slow path, which gives
   the thread a heap of its own. Never written. */
keel_page keel__page_empty;
keel_theap keel__heap_empty = {
    .direct = {E64, E64, E64, E64, E},
};
_Static_assert(KEEL_DIRECT_COUNT == 4 * 64 + 1, "keel__heap_empty.direct lists every entry");

_Thread_local keel_theap* keel__tls_heap KEEL_TLS_ATTR = &keel__heap_empty;
