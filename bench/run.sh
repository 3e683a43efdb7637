#!/usr/bin/env bash
# run.sh — `make bench`: keel against glibc, mimalloc, jemalloc and tcmalloc.
# Builds everything optimised, runs every workload (bench/README.md) under
# each allocator — interleaved within each repetition, the median of REPS
# runs kept — then the callgrind counts, and writes build/bench/:
#   results.csv  workload,allocator,wall_s,peak_rss_kb,... (medians)
#   report.md    tables with ratios, geometric means, the DESIGN.md section 9 bar
#   report.png   time and peak RSS normalised to glibc (gnuplot)
#   memret_curve.csv, memret_curve.png   RSS every 10 ms for 2 s after
#                freeing memret's 1 GiB, per allocator and purge_delay
#   runs.csv     every run (long format), logs/ every run's output
#
#   make bench                  the full suite (18 to 74 minutes on 2 cores: README, Performance)
#   make bench QUICK=1          one run each, small sizes (about five minutes)
#   THREADS=N                   threads of the multi-threaded workloads (nproc)
#   THREADS=1,2,4,8,16          thread scaling instead: only the threaded
#                               workloads, at each count, keel and the peers;
#                               writes scaling.csv and scaling.md (per-thread
#                               throughput against keel's at the first count)
#   REPS=N                      runs per allocator and workload (5; QUICK: 1)
#   WORKLOADS="larson redis"    only these workloads
#   ALLOCATORS_ONLY="keel keel_prof"  only these allocators (of keel,
#                               keel_prof, keel_guard, keel_hard, glibc,
#                               mimalloc, jemalloc, tcmalloc)
#   CALLGRIND=0|1               instruction counts of the single-thread
#                               workloads (default: 1, QUICK: 0)
# As root, installs the missing peers and tools with apt-get; otherwise
# prints the command and runs with what is there. Exit status 1 when a
# build or a run failed (a crash, a wrong exit); a missed bar is reported,
# not failed.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=${QUICK:-0}
THREADS=${THREADS:-$(nproc 2>/dev/null || echo 2)}
if [ "$QUICK" = 1 ]; then REPS=${REPS:-1} CALLGRIND=${CALLGRIND:-0}; else REPS=${REPS:-5} CALLGRIND=${CALLGRIND:-1}; fi
OUT=$ROOT/build/bench
BIN=$OUT/bin
WORK=$OUT/work
LOGS=$OUT/logs
ALLOCATORS=(keel glibc mimalloc jemalloc tcmalloc)
status=0
t_start=$(date +%s)

say() { echo "bench: $*" >&2; }

# ---- peers and tools ----
packages=(cmake make gcc gnuplot-nox valgrind libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4
          python3 sqlite3 redis-server redis-tools)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    cmd="apt-get install -y --no-install-recommends ${missing[*]}"
    if [ "$(id -u)" = 0 ]; then
        say "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # redis-server's package starts a service where an init system
        # runs; the benchmark starts its own server, so keep that one off.
        policy_added=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_added=1
        fi
        mkdir -p build/bench
        { apt-get update -qq && $cmd -qq; } >build/bench/apt.log 2>&1 ||
            say "apt-get failed (build/bench/apt.log); running with what is installed"
        [ $policy_added = 1 ] && rm -f /usr/sbin/policy-rc.d
    else
        say "missing packages: ${missing[*]}"
        say "to install them, as root run: apt-get update && $cmd"
        say "running with what is installed"
    fi
fi

# ---- build ----
mkdir -p "$OUT" "$WORK" "$LOGS"
rm -f "$OUT"/results.csv "$OUT"/report.* "$OUT"/report_*.dat "$OUT"/arena.csv
say "building (Release) into build/"
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release &&
       cmake --build build --target keel_override_shared bench_suite -j "$(nproc 2>/dev/null || echo 2)"; } >"$OUT/build.log" 2>&1; then
    tail -n 30 "$OUT/build.log" >&2
    say "build failed (build/bench/build.log)"
    exit 1
fi

# What was built: the commit, and the library's own uncommitted changes.
KEEL_VERSION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'unknown commit')"
keel_dirty=$(git -C "$ROOT" status --porcelain -- src include CMakeLists.txt 2>/dev/null | awk '{ print $NF }' | tr '\n' ' ')
[ -z "$keel_dirty" ] || KEEL_VERSION="$KEEL_VERSION with uncommitted changes in ${keel_dirty% }"
KEEL_VERSION="$KEEL_VERSION, built $(date -u '+%Y-%m-%d %H:%M UTC')"

