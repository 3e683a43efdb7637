/* ovr_early.c — a library test_override_init needs: the loader runs its
   constructor before the constructors of the preloaded keel (both depend on
   libc alone and keel was loaded first), so these are allocations reaching
   keel before its own constructor ran. */
#define _GNU_SOURCE
#include "ovr.h"
#include "ovr_dso.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void* ovr_early_kept[OVR_EARLY_KEPT];
int ovr_early_ok;

__attribute__((constructor)) static void ovr_early_ctor(void) {
    static const char msg[] = "ovr: early constructor\n";
    size_t i;
    int ok = 1;
    void* p;
    /* for the driver: where this ran relative to "keel: active" (KEEL_VERBOSE=1) */
    if (getenv("KEEL_VERBOSE")) ok &= write(2, msg, sizeof msg - 1) == (ssize_t)(sizeof msg - 1);
    for (i = 0; i < OVR_EARLY_KEPT; i++) {
        p = malloc(ovr_early_size(i) / 2);
        p = realloc(p, ovr_early_size(i));
        ok &= p != NULL;
        if (p) ovr_fill(p, ovr_early_size(i), (unsigned)i);
        ovr_early_kept[i] = p;
    }
    p = calloc(1000, 1000);
    ok &= p != NULL;
    free(p);
    p = aligned_alloc(65536, 100);
    ok &= p != NULL;
    free(p);
    p = strdup("early");
    ok &= p != NULL;
    free(p);
    ovr_early_ok = ok;
}
