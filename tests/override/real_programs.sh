#!/usr/bin/env bash
# real_programs.sh — keel as the allocator of real, unmodified programs
# (issue 4's acceptance test). Each program runs its workload twice, with
# glibc's malloc and with LD_PRELOAD=libkeel-override.so KEEL_SHOW_STATS=1;
# the two runs must give identical output and exit status, and the keel run
# must show keel served allocations (the "keel: allocs N" lines of its
# processes add up to N > 0). Prints each program's wall time both ways.
#   usage: real_programs.sh [--quick|--full] LIBKEEL-OVERRIDE.SO
#   --quick (default): small workloads, about a minute on two cores
#   --full: a few minutes
# A program that is not installed is SKIPPED, or a failure when
# KEELTEST_REQUIRE_PROGRAMS=1, as in make test (bash tests/deps.sh programs installs them).
# KEELTEST_MT_CONTAINERS: a built mt_containers (else compiled here with g++).
# KEELTEST_KEEP_TMP=1 keeps the work directory; KEELTEST_REAL_ONLY="gcc git" runs
# only those (names as printed). Ends with
# "real programs: N passed, N failed"; exits non-zero on any failure.
set -u

mode=quick
case ${1:-} in
  --quick) shift ;;
  --full) mode=full; shift ;;
esac
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 [--quick|--full] LIBKEEL-OVERRIDE.SO" >&2
  exit 2
