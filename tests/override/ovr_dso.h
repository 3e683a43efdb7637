/* ovr_dso.h — the two libraries of test_override_init: ovr_early.c (linked
   in, so its constructor runs before the preloaded keel's) and ovr_dlopen.c
   (dlopen'ed and dlclose'd, with thread-local storage). */
#ifndef KEEL_TEST_OVR_DSO_H
#define KEEL_TEST_OVR_DSO_H

#include <stddef.h>

#define OVR_DSO_API __attribute__((visibility("default")))

/* ovr_early.c: blocks its constructor allocated and kept, filled with
   ovr_fill(p, ovr_early_size(i), i); ovr_early_ok: every call succeeded. */
#define OVR_EARLY_KEPT 16
OVR_DSO_API extern void* ovr_early_kept[OVR_EARLY_KEPT];
OVR_DSO_API extern int ovr_early_ok;
static inline size_t ovr_early_size(size_t i) { return i * 517 + 3; }

/* ovr_dlopen.c, reached with dlsym: ovr_dso_work(seed) allocates, touches
   the thread's TLS and returns ovr_dso_expect(seed); ovr_dso_kept() is the
   block of OVR_DSO_KEPT_SIZE bytes its constructor allocated. */
#define OVR_DSO_KEPT_SIZE 3000
OVR_DSO_API long ovr_dso_work(int seed);
OVR_DSO_API void* ovr_dso_kept(void);
static inline long ovr_dso_expect(int seed) { return (long)seed * 1000 + 4096; }

#endif
