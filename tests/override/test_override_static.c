/* test_override_static.c — a program linked with libkeel-override.a (libc
   still dynamic) gets keel as its malloc: the program's own calls, libc's
   internal ones (strdup, asprintf) and other threads' all reach keel, and
   malloc_usable_size is keel_usable_size. Linked by CMake and, by
   driver.sh, with the plain `cc app.c libkeel-override.a -lpthread`. */
#define _GNU_SOURCE
#include "check.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/keel.h"

static void* thread_main(void* arg) {
    size_t i, bad = 0;
    for (i = 1; i < 2000; i++) {
        void* p = malloc(i);
        if (!p || keel_usable_size(p) < i || malloc_usable_size(p) != keel_usable_size(p)) bad++;
        free(p);
    }
    free(arg);   /* main's block */
    return (void*)bad;
}

int main(void) {
    keel_stats s0, s1;
    void* p;
    char* s;
    size_t i;
    int same_heap = 1;
    pthread_t t;
    void* r = NULL;
    Dl_info here, there;

    s0 = keel_get_stats();
    p = malloc(100);
    s1 = keel_get_stats();
    CHECK(s1.num_allocs == s0.num_allocs + 1);
    CHECK(p && keel_usable_size(p) >= 100);
    CHECK(malloc_usable_size(p) == keel_usable_size(p));
    CHECK(realloc(p, malloc_usable_size(p)) == p);
    free(p);
    CHECK(keel_get_stats().num_frees == s1.num_frees + 1);

    for (i = 0; i < 3000; i++) {
        size_t n = i * 37 % 70000;
        p = i % 2 ? malloc(n) : calloc(1, n);
        same_heap &= p && keel_usable_size(p) >= n && malloc_usable_size(p) == keel_usable_size(p);
        free(p);
    }
    CHECK(same_heap);

    /* libc's allocations come here too: the executable's malloc interposes */
    s = strdup("static override");
    CHECK(s && keel_usable_size(s) >= 16);
    free(s);
    s = NULL;
    CHECK(asprintf(&s, "%s %d", "asprintf", 12345) > 0);
    CHECK(s && keel_usable_size(s) > 0);
    free(s);
    CHECK(dladdr((void*)&main, &here) != 0);
    p = dlsym(RTLD_DEFAULT, "malloc");
    CHECK(p && dladdr(p, &there) != 0 && there.dli_fbase == here.dli_fbase);

    /* glibc semantics hold in the static build too */
    p = NULL;
    CHECK(posix_memalign(&p, 3, 10) == EINVAL && p == NULL);
    errno = 0;
    CHECK(malloc((size_t)(volatile size_t){SIZE_MAX - 64}) == NULL && errno == ENOMEM);
    p = aligned_alloc(4096, 100);
    CHECK(p && ((uintptr_t)p & 4095) == 0 && keel_usable_size(p) >= 100);

    CHECK(pthread_create(&t, NULL, thread_main, p) == 0);
    CHECK(pthread_join(t, &r) == 0 && r == NULL);
    keel_validate();
    printf("ALLOCS %zu\n", keel_get_stats().num_allocs);
    return check_done("test_override_static");
}