fi
so=$(realpath "$1")   # absolute: the programs change directory and spawn others
require=${KEELTEST_REQUIRE_PROGRAMS:-0}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-real.XXXXXX")
cleanup() {
  if [ "${KEELTEST_KEEP_TMP:-0}" = 1 ]; then echo "real programs: work directory kept: $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
passed=0 failed=0 skipped=0
timings=()

# pick QUICK FULL: the value for this mode
pick() { if [ "$mode" = full ]; then echo "$2"; else echo "$1"; fi; }
# seconds per run of a program: a guard against a hang, far above what a
# loaded machine needs (quick runs take seconds; 36 s for gcc with eight
# CPU hogs on two cores), so that the outcome never depends on the load
limit=$(pick 900 1800)

# under MODE CMD...: CMD with glibc's malloc, or preloaded with keel and its
# stats at exit on (inherited by every process CMD starts), bounded in time
under() {
  local m=$1
  shift
  if [ "$m" = keel ]; then
    timeout -k 5 "$limit" env -u KEEL_VERBOSE LD_PRELOAD="$so" KEEL_SHOW_STATS=1 "$@"
  else
    timeout -k 5 "$limit" env -u LD_PRELOAD -u KEEL_VERBOSE -u KEEL_SHOW_STATS "$@"
  fi
}

have() {  # commands...: all installed?
  local c
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || { missing=$c; return 1; }; done
}

seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# ---- workloads: w_NAME MODE, run in their own directory; stdout is what
# the two runs must share, the return status their exit status ----

w_python3() {
  cat >churn.py <<'EOF'
import collections, hashlib, json, sys
n = int(sys.argv[1])
digest = hashlib.sha256()
live, window = {}, []
for i in range(n):
    s = ("w%d" % (i * 2654435761 % 1000003)) * (1 + i % 7)
    window.append(s)
    live[s[:12] + str(i % 5000)] = [s, i, (i, s[::-1]), {"k": s[:5], "i": [i] * (i % 9)}]
    if len(window) > 4000:
        del window[:2000]
    if i % 2000 == 0:
        digest.update(json.dumps(sorted(live)[:40]).encode())
        live = {k: v for k, v in live.items() if v[1] > i - 6000 or v[1] % 1000 == 0}
counts = collections.Counter("".join(window))
print(sorted(counts.items())[:12])
print(len(live), digest.hexdigest())

class Node:
    def __init__(self, v, kids):
        self.v, self.kids = v, kids
def tree(d, v):
    return Node(v, [tree(d - 1, v * 3 + k) for k in range(3)] if d else [])
def total(t):
    return t.v + sum(total(k) for k in t.kids)
print(sum(total(tree(7, r)) for r in range(max(1, n // 20000))))
text = " ".join("%x" % (i * i) for i in range(n // 4))
words = text.split()
print(len(words), len(set(words)), hashlib.sha256("|".join(sorted(words)[:1000]).encode()).hexdigest())
EOF
  under "$1" env PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 "$python" churn.py "$(pick 50000 1000000)"
}

w_sqlite3() {
  local rows
  rows=$(pick 40000 400000)
  cat >work.sql <<EOF
.bail on
CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c REAL);
WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < $rows)
INSERT INTO t SELECT i, (i * 7919) % 1000, printf('name-%d-%s', i % 5000, substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26)), (i % 977) * 1.5 FROM r;
CREATE INDEX t_a ON t(a);
CREATE INDEX t_b ON t(b, c);
SELECT count(*), sum(a), total(c) FROM t;
SELECT a, count(*), sum(c), min(b), max(b) FROM t GROUP BY a ORDER BY a LIMIT 15;
SELECT b, count(*) FROM t GROUP BY b ORDER BY count(*) DESC, b LIMIT 10;
CREATE TABLE u AS SELECT a, group_concat(id, ',') AS ids FROM (SELECT a, id FROM t WHERE id % 10 = 0 ORDER BY id) GROUP BY a;
SELECT a, length(ids), substr(ids, 1, 40) FROM u ORDER BY a LIMIT 10;
SELECT count(*), sum(t.c) FROM t JOIN u USING (a) WHERE t.c > 100;
UPDATE t SET b = b || '-updated-' || id WHERE a % 3 = 0;
DELETE FROM t WHERE a % 5 = 0;
SELECT count(*), sum(length(b)) FROM t;
SELECT * FROM t ORDER BY b DESC, id LIMIT 5;
SELECT id, sum(a) OVER (ORDER BY id ROWS 10 PRECEDING) FROM t WHERE id % 997 = 1 ORDER BY id LIMIT 10;
SELECT a % 7, count(DISTINCT b), avg(c) FROM t GROUP BY a % 7 ORDER BY 1;
CREATE TEMP TABLE s AS SELECT b, a FROM t ORDER BY random();
SELECT count(*), count(DISTINCT b) FROM s;
DROP TABLE s;
VACUUM;
SELECT count(*) FROM t WHERE b LIKE 'name-1%';
EOF
  under "$1" sqlite3 :memory: <work.sql
}

w_gcc() {
  local funcs rc
  funcs=$(pick 150 2000)
  awk -v n="$funcs" 'BEGIN {
    print "#include <stddef.h>\n#include <string.h>"
    for (i = 0; i < n; i++) {
      printf "struct s%d { int a; long b; char name[%d]; double d[%d]; };\n", i, 8 + i % 40, 1 + i % 5
      printf "static const int table%d[] = {", i
      for (j = 0; j < 16; j++) printf "%d,", (i * 31 + j * 17) % 1000
      print "};"
      printf "long f%d(int x, const char* s) {\n  struct s%d v; long acc = %d; int k;\n", i, i, i
      printf "  memset(&v, 0, sizeof v); v.a = x * %d; v.b = (long)x << %d;\n", i % 13 + 1, i % 7
      printf "  for (k = 0; k < 16; k++) acc += table%d[k] * (x + k);\n", i
      printf "  switch ((x + %d) & 7) {\n", i
      for (j = 0; j < 8; j++) printf "    case %d: acc ^= v.b + %d; if (s && s[%d]) acc += s[%d]; break;\n", j, i * j, j, j
      print "  }"
      if (i > 0) printf "  if (x > %d) acc += f%d(x - 1, s);\n", 1000 + i, i - 1
      printf "  for (k = 0; k < (int)(sizeof v.d / sizeof v.d[0]); k++) v.d[k] = acc * 0.5 + k;\n"
      print "  return acc + (long)v.d[0] + v.a;\n}"
    }
  }' >big.c
  under "$1" gcc -O2 -g -c big.c -o big.o
  rc=$?
  # the object as nm sees it, not its bytes
  [ -f big.o ] && nm big.o
  return $rc
}

w_lua5_4() {
  cat >gc.lua <<'EOF'
local n = tonumber(arg[1])
local keep, acc, chars = {}, 0, 0
for i = 1, n do
  local s = string.rep(string.char(97 + i % 26), i % 60 + 1) .. tostring(i)
  keep[#keep + 1] = {s = s, v = i, sub = {i, i * 2, s:upper(), function() return i end}}
  if #keep > 6000 then
    for j = 1, 3000 do acc = acc + #keep[j].s + keep[j].sub[4]() % 7 end
    table.move(keep, 3001, #keep, 1)
    for j = #keep - 2999, #keep do keep[j] = nil end
  end
  if i % 50000 == 0 then collectgarbage("step", 100) end
end
local parts = {}
for i = 1, n // 10 do parts[#parts + 1] = string.format("%d:%x", i, i * 7919) end
local big = table.concat(parts, ",")
for w in big:gmatch("%d+:") do chars = chars + #w end
local map = {}
for i = 1, n // 5 do map["k" .. (i * 31 % 9973)] = (map["k" .. (i * 31 % 9973)] or 0) + i end
local keys = {}
for k in pairs(map) do keys[#keys + 1] = k end
table.sort(keys)
local sum = 0
for _, k in ipairs(keys) do sum = (sum * 31 + map[k]) % 1000000007 end
collectgarbage("collect")
print(acc, #keep, chars, #keys, sum)
EOF
  under "$1" lua5.4 gc.lua "$(pick 300000 3000000)"
}

w_perl() {
  cat >churn.pl <<'EOF'
use strict; use warnings; use Digest::MD5 qw(md5_hex);
my $n = shift;
my (%h, @keep);
for my $i (1 .. $n) {
    my $k = "k" . ($i * 7919 % 100003);
    $h{$k} .= chr(97 + $i % 26) x (1 + $i % 13);
    push @keep, join(",", $i, $k, length $h{$k});
    splice(@keep, 0, 2500) if @keep > 5000;
    if ($i % 5000 == 0) { delete $h{$_} for grep { length($h{$_}) > 200 } sort keys %h }
}
my $sum = 0;
$sum += length($h{$_}) for sort keys %h;
print scalar(keys %h), " $sum ", scalar(@keep), " ", md5_hex(join "", sort keys %h), "\n";
my $text = join(" ", map { "word" . ($_ * 37 % 1000) } 1 .. $n / 4);
my %c;
$c{substr($_, 0, 6)}++ for split / /, $text;
print join(",", map { "$_=$c{$_}" } (sort keys %c)[0 .. 9]), "\n";
my @sorted = sort { $a->[1] <=> $b->[1] or $a->[0] cmp $b->[0] } map { [$_, length $h{$_}] } keys %h;
print scalar(@sorted), " ", $sorted[0][0], " ", $sorted[-1][0], "\n";
(my $copy = $text) =~ s/word(\d+)/<$1>/g;
print length($copy), " ", md5_hex($copy), "\n";
EOF
  under "$1" perl churn.pl "$(pick 120000 1500000)"
}

w_git() {
  local files rc=0 i
  files=$(pick 400 4000)
  mkdir -p home tree
  export HOME=$PWD/home GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=keel GIT_AUTHOR_EMAIL=keel@example.invalid \
         GIT_COMMITTER_NAME=keel GIT_COMMITTER_EMAIL=keel@example.invalid \
         GIT_AUTHOR_DATE='2024-01-01T00:00:00+0000' GIT_COMMITTER_DATE='2024-01-01T00:00:00+0000'
  # the generator runs the same in both runs and is not preloaded
  gen() {  # version
    awk -v n="$files" -v ver="$1" 'BEGIN {
      for (i = 0; i < n; i++) {
        if (ver == 2 && (i % 7 != 0 || i % 40 == 39)) continue   # d39 is removed
        f = sprintf("tree/d%02d/file%05d.txt", i % 40, i)
        for (j = 0; j < 20 + i % 50; j++) printf "line %d of file %d version %d %s\n", j, i, (ver == 2 && j % 5 == 0) ? 2 : 1, substr("abcdefghijklmnopqrstuvwxyz", 1 + (i + j) % 26) > f
        close(f)
      }
    }'
  }
  for i in $(seq 0 39); do mkdir -p "tree/$(printf 'd%02d' "$i")"; done
  gen 1
  cd tree || return 1
  under "$1" git init -q -b main . || rc=1
  under "$1" git add -A || rc=1
  under "$1" git commit -q -m "first: $files files" || rc=1
  cd .. && gen 2 && cd tree || return 1
  under "$1" git rm -q -r d39 || rc=1
  under "$1" git add -A || rc=1
  GIT_COMMITTER_DATE='2024-01-02T00:00:00+0000' under "$1" git commit -q -m "second" || rc=1
  under "$1" git rev-parse HEAD HEAD~1 'HEAD^{tree}' || rc=1
  under "$1" git log --stat --format='%H %an <%ae> %ad %s' --date=iso-strict || rc=1
  under "$1" git diff --shortstat HEAD~1 HEAD || rc=1
  under "$1" git gc -q || rc=1
  under "$1" git fsck --full --no-progress || rc=1
  under "$1" git ls-tree -r HEAD | awk '{ n++; s += length($4) } END { print n, s }'
  under "$1" git grep -c 'version 2' HEAD -- d00 | sort | head -n 5
  return $rc
}

# redis: a random free loopback port, redis-benchmark, then known keys
# loaded and read back against their expected values, SHUTDOWN NOSAVE, the
# server's exit status
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

w_redis() {
  local m=$1 port="" keys bench_n rc=0 status
  keys=$(pick 5000 50000)
  bench_n=$(pick 20000 200000)
  trap '[ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null' EXIT   # this runs in a subshell
  for _ in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 40000))
    port_in_use "$port" && continue
    under "$m" redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --save '' --appendonly no \
      --daemonize no --dir "$PWD" --logfile "$PWD/redis.log" --lazyfree-lazy-user-flush yes >/dev/null &
    server_pid=$!
    for _ in $(seq 1 100); do
      [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && break
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && break
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=""
  done
  if [ -z "$server_pid" ]; then
    echo "redis-server did not start (log: $(tail -n 3 redis.log 2>/dev/null))" >&2
    return 1
  fi
  cli() { timeout 60 redis-cli -h 127.0.0.1 -p "$port" "$@"; }
  timeout "$limit" redis-benchmark -h 127.0.0.1 -p "$port" -q -n "$bench_n" -c 20 -d 100 -r 10000 \
    -t set,get,incr,lpush,rpush,lpop,sadd,hset,zadd,lrange_100 >bench.txt 2>&1 || { echo "redis-benchmark failed" >&2; rc=1; }
  echo "flushall: $(cli flushall)"
  awk -v n="$keys" '
    function cmd(a, k, i) { printf "*%d\r\n", a; for (i = 1; i <= a; i++) printf "$%d\r\n%s\r\n", length(w[i]), w[i] }
    BEGIN {
      for (i = 0; i < n; i++) {
        v = ""; r = (i % 100 == 0) ? 400 : i % 50 + 1
        for (j = 0; j < r; j++) v = v "v" i "-"
        w[1] = "SET"; w[2] = "key:" i; w[3] = v; cmd(3)
        if (i % 10 == 0) { w[1] = "RPUSH"; w[2] = "list:" i; for (j = 0; j < 20; j++) w[3 + j] = "e" i "." j; cmd(22) }
        if (i % 25 == 0) { w[1] = "HSET"; w[2] = "hash:" i; for (j = 0; j < 10; j++) { w[3 + 2 * j] = "f" j; w[4 + 2 * j] = "h" i "." j }; cmd(22) }
        if (i % 50 == 0) { w[1] = "ZADD"; w[2] = "z:" i; for (j = 0; j < 30; j++) { w[3 + 2 * j] = (j * 7) % 30; w[4 + 2 * j] = "m" j }; cmd(62) }
      }
    }' >load.resp
  cli --pipe <load.resp >pipe.txt 2>&1 || rc=1
  grep -q 'errors: 0' pipe.txt || { echo "redis-cli --pipe: $(tail -n 2 pipe.txt)" >&2; rc=1; }
  # read back: the queries, and what they must answer
  awk -v n="$keys" '
    BEGIN {
      for (i = 0; i < n; i += 100) { printf "MGET"; for (j = i; j < i + 100 && j < n; j++) printf " key:%d", j; print "" }
      for (i = 0; i < n; i += 10) printf "LRANGE list:%d 0 -1\n", i
      for (i = 0; i < n; i += 25) printf "HMGET hash:%d f0 f1 f2 f3 f4 f5 f6 f7 f8 f9\n", i
      for (i = 0; i < n; i += 50) printf "ZRANGE z:%d 0 -1 WITHSCORES\n", i
      print "DBSIZE"
    }' >queries.txt
  awk -v n="$keys" '
    BEGIN {
      for (i = 0; i < n; i++) { v = ""; r = (i % 100 == 0) ? 400 : i % 50 + 1; for (j = 0; j < r; j++) v = v "v" i "-"; print v }
      for (i = 0; i < n; i += 10) for (j = 0; j < 20; j++) print "e" i "." j
      for (i = 0; i < n; i += 25) for (j = 0; j < 10; j++) print "h" i "." j
      for (i = 0; i < n; i += 50) for (s = 0; s < 30; s++) for (j = 0; j < 30; j++) if ((j * 7) % 30 == s) { print "m" j; print s }
      print int(n) + int((n + 9) / 10) + int((n + 24) / 25) + int((n + 49) / 50)
    }' >expected.txt
  cli <queries.txt >readback.txt 2>&1 || rc=1
  if cmp -s readback.txt expected.txt; then echo "readback: $(wc -l <readback.txt) values as expected"
  else echo "readback differs from the expected values: $(diff readback.txt expected.txt | head -n 4 | tr '\n' ' ')"; rc=1; fi
  cli shutdown nosave >/dev/null 2>&1
  wait "$server_pid"
  status=$?
  server_pid=""
  echo "server exit status $status"
  [ "$status" -eq 0 ] || rc=1
  return $rc
}

w_mt_containers() {
  under "$1" "$mt_bin" "$(pick 20000 200000)" 3
}

# ---- the runner ----

# run_program NAME LABEL COMMANDS...: skip when a command is missing, else
# both runs, compared
run_program() {
  local name=$1 label=$2 m t0 why="" allocs procs other
  local -A rc secs
  shift 2
  missing=""
  case " ${KEELTEST_REAL_ONLY:-$label} " in *" $label "*) ;; *) return ;; esac
  if ! have "$@"; then
    if [ "$require" = 1 ]; then
      failed=$((failed + 1))
      echo "$label: FAILED: $missing is not installed (KEELTEST_REQUIRE_PROGRAMS=1; as root: bash tests/deps.sh programs)"
    else
      skipped=$((skipped + 1))
      echo "$label: SKIPPED ($missing not installed; as root: bash tests/deps.sh programs)"
    fi
    return
  fi
  for m in glibc keel; do
    mkdir -p "$tmp/$name/$m"
    t0=$EPOCHREALTIME
    (cd "$tmp/$name/$m" && "w_$name" "$m") >"$tmp/$name/$m.out" 2>"$tmp/$name/$m.err"
    rc[$m]=$?
    secs[$m]=$(seconds "$t0" "$EPOCHREALTIME")
  done
  local d=$tmp/$name
  allocs=$(sed -n 's/^keel: allocs \([0-9]*\), frees [0-9]*$/\1/p' "$d/keel.err" | awk '{ s += $1 } END { print s + 0 }')
  procs=$(grep -c '^keel: stats at exit (pid [0-9]*)$' "$d/keel.err")
  other=$(grep '^keel: ' "$d/keel.err" | grep -Ev '^keel: (stats at exit \(pid [0-9]+\)|live .* blocks \(peak .*, sampled\)|committed .*\(peak .*\), reserved .*, cached .*|process RSS .*|allocs [0-9]+, frees [0-9]+|threads seen [0-9]+, heaps alive [0-9]+, segments [0-9]+|guarded [0-9]+ blocks, [0-9]+ live \(.*\); [0-9]+ samples skipped, the pool full|elapsed .*, CPU .*|class  block size  live blocks  live bytes  pages   committed   use %| *[0-9]+ +[0-9.]+ [KMG]?i?B +[0-9]+ .*|large +- .*)$' | head -n 1)
  if [ "${rc[glibc]}" -ne 0 ]; then
    why="the glibc run failed (exit status ${rc[glibc]}): $(tail -n 3 "$d/glibc.err" | tr '\n' ' ')"
  elif [ "${rc[keel]}" -ne "${rc[glibc]}" ]; then
    why="exit status ${rc[keel]} with keel, ${rc[glibc]} with glibc$( [ "${rc[keel]}" -gt 128 ] && echo " (signal $((rc[keel] - 128)))"): $(grep -v '^keel: \(stats\|live\|committed\|process\|allocs\|threads\|guarded\|elapsed\|class\| *[0-9]\|large\)' "$d/keel.err" | tail -n 3 | tr '\n' ' ')"
  elif ! cmp -s "$d/glibc.out" "$d/keel.out"; then
    why="output differs: $(diff "$d/glibc.out" "$d/keel.out" | head -n 6 | tr '\n' ' ')"
  elif [ ! -s "$d/glibc.out" ]; then
    why="no output to compare"
  elif grep -q 'cannot be preloaded' "$d/keel.err"; then
    why="the loader refused the library: $(grep -m1 'cannot be preloaded' "$d/keel.err")"
  elif [ "$allocs" -eq 0 ]; then
    why="no 'keel: allocs N' with N > 0 on stderr: keel did not serve it"
  elif [ -n "$other" ]; then
    why="keel reported: $other"
  elif grep -q '^keel: ' "$d/glibc.err"; then
    why="the glibc run printed keel lines (was keel preloaded there?)"
  fi
  timings+=("$(printf '%-14s %9s %9s' "$label" "${secs[glibc]}s" "${secs[keel]}s")")
  if [ -n "$why" ]; then
    failed=$((failed + 1))
    echo "$label: FAILED: $why"
  else
    passed=$((passed + 1))
    echo "$label: ok (glibc ${secs[glibc]}s, keel ${secs[keel]}s; keel served $allocs allocations in $procs process(es))"
  fi
}

echo "real programs ($mode) on $so"
# the interpreter itself, not a wrapper (pyenv's shims are bash scripts)
python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
run_program python3 python3 python3 "${python:-python3}"
run_program sqlite3 sqlite3 sqlite3
run_program gcc gcc gcc nm as
run_program lua5_4 lua5.4 lua5.4
run_program perl perl perl
run_program git git git
run_program redis redis-server redis-server redis-cli redis-benchmark

mt_bin=${KEELTEST_MT_CONTAINERS:-}
if [ -z "$mt_bin" ] || [ ! -x "$mt_bin" ]; then
  mt_bin=""
  cxx=${CXX:-g++}
  if command -v "$cxx" >/dev/null 2>&1; then
    mkdir -p "$tmp/bin"
    if "$cxx" -O2 -std=c++17 -pthread "$(dirname "$0")/mt_containers.cpp" -o "$tmp/bin/mt_containers" 2>"$tmp/mt_build.err"; then
      mt_bin=$tmp/bin/mt_containers
    else
      failed=$((failed + 1))
      echo "mt_containers: FAILED: $cxx could not build it: $(head -n 3 "$tmp/mt_build.err" | tr '\n' ' ')"
    fi
  fi
fi
if [ -n "$mt_bin" ]; then
  run_program mt_containers mt_containers "$mt_bin"
elif [ ! -s "$tmp/mt_build.err" ]; then
  run_program mt_containers mt_containers "${CXX:-g++}"   # reports it missing
fi

echo "wall time       glibc      keel"
for t in "${timings[@]}"; do echo "$t"; done
[ "$skipped" -gt 0 ] && echo "real programs: $skipped skipped"
echo "real programs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
