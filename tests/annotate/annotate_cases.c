/* annotate_cases.c — the debuggers see keel's blocks (src/annotate.h). One
   case per run, named by argv[1]: under memcheck (linked with
   libkeel-valgrind.a, run by memcheck_expect.sh) and under ASan (linked with
   the ASan build's libkeel.a), each misuse case must be reported as the
   tool reports it for malloc's blocks, and "clean" must raise nothing.
     overflow         one byte written past a keel_alloc(20) block
     uaf              a byte written into a freed keel_alloc(20) block
     uaf_read         a byte read from a freed block
     aligned_under    a byte read just before a 256-aligned block
     large_overflow   one byte written past a keel_alloc(200000) block
     leak             a keel_alloc(20) block no pointer leads to
     clean            threads, frees from other threads, realloc in place
                      and moving, aligned, calloc, large blocks, the whole
                      keel_usable_size used, keel_trim, keel_validate */
#include "check.h"
#include "keel/keel.h"

#include <pthread.h>
#include <stdint.h>

/* Hides the pointer's origin: the compiler neither warns about nor
   removes the deliberate misuse. */
static void* launder(void* p) {
    void* volatile v = p;
    return v;
}

static void __attribute__((noinline)) leak_one(void) {
    void* volatile p = keel_alloc(20);
    (void)p;
}

/* ---- clean ---- */

enum { THREADS = 4, PER_THREAD = 2000 };
static void* handed[THREADS][PER_THREAD];

static size_t size_of(int i) { return (size_t)(1 + (i * 37) % 3000); }

/* Allocates blocks for the next thread to free, and frees those the
   previous thread made: every block crosses threads. */
static void* thread_main(void* arg) {
    int t = (int)(intptr_t)arg, i;
    for (i = 0; i < PER_THREAD; i++) {
        handed[t][i] = keel_alloc(size_of(i));
        if (handed[t][i]) memset(handed[t][i], t, size_of(i));
    }
    return NULL;
}

static void clean_threads(void) {
    pthread_t th[THREADS];
    int t, i;
    for (t = 0; t < THREADS; t++) CHECK(pthread_create(&th[t], NULL, thread_main, (void*)(intptr_t)t) == 0);
    for (t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    /* the threads have exited: their segments are abandoned; free from here */
    for (t = 0; t < THREADS; t++)
        for (i = 0; i < PER_THREAD; i++) {
            CHECK(handed[t][i] != NULL && ((unsigned char*)handed[t][i])[size_of(i) - 1] == (unsigned char)t);
            keel_free(handed[t][i]);
        }
}

static void* free_them(void* arg) {
    void** v = (void**)arg;
    int i;
    for (i = 0; i < PER_THREAD; i++) keel_free(v[i]);
    return NULL;
}

static void clean_remote_frees(void) {
    static void* v[PER_THREAD];
    pthread_t th;
    int i;
    for (i = 0; i < PER_THREAD; i++) {
        v[i] = keel_alloc(size_of(i));
        memset(v[i], 0x5a, size_of(i));
    }
    CHECK(pthread_create(&th, NULL, free_them, v) == 0);
    pthread_join(th, NULL);
    /* the main thread collects the other thread's frees while allocating */
    for (i = 0; i < PER_THREAD; i++) v[i] = keel_alloc(size_of(i));
    for (i = 0; i < PER_THREAD; i++) keel_free(v[i]);
}

static void clean_usable_size(void) {
    size_t sizes[] = {1, 20, 100, 1000, 5000, 100000, 200000, 3u << 20};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char* p = (unsigned char*)keel_alloc(sizes[i]);
        size_t u = keel_usable_size(p);
        CHECK(p != NULL && u >= sizes[i]);
        memset(p, 1, u);   /* the whole usable size is the program's */
        CHECK(p[u - 1] == 1);
        keel_free(p);
    }
}

