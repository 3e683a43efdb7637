#!/usr/bin/env bash
# fastpath.sh — instructions per malloc+free pair (DESIGN.md section 9, first
# bar): keel against glibc, mimalloc, jemalloc and tcmalloc, counted by
# callgrind over three patterns (fastpath.c), summarised by their geometric
# mean. Each pattern runs with N1 and N2 pairs; (Ir(N2) - Ir(N1)) / (N2 - N1)
# leaves only the pairs, start-up and warm-up cancel out. The harness's own
# instructions (loop, argument set-up, the PLT stub of a dynamic malloc) are
# counted apart and left out, so that keel linked statically and a peer
# called through the PLT are compared on the allocator's work alone.
# Every allocator is measured twice: as is, and with one live block of every
# size 8..255 kept (patterns named *-live), so that no page the patterns use
# ever empties (an allocator that gives empty pages back pays for it in the
# first set only).
#
#   bash bench/fastpath.sh            (QUICK=1: fewer pairs)
#   KEELBENCH_OVERRIDE=path/to/override.so  measure keel through malloc/free too
# Writes build/bench/fastpath.csv: allocator,pattern,instructions_per_pair
# (patterns fixed32, mixed, batch100, geomean and the same with -live).
set -eu
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null 2>&1; then
    echo "fastpath: valgrind is not installed; install it with: apt-get install -y valgrind" >&2
    exit 1
fi

if [ "${QUICK:-0}" = 1 ]; then N1=20000 N2=40000; else N1=100000 N2=200000; fi
OUT=build/bench
CSV=$OUT/fastpath.csv
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Configured every time: a build tree from before these targets lacks them.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target fastpath_malloc >/dev/null

# keel through its API: built apart, since the heap may not link yet.
status=0
keel_note=
if ! cmake --build build --target fastpath_keel >"$OUT/fastpath_keel.log" 2>&1; then
    if grep -Eqs "undefined reference to .keel_(alloc|free)'" "$OUT/fastpath_keel.log"; then
        keel_note="not measured: keel_alloc/keel_free do not link yet (heap in progress)"
    else
        keel_note="build failed (see $OUT/fastpath_keel.log)"
        status=1
    fi
fi

# keel through the override, when one is built (or named): the default
# build's (build/libkeel-override-hardened.so sorts before it, and is
# measured only when named)
override=${KEELBENCH_OVERRIDE:-}
if [ -z "$override" ]; then
    for f in build/libkeel-override.so build/libkeel-override.so.*; do [ -f "$f" ] && { override=$f; break; }; done
fi

