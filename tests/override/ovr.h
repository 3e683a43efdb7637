/* ovr.h — what the override tests share. The programs do not link keel:
   they reach the keel API of the preloaded libkeel-override.so at run time
   through dlsym(RTLD_DEFAULT), as any unmodified program would. Include
   after check.h, with _GNU_SOURCE defined first. */
#ifndef KEEL_TEST_OVR_H
#define KEEL_TEST_OVR_H

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "keel/keel.h"   /* the keel_stats type only: nothing here calls keel directly */

/* 1 when the override under test is built hardened (CMake
   KEEL_HARDENED_EVERYWHERE: src/harden.h) */
#ifndef KEEL_HARDENED
#define KEEL_HARDENED 0
#endif

typedef struct ovr_api {
    keel_stats (*get_stats)(void);
    size_t (*usable_size)(const void*);
    size_t (*trim)(void);
    void (*validate)(void);
    void* (*alloc)(size_t);
    void (*free)(void*);
} ovr_api;

static ovr_api ovr;

/* dlsym's object pointer into a function pointer without a cast ISO C frowns on */
#define OVR_SYM(field, name) \
    do { void* s_ = dlsym(RTLD_DEFAULT, name); memcpy(&(field), &s_, sizeof s_); } while (0)

/* 1 when every keel function the tests use was found (keel is preloaded or linked in). */
static inline int ovr_resolve(void) {
    OVR_SYM(ovr.get_stats, "keel_get_stats");
    OVR_SYM(ovr.usable_size, "keel_usable_size");
    OVR_SYM(ovr.trim, "keel_trim");
    OVR_SYM(ovr.validate, "keel_validate");
    OVR_SYM(ovr.alloc, "keel_alloc");
    OVR_SYM(ovr.free, "keel_free");
    return ovr.get_stats && ovr.usable_size && ovr.trim && ovr.validate && ovr.alloc && ovr.free;
}

/* Hides a value from the optimiser: sizes no machine could back must reach
   malloc at run time, not be folded away or warned about. */
static inline size_t ovr_launder(size_t n) {
    volatile size_t v = n;
    return v;
}

static inline void* ovr_launder_ptr(void* p) {
    void* volatile v = p;
    return v;
}

static inline void ovr_fill(void* p, size_t n, unsigned seed) {
    unsigned char* c = (unsigned char*)p;
    size_t i;
    for (i = 0; i < n; i++) c[i] = (unsigned char)(seed + i * 7u);
}

static inline int ovr_holds(const void* p, size_t n, unsigned seed) {
    const unsigned char* c = (const unsigned char*)p;
    size_t i;
    for (i = 0; i < n; i++)
        if (c[i] != (unsigned char)(seed + i * 7u)) return 0;
    return 1;
}

#endif
