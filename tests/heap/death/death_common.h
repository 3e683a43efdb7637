/* death_common.h — shared by the misuse programs run by death_test.sh. A
   program that expects a report prints "EXPECT <line>" on stdout for each
   line keel must write on stderr, then "OK" once it has checked that the
   heap still works; any other outcome prints "FAIL <why>" and exits 1. */
#ifndef KEEL_TEST_DEATH_COMMON_H
#define KEEL_TEST_DEATH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/keel.h"

static int death_failures;

static inline void death_expect(const char* what, const void* ptr) {
    printf("EXPECT keel: %s of invalid pointer %p\n", what, ptr);
    fflush(stdout);
}

static inline void death_check(int ok, const char* why) {
    if (!ok) {
        death_failures++;
        printf("FAIL %s\n", why);
        fflush(stdout);
    }
}

/* Nothing changed, and the heap still allocates, frees and validates. */
static inline int death_heap_still_works(keel_stats before) {
    keel_stats after = keel_get_stats();
    void* p[1000];
    int i;
    death_check(after.num_bytes_allocated == before.num_bytes_allocated, "the bad call changed num_bytes_allocated");
    death_check(after.num_frees == before.num_frees, "the bad call counted as a free");
    death_check(after.num_live_blocks == before.num_live_blocks, "the bad call changed num_live_blocks");
    for (i = 0; i < 1000; i++) {
        p[i] = keel_alloc((size_t)(i * 7 % 3000));
        death_check(p[i] != NULL, "keel_alloc failed after the bad call");
        if (p[i]) memset(p[i], 0x5A, (size_t)(i * 7 % 3000));
    }
    for (i = 0; i < 1000; i++) keel_free(p[i]);
    keel_validate();
    after = keel_get_stats();
    death_check(after.num_bytes_allocated == before.num_bytes_allocated, "stats not back after alloc/free");
    if (death_failures) return 1;
    printf("OK\n");
    return 0;
}

/* Hides where a pointer came from, so the compiler neither warns about nor
   optimises the deliberate misuse. */
static inline void* death_launder(void* p) {
    void* volatile v = p;
    return v;
}

/* Overwrites n bytes of keel's memory at p (a freed block) as a buggy
   program would. keel built with ASan poisons free blocks, and ASan would
   report the write itself; these tests are about keel's own checks, so the
   bytes are unpoisoned first. */
#if defined(__SANITIZE_ADDRESS__)
#define DEATH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEATH_ASAN 1
#endif
#endif
#ifdef DEATH_ASAN
#include <sanitizer/asan_interface.h>
#endif
static inline void death_scribble(void* p, int value, size_t n) {
#ifdef DEATH_ASAN
    __asan_unpoison_memory_region(p, n);
#endif
    memset(death_launder(p), value, n);
}

#endif
