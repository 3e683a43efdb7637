/* test_dlclose.c — a program that dlopens libkeel.so, lets it cache memory
   (so its purge thread starts, src/purge.c) and dlcloses it: the library
   stays mapped (it is linked -z nodelete), so the thread keeps running
   code that is there, and the program ends normally. POSIX only. */
#define _GNU_SOURCE
#include "check.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define NAME "test_dlclose"
#ifndef KEEL_SHARED_PATH
#error "KEEL_SHARED_PATH: the path of libkeel.so (CMake defines it)"
#endif

typedef void* (*alloc_fn)(size_t);
typedef void (*free_fn)(void*);
typedef bool (*option_fn)(const char*, long long);

int main(void) {
    void* lib = dlopen(KEEL_SHARED_PATH, RTLD_NOW | RTLD_LOCAL);
    alloc_fn alloc;
    free_fn release;
    option_fn option;
    void* p;
    struct timespec ts = {0, 300000000};
    if (!CHECK(lib != NULL)) return check_done(NAME);
    alloc = (alloc_fn)(uintptr_t)dlsym(lib, "keel_alloc");
    release = (free_fn)(uintptr_t)dlsym(lib, "keel_free");
    option = (option_fn)(uintptr_t)dlsym(lib, "keel_option_set");
    if (!CHECK(alloc && release && option)) return check_done(NAME);
    CHECK(option("purge_delay", 50));
    p = alloc((size_t)1 << 20);
    if (CHECK(p != NULL)) memset(p, 1, (size_t)1 << 20);
    release(p);   /* into the large cache: the purge thread starts */
    CHECK(dlclose(lib) == 0);
    nanosleep(&ts, NULL);   /* the thread wakes, runs its pass, ends */
    CHECK_NOTE(dlopen(KEEL_SHARED_PATH, RTLD_NOW | RTLD_NOLOAD) != NULL, "dlclose unmapped libkeel.so");
    return check_done(NAME);
}
