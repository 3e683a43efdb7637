#!/usr/bin/env bash
# gcc.sh — a real program: gcc -O2 compiling one large generated C file
# under each allocator (the driver, cc1 and as all run on it). Model: the
# compiler runs of mimalloc-bench and of the SPEC CPU "gcc" benchmark: one
# big translation unit, many functions, inlining and the optimiser's
# short-lived trees and bitmaps. cc1 puts its garbage-collected trees in
# pages it maps itself, everything else (obstacks, hash tables, vectors,
# bitmaps, the assembler's buffers) goes through malloc.
# Stresses: a single-threaded program with millions of small allocations of
# mixed lifetimes; peak RSS is cc1's.
#   gcc.sh prepare DIR SCALE    writes DIR/gcc_input.c (not timed)
#   the timed command (run.sh): gcc -O2 -c DIR/gcc_input.c -o DIR/gcc_input.o
set -eu
[ "${1:-}" = prepare ] && [ $# = 3 ] || { echo "usage: gcc.sh prepare DIR SCALE" >&2; exit 2; }
dir=$2 scale=$3
mkdir -p "$dir"
# SCALE 1: 150 functions of a few dozen lines (~2 s of cc1 at -O2 on a
# 2-core x86-64 VM); cc1 time grows faster than linearly with more.
awk -v n="$(awk -v s="$scale" 'BEGIN { v = int(150 * s); print (v < 10 ? 10 : v) }')" 'BEGIN {
    print "#include <stddef.h>"
    print "#include <string.h>"
    print "struct node { struct node* next; long key; double w[4]; char name[24]; };"
    print "static inline long mix(long a, long b) { return (a * 31) ^ (b >> 3) ^ (a << 7); }"
    for (i = 0; i < n; i++) {
        printf "static long table_%d[%d] = {", i, 8 + i % 9
        for (j = 0; j < 8 + i % 9; j++) printf "%s%d", (j ? ", " : ""), (i * 7919 + j * 104729) % 100003
        print "};"
        printf "long f_%d(struct node* list, long x, const char* s) {\n", i
        print "    long acc = 0, k;"
        print "    struct node* p;"
        print "    char buf[64];"
        printf "    for (p = list; p; p = p->next) {\n"
        printf "        acc += mix(p->key, x + %d);\n", i
        printf "        if (p->w[%d] > %d.5) acc ^= (long)p->w[(x + %d) & 3];\n", i % 4, i % 13, i
        printf "        switch ((p->key + %d) %% 7) {\n", i
        for (c = 0; c < 7; c++)
            printf "        case %d: acc += table_%d[(acc + %d) %% %d] * %d; break;\n", c, i, c, 8 + i % 9, c + i % 5 + 1
        print "        }"
        print "    }"
        printf "    for (k = 0; k < %d; k++) {\n", 8 + i % 24
        printf "        buf[k & 63] = (char)(s[k %% 16] + acc + k * %d);\n", i % 11 + 1
        printf "        if (buf[k & 63] == %d) acc = mix(acc, k);\n", i % 127
        print "    }"
        if (i > 0) printf "    if (x > %d) acc += f_%d(list, x - 1, s);\n", i % 100, i - 1
        print "    return acc + (long)strlen(buf + (acc & 31));"
        print "}"
    }
}' >"$dir/gcc_input.c"
