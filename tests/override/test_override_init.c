/* test_override_init.c — allocations before keel is set up and around the
   dynamic loader: a library this program needs (ovr_early.c) allocates in
   its constructor, which the loader runs before the preloaded keel's; a
   constructor of priority 101 allocates; dlsym and dlerror allocate; a
   dlopen'ed library (ovr_dlopen.c) allocates in its constructor, has
   thread-local storage that the loader allocates per thread with malloc,
   and is dlclose'd, twenty times over. No recursion, no deadlock (alarm),
   every block keel's. */
#define _GNU_SOURCE
#include "check.h"
#include "ovr.h"
#include "ovr_dso.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef OVR_DLOPEN_PATH
#error "OVR_DLOPEN_PATH: the path of the library ovr_dlopen.c (CMake defines it)"
#endif

static void* ctor_kept[8];
static int ctor_ok;

__attribute__((constructor(101))) static void program_ctor(void) {
    size_t i;
    void* p;
    int ok = 1;
    for (i = 0; i < 8; i++) {
        ctor_kept[i] = malloc(i * 1000 + 1);
        ok &= ctor_kept[i] != NULL;
        if (ctor_kept[i]) ovr_fill(ctor_kept[i], i * 1000 + 1, (unsigned)i);
    }
    p = calloc(100, 10);
    ok &= p != NULL;
    p = realloc(p, 100000);
    ok &= p != NULL;
    free(p);
    ok &= posix_memalign(&p, 4096, 100) == 0;
    free(p);
    p = strdup("constructor");
    ok &= p != NULL;
    free(p);
    ctor_ok = ok;
}

static int owned(const void* p, size_t n) { return p && ovr.usable_size(p) >= n; }

static void* dlerror_thread(void* arg) {
    int i, ok = 1;
    (void)arg;
    for (i = 0; i < 200; i++) {
        char name[40];
        snprintf(name, sizeof name, "ovr_no_such_symbol_%d", i);
        ok &= dlsym(RTLD_DEFAULT, name) == NULL;
        ok &= dlerror() != NULL;   /* the message is malloc'ed, freed by libc later */
    }
    return ok ? arg : NULL;
}

typedef struct tls_job { long (*work)(int); int seed; long result; } tls_job;

static void* tls_thread(void* arg) {
    tls_job* job = (tls_job*)arg;
    job->result = job->work(job->seed);   /* first touch: the loader mallocs this thread's block */
    return NULL;
}

static void test_early_and_ctor(void) {
    size_t i;
    CHECK_NOTE(ovr_early_ok, "the constructor of a needed library failed to allocate");
    for (i = 0; i < OVR_EARLY_KEPT; i++) {
        CHECK(owned(ovr_early_kept[i], ovr_early_size(i)));
        CHECK(ovr_holds(ovr_early_kept[i], ovr_early_size(i), (unsigned)i));
        free(ovr_early_kept[i]);
    }
    CHECK(ctor_ok);
    for (i = 0; i < 8; i++) {
        CHECK(owned(ctor_kept[i], i * 1000 + 1));
        CHECK(ovr_holds(ctor_kept[i], i * 1000 + 1, (unsigned)i));
        free(ctor_kept[i]);
    }
}

static void test_dl_errors(void) {
    pthread_t t[4];
    int i, dummy = 1;
    CHECK(dlopen("/nonexistent/libovr_nothing.so", RTLD_NOW) == NULL);
    CHECK(check_contains(dlerror(), "libovr_nothing"));
    for (i = 0; i < 4; i++) CHECK(pthread_create(&t[i], NULL, dlerror_thread, &dummy) == 0);
    for (i = 0; i < 4; i++) {
        void* r = NULL;
        pthread_join(t[i], &r);
        CHECK(r == &dummy);
    }
    CHECK(dlerror_thread(&dummy) == &dummy);
}

static void test_dlopen_cycles(void) {
    int round, i, rounds = (int)(20 * check_env_long("KEELTEST_SCALE", 1));
    for (round = 0; round < rounds; round++) {
        void* h = dlopen(OVR_DLOPEN_PATH, RTLD_NOW | RTLD_LOCAL);
        long (*work)(int) = NULL;
        void* (*kept)(void) = NULL;
        void* s;
        tls_job jobs[4];
        pthread_t t[4];
        if (!CHECK_NOTE(h != NULL, dlerror())) return;
        s = dlsym(h, "ovr_dso_work");
        memcpy(&work, &s, sizeof s);
        s = dlsym(h, "ovr_dso_kept");
        memcpy(&kept, &s, sizeof s);
        if (!CHECK(work && kept)) return;
        CHECK(owned(kept(), OVR_DSO_KEPT_SIZE));   /* its constructor's block is keel's */
        for (i = 0; i < 4; i++) {
            jobs[i].work = work;
            jobs[i].seed = round * 4 + i;
            jobs[i].result = -1;
            CHECK(pthread_create(&t[i], NULL, tls_thread, &jobs[i]) == 0);
        }
        for (i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            CHECK(jobs[i].result == ovr_dso_expect(round * 4 + i));
        }
        CHECK(work(round) == ovr_dso_expect(round));
        CHECK(dlclose(h) == 0);   /* its destructor frees its block */
    }
}

int main(void) {
    keel_stats s0, s1;
    alarm(120);
    if (!CHECK_NOTE(ovr_resolve(), "keel_* not found: run under LD_PRELOAD=libkeel-override.so"))
        return check_done("test_override_init");
    test_early_and_ctor();
    s0 = ovr.get_stats();
    test_dl_errors();
    test_dlopen_cycles();
    ovr.validate();
    s1 = ovr.get_stats();
    CHECK(s1.num_allocs > s0.num_allocs);
    /* what the loader and the library allocated went back (a little slack
       for the loader's own caches) */
    CHECK(s1.num_live_blocks <= s0.num_live_blocks + 64);
    printf("ALLOCS %zu\n", s1.num_allocs);
    return check_done("test_override_init");
}
