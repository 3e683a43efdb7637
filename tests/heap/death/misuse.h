/* misuse.h — shared by the misuse programs of DESIGN.md section 10 (one
   small program per misuse, tests/heap/death/misuse_*.c). Each is built
   twice: against the keel API (heap_death_misuse_<case>, linked with
   libkeel) and, with MISUSE_OVERRIDE, against malloc/free/realloc
   (ovr_death_misuse_<case>, run under LD_PRELOAD=libkeel-override.so).
   A program prints "EXPECT <line>" (an exact stderr line) or
   "EXPECT_PREFIX <start>" for what keel must write before it aborts, then
   makes the bad call: from the thread that allocated the block when run
   with "owner", from another thread with "thread". death_test.sh checks
   the death by SIGABRT and the line. If the call returns the program says
   "survived" and exits 3. */
#ifndef KEEL_TEST_MISUSE_H
#define KEEL_TEST_MISUSE_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"   /* KEEL_SEGMENT_SIZE, the page descriptor: white box */

#ifdef MISUSE_OVERRIDE
#include <malloc.h>
#define m_alloc(n) malloc(n)
#define m_free(p) free(p)
#define m_realloc(p, n) realloc(p, n)
#define m_usable(p) malloc_usable_size(p)
#else
#include "keel/keel.h"
#define m_alloc(n) keel_alloc(n)
#define m_free(p) keel_free(p)
#define m_realloc(p, n) keel_realloc(p, n)
#define m_usable(p) keel_usable_size(p)
#endif

/* Hides where a pointer came from, so the compiler neither warns about nor
   optimises the deliberate misuse. */
static inline void* misuse_launder(void* p) {
    void* volatile v = p;
    return v;
}

static inline void misuse_expect(const char* what, const void* p) {
    printf("EXPECT keel: %s %p\n", what, p);
    fflush(stdout);
}
/* "EXPECT keel: <what> <p><tail>" */
static inline void misuse_expect_tail(const char* what, const void* p, const char* tail) {
    printf("EXPECT keel: %s %p%s\n", what, p, tail);
    fflush(stdout);
}
static inline int misuse_is_thread(int argc, char** argv) { return argc > 1 && strcmp(argv[1], "thread") == 0; }
static inline void misuse_expect_prefix(const char* start) {
    printf("EXPECT_PREFIX %s\n", start);
    fflush(stdout);
}

static inline void* misuse_alloc(size_t n) {
    void* p = m_alloc(n);
    if (!p) {
        printf("FAIL allocation of %zu bytes\n", n);
        exit(1);
    }
    memset(p, 0x11, n);
    return p;
}

typedef void (*misuse_fn)(void* arg);
typedef struct misuse_call { misuse_fn fn; void* arg; } misuse_call;
static void* misuse_thread_main(void* c) {
    ((misuse_call*)c)->fn(((misuse_call*)c)->arg);
    return NULL;
}

/* Runs fn(arg) on a new thread, and waits for it. */
static inline void misuse_in_thread(misuse_fn fn, void* arg) {
    misuse_call c;
    pthread_t t;
    c.fn = fn;
    c.arg = arg;
    if (pthread_create(&t, NULL, misuse_thread_main, &c) != 0 || pthread_join(t, NULL) != 0) {
        printf("FAIL pthread\n");
        exit(1);
    }
}

/* Runs fn(arg) here, or on a new thread when the program was started
   with "thread". */
static inline void misuse_on(int argc, char** argv, misuse_fn fn, void* arg) {
    if (argc > 1 && strcmp(argv[1], "thread") == 0) misuse_in_thread(fn, arg);
    else fn(arg);
}

/* Writes n bytes at p as a buggy program would. keel built with ASan
   poisons free blocks and the tails of live ones, and ASan would report
   the write itself; these programs test keel's own checks, so the bytes
   are unpoisoned first. */
#if defined(__SANITIZE_ADDRESS__)
#define MISUSE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MISUSE_ASAN 1
#endif
#endif
#ifdef MISUSE_ASAN
#include <sanitizer/asan_interface.h>
#endif
static inline void misuse_scribble(void* p, const char* bytes, size_t n) {
#ifdef MISUSE_ASAN
    __asan_unpoison_memory_region(p, n);
#endif
    memcpy(misuse_launder(p), bytes, n);
}

static inline int misuse_survived(void) {
    printf("survived\n");
    return 3;
}

static inline void misuse_free_fn(void* p) { m_free(p); }

/* free of a live 64-byte block's address + off: "keel: free of invalid
   pointer <p+off>", abort; nothing reaches a free list. */
static inline int misuse_free_at_offset(int argc, char** argv, size_t off) {
    char* p = (char*)misuse_alloc(64);
    misuse_expect("free of invalid pointer", p + off);
    misuse_on(argc, argv, misuse_free_fn, misuse_launder(p + off));
    m_free(p);
    return misuse_survived();
}

/* An n-byte overflow of a live 48-byte block into the next block, which
   is free (freed here, or by another thread): keel never hands a block out
   through the damaged link; the allocations that reach it abort with
   "keel: heap corruption: ...". */
static inline int misuse_overflow_into_free(int argc, char** argv, size_t n) {
#if KEEL_HARDENED
    /* the hardened build hands blocks out in a random order and puts a
       canary after each: the overflow is caught when the block that
       overflowed is freed (src/harden.h). Even bytes: every canary byte
       has its low bit set, so a canary byte equals 'A' one time in 128
       and a 1-byte overflow of 'A' would go unseen (a flaky test), one
       of 'B' never */
    char* a = (char*)misuse_alloc(48);
    misuse_expect_tail("heap overflow detected at", a, " (block of 48 bytes)");
    misuse_scribble(a + 48, "BBBBBBBB", n);
    misuse_on(argc, argv, misuse_free_fn, a);
    return misuse_survived();
#else
    char* a = (char*)misuse_alloc(48);
    char* b = (char*)misuse_alloc(48);
    int i;
    if (b != a + 48) {
        printf("FAIL the blocks are not next to each other\n");
        return 1;
    }
    misuse_on(argc, argv, misuse_free_fn, b);
    misuse_expect_prefix("keel: heap corruption: ");
    misuse_scribble(a + 48, "AAAAAAAA", n);
    for (i = 0; i < 100000; i++) {
        char* c = (char*)m_alloc(48);
        if (c && c != b && c < b + 48 && c + 48 > b) {
            printf("FAIL an overlapping block was handed out\n");
            return 1;
        }
    }
    return misuse_survived();
#endif
}

#endif
