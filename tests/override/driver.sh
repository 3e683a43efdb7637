#!/usr/bin/env bash
# driver.sh — runs one override test program the way a user would (under
# LD_PRELOAD=libkeel-override.so, or linked with libkeel-override.a) and
# checks what keel writes on fd 2 with and without KEEL_VERBOSE=1 and
# KEEL_SHOW_STATS=1 (DESIGN.md section 7).
#   usage: driver.sh PROGRAM LIBKEEL-OVERRIDE.SO
#          driver.sh PROGRAM LIBKEEL-OVERRIDE.A SOURCE INCLUDE-DIR CC   (test_override_static)
# The checks depend on the program's name. A program passes when it exits 0
# and its last line is "NAME: N passed, 0 failed". Closes with
# "NAME (driver): N passed, N failed".
set -u
shopt -s extglob   # hex_norm
if [ $# -lt 2 ]; then
  echo "usage: $0 PROGRAM LIBRARY [SOURCE INCLUDE-DIR CC]" >&2
  exit 2
fi
prog=$1
lib=$2
shift 2
name=$(basename "$prog")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
limit=${KEELTEST_OVERRIDE_TIMEOUT:-200}

ok() { pass=$((pass + 1)); echo "$name: $1: ok"; }
bad() {  # what, why
  fail=$((fail + 1))
  echo "$name: $1: FAILED: $2"
  echo "---- stdout (last 20 lines)"; tail -n 20 "$tmp/out"
  echo "---- stderr (last 40 lines)"; tail -n 40 "$tmp/err"
  echo "----"
}

# launch [preload] [VAR=VALUE...]: runs the program with a clean keel
# environment; output in $tmp/out and $tmp/err, exit status in rc. Only the
# program is preloaded, never this script's tools.
launch() {
  local preload=$1
  shift
  local -a env_args=(-u KEEL_VERBOSE -u KEEL_SHOW_STATS -u LD_PRELOAD)
  [ -n "$preload" ] && env_args+=("LD_PRELOAD=$preload")
  rc=0
  timeout -k 5 "$limit" env "${env_args[@]}" "$@" "$run_prog" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

# program_passed: exit 0 and the closing line reports no failure
program_passed() {
  [ "$rc" -eq 0 ] && tail -n 1 "$tmp/out" | grep -Eq '^[a-z_]+: [0-9]+ passed, 0 failed$'
}

# why the program failed, in words
program_why() {
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "timed out after ${limit}s (deadlock?)"
  elif [ "$rc" -gt 128 ]; then echo "killed by signal $((rc - 128))"
  elif [ "$rc" -ne 0 ]; then echo "exit status $rc"
  else echo "its closing line is not 'N passed, 0 failed'"; fi
}

keel_lines() { grep -c '^keel: ' "$tmp/err"; }

# hex_norm 0x00ABC -> abc
hex_norm() { local h=${1#0x}; h=${h,,}; h=${h##+(0)}; echo "${h:-0}"; }

# check_stats WHAT [PID] [MIN_ALLOCS] [BLOCKS]: stderr holds only keel's
# stats blocks (BLOCKS of them, default 1; "any" for one or more), each of
# exactly the contract's five lines with coherent numbers; PID (if given)
# is that of the last block, whose allocs are at least MIN_ALLOCS.
check_stats() {
  local what=$1 want_pid=${2:-} min_allocs=${3:-0} want_blocks=${4:-1}
  local -a lines
  local i n blocks why="" pid alloc_bytes live allocs frees committed peak reserved cached heaps segments
  mapfile -t lines < <(grep '^keel: ' "$tmp/err")
  n=${#lines[@]}
  if [ "$n" -ne "$(wc -l <"$tmp/err")" ]; then
    why="stderr has lines that are not keel's"
  elif [ "$n" -eq 0 ] || [ $((n % 5)) -ne 0 ]; then
    why="$n 'keel: ' lines on stderr, want blocks of 5"
  fi
  blocks=$((n / 5))
  if [ -z "$why" ] && [ "$want_blocks" != any ] && [ "$blocks" -ne "$want_blocks" ]; then
    why="$blocks stats blocks, want $want_blocks"
  fi
  for ((i = 0; i < n; i += 5)); do
    [ -n "$why" ] && break
    if [[ ${lines[i]} =~ ^keel:\ stats\ at\ exit\ \(pid\ ([0-9]+)\)$ ]]; then pid=${BASH_REMATCH[1]}
    else why="line '${lines[i]}' is not 'keel: stats at exit (pid N)'"; break; fi
    if [[ ${lines[i+1]} =~ ^keel:\ allocated\ ([0-9]+)\ bytes\ in\ ([0-9]+)\ live\ blocks$ ]]; then
      alloc_bytes=${BASH_REMATCH[1]} live=${BASH_REMATCH[2]}
    else why="line '${lines[i+1]}' is not 'keel: allocated N bytes in N live blocks'"; break; fi
    if [[ ${lines[i+2]} =~ ^keel:\ allocs\ ([0-9]+),\ frees\ ([0-9]+)$ ]]; then
      allocs=${BASH_REMATCH[1]} frees=${BASH_REMATCH[2]}
    else why="line '${lines[i+2]}' is not 'keel: allocs N, frees N'"; break; fi
    if [[ ${lines[i+3]} =~ ^keel:\ committed\ ([0-9]+)\ bytes\ \(peak\ ([0-9]+)\),\ reserved\ ([0-9]+),\ cached\ ([0-9]+)$ ]]; then
      committed=${BASH_REMATCH[1]} peak=${BASH_REMATCH[2]} reserved=${BASH_REMATCH[3]} cached=${BASH_REMATCH[4]}
    else why="line '${lines[i+3]}' is not 'keel: committed N bytes (peak N), reserved N, cached N'"; break; fi
    if [[ ${lines[i+4]} =~ ^keel:\ heaps\ ([0-9]+),\ segments\ ([0-9]+)$ ]]; then
      heaps=${BASH_REMATCH[1]} segments=${BASH_REMATCH[2]}
    else why="line '${lines[i+4]}' is not 'keel: heaps N, segments N'"; break; fi
    if [ "$allocs" -eq 0 ]; then why="allocs 0: keel served nothing"
    elif [ "$live" -ne $((allocs - frees)) ]; then why="live blocks $live != allocs $allocs - frees $frees"
    elif [ "$live" -gt 0 ] && [ "$alloc_bytes" -eq 0 ]; then why="$live live blocks hold 0 bytes"
    elif [ "$alloc_bytes" -gt "$committed" ]; then why="allocated $alloc_bytes > committed $committed"
    elif [ "$committed" -gt "$peak" ]; then why="committed $committed > peak $peak"
    elif [ "$cached" -gt "$committed" ]; then why="cached $cached > committed $committed"
    elif [ "$reserved" -eq 0 ]; then why="reserved 0"
    elif [ "$heaps" -lt 1 ]; then why="heaps $heaps at exit, the main thread's at least"
    elif [ "$live" -gt 0 ] && [ "$segments" -lt 1 ]; then why="$live live blocks in 0 segments"
    fi
  done
  if [ -z "$why" ] && [ -n "$want_pid" ] && [ "$pid" != "$want_pid" ]; then why="pid $pid, want $want_pid"; fi
  if [ -z "$why" ] && [ "$allocs" -lt "$min_allocs" ]; then why="allocs $allocs < $min_allocs seen by the program"; fi
  if [ -n "$why" ]; then bad "$what" "$why"; else ok "$what (allocs $allocs, $blocks block(s))"; fi
}

printed() { sed -n "s/^$1 //p" "$tmp/out" | tail -n 1; }

# ---- the runs ----

plain_run() {  # preload: passes, keel silent
  launch "$1"
  if ! program_passed; then bad "run" "$(program_why)"
  elif [ "$(keel_lines)" -ne 0 ]; then bad "run" "keel wrote on stderr without KEEL_VERBOSE/KEEL_SHOW_STATS"
  else ok "run"; fi
}

stats_run() {  # preload [blocks]: passes, the stats at exit and nothing else on fd 2
  launch "$1" KEEL_SHOW_STATS=1
  if ! program_passed; then bad "KEEL_SHOW_STATS=1" "$(program_why)"; return; fi
  check_stats "KEEL_SHOW_STATS=1 format" "$(printed PID)" "$(printed ALLOCS)" "${2:-1}"
}

verbose_run() {  # preload: "keel: active (pid N), version X.Y.Z" once, first; foreign reports exact
  local what="KEEL_VERBOSE=1" why="" active n line op addr found pid
  launch "$1" KEEL_VERBOSE=1 KEEL_SHOW_STATS=1
  if ! program_passed; then bad "$what" "$(program_why)"; return; fi
  active=$(grep -c '^keel: active (pid [0-9]*), version [0-9]*\.[0-9]*\.[0-9]*$' "$tmp/err")
  pid=$(printed PID)
  if [ "$active" -ne 1 ]; then why="$active 'keel: active (pid N), version X.Y.Z' lines, want 1"
  elif ! grep -m1 '^keel: ' "$tmp/err" | grep -q '^keel: active (pid [0-9]*), version [0-9]*\.[0-9]*\.[0-9]*$'; then
    why="the first keel line is not 'keel: active (pid N), version X.Y.Z'"
  elif [ -n "$pid" ] && ! grep -q "^keel: active (pid $pid), version [0-9]*\.[0-9]*\.[0-9]*$" "$tmp/err"; then
    why="the active line does not name pid $pid"
  elif [ "$(grep -o '^keel: active (pid [0-9]*' "$tmp/err" | grep -o '[0-9]*$')" != \
         "$(grep -o '^keel: stats at exit (pid [0-9]*' "$tmp/err" | tail -n 1 | grep -o '[0-9]*$')" ]; then
    why="the active line and the stats at exit name different pids"
  fi
  # every other keel line is a stats line or a foreign report of the right shape
  if [ -z "$why" ]; then
    line=$(grep '^keel: ' "$tmp/err" | grep -Ev '^keel: (active \(pid [0-9]+\), version [0-9.]+|options \(set with KEEL_<NAME> in the environment or keel_option_set\):|option [a-z_]+ = -?[0-9]+ \((default|from KEEL_[A-Z_]+)\)|stats at exit \(pid [0-9]+\)|allocated .*|allocs .*|committed .*|heaps .*)$' \
           | grep -Ev '^keel: (free of foreign pointer 0x[0-9a-fA-F]+ ignored|realloc of foreign pointer 0x[0-9a-fA-F]+|usable_size of foreign pointer 0x[0-9a-fA-F]+)$' | head -n 1)
    [ -n "$line" ] && why="unexpected line '$line'"
  fi
  # the option list names the options the environment set
  if [ -z "$why" ] && ! grep -qx 'keel: option verbose = 1 (from KEEL_VERBOSE)' "$tmp/err"; then
    why="no line 'keel: option verbose = 1 (from KEEL_VERBOSE)' in the option list"
  elif [ -z "$why" ] && ! grep -qx 'keel: option purge_delay = [0-9]* (default)' "$tmp/err"; then
    why="no line 'keel: option purge_delay = N (default)' in the option list"
  fi
  # each foreign call the program made is reported, at its address
  if [ -z "$why" ]; then
    n=0
    while read -r op addr; do
      n=$((n + 1))
      found=0
      while read -r got; do
        if [ "$(hex_norm "$got")" = "$(hex_norm "$addr")" ]; then found=1; break; fi
      done < <(sed -n "s/^keel: $op of foreign pointer \(0x[0-9a-fA-F]*\)\( ignored\)\{0,1\}$/\1/p" "$tmp/err")
      if [ "$found" -ne 1 ]; then why="no 'keel: $op of foreign pointer $addr' line"; break; fi
    done < <(sed -n 's/^FOREIGN //p' "$tmp/out")
  fi
  if [ -z "$why" ] && grep -q '^keel: free of foreign' "$tmp/err" &&
     ! grep -q '^keel: free of foreign pointer 0x[0-9a-fA-F]* ignored$' "$tmp/err"; then
    why="a free report lacks ' ignored'"
  fi
  if [ -n "$why" ]; then bad "$what" "$why"; else ok "$what (${n:-0} foreign calls reported)"; fi
}

run_prog=$prog
case $name in
  test_override_api)
    plain_run "$lib"
    verbose_run "$lib"
    stats_run "$lib"
    ;;
  test_override_init)
    plain_run "$lib"
    verbose_run "$lib"
    if grep -q '^ovr: early constructor$' "$tmp/err"; then
      if [ "$(grep -n -m1 -e '^ovr: early constructor$' -e '^keel: active' "$tmp/err" | head -n 1 | cut -d: -f2-)" = "ovr: early constructor" ]; then
        echo "$name: note: the needed library's constructor allocated before keel's constructor ran"
      else
        echo "$name: note: keel's constructor ran before the needed library's"
      fi
    fi
    stats_run "$lib"
    ;;
  test_override_fork)
    plain_run "$lib"
    stats_run "$lib" any   # each child exits through exit(): a block per process, the parent's last
    ;;
  test_override_threads|test_override_cxx)
    plain_run "$lib"
    stats_run "$lib"
    ;;
  test_override_closefd)
    launch "$lib" KEEL_SHOW_STATS=1
    if [ "$rc" -ne 0 ]; then bad "KEEL_SHOW_STATS=1, fds 1 and 2 closed" "$(program_why)"
    elif [ -s "$tmp/out" ] || [ -s "$tmp/err" ]; then bad "KEEL_SHOW_STATS=1, fds 1 and 2 closed" "something was written after the close"
    else ok "KEEL_SHOW_STATS=1, fds 1 and 2 closed: exit 0, nothing written"; fi
    launch "$lib" KEEL_SHOW_STATS=1 KEEL_VERBOSE=1
    if [ "$rc" -ne 0 ]; then bad "KEEL_SHOW_STATS=1 KEEL_VERBOSE=1, fds closed" "$(program_why)"
    elif [ -s "$tmp/out" ] || [ "$(grep -cv '^keel: option' "$tmp/err")" -ne 1 ] || ! grep -q '^keel: active (pid [0-9]*), version [0-9]*\.[0-9]*\.[0-9]*$' "$tmp/err"; then
      bad "KEEL_SHOW_STATS=1 KEEL_VERBOSE=1, fds closed" "want only the start-up lines (active, the options), written before the close"
    else ok "KEEL_SHOW_STATS=1 KEEL_VERBOSE=1, fds closed: only the start-up lines"; fi
    ;;
  test_override_static)
    # linked by CMake with the keel_override_static target, run as is
    plain_run ""
    stats_run ""
    # and linked the plain way: cc app.c libkeel-override.a -lpthread
    if [ $# -lt 3 ]; then
      bad "cc app.c libkeel-override.a -lpthread" "usage: driver.sh PROGRAM ARCHIVE SOURCE INCLUDE-DIR CC"
    else
      src=$1 inc=$2 cc=$3
      if "$cc" -O2 -fno-builtin -I"$inc" -I"$(dirname "$src")/.." "$src" "$lib" -lpthread -o "$tmp/app" >"$tmp/out" 2>"$tmp/err"; then
        ok "cc app.c libkeel-override.a -lpthread links"
        run_prog=$tmp/app
        plain_run ""
        stats_run ""
      else
        rc=1
        bad "cc app.c libkeel-override.a -lpthread" "the link failed"
      fi
    fi
    ;;
  *)
    echo "$0: no checks for a program named $name" >&2
    exit 2
    ;;
esac

echo "$name (driver): $pass passed, $fail failed"
[ "$fail" -eq 0 ]
