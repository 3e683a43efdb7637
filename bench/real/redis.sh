#!/usr/bin/env bash
# redis.sh — a real program: redis-server under each allocator, driven by
# redis-benchmark over 127.0.0.1 (never another interface). Model: the
# redis benchmark of mimalloc-bench: a pipelined mix of commands on random
# keys, so that the dataset grows and values are replaced all the time.
# Stresses: a server's many small objects (keys, values, list and set
# nodes) allocated and freed at a high rate, with a client on the other
# core. Only the server runs on the allocator under test: the runner passes
# the library in BENCH_PRELOAD (not LD_PRELOAD) and this script preloads it
# into redis-server alone. Debian links redis-server with jemalloc, so the
# glibc run preloads libc.so.6 to put glibc's malloc first (run.sh).
# Reports (BENCH lines): wall_s, the time of redis-benchmark alone; and
# peak_rss_kb, the server's VmHWM just before shutdown.
#   redis.sh DIR REQUESTS
set -u
[ $# = 2 ] || { echo "usage: redis.sh DIR REQUESTS" >&2; exit 2; }
dir=$1 requests=$2
mkdir -p "$dir"
port=
for p in $(seq 16379 16479); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "redis.sh: no free port on 127.0.0.1 in 16379..16479" >&2; exit 1; }

LD_PRELOAD="${BENCH_PRELOAD:-}" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --daemonize no --dir "$dir" --logfile "$dir/redis.log" &
pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
for _ in $(seq 500); do
    [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && break
    kill -0 $pid 2>/dev/null || { echo "redis.sh: redis-server exited; see $dir/redis.log" >&2; exit 1; }
    sleep 0.02
done

t0=$(date +%s.%N)
redis-benchmark -h 127.0.0.1 -p "$port" -n "$requests" -c 32 -P 16 -r 200000 -d 96 \
    -t set,get,incr,lpush,rpop,sadd,hset,spop,zadd -q || exit 1
t1=$(date +%s.%N)
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
redis-cli -h 127.0.0.1 -p "$port" dbsize
redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1
wait $pid
status=$?
trap - EXIT
# redis exits 0 on shutdown; anything else (a crash) fails the run
[ $status = 0 ] || { echo "redis.sh: redis-server exited with $status" >&2; exit 1; }
echo "BENCH wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }') peak_rss_kb=$hwm"
