#!/usr/bin/env bash
# run.sh — `make bench`. The comparison suite against glibc, mimalloc,
# jemalloc and tcmalloc (time and RSS) needs the heap (keel.h) and arrives
# with it; what exists today is measured and said to be all there is: the
# arena micro-benchmark, and instructions per malloc+free pair (fastpath.sh,
# which reports keel once keel_alloc links).
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target all bench_arena -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
echo "keel bench: only the arena micro-benchmark and the instruction count per malloc+free pair exist so far; the allocator comparison suite (time and RSS) is not built yet." >&2
mkdir -p build/bench
if [ "${QUICK:-0}" = 1 ]; then ./build/bench_arena 200000 3; else ./build/bench_arena 1000000 20; fi | tee build/bench/arena.csv
echo
bash bench/fastpath.sh