# A peer: the first library of that soname that the dynamic loader really
# preloads into fastpath_malloc (a library of another word size is refused).
find_lib() {
    local soname=$1 f
    for f in $(ldconfig -p 2>/dev/null | awk -v n="$soname" '$1 == n { print $NF }') \
             /usr/lib/*-linux-gnu/"$soname" /usr/lib64/"$soname" /usr/lib/"$soname"; do
        [ -f "$f" ] || continue
        if [ -z "$(LD_PRELOAD=$f ./build/fastpath_malloc fixed32 100 2>&1 >/dev/null)" ]; then
            echo "$f"
            return 0
        fi
    done
    return 1
}

# One run under callgrind; prints two numbers: all instructions, and those
# of the harness itself (fastpath.c's own functions, which callgrind also
# charges with the PLT stubs they call through).
count() {  # count PRELOAD PROGRAM PATTERN PAIRS
    local preload=$1; shift
    local cg=$tmp/callgrind.out
    rm -f "$cg"
    if ! env ${preload:+LD_PRELOAD=$preload} valgrind --tool=callgrind --compress-strings=no \
            --compress-pos=no --callgrind-out-file="$cg" "$@" >"$tmp/stdout" 2>"$tmp/stderr"; then
        echo "fastpath: failed under valgrind: ${preload:+LD_PRELOAD=$preload }$*" >&2
        tail -n 20 "$tmp/stderr" >&2
        return 1
    fi
    # Exclusive cost of a function: its cost lines, less the line after each
    # calls= (that one is the callee's inclusive cost).
    awk '/^fn=/ { fn = substr($0, 4); next }
         /^calls=/ { callee = 1; next }
         /^[0-9+*-]/ { if (!callee && fn ~ /^(fastpath_|main$|main[.])/) h += $2; callee = 0; next }
         /^summary:/ { s = $2 } /^totals:/ { t = $2 }
         END { printf "%s %d\n", (s != "" ? s : t), h }' "$cg"
}

echo "allocator,pattern,instructions_per_pair" >"$CSV"

measure() {
    local name=$1 preload=$2 prog=$3 p r1 r2 per row="" logsum=0
    HARNESS=
    for p in $PATTERNS; do
        r1=$(count "$preload" "$prog" "$p" "$N1") || return 1
        r2=$(count "$preload" "$prog" "$p" "$N2") || return 1
        per=$(awk -v a="$r1" -v b="$r2" -v n=$((N2 - N1)) 'BEGIN {
            split(a, x, " "); split(b, y, " "); printf "%.1f", ((y[1] - y[2]) - (x[1] - x[2])) / n }')
        HARNESS="$HARNESS $p $(awk -v a="$r1" -v b="$r2" -v n=$((N2 - N1)) 'BEGIN {
            split(a, x, " "); split(b, y, " "); printf "%.1f", (y[2] - x[2]) / n }')"
        echo "$name,$p,$per" >>"$CSV"
        row="$row $(printf '%9s' "$per")"
        logsum=$(awk -v s="$logsum" -v x="$per" 'BEGIN { printf "%.9f", s + log(x) }')
    done
    GEOMEAN=$(awk -v s="$logsum" 'BEGIN { printf "%.1f", exp(s / 3) }')
    echo "$name,geomean$SUFFIX,$GEOMEAN" >>"$CSV"
    printf '%-16s%s %9s\n' "$name" "$row" "$GEOMEAN"
}

# measure_set SUFFIX: every allocator on the three patterns (SUFFIX -live:
# with one block of every size kept, so that no page ever empties)
measure_set() {
    local keel_geo='' keel_label='' mimalloc_geo='' name soname package lib peer
    SUFFIX=$1
    PATTERNS="fixed32$1 mixed$1 batch100$1"
    printf '%-16s %9s %9s %9s %9s\n' allocator "fixed32$1" "mixed$1" "batch100$1" geomean
    if [ -z "$keel_note" ]; then
        if measure keel "" ./build/fastpath_keel; then
            keel_geo=$GEOMEAN keel_label=keel keel_harness=$HARNESS
        else
            status=1
        fi
    else
        printf '%-16s %s\n' keel "$keel_note"
    fi
    if [ -n "$override" ]; then
        if measure keel-override "$override" ./build/fastpath_malloc; then
            keel_geo=$GEOMEAN keel_label=keel-override
        else
            status=1
        fi
    fi
    if measure glibc "" ./build/fastpath_malloc; then malloc_harness=$HARNESS; else status=1; fi
    for peer in mimalloc:libmimalloc.so.2:libmimalloc2.0 \
                jemalloc:libjemalloc.so.2:libjemalloc2 \
                tcmalloc:libtcmalloc_minimal.so.4:libtcmalloc-minimal4; do
        IFS=: read -r name soname package <<<"$peer"
        if lib=$(find_lib "$soname"); then
            if measure "$name" "$lib" ./build/fastpath_malloc; then
                [ "$name" = mimalloc ] && mimalloc_geo=$GEOMEAN
            else
                status=1
            fi
        else
            printf '%-16s %s\n' "$name" "not installed (apt-get install $package)"
        fi
    done
    if [ -n "$keel_geo" ] && [ -n "$mimalloc_geo" ]; then
        awk -v k="$keel_geo" -v m="$mimalloc_geo" -v l="$keel_label" -v s="$1" \
            'BEGIN { printf "%s / mimalloc%s, geometric mean: %.3f (bar: <= 1.0)\n", l, s, k / m }'
    elif [ -n "$keel_geo" ]; then
        echo "keel / mimalloc$1, geometric mean: not available (mimalloc not installed)"
    else
        echo "keel / mimalloc$1, geometric mean: not available (keel not measured)"
    fi
}

keel_harness='' malloc_harness=''
printf 'instructions per malloc+free pair inside the allocator, callgrind, (Ir(%d) - Ir(%d)) / %d pairs\n' \
    "$N2" "$N1" $((N2 - N1))
measure_set ""
echo
echo "the same with one live block of every size 8..255 kept (no page ever becomes empty):"
measure_set -live

# DESIGN.md section 11: an allocation from a first-class heap used by one
# thread costs at most twice keel_alloc's instructions. Inclusive cost of
# the allocation call alone (callees included), per call, by the same
# difference of two runs.
incl() {  # incl FUNCTION PATTERN PAIRS: instructions of FUNCTION and its callees
    local cg=$tmp/callgrind.incl
    valgrind --tool=callgrind --compress-strings=no --compress-pos=no --callgrind-out-file="$cg" \
        ./build/fastpath_keel "$2" "$3" >/dev/null 2>&1 || return 1
    awk -v f="$1" '/^fn=/ { fn = substr($0, 4); next }
         /^calls=/ { callee = 1; next }
         /^[0-9+*-]/ { if (fn == f) s += $2; callee = 0; next }
         END { printf "%d\n", s }' "$cg"
}
if [ -z "$keel_note" ]; then
    echo
    echo "first-class heap, instructions per allocation call (callees included), one thread (bar: heap <= 2x keel_alloc):"
    printf '%-16s %9s %9s %9s\n' pattern keel_alloc heap ratio
    for pair in fixed32-live:heap32-live mixed-live:heapmixed-live; do
        IFS=: read -r base heap <<<"$pair"
        a1=$(incl keel_alloc "$base" "$N1") && a2=$(incl keel_alloc "$base" "$N2") &&
            h1=$(incl keel_heap_alloc "$heap" "$N1") && h2=$(incl keel_heap_alloc "$heap" "$N2") || { status=1; continue; }
        awk -v a1="$a1" -v a2="$a2" -v h1="$h1" -v h2="$h2" -v n=$((N2 - N1)) -v p="$heap" -v csv="$CSV" 'BEGIN {
            a = (a2 - a1) / n; h = (h2 - h1) / n
            printf "%-16s %9.1f %9.1f %9.2f\n", p, a, h, h / a
            printf "keel_heap_alloc,%s,%.1f\nkeel_alloc,%s,%.1f\n", p, h, p, a >> csv }'
    done
fi
[ -z "$malloc_harness" ] || echo "left out, the harness's own instructions per pair, malloc build:$malloc_harness"
[ -z "$keel_harness" ] || echo "left out, the harness's own instructions per pair, keel build:$keel_harness"
echo "(written to $CSV)"
exit $status
