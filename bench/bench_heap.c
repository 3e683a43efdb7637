/* bench_heap.c — a large structure built and thrown away per round
   (DESIGN.md section 11, the workload "heap-destroy"): each round builds a
   binary search tree of NODES nodes keyed by random numbers, each node
   holding a string of 8..200 bytes (two blocks a node, 16..280 bytes), looks
   every key up once, then drops the whole tree. Modelled on per-request
   arenas of servers and on the trees of mimalloc-bench's "alloc-test". The
   ways to drop it:
     malloc     every block freed one by one (a walk of the tree); `make
                bench` runs this one under each allocator (LD_PRELOAD)
     keel_heap  the tree in a keel first-class heap, keel_heap_destroy
     mi_heap    the tree in a mimalloc heap (mi_heap_new, mi_heap_destroy),
                Debian's libmimalloc.so.2 loaded with dlopen: its malloc
                is not the process's (exit 3 when it cannot be loaded)
   Usage: bench_heap SCALE malloc|keel_heap|mi_heap
   Prints `BENCH drop_s=...` (the time spent dropping the trees: frees or
   destroys) and `BENCH build_s=...` for bench/runner.c. */
#define _GNU_SOURCE
#include "keel/keel.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct node {
    struct node* left;
    struct node* right;
    uint64_t key;
    char* text;
} node;

/* The allocation calls of one way. */
typedef struct way {
    void* (*alloc)(void* heap, size_t n);
    void* heap;
} way;

static void* (*mi_heap_new_fn)(void);
static void* (*mi_heap_malloc_fn)(void* heap, size_t n);
static void (*mi_heap_destroy_fn)(void* heap);

static void* by_malloc(void* heap, size_t n) { (void)heap; return malloc(n); }
static void* by_keel(void* heap, size_t n) { return keel_heap_alloc((keel_heap*)heap, n); }
static void* by_mi(void* heap, size_t n) { return mi_heap_malloc_fn(heap, n); }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t* s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fail(const char* what) {
    fprintf(stderr, "bench_heap: %s\n", what);
    exit(1);
}

/* Inserts without recursion; the tree stays shallow on random keys. */
static node* insert(node* root, node* n) {
    node** at = &root;
    while (*at) at = n->key < (*at)->key ? &(*at)->left : &(*at)->right;
    *at = n;
    return root;
}

static node* build(const way* w, size_t count, uint64_t* seed, unsigned long* sink) {
    node* root = NULL;
    size_t i;
    for (i = 0; i < count; i++) {
        uint64_t r = rng_next(seed);
        size_t len = 8 + (size_t)(r >> 40) % 193;
        node* n = (node*)w->alloc(w->heap, sizeof(node));
        if (!n) fail("allocation failed");
        n->left = n->right = NULL;
        n->key = r;
        n->text = (char*)w->alloc(w->heap, len);
        if (!n->text) fail("allocation failed");
        memset(n->text, (int)(r & 0x7f), len);
        root = insert(root, n);
    }
    *sink += root ? (unsigned long)(unsigned char)root->text[0] : 0;
    return root;
}

/* Every key found again: the structure is used, not only made. */
static void lookups(node* root, uint64_t seed, size_t count, unsigned long* sink) {
    size_t i;
    for (i = 0; i < count; i++) {
        uint64_t k = rng_next(&seed);
        node* n = root;
        while (n && n->key != k) n = k < n->key ? n->left : n->right;
        if (!n) fail("a key was lost");
        *sink += (unsigned char)n->text[0];
    }
}

/* Block by block: an explicit stack, the nodes' own links. */
static void free_tree(node* root) {
    node* stack = NULL;
    if (root) {
        root->text = (char*)(free(root->text), NULL);
        root->key = 0;
        stack = root;
    }
    while (stack) {
        node* n = stack;
        stack = (node*)(uintptr_t)n->key;   /* the key field holds the stack link once freed */
        if (n->left) {
            free(n->left->text);
            n->left->key = (uint64_t)(uintptr_t)stack;
            stack = n->left;
        }
        if (n->right) {
            free(n->right->text);
            n->right->key = (uint64_t)(uintptr_t)stack;
            stack = n->right;
        }
        free(n);
    }
}

int main(int argc, char** argv) {
    double scale = argc > 1 ? strtod(argv[1], NULL) : 1.0;
    const char* mode = argc > 2 ? argv[2] : "";
    size_t count = 200000;
    int rounds = (int)(40 * scale), r;
    double build_s = 0, drop_s = 0, t;
    unsigned long sink = 0;
    uint64_t seed = 88172645463325252ull;
    way w = {by_malloc, NULL};
    if (rounds < 1) rounds = 1;
    if (strcmp(mode, "malloc") && strcmp(mode, "keel_heap") && strcmp(mode, "mi_heap")) {
        fprintf(stderr, "usage: bench_heap SCALE malloc|keel_heap|mi_heap\n");
        return 2;
    }
    if (strcmp(mode, "mi_heap") == 0) {
        void* lib = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
        if (lib) {
            *(void**)&mi_heap_new_fn = dlsym(lib, "mi_heap_new");
            *(void**)&mi_heap_malloc_fn = dlsym(lib, "mi_heap_malloc");
            *(void**)&mi_heap_destroy_fn = dlsym(lib, "mi_heap_destroy");
        }
        if (!lib || !mi_heap_new_fn || !mi_heap_malloc_fn || !mi_heap_destroy_fn) {
            fprintf(stderr, "bench_heap: libmimalloc.so.2 not loadable (apt-get install libmimalloc2.0)\n");
            return 3;
        }
        w.alloc = by_mi;
    } else if (strcmp(mode, "keel_heap") == 0) {
        w.alloc = by_keel;
    }
    for (r = 0; r < rounds; r++) {
        uint64_t start = seed;
        node* root;
        t = now_s();
        if (w.alloc == by_keel && !(w.heap = keel_heap_new())) fail("keel_heap_new failed");
        if (w.alloc == by_mi && !(w.heap = mi_heap_new_fn())) fail("mi_heap_new failed");
        root = build(&w, count, &seed, &sink);
        lookups(root, start, count, &sink);
        build_s += now_s() - t;
        t = now_s();
        if (w.alloc == by_keel) keel_heap_destroy((keel_heap*)w.heap);
        else if (w.alloc == by_mi) mi_heap_destroy_fn(w.heap);
        else free_tree(root);
        drop_s += now_s() - t;
    }
    printf("BENCH build_s=%.4f\nBENCH drop_s=%.4f\n", build_s, drop_s);
    fprintf(stderr, "bench_heap: %s, %d rounds of %zu nodes (checksum %lu)\n", mode, rounds, count, sink);
    return 0;
}