# ---- the allocators: name -> library to preload ("" = none) ----
declare -A LIB
# The first library of that soname that the loader really preloads into a
# workload (a library of another word size is refused with a message).
find_lib() {
    local soname=$1 f
    for f in $(ldconfig -p 2>/dev/null | awk -v n="$soname" '$1 == n { print $NF }') \
             /usr/lib/*-linux-gnu/"$soname" /usr/lib64/"$soname" /usr/lib/"$soname"; do
        [ -f "$f" ] || continue
        if [ -z "$(LD_PRELOAD=$f "$BIN/st" 1 0.001 fixed 2>&1)" ]; then echo "$f"; return 0; fi
    done
    return 1
}
LIB[keel]=$ROOT/build/libkeel-override.so
# keel_prof: keel with the heap profile on at the usual rate (DESIGN.md
# section 12: its cost is reported against keel's)
LIB[keel_prof]=${LIB[keel]}
PROFILE_RATE=524288
# keel_guard: keel with guarded sampling on at 1 in 1000 (DESIGN.md
# section 12: its cost is reported against keel's)
LIB[keel_guard]=${LIB[keel]}
GUARD_RATE=1000
# keel_hard: the hardened override (DESIGN.md section 10), its cost against keel's
LIB[keel_hard]=$ROOT/build/libkeel-override-hardened.so
LIB[glibc]=
LIBC=$(find_lib libc.so.6) || LIBC=
present=(keel keel_prof keel_guard)
if [ -f "${LIB[keel_hard]}" ]; then present+=(keel_hard); else say "no ${LIB[keel_hard]#$ROOT/} (CMake KEEL_HARDENED=OFF): no hardened column"; fi
present+=(glibc)
for peer in mimalloc:libmimalloc.so.2:libmimalloc2.0 jemalloc:libjemalloc.so.2:libjemalloc2 \
            tcmalloc:libtcmalloc_minimal.so.4:libtcmalloc-minimal4; do
    IFS=: read -r name soname package <<<"$peer"
    if lib=$(find_lib "$soname"); then
        LIB[$name]=$lib
        present+=("$name")
    else
        say "$name not found ($soname); install it with: apt-get install $package"
    fi
done
# ALLOCATORS_ONLY="keel keel_prof": only these columns (a variant's cost against
# keel's, measured in a few minutes); the report leaves out what is missing.
if [ -n "${ALLOCATORS_ONLY:-}" ]; then
    kept=()
    for a in "${present[@]}"; do [[ " $ALLOCATORS_ONLY " == *" $a "* ]] && kept+=("$a"); done
    for a in $ALLOCATORS_ONLY; do [[ " ${present[*]} " == *" $a "* ]] || say "ALLOCATORS_ONLY: no allocator $a (there are: ${present[*]})"; done
    [ ${#kept[@]} -gt 0 ] || { say "ALLOCATORS_ONLY: nothing left to run"; exit 1; }
    present=("${kept[@]}")
fi

# The interpreter for python: Debian's, not a wrapper that may come first in PATH.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3 || echo python3)

# ---- the workloads ----
# name | quick scale | scale under callgrind, or - (not single-threaded) |
# command: @T@ threads, @S@ scale, @BIN@ build/bench/bin, @WORK@ build/bench/work,
# @ROOT@ the checkout, @N@ requests | what it is (the report's heading)
WORKLOAD_TABLE="\
st-fixed|0.3|0.01|@BIN@/st @T@ @S@ fixed|single thread, 32-byte blocks in batches of 1..10000 (glibc bench-malloc-simple)
st-mixed|0.3|0.02|@BIN@/st @T@ @S@ mixed|single thread, 8..4096-byte blocks in batches, freed in shuffled order
larson|0.3|-|@BIN@/larson @T@ @S@|server simulation: threads replace random slots (8..1000 B), successors inherit them (Larson)
xmalloc|0.25|-|@BIN@/xmalloc @T@ @S@|producer/consumer ring: every block freed by another thread (xmalloc-test)
cache-scratch|0.5|-|@BIN@/cache @T@ @S@ scratch|passive false sharing: blocks handed from main to workers, then reused (Hoard cache-scratch)
cache-thrash|0.5|-|@BIN@/cache @T@ @S@ thrash|active false sharing: threads allocate small blocks at once (Hoard cache-thrash)
mstress|0.2|-|@BIN@/mstress @T@ @S@|mixed lifetimes, blocks swapped between threads, threads restarted each round (mstress)
realloc-str|0.2|0.02|@BIN@/realloc @T@ @S@ str|1000 strings grown by 1..32 bytes with realloc
realloc-vec|0.1|0.05|@BIN@/realloc @T@ @S@ vec|vectors grown x1.5 by realloc up to 32 MiB
large-mixed|0.1|0.02|@BIN@/large @T@ @S@ mixed|blocks of 64 KiB..32 MiB replaced at random, every page written
large-reuse|0.1|0.02|@BIN@/large @T@ @S@ reuse|20 buffers of 5..25 MiB reallocated over and over, every page written (DESIGN.md 9)
aligned|0.3|0.02|@BIN@/aligned @T@ @S@|posix_memalign/aligned_alloc/memalign, alignments 16 B..64 KiB
memret|0.25|-|@BIN@/memret @T@ @S@|1 GiB of small blocks allocated and freed, RSS 1 s later (time: the allocate+free phase)
thread-churn|0.3|-|@BIN@/churn @T@ @S@|threads created and destroyed, each allocating a little (Hoard threadtest)
bump|0.2|0.05|@ROOT@/build/bench_arena @N@ @R@ malloc|bump-style use: many small blocks, then all freed; keel_arena_s: the same with a keel arena
heap-destroy|0.1|-|@ROOT@/build/bench_heap @S@ malloc|a search tree of 200,000 nodes (two blocks each) built, searched and freed block by block, per round; *keel_heap*, *mi_heap*: the same in a first-class heap dropped whole (keel_heap_destroy, mimalloc's mi_heap_destroy); drop_s: the dropping alone
gcc|0.3|-|gcc -O2 -c @WORK@/gcc_input.c -o @WORK@/gcc_input.o|gcc -O2 compiling a large generated C file
python|0.2|-|env PYTHONMALLOC=malloc @PYTHON@ @ROOT@/bench/real/python.py @S@|python3 with PYTHONMALLOC=malloc: JSON, dicts, sorting, strings
sqlite|0.2|-|sqlite3 :memory:|sqlite3 shell, in-memory database: inserts, indexes, updates, deletes, joins
redis|0.2|-|bash @ROOT@/bench/real/redis.sh @WORK@/redis @N@|redis-server driven by redis-benchmark on 127.0.0.1 (only the server on the allocator)"

# What a workload needs besides build/: the programs it runs.
requires() {
    case $1 in
        gcc) echo gcc ;;
        python) echo "$PYTHON" ;;
        sqlite) echo sqlite3 ;;
        redis) echo redis-server redis-benchmark redis-cli ;;
    esac
}

wanted() { [ -z "${WORKLOADS:-}" ] || [[ " $WORKLOADS " == *" $1 "* ]]; }

# cmdline NAME SCALE: the command of a workload at a scale, one word a line.
cmdline() {
    local name=$1 scale=$2 tmpl n=0 r=0 w
    tmpl=$(printf '%s\n' "$WORKLOAD_TABLE" | awk -F'|' -v n="$name" '$1 == n { print $4 }')
    case $name in
        bump)  # blocks and rounds of bench_arena
            n=$(awk -v s="$scale" 'BEGIN { v = int(1000000 * s); print (v < 1000 ? 1000 : v) }')
            r=$(awk -v s="$scale" 'BEGIN { print (s < 0.2 ? 5 : 20) }') ;;
        redis)  # requests
            n=$(awk -v s="$scale" 'BEGIN { v = int(200000 * s); print (v < 2000 ? 2000 : v) }') ;;
    esac
    for w in $tmpl; do
        w=${w//@ROOT@/$ROOT}
        w=${w//@BIN@/$BIN}
        w=${w//@WORK@/$WORK}
        w=${w//@PYTHON@/$PYTHON}
        w=${w//@T@/$THREADS}
        w=${w//@S@/$scale}
        w=${w//@N@/$n}
        w=${w//@R@/$r}
        printf '%s\n' "$w"
    done
}

# Inputs of the real programs, made once (not timed).
prepare() {
    local name=$1 scale=$2
    case $name in
        gcc) bash bench/real/gcc.sh prepare "$WORK" "$scale" ;;
        sqlite) bash bench/real/sqlite.sh prepare "$WORK" "$scale" ;;
    esac
}

# run_one WORKLOAD ALLOCATOR REP SCALE: one measured run; appends its
# measures to runs.csv (workload,allocator,rep,key,value) and prints the
# progress line. REP 0: a warm-up run, neither kept nor counted.
# ALLOCATOR keel_arena: the arena half of bump (no preload).
RUNS=$OUT/runs.csv
run_one() {
    local name=$1 alloc=$2 rep=$3 scale=$4 lib var=LD_PRELOAD stdin=/dev/null line rc kv wall rss log xcore=
    local -a cmd envp=()
    [ "$alloc" = keel_prof ] && envp=("KEEL_PROFILE_SAMPLE=$PROFILE_RATE")
    [ "$alloc" = keel_guard ] && envp=("KEEL_GUARDED_SAMPLE_RATE=$GUARD_RATE")
    mapfile -t cmd < <(cmdline "$name" "$scale")
    lib=${LIB[$alloc]:-}
    case $name in
        redis) var=BENCH_PRELOAD; [ "$alloc" = glibc ] && lib=$LIBC ;;
        sqlite) stdin=$WORK/sqlite.sql ;;
    esac
    if [ "$alloc" = keel_arena ]; then cmd[${#cmd[@]}-1]=arena; lib=; fi
    # heap-destroy's rows of the heap APIs: keel's linked in, mimalloc's by dlopen; no preload
    if [ "$alloc" = keel_heap ] || [ "$alloc" = mi_heap ]; then cmd[${#cmd[@]}-1]=$alloc; lib=; fi
    log=$LOGS/$name.$alloc.$rep.log
    # the cross-core round trip just before a run whose threads share
    # memory (bench/xcore.c: a shared VM's vCPUs move, and such runs follow)
    case $name in larson | xmalloc | cache-scratch | cache-thrash | mstress | thread-churn)
        [ "$rep" != 0 ] && xcore=$("$BIN/xcore" 2>/dev/null) ;;
    esac
    line=$(env "${envp[@]}" "$BIN/runner" --preload "$lib" --preload-var "$var" --stdin "$stdin" --log "$log" --timeout 600 -- "${cmd[@]}")
    rc=$?
    [ "$rep" = 0 ] && return 0
    line="$line $xcore"
    for kv in $line; do
        echo "$name,$alloc,$rep,${kv%%=*},${kv#*=}" >>"$RUNS"
    done
    # the last wall_s and peak_rss_kb win (a workload may replace them)
    wall=$(printf '%s\n' $line | awk -F= '$1 == "wall_s" { v = $2 } END { print v + 0 }')
    rss=$(printf '%s\n' $line | awk -F= '$1 == "peak_rss_kb" { v = $2 } END { print v / 1024 }')
    done_runs=$((done_runs + 1))
    if [ $rc != 0 ]; then
        status=1
        echo "$name,$alloc,$rep,failed,1" >>"$RUNS"
        printf '[%3d/%d] %-13s %-10s run %d/%d  FAILED (exit %s), see %s\n' "$done_runs" "$total_runs" "$name" "$alloc" \
            "$rep" "$REPS" "$(printf '%s\n' $line | awk -F= '$1 == "exit" { print $2 }')" "${log#$ROOT/}" >&2
    else
        printf '[%3d/%d] %-13s %-10s run %d/%d  %9.3f s  %8.1f MiB  (%d s elapsed)\n' "$done_runs" "$total_runs" \
            "$name" "$alloc" "$rep" "$REPS" "$wall" "$rss" $(($(date +%s) - t_start)) >&2
    fi
}

# How many cores the machine really gives: the same CPU-bound run alone and
# two side by side (on a shared VM the second core comes and goes).
parallelism() {
    local t0 t1 t2 one two
    t0=$(date +%s.%N)
    "$BIN/st" 1 0.2 fixed
    t1=$(date +%s.%N)
    "$BIN/st" 1 0.2 fixed & "$BIN/st" 1 0.2 fixed
    wait
    t2=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.2f", 2 * (b - a) / (c - b) }'
}
PARALLELISM=$(parallelism)
# and what a cache line costs to move between two threads (bench/xcore.c)
xcore_ns() { local v; v=$("$BIN/xcore" 2>/dev/null); echo "${v#xcore_ns=}"; }
XCORE=$(xcore_ns)

# CPU time the whole machine spent busy (steal included: a VM's neighbours),
# and what this script's own finished children spent, in clock ticks; the
# difference over the run is what other processes took from the benchmark.
machine_busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
own_children_ticks() { awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$$/stat"; }
BUSY0=$(machine_busy_ticks) OWN0=$(own_children_ticks) WALL0=$(date +%s.%N)
# load_verdict: one sentence for the report, starting "busy" or "quiet".
load_verdict() {
    local hz; hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
    awk -v b0="$BUSY0" -v b1="$(machine_busy_ticks)" -v o0="$OWN0" -v o1="$(own_children_ticks)" \
        -v w0="$WALL0" -v w1="$(date +%s.%N)" -v hz="$hz" -v p0="$PARALLELISM" -v p1="$1" -v n="$(nproc)" 'BEGIN {
        others = ((b1 - b0) - (o1 - o0)) / hz / (w1 - w0); if (others < 0) others = 0
        # one low parallelism check alone is a moment (the two runs last
        # 0.2 s); both low, or other processes taking CPU, is a busy machine
        low = n >= 2 && p0 < 1.7 && p1 < 1.7
        if (others > 0.10 || low)
            printf "busy: other processes (or the VM host) took %.2f cores on average during the run; two CPU-bound processes side by side ran %.2fx / %.2fx as fast as one before / after: the numbers are unreliable, rerun on a quiet machine", others, p0, p1
        else
            printf "quiet: other processes took %.2f cores on average during the run; two CPU-bound processes side by side ran %.2fx / %.2fx as fast as one before / after", others, p0, p1
    }'
}
say "machine check: two CPU-bound processes side by side ran ${PARALLELISM}x as fast as one (2.00: two full cores)"

# ---- thread scaling (THREADS=1,2,4,8,16) ----
# The multi-threaded workloads at each thread count, under keel and each
# peer, REPS runs each (the median kept; QUICK: the quick scales). Every one
# fixes the work of each thread but xmalloc, whose fixed total is shared by
# max(2, THREADS) threads; so a thread's throughput is 1 / time, or for
# xmalloc 1 / (max(2, THREADS) x time). scaling.md gives it relative to
# keel's at the first count: 1.00 at every count is perfect scaling, and
# the columns compare the allocators at one count.
if [[ "$THREADS" == *,* ]]; then
    IFS=, read -r -a counts <<<"$THREADS"
    SC=$OUT/scaling.csv
    echo "workload,allocator,threads,rep,wall_s" >"$SC"
    sc_allocs=()
    for a in keel glibc mimalloc jemalloc tcmalloc; do
        [[ " ${present[*]} " == *" $a "* ]] && sc_allocs+=("$a")
    done
    say "thread scaling: THREADS=$THREADS REPS=$REPS QUICK=$QUICK; allocators: ${sc_allocs[*]}"
    for name in larson xmalloc cache-scratch cache-thrash mstress thread-churn; do
        wanted "$name" || continue
        scale=1
        [ "$QUICK" = 1 ] && scale=$(printf '%s\n' "$WORKLOAD_TABLE" | awk -F'|' -v n="$name" '$1 == n { print $2 }')
        for t in "${counts[@]}"; do
            for rep in $(seq 1 "$REPS"); do
                for a in "${sc_allocs[@]}"; do
                    THREADS=$t
                    mapfile -t cmd < <(cmdline "$name" "$scale")
                    log=$LOGS/scaling.$name.$a.$t.$rep.log
                    line=$("$BIN/runner" --preload "${LIB[$a]}" --preload-var LD_PRELOAD --stdin /dev/null --log "$log" \
                               --timeout 600 -- "${cmd[@]}") || { say "$name under $a, $t threads, failed (${log#$ROOT/})"; status=1; continue; }
                    wall=$(printf '%s\n' $line | awk -F= '$1 == "wall_s" { v = $2 } END { print v + 0 }')
                    echo "$name,$a,$t,$rep,$wall" >>"$SC"
                    printf '  %-13s %-9s %2s threads  run %d/%d  %8.3f s\n' "$name" "$a" "$t" "$rep" "$REPS" "$wall" >&2
                done
            done
        done
    done
    THREADS=${counts[*]}
    awk -F, -v first="${counts[0]}" -v allocs="${sc_allocs[*]}" -v when="$(date -u '+%Y-%m-%d %H:%M UTC')" \
        -v cores="$(nproc)" -v quick="$QUICK" '
        NR == 1 { next }
        { k = $1 SUBSEP $2 SUBSEP $3; n[k]++; v[k, n[k]] = $5
          if (!($1 in seen)) { seen[$1] = 1; order[++nw] = $1 }
          if (!(($1, $3) in tseen)) { tseen[$1, $3] = 1; tl[$1, ++nt[$1]] = $3 } }
        function median(k,   i, j, m, t, a) {
            m = n[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]
            for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
        function per_thread(w, t, wall) { return wall > 0 ? 1 / (wall * (w == "xmalloc" ? (t < 2 ? 2 : t) : 1)) : 0 }
        END {
            na = split(allocs, al, " ")
            printf "# Thread scaling\n\n%s, %s cores, %s. Per-thread throughput relative to keel'"'"'s at %s thread(s) (higher is better; the same at every count is perfect scaling); the wall time in seconds after it.\n\n", when, cores, quick == 1 ? "make bench QUICK=1 scales" : "full scales", first
            for (i = 1; i <= nw; i++) {
                w = order[i]; base = 0
                if (((w, "keel", first) in n)) base = per_thread(w, first, median(w SUBSEP "keel" SUBSEP first))
                printf "## %s\n\n| threads |", w
                for (j = 1; j <= na; j++) printf " %s |", al[j]
                printf "\n|---:|"; for (j = 1; j <= na; j++) printf "---:|"; printf "\n"
                for (c = 1; c <= nt[w]; c++) {
                    t = tl[w, c]; printf "| %s |", t
                    for (j = 1; j <= na; j++) {
                        k = w SUBSEP al[j] SUBSEP t
                        if (!(k in n) || base == 0) { printf " - |"; continue }
                        m = median(k); printf " %.2f (%.3f s) |", per_thread(w, t, m) / base, m
                    }
                    printf "\n"
                }
                printf "\n"
            }
        }' "$SC" >"$OUT/scaling.md"
    cat "$OUT/scaling.md" >&2
    say "wrote build/bench/scaling.csv and scaling.md in $(($(date +%s) - t_start)) s"
    exit $status
fi

names=()
while IFS='|' read -r name _ _ _ desc; do wanted "$name" && names+=("$name"); done <<<"$WORKLOAD_TABLE"
total_runs=$(( ${#names[@]} * REPS * ${#present[@]} ))
[[ " ${names[*]} " == *" bump "* ]] && total_runs=$((total_runs + REPS))
if [[ " ${names[*]} " == *" heap-destroy "* ]]; then   # keel_heap, and mi_heap where mimalloc is installed
    total_runs=$((total_runs + REPS))
    [ -n "${LIB[mimalloc]:-}" ] && total_runs=$((total_runs + REPS))
fi
done_runs=0
: >"$RUNS"
rm -f "$LOGS"/*.log
printf '%s\n' "$WORKLOAD_TABLE" | awk -F'|' '{ print $1 "\t" $5 }' >"$OUT/workloads.tsv"

say "THREADS=$THREADS REPS=$REPS QUICK=$QUICK; allocators: ${present[*]}; ${#names[@]} workloads, $total_runs runs"
for name in "${names[@]}"; do
    quick_scale=$(printf '%s\n' "$WORKLOAD_TABLE" | awk -F'|' -v n="$name" '$1 == n { print $2 }')
    scale=1
    [ "$QUICK" = 1 ] && scale=$quick_scale
    lacking=
    for c in $(requires "$name"); do command -v "$c" >/dev/null 2>&1 || lacking="$lacking $c"; done
    if [ -n "$lacking" ]; then say "$name skipped:$lacking not installed"; continue; fi
    prepare "$name" "$scale" || { say "$name: preparing its input failed"; status=1; continue; }
    # Real programs: one run not counted first, so that the first allocator
    # does not pay for loading the program from disk.
    case $name in gcc|python|sqlite|redis) [ "$QUICK" = 1 ] || run_one "$name" glibc 0 "$scale" ;; esac
    for rep in $(seq 1 "$REPS"); do
        # Interleaved: every allocator once per repetition, the order
        # rotated by one each time so that no allocator always goes first.
        n=${#present[@]}
        for i in $(seq 0 $((n - 1))); do
            run_one "$name" "${present[$(( (i + rep - 1) % n ))]}" "$rep" "$scale"
        done
        [ "$name" = bump ] && run_one bump keel_arena "$rep" "$scale"
        if [ "$name" = heap-destroy ]; then
            run_one heap-destroy keel_heap "$rep" "$scale"
            [ -n "${LIB[mimalloc]:-}" ] && run_one heap-destroy mi_heap "$rep" "$scale"
        fi
    done
done

# ---- memory given back over time (memret's curve) ----
# memret once more under each allocator, its idle phase two seconds long,
# RSS read every 10 ms after the last free (bench/memret.c, BENCH_CURVE);
# keel at its default purge_delay (500 ms) and at 0, 100 and 1000 ms, and
# with the purge thread off. min(REPS, 3) runs each; memret_curve.csv:
# setting,rep,t_ms,rss_kb. The report gives the median curves.
CURVE_CSV=$OUT/memret_curve.csv
rm -f "$CURVE_CSV" "$OUT"/memret_curve.*
if wanted memret; then
    curve_scale=1
    [ "$QUICK" = 1 ] && curve_scale=$(printf '%s\n' "$WORKLOAD_TABLE" | awk -F'|' '$1 == "memret" { print $2 }')
    curve_reps=$((REPS < 3 ? REPS : 3))
    curve_settings=()
    if [[ " ${present[*]} " == *" keel "* ]]; then
        curve_settings+=("keel|" "keel purge_delay=0|KEEL_PURGE_DELAY=0" "keel purge_delay=100|KEEL_PURGE_DELAY=100"
                         "keel purge_delay=1000|KEEL_PURGE_DELAY=1000" "keel purge_thread=0|KEEL_PURGE_THREAD=0")
    fi
    for a in glibc mimalloc jemalloc tcmalloc; do [[ " ${present[*]} " == *" $a "* ]] && curve_settings+=("$a|"); done
    say "memory given back over time: memret at scale $curve_scale, ${#curve_settings[@]} settings, $curve_reps run(s) each"
    echo "setting,rep,t_ms,rss_kb" >"$CURVE_CSV"
    for rep in $(seq 1 "$curve_reps"); do
        for setting in "${curve_settings[@]}"; do
            label=${setting%%|*} envset=${setting#*|} alloc=${setting%% *}
            alloc=${alloc%%|*}
            points=$WORK/memret_curve.txt log=$LOGS/memret_curve.${label// /_}.$rep.log
            rm -f "$points"
            if env ${envset:+"$envset"} ${LIB[$alloc]:+LD_PRELOAD=${LIB[$alloc]}} BENCH_CURVE="$points" BENCH_CURVE_MS=2000 \
                    timeout 600 "$BIN/memret" 1 "$curve_scale" >"$log" 2>&1 && [ -s "$points" ]; then
                awk -v l="$label" -v r="$rep" '{ printf "%s,%s,%s,%s\n", l, r, $1, $2 }' "$points" >>"$CURVE_CSV"
                printf '  memret curve  %-22s run %d/%d  %8.1f MiB at 1 s\n' "$label" "$rep" "$curve_reps" \
                    "$(awk '$1 >= 1000 { print $2 / 1024; exit }' "$points")" >&2
            else
                say "memret's curve under $label failed (${log#$ROOT/})"
                status=1
            fi
        done
    done
fi

# ---- instruction counts ----
FASTPATH_CSV=$OUT/fastpath.csv
rm -f "$FASTPATH_CSV"
if command -v valgrind >/dev/null 2>&1; then
    say "instructions per malloc+free pair (callgrind, bench/fastpath.sh)"
    KEELBENCH_OVERRIDE=${LIB[keel]} QUICK=$QUICK bash bench/fastpath.sh | tee "$OUT/fastpath.txt" >&2 || status=1
else
    say "valgrind is not installed: no instruction counts (apt-get install valgrind)"
fi

CG_CSV=$OUT/callgrind.csv
: >"$CG_CSV"
if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null 2>&1; then
    say "instructions of the single-thread workloads (callgrind, whole program at a small scale)"
    while IFS='|' read -r name _ cg _ _; do
        [ "$cg" = - ] && continue
        wanted "$name" || continue
        mapfile -t cmd < <(cmdline "$name" "$cg")
        for alloc in "${present[@]}"; do
            cgout=$WORK/callgrind.out
            rm -f "$cgout"
            envp=()
            [ "$alloc" = keel_prof ] && envp=("KEEL_PROFILE_SAMPLE=$PROFILE_RATE")
            [ "$alloc" = keel_guard ] && envp=("KEEL_GUARDED_SAMPLE_RATE=$GUARD_RATE")
            if env "${envp[@]}" ${LIB[$alloc]:+LD_PRELOAD=${LIB[$alloc]}} valgrind --tool=callgrind --callgrind-out-file="$cgout" \
                    "${cmd[@]}" >"$LOGS/$name.$alloc.callgrind.log" 2>&1; then
                ir=$(awk '/^summary:/ { s = $2 } /^totals:/ { t = $2 } END { print (s != "" ? s : t) }' "$cgout")
                echo "$name,$alloc,$cg,$ir" >>"$CG_CSV"
                printf '  %-13s %-10s %14s instructions (scale %s)\n' "$name" "$alloc" "$ir" "$cg" >&2
            else
                say "$name under $alloc failed under valgrind (see ${LOGS#$ROOT/}/$name.$alloc.callgrind.log)"
                status=1
            fi
        done
    done <<<"$WORKLOAD_TABLE"
fi

# ---- report ----
META=$OUT/meta.txt
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo) ($(nproc) cores)"
    echo "memory=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "os=$( . /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), Linux $(uname -r)"
    echo "command=$([ "$QUICK" = 1 ] && echo 'make bench QUICK=1' || echo 'make bench')"
    echo "settings=THREADS=$THREADS, $REPS run(s) per allocator and workload ($([ "$REPS" = 1 ] && echo 'a single run' || echo 'the median kept'))"
    echo "keel=$KEEL_VERSION (build/libkeel-override.so)"
    echo "glibc=$(ldd --version 2>/dev/null | head -n 1 | awk '{ print $NF }')"
    for p in libmimalloc2.0:mimalloc libjemalloc2:jemalloc libtcmalloc-minimal4:tcmalloc; do
        echo "${p#*:}=$(dpkg-query -W -f='${Version}' "${p%%:*}" 2>/dev/null || echo 'not installed') (${LIB[${p#*:}]:-not found})"
    done
    echo "programs=gcc $(gcc -dumpfullversion 2>/dev/null), $($PYTHON --version 2>&1), sqlite3 $(sqlite3 --version 2>/dev/null | awk '{ print $1 }'), redis $(redis-server --version 2>/dev/null | awk '{ print $3 }' | sed 's/v=//')"
    PARALLELISM_AFTER=$(parallelism)
    echo "parallelism=two CPU-bound processes side by side ran ${PARALLELISM}x as fast as one before the runs, ${PARALLELISM_AFTER}x after (2.00: two full cores); a cache line's round trip between two threads took ${XCORE:-?} ns before, $(xcore_ns) ns after (bench/xcore.c; also before each run of a threaded workload: xcore_ns)"
    echo "load=$(load_verdict "$PARALLELISM_AFTER")"
    echo "elapsed=$(($(date +%s) - t_start)) s"
} >"$META"

say "machine load: $(sed -n 's/^load=//p' "$META")"
"$BIN/report" "$OUT" || { say "report failed"; exit 1; }
if command -v gnuplot >/dev/null 2>&1; then
    (cd "$OUT" && gnuplot report.gp) 2>"$OUT/gnuplot.log" || { say "gnuplot failed (build/bench/gnuplot.log)"; status=1; }
    if [ -f "$OUT/memret_curve.gp" ]; then
        (cd "$OUT" && gnuplot memret_curve.gp) 2>>"$OUT/gnuplot.log" || { say "gnuplot failed (build/bench/gnuplot.log)"; status=1; }
    fi
else
    rm -f "$OUT/report.png" "$OUT/memret_curve.png"
    printf '\nreport.png was not drawn: gnuplot is not installed (apt-get install gnuplot-nox).\n' >>"$OUT/report.md"
fi
say "wrote build/bench/results.csv, report.md$([ -f "$OUT/report.png" ] && echo ' and report.png') in $(($(date +%s) - t_start)) s"
exit $status
