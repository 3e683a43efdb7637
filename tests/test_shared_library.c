/* test_shared_library.c — the shared library as a program uses it: linked
   against libkeel.so (Linux) or libkeel.dll through its import library
   libkeel.dll.a (Windows, run under wine). The keel_*, arena and vmem_*
   functions resolve from that library, not from a static copy; a heap,
   threads that allocate and exit (the DLL's thread-exit hook), cross-thread
   frees, an arena and vmem work through it, and the stats return to where
   they started. */
#if !defined(_WIN32)
#define _GNU_SOURCE
#endif
#include "keel/keel.h"
#include "keel/arena.h"
#include "keel/vmem.h"
#include "check.h"
#include "thread_shim.h"

#include <stdint.h>

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#define NAME "test_shared_library"
enum { THREADS = 4, PER_THREAD = 2000 };

typedef void* (*alloc_fn)(size_t);
typedef void* (*reserve_fn)(size_t);

/* The address a function has in the shared library, found by name. */
static void* library_symbol(const char* name) {
#if defined(_WIN32)
    HMODULE m = GetModuleHandleA("libkeel.dll");
    FARPROC f = m ? GetProcAddress(m, name) : NULL;
    void* p;
    memcpy(&p, &f, sizeof p);
    return p;
#else
    return dlsym(RTLD_DEFAULT, name);
#endif
}

static void* fn_address(alloc_fn f) {
    void* p;
    memcpy(&p, &f, sizeof p);
    return p;
}

static void test_resolves_from_library(void) {
#if defined(_WIN32)
    CHECK_NOTE(GetModuleHandleA("libkeel.dll") != NULL, "libkeel.dll is not loaded");
#else
    Dl_info info;
    memset(&info, 0, sizeof info);
    CHECK(dladdr(fn_address(keel_alloc), &info) != 0);
    CHECK_NOTE(info.dli_fname && strstr(info.dli_fname, "libkeel.so") != NULL,
               info.dli_fname ? info.dli_fname : "keel_alloc is in no shared object");
#endif
    CHECK_NOTE(library_symbol("keel_alloc") == fn_address(keel_alloc), "keel_alloc is not the library's");
    CHECK_NOTE(library_symbol("keel_arena_push") != NULL, "keel_arena_push is not exported");
    CHECK_NOTE(library_symbol("vmem_reserve") != NULL, "vmem_reserve is not exported");
    CHECK_NOTE(library_symbol("keel_version") != NULL, "keel_version is not exported");
    CHECK_NOTE(library_symbol("keel__fatal") == NULL, "an internal symbol is exported");
}

typedef struct worker {
    void* handoff[PER_THREAD];   /* blocks this thread leaves for main to free */
    int ok;
} worker;

static void worker_main(void* arg) {
    worker* w = (worker*)arg;
    int i, ok = 1;
    for (i = 0; i < PER_THREAD; i++) {
        size_t n = (size_t)(16 + (i % 50) * 24);
        unsigned char* p = (unsigned char*)keel_alloc(n);
        if (!p) { ok = 0; break; }
        memset(p, i & 0xff, n);
        if (i % 2) keel_free(p);
        else w->handoff[i] = p;
    }
    w->ok = ok;
}

static void test_heap_threads(void) {
    static worker workers[THREADS];
    shim_thread t[THREADS];
    shim_start s[THREADS];
    keel_stats before, after;
    int i, k, started = 0;
    before = keel_get_stats();
    for (i = 0; i < THREADS; i++) {
        s[i].fn = worker_main;
        s[i].arg = &workers[i];
        if (CHECK(shim_create(&t[i], &s[i]))) started++;
        else break;
    }
    for (i = 0; i < started; i++) shim_join(t[i]);
    for (i = 0; i < started; i++) {
        CHECK(workers[i].ok);
        for (k = 0; k < PER_THREAD; k++) {
            unsigned char* p = (unsigned char*)workers[i].handoff[k];
            if (!p) continue;
            if (p[0] != (unsigned char)(k & 0xff)) CHECK_NOTE(0, "a block of an exited thread lost its contents");
            keel_free(p);   /* freed by another thread than its exited owner */
        }
    }
    keel_validate();
    after = keel_get_stats();
    CHECK(after.num_bytes_allocated == before.num_bytes_allocated);
    CHECK(after.num_allocs >= before.num_allocs + (size_t)started * PER_THREAD);
}

static void test_api(void) {
    keel_arena a;
    char* r;
    char* p = (char*)keel_alloc(100);
    CHECK(p && ((uintptr_t)p & 15) == 0);
    if (p) memcpy(p, "dll", 4);
    p = (char*)keel_realloc(p, 1 << 20);
    CHECK(p && strcmp(p, "dll") == 0);
    CHECK(keel_usable_size(p) >= (size_t)1 << 20);
    keel_free(p);
    CHECK(keel_arena_init(&a, (size_t)64 << 20));
    CHECK(keel_arena_push_zero(&a, 1000, 64) != NULL);
    keel_arena_release(&a);
    r = (char*)vmem_reserve((size_t)1 << 24);
    CHECK_NOTE(r != NULL, vmem_get_error_message());
    if (r) {
        CHECK(vmem_commit(r, vmem_get_page_size()));
        r[0] = 1;
        CHECK(vmem_decommit(r, vmem_get_page_size()));
        CHECK(vmem_release(r, (size_t)1 << 24));
    }
}

int main(void) {
    test_resolves_from_library();
    test_api();
    test_heap_threads();
    return check_done(NAME);
}
