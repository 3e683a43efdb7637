/* realloc.c — growth by realloc, one thread, in the two shapes programs use.
   Model: the string builders of interpreters (Lua's luaL_Buffer, CPython's
   bytes and list growth) and the dynamic arrays of C and C++ (stb_ds's
   arrput, std::vector).
     str  1000 strings live at once; a random one grows by 1..32 bytes with
          realloc to its exact length, and once past a random limit
          (64 bytes .. 16 KiB) it is freed and starts again: in-place growth
          inside a size class, moves across classes, small copies.
     vec  vectors of 8-byte elements grown one push at a time, capacity x1.5
          on each realloc, to a random final length (1 Ki .. 4 Mi elements,
          8 KiB .. 32 MiB), with a small allocation between growths that can
          block in-place growth; each element is written once. Large copies,
          and how realloc of large blocks grows (remap, commit, copy).
   Fixed work: str APPENDS appends; vec VECTORS vectors.
   Usage: realloc THREADS SCALE str|vec   (THREADS is ignored: one thread) */
#include "bench.h"

#define RS_STRINGS 1000

typedef struct rs_string { char* p; size_t len, limit; } rs_string;

static void rs_str(size_t appends) {
    rs_string* s = (rs_string*)calloc(RS_STRINGS, sizeof *s);
    bench_rng r = bench_rng_seed(5);
    size_t i;
    if (!s) bench_fail("calloc failed");
    for (i = 0; i < appends; i++) {
        rs_string* x = &s[bench_rand(&r) % RS_STRINGS];
        size_t add = bench_range(&r, 1, 32);
        char* p;
        if (x->len + add > x->limit) {
            free(x->p);
            x->p = NULL;
            x->len = 0;
            x->limit = bench_log_range(&r, 64, 16384);
        }
        p = (char*)realloc(x->p, x->len + add);
        if (!p) bench_fail("realloc failed");
        memset(p + x->len, 'a' + (int)(add & 15), add);
        x->p = p;
        x->len += add;
    }
    for (i = 0; i < RS_STRINGS; i++) free(s[i].p);
    free(s);
}

static void rs_vec(size_t vectors) {
    bench_rng r = bench_rng_seed(6);
    void* noise[64] = {0};
    size_t v, k = 0;
    for (v = 0; v < vectors; v++) {
        size_t target = bench_log_range(&r, 1024, (size_t)4 << 20);
        size_t cap = 0, len;
        uint64_t* a = NULL;
        for (len = 0; len < target; len++) {
            if (len == cap) {
                cap = cap + cap / 2 + 16;
                a = (uint64_t*)realloc(a, cap * sizeof *a);
                if (!a) bench_fail("realloc failed");
                /* something else allocated in between, as programs do */
                free(noise[k & 63]);
                noise[k & 63] = bench_malloc(bench_range(&r, 16, 256));
                k++;
            }
            a[len] = len;
        }
        free(a);
    }
    for (k = 0; k < 64; k++) free(noise[k]);
}

int main(int argc, char** argv) {
    bench_args a = bench_parse(argc, argv, " str|vec");
    if (!a.mode || (strcmp(a.mode, "str") && strcmp(a.mode, "vec"))) bench_fail("realloc: mode is str or vec");
    if (a.mode[0] == 's') rs_str(bench_scaled(15000000, a.scale, 1000));
    else rs_vec(bench_scaled(400, a.scale, 4));
    return 0;
}