static void clean_realloc(void) {
    unsigned char* p = (unsigned char*)keel_alloc(20);
    int i, ok = 1;
    memset(p, 7, 20);
    p = (unsigned char*)keel_realloc(p, 30);    /* in place: same block */
    memset(p + 20, 8, 10);
    p = (unsigned char*)keel_realloc(p, 12);    /* shrunk in place */
    p = (unsigned char*)keel_realloc(p, 5000);  /* moves */
    for (i = 0; i < 12; i++) ok &= p[i] == 7;
    CHECK(ok);
    memset(p, 9, 5000);
    p = (unsigned char*)keel_realloc(p, 300000);    /* large */
    memset(p + 5000, 1, 300000 - 5000);
    p = (unsigned char*)keel_realloc(p, 3u << 20);  /* large, grown in place */
    memset(p + 300000, 2, (3u << 20) - 300000);
    p = (unsigned char*)keel_realloc(p, 200000);    /* large, shrunk in place */
    ok = 1;
    for (i = 0; i < 5000; i++) ok &= p[i] == 9;
    CHECK(ok && p[199999] == 1);
    keel_free(p);
}

static void clean_aligned_calloc_large(void) {
    size_t al;
    int i, zero = 1;
    for (al = 32; al <= ((size_t)1 << 20); al <<= 1) {
        unsigned char* p = (unsigned char*)keel_alloc_aligned(100, al);
        CHECK(p != NULL && ((uintptr_t)p & (al - 1)) == 0);
        memset(p, 3, 100);
        keel_free(p);
    }
    for (i = 0; i < 200; i++) {
        unsigned char* p = (unsigned char*)keel_calloc(1, size_of(i));
        size_t j;
        for (j = 0; j < size_of(i); j++) zero &= p[j] == 0;
        memset(p, 0xee, size_of(i));   /* dirty for the next calloc */
        keel_free(p);
    }
    CHECK(zero);
    for (i = 0; i < 8; i++) {
        size_t n = ((size_t)1 << 20) * (size_t)(i + 1) + 12345;
        unsigned char* p = (unsigned char*)keel_calloc(n, 1);
        CHECK(p != NULL && p[0] == 0 && p[n - 1] == 0);
        p[n - 1] = 1;
        keel_free(p);
    }
}

static int run_clean(void) {
    clean_threads();
    clean_remote_frees();
    clean_usable_size();
    clean_realloc();
    clean_aligned_calloc_large();
    keel_validate();
    CHECK(keel_trim() > 0);
    keel_validate();
    return check_done("annotate_clean");
}

int main(int argc, char** argv) {
    const char* c = argc > 1 ? argv[1] : "";
    unsigned char* p;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (strcmp(c, "clean") == 0) return run_clean();
    if (strcmp(c, "leak") == 0) {
        leak_one();
        printf("leaked a keel_alloc(20) block\n");
        return 0;
    }
    if (strcmp(c, "overflow") == 0 || strcmp(c, "uaf") == 0 || strcmp(c, "uaf_read") == 0) {
        p = (unsigned char*)launder(keel_alloc(20));
        if (strcmp(c, "overflow") == 0) {
            p[20] = 1;
        } else {
            keel_free(p);
            if (strcmp(c, "uaf") == 0) p[8] = 1;
            else printf("read %d\n", p[8]);
            return 0;
        }
        keel_free(p);
        return 0;
    }
    if (strcmp(c, "aligned_under") == 0) {
        /* a first block of the class (at a page start, 256-aligned) is
           taken, so the aligned one lies inside its block, after padding */
        void* first = keel_alloc(340);
        p = (unsigned char*)launder(keel_alloc_aligned(100, 256));
        printf("read %d\n", p[-1]);
        keel_free(p);
        keel_free(first);
        return 0;
    }
    if (strcmp(c, "large_overflow") == 0) {
        p = (unsigned char*)launder(keel_alloc(200000));
        p[200000] = 1;
        keel_free(p);
        return 0;
    }
    fprintf(stderr, "usage: annotate_cases clean|leak|overflow|uaf|uaf_read|aligned_under|large_overflow\n");
    return 2;
}
