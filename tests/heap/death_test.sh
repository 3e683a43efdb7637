#!/usr/bin/env bash
# death_test.sh — runs the heap misuse programs (tests/heap/death/*.c) and
# checks how each ends (STYLE.md: one small program per misuse, the signal and
# the exact message checked).
#   usage: death_test.sh DIR [EMULATOR ARGS...]
#   DIR holds the built programs heap_death_<case>; an emulator (qemu-user)
#   given after it runs each one.
# Reports (bad pointer given to free/realloc/usable_size): exit 0, every
# "EXPECT <line>" the program printed appears as an exact line on stderr, no
# other "keel: " line there, and the program printed OK (the heap still works).
# Corruption: killed by SIGABRT, with a stderr line starting
# "keel: heap corruption: ", and keel_validate never returned.
# Misuse inside keel's memory (DESIGN.md section 10; misuse_*.c), each run
# with "owner" and with "thread": killed by SIGABRT, the program's
# "EXPECT <line>" an exact stderr line (or "EXPECT_PREFIX <start>" the
# start of one), no other "keel: " line, and the bad call never returned.
# KEELTEST_DEATH_SET=override: only the misuse programs, named
# ovr_death_misuse_<case> and built against malloc/free; the emulator
# arguments then carry the preload (env LD_PRELOAD=...).
# KEELTEST_DEATH_SET=hardened: the hardened build's misuse programs
# (hardened_*.c) linked with the hardened library, named hd_death_<case>;
# override-hardened: the same and the sized frees, ovr_hd_death_<case>,
# under the hardened override's preload.
set -u
if [ $# -lt 1 ]; then
  echo "usage: $0 DIR [EMULATOR ARGS...]" >&2
  exit 2
fi
dir=$1
shift
emulator=("$@")
ulimit -c 0 2>/dev/null   # the expected aborts must not leave core files (qemu writes its own)
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run CASE: leaves the exit status in rc, output in $tmp/out and $tmp/err;
# fails (and counts the failure) when the program is missing
prefix=heap_death_
case ${KEELTEST_DEATH_SET:-heap} in
  override) prefix=ovr_death_ ;;
  hardened) prefix=hd_death_ ;;
  override-hardened) prefix=ovr_hd_death_ ;;
esac
run() {
  local prog="$dir/$prefix$1"
  : >"$tmp/out"
  : >"$tmp/err"
  if [ ! -x "$prog" ]; then
    failed "$1" "program $prog is missing (build the keel_tests target)"
    return 1
  fi
  # the outer subshell swallows bash's own "Aborted" notice for the inner one
  rc=$( ( (cd "$tmp" && exec ${emulator[@]+"${emulator[@]}"} "$prog" "${@:2}" >"$tmp/out" 2>"$tmp/err"); echo $? ) 2>/dev/null)
}

failed() {  # case, why
  fail=$((fail + 1))
  echo "heap_death: $1: FAILED: $2"
  echo "---- stdout"; cat "$tmp/out"
  echo "---- stderr"; cat "$tmp/err"
  echo "----"
}

expect_report() {  # case
  local c=$1 why="" expected n_expected n_keel
  run "$c" || return
  expected=$(sed -n 's/^EXPECT //p' "$tmp/out")
  n_expected=$(grep -c '^EXPECT ' "$tmp/out")
  n_keel=$(grep -c '^keel: ' "$tmp/err")
  if [ "$rc" -ne 0 ]; then
    if [ "$rc" -gt 128 ]; then why="killed by signal $((rc - 128)); a bad pointer must be reported, not fatal"
    else why="exit status $rc, want 0"; fi
  elif [ "$n_expected" -eq 0 ]; then
    why="the program printed no EXPECT line"
  elif grep -q '^FAIL ' "$tmp/out"; then
    why="the program's own checks failed: $(grep '^FAIL ' "$tmp/out" | head -3 | tr '\n' ' ')"
  elif ! grep -qx 'OK' "$tmp/out"; then
    why="the program did not finish its checks"
  else
    while IFS= read -r line; do
      if ! grep -Fxq -- "$line" "$tmp/err"; then
        why="stderr lacks the exact line '$line'"
        break
      fi
    done <<<"$expected"
    if [ -z "$why" ] && [ "$n_keel" -ne "$n_expected" ]; then
      why="stderr has $n_keel 'keel: ' lines, want exactly $n_expected"
    fi
  fi
  if [ -n "$why" ]; then failed "$c" "$why"; else pass=$((pass + 1)); echo "heap_death: $c: ok (reported, heap intact)"; fi
}

