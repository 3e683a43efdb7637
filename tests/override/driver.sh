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

# A size as keel_stats_print writes it ("123 B", "12.5 MiB"): SIZE_RE has
# three groups. bytes_of VAR SIZE sets VAR to SIZE in bytes, monotone in the
# printed value (-1 for an unknown unit). It sets a variable instead of
# printing, so no subshell: a report has about 80 sizes and test_override_fork
# checks 41 reports, where a fork of bash each (milliseconds on a kernel with
# slow page faults) made the check take longer than the program.
SIZE_RE='([0-9]+(\.[0-9])? (B|KiB|MiB|GiB))'
bytes_of() {
  local _v=${2% *} _u=${2##* } _whole _tenth=0 _mult
  case $_u in B) _mult=1 ;; KiB) _mult=1024 ;; MiB) _mult=1048576 ;; GiB) _mult=1073741824 ;; *) printf -v "$1" %s -1; return 0 ;; esac
  _whole=${_v%.*}
  [[ $_v == *.* ]] && _tenth=${_v#*.}
  printf -v "$1" %s $(((_whole * 10 + _tenth) * _mult / 10))
}

# check_stats WHAT [PID] [MIN_ALLOCS] [BLOCKS]: stderr holds only keel's
# reports (BLOCKS of them, default 1; "any" for one or more), each exactly
# keel_stats_print's lines (title, live, committed, process, allocs,
# threads, elapsed, the class table ending with its large row) with
# coherent numbers; PID (if given) is that of the last report, whose allocs
# are at least MIN_ALLOCS.
check_stats() {
  local what=$1 want_pid=${2:-} min_allocs=${3:-0} want_blocks=${4:-1}
  local -a lines
  local S=$SIZE_RE i n blocks=0 why="" pid="" line
  local live_bytes live peak_live committed peak reserved cached allocs=0 frees seen alive segments rows_blocks
  local rss rss_peak row_live row_committed
  mapfile -t lines < <(grep '^keel: ' "$tmp/err")
  n=${#lines[@]}
  if [ "$n" -ne "$(wc -l <"$tmp/err")" ]; then why="stderr has lines that are not keel's"
  elif [ "$n" -eq 0 ]; then why="no 'keel: ' line on stderr"; fi
  i=0
  while [ -z "$why" ] && [ "$i" -lt "$n" ]; do
    if [[ ${lines[i]} =~ ^keel:\ stats\ at\ exit\ \(pid\ ([0-9]+)\)$ ]]; then pid=${BASH_REMATCH[1]}
    else why="line '${lines[i]}' is not 'keel: stats at exit (pid N)'"; break; fi
    blocks=$((blocks + 1))
    if [ $((i + 9)) -gt "$n" ]; then why="a report cut short after '${lines[i]}'"; break; fi
    line=${lines[i+1]}
    if [[ $line =~ ^keel:\ live\ $S\ in\ ([0-9]+)\ blocks\ \(peak\ $S,\ sampled\)$ ]]; then
      bytes_of live_bytes "${BASH_REMATCH[1]}"; live=${BASH_REMATCH[4]}; bytes_of peak_live "${BASH_REMATCH[5]}"
    else why="line '$line' is not 'keel: live SIZE in N blocks (peak SIZE, sampled)'"; break; fi
    line=${lines[i+2]}
    if [[ $line =~ ^keel:\ committed\ $S\ \(peak\ $S\),\ reserved\ $S,\ cached\ $S$ ]]; then
      bytes_of committed "${BASH_REMATCH[1]}"; bytes_of peak "${BASH_REMATCH[4]}"
      bytes_of reserved "${BASH_REMATCH[7]}"; bytes_of cached "${BASH_REMATCH[10]}"
    else why="line '$line' is not 'keel: committed SIZE (peak SIZE), reserved SIZE, cached SIZE'"; break; fi
    line=${lines[i+3]}
    if ! [[ $line =~ ^keel:\ process\ RSS\ $S\ \(peak\ $S\)$ ]]; then
      why="line '$line' is not 'keel: process RSS SIZE (peak SIZE)'"; break
    elif bytes_of rss "${BASH_REMATCH[1]}"; bytes_of rss_peak "${BASH_REMATCH[4]}"; [ "$rss" -gt "$rss_peak" ]; then
      why="RSS above its peak in '$line'"; break
    fi
    line=${lines[i+4]}
    if [[ $line =~ ^keel:\ allocs\ ([0-9]+),\ frees\ ([0-9]+)$ ]]; then
      allocs=${BASH_REMATCH[1]} frees=${BASH_REMATCH[2]}
    else why="line '$line' is not 'keel: allocs N, frees N'"; break; fi
    line=${lines[i+5]}
    if [[ $line =~ ^keel:\ threads\ seen\ ([0-9]+),\ heaps\ alive\ ([0-9]+),\ segments\ ([0-9]+)$ ]]; then
      seen=${BASH_REMATCH[1]} alive=${BASH_REMATCH[2]} segments=${BASH_REMATCH[3]}
    else why="line '$line' is not 'keel: threads seen N, heaps alive N, segments N'"; break; fi
    line=${lines[i+6]}
    if ! [[ $line =~ ^keel:\ elapsed\ [0-9]+\.[0-9]{3}\ s,\ CPU\ [0-9]+\.[0-9]{3}\ s\ \(user\ [0-9]+\.[0-9]{3}\ s,\ system\ [0-9]+\.[0-9]{3}\ s\)$ ]]; then
      why="line '$line' is not 'keel: elapsed S s, CPU S s (user S s, system S s)'"; break
    fi
    if [ "${lines[i+7]}" != "keel: class  block size  live blocks  live bytes  pages   committed   use %" ]; then
      why="line '${lines[i+7]}' is not the class table's header"; break
    fi
    i=$((i + 8)) rows_blocks=0
    while [ "$i" -lt "$n" ]; do   # class rows, then the large row
      line=${lines[i]}
      i=$((i + 1))
      if [[ $line =~ ^keel:\ +([0-9]+|large)\ +($S|-)\ +([0-9]+)\ +$S\ +([0-9]+)\ +$S\ +([0-9]+\.[0-9]%|-)$ ]]; then
        rows_blocks=$((rows_blocks + BASH_REMATCH[6]))
        bytes_of row_live "${BASH_REMATCH[7]}"; bytes_of row_committed "${BASH_REMATCH[11]}"
        if [ "$row_live" -gt "$row_committed" ]; then
          why="live bytes above committed in row '$line'"; break
        fi
        [ "${BASH_REMATCH[1]}" = large ] && break
      else
        why="line '$line' is not a class row ('keel: CLASS SIZE N SIZE N SIZE P%') nor the large row"; break
      fi
      [ "$i" -eq "$n" ] && why="the class table has no large row"
    done
    [ -n "$why" ] && break
    if [ "$allocs" -eq 0 ]; then why="allocs 0: keel served nothing"
    elif [ "$live" -ne $((allocs - frees)) ]; then why="live blocks $live != allocs $allocs - frees $frees"
    elif [ "$live" -gt 0 ] && [ "$live_bytes" -eq 0 ]; then why="$live live blocks hold 0 bytes"
    elif [ "$live_bytes" -gt "$peak_live" ]; then why="live bytes $live_bytes > their peak $peak_live"
    elif [ "$live_bytes" -gt "$committed" ]; then why="live bytes $live_bytes > committed $committed"
    elif [ "$committed" -gt "$peak" ]; then why="committed $committed > peak $peak"
    elif [ "$cached" -gt "$committed" ]; then why="cached $cached > committed $committed"
    elif [ "$reserved" -eq 0 ]; then why="reserved 0"
    elif [ "$alive" -lt 1 ]; then why="heaps alive $alive at exit, the main thread's at least"
    elif [ "$seen" -lt "$alive" ]; then why="threads seen $seen < heaps alive $alive"
    elif [ "$live" -gt 0 ] && [ "$segments" -lt 1 ]; then why="$live live blocks in 0 segments"
    elif [ "$rows_blocks" -lt "$live" ]; then why="the class rows hold $rows_blocks blocks, fewer than the $live live"
    fi
  done
  if [ -z "$why" ] && [ "$want_blocks" != any ] && [ "$blocks" -ne "$want_blocks" ]; then
    why="$blocks reports, want $want_blocks"
  fi
  if [ -z "$why" ] && [ -n "$want_pid" ] && [ "$pid" != "$want_pid" ]; then why="pid $pid, want $want_pid"; fi
  if [ -z "$why" ] && [ "$allocs" -lt "$min_allocs" ]; then why="allocs $allocs < $min_allocs seen by the program"; fi
  if [ -n "$why" ]; then bad "$what" "$why"; else ok "$what (allocs $allocs, $blocks report(s))"; fi
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
    line=$(grep '^keel: ' "$tmp/err" | grep -Ev '^keel: (active \(pid [0-9]+\), version [0-9.]+|options \(set with KEEL_<NAME> in the environment or keel_option_set\):|option [a-z_]+ = -?[0-9]+ \((default|from KEEL_[A-Z_]+)\)|stats at exit \(pid [0-9]+\)|live .*|committed .*|process RSS .*|allocs .*|threads seen .*|elapsed .*|class  block size .*| *[0-9]+ .*|large .*)$' \
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
  test_override_threads|test_override_cxx|test_override_hardened)
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
