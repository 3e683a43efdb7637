/* ovr_dlopen.c — the library test_override_init dlopens and dlcloses: its
   constructor allocates, its destructor frees, and its thread-local storage
   (general-dynamic model) is allocated by the loader with malloc when a
   thread first touches it and freed when the thread exits. */
#define _GNU_SOURCE
#include "ovr_dso.h"

#include <stdlib.h>
#include <string.h>

static void* kept;
static __thread char tls_buf[4096];
static __thread long tls_count;

__attribute__((constructor)) static void ovr_dlopen_ctor(void) {
    char* s;
    kept = malloc(OVR_DSO_KEPT_SIZE);
    if (kept) memset(kept, 0x5A, OVR_DSO_KEPT_SIZE);
    s = strdup("dlopen constructor");
    free(s);
}

__attribute__((destructor)) static void ovr_dlopen_dtor(void) {
    free(kept);
    kept = NULL;
}

void* ovr_dso_kept(void) { return kept; }

long ovr_dso_work(int seed) {
    long sum = 0;
    int i;
    tls_buf[seed % 4096] = 1;
    tls_count++;
    for (i = 0; i < 100; i++) {
        char* p = malloc((size_t)(i * 37 + seed % 100 + 1));
        if (!p) return -1;
        p[0] = (char)i;
        sum += p[0];
        free(p);
    }
    /* sum = 0 + 1 + ... + 99 = 4950; tls_buf keeps one byte; the result
       is a function of seed alone */
    return (long)seed * 1000 + 4096 + (sum - 4950) + (tls_buf[seed % 4096] - 1) + (tls_count > 0 ? 0 : 1);
}