expect_abort() {  # case
  local c=$1 why=""
  run "$c" || return
  if [ "$rc" -ne 134 ]; then
    if [ "$rc" -gt 128 ]; then why="killed by signal $((rc - 128)), want SIGABRT (6)"
    else why="exit status $rc, want death by SIGABRT (6)"; fi
  elif grep -q '^validate returned' "$tmp/out"; then
    why="keel_validate returned"
  elif ! grep -Eq '^keel: heap corruption: .+' "$tmp/err"; then
    why="stderr lacks a line starting 'keel: heap corruption: '"
  fi
  if [ -n "$why" ]; then failed "$c" "$why"
  else pass=$((pass + 1)); echo "heap_death: $c: ok ($(grep -m1 '^keel: heap corruption: ' "$tmp/err"))"; fi
}

expect_assert() {  # case: debug builds, an internal assertion fires
  local c=$1 why=""
  run "$c" || return
  if [ "$rc" -ne 134 ]; then why="exit status $rc, want death by SIGABRT (6)"
  elif grep -q '^validate returned' "$tmp/out"; then why="the call returned: no assertion fired"
  elif ! grep -Eq '^keel: assertion failed: .+ \(.+:[0-9]+\)$' "$tmp/err"; then
    why="stderr lacks a line 'keel: assertion failed: <what> (<file>:<line>)'"
  fi
  if [ -n "$why" ]; then failed "$c" "$why"
  else pass=$((pass + 1)); echo "heap_death: $c: ok ($(grep -m1 '^keel: assertion failed: ' "$tmp/err"))"; fi
}

expect_misuse() {  # case variant
  local c=$1 v=$2 why="" line prefix_line n_keel
  run "$c" "$v" || return
  line=$(sed -n 's/^EXPECT //p' "$tmp/out" | head -1)
  prefix_line=$(sed -n 's/^EXPECT_PREFIX //p' "$tmp/out" | head -1)
  n_keel=$(grep -c '^keel: ' "$tmp/err")
  if grep -q '^survived$' "$tmp/out"; then why="the bad call returned and the program went on"
  elif grep -q '^FAIL ' "$tmp/out"; then why="$(grep -m1 '^FAIL ' "$tmp/out")"
  elif [ "$rc" -ne 134 ]; then
    if [ "$rc" -gt 128 ]; then why="killed by signal $((rc - 128)), want SIGABRT (6)"
    else why="exit status $rc, want death by SIGABRT (6)"; fi
  elif [ -n "$line" ]; then
    grep -Fxq -- "$line" "$tmp/err" || why="stderr lacks the exact line '$line'"
  elif [ -n "$prefix_line" ]; then
    grep -q "^$prefix_line" "$tmp/err" || why="stderr lacks a line starting '$prefix_line'"
  else
    why="the program printed no EXPECT line"
  fi
  if [ -z "$why" ] && [ "$n_keel" -ne 1 ]; then why="stderr has $n_keel 'keel: ' lines, want exactly 1"; fi
  if [ -n "$why" ]; then failed "$c ($v)" "$why"
  else pass=$((pass + 1)); echo "heap_death: $c ($v): ok ($(grep -m1 '^keel: ' "$tmp/err"))"; fi
}

# the hardened build's own misuse (tests/heap/death/hardened_*.c, src/harden.h):
# through the keel API (hd_death_*) or under the hardened override's
# preload (ovr_hd_death_*, with the sized frees only it exports)
if [ "$prefix" = hd_death_ ] || [ "$prefix" = ovr_hd_death_ ]; then
  hardened_cases="overflow_canary overflow_realloc overflow_usable_size write_after_free_reuse double_free_quarantined
    double_free_quarantined_remote"
  [ "$prefix" = ovr_hd_death_ ] && hardened_cases="$hardened_cases sized_mismatch sized_delete_mismatch"
  for c in $hardened_cases; do
    expect_misuse "$c" owner
    expect_misuse "$c" thread
  done
  echo "heap_death: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
fi

misuse_cases="double_free_small double_free_delayed double_free_medium double_free_large double_free_remote
  free_interior free_unaligned free_header free_unused_page free_uncarved
  realloc_interior realloc_freed usable_size_interior usable_size_freed overflow_1 overflow_8 write_after_free"
for c in $misuse_cases; do
  expect_misuse "misuse_$c" owner
  expect_misuse "misuse_$c" thread
done
if [ "$prefix" = ovr_death_ ]; then
  echo "heap_death: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
fi

# guarded blocks (src/guarded.h): through the keel API only
for c in double_free free_interior realloc_freed; do
  expect_misuse "misuse_guarded_$c" owner
  expect_misuse "misuse_guarded_$c" thread
done
expect_report free_stack
expect_report free_malloc
expect_report free_global
expect_report realloc_foreign
expect_report usable_size_foreign
expect_abort corrupt_free_list
expect_abort corrupt_thread_free
expect_abort corrupt_thread_free_count
expect_abort corrupt_empty_count
expect_abort corrupt_slot_state
# KEELTEST_DEBUG: the build's KEEL_DEBUG level (ctest sets it)
if [ "${KEELTEST_DEBUG:-0}" -ge 1 ]; then expect_assert assert_used_count; fi

echo "heap_death: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
