#!/usr/bin/env bash
# object_test.sh — the static override as one object file (DESIGN.md section 2):
# a C++ program with no malloc call of its own, linked with keel-override.o,
# runs on keel. Checked twice: the program CMake linked through the
# keel_override_object target, and the README's command line
# `c++ app.cpp keel-override.o -lpthread` built here. Each run, with
# KEEL_SHOW_STATS=1, must succeed and report "keel: allocs N" with N >= 20000.
#   usage: object_test.sh PROGRAM KEEL-OVERRIDE.O SOURCE.CPP CXX
set -u
name=object_test passed=0 failed=0
fail() { failed=$((failed + 1)); printf '%s: FAIL: %s\n' "$name" "$1" >&2; [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/    /' >&2; return 0; }
if [ $# -ne 4 ] || [ ! -x "$1" ] || [ ! -f "$2" ] || [ ! -f "$3" ]; then
  echo "usage: $0 PROGRAM KEEL-OVERRIDE.O SOURCE.CPP CXX" >&2; exit 2
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-object.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# runs_on_keel LABEL PROGRAM: exit 0, and keel served at least 20000 allocations
runs_on_keel() {
  local label=$1 prog=$2 allocs
  if ! env -u LD_PRELOAD KEEL_SHOW_STATS=1 "$prog" >"$tmp/out" 2>"$tmp/err"; then
    fail "$label: exit status $?" "$(cat "$tmp/out" "$tmp/err")"; return
  fi
  allocs=$(sed -n 's/^keel: allocs \([0-9]*\), frees [0-9]*$/\1/p' "$tmp/err")
  if [ -z "$allocs" ]; then fail "$label: no 'keel: allocs N' at exit: the program did not run on keel" "$(cat "$tmp/err")"
  elif [ "$allocs" -lt 20000 ]; then fail "$label: keel served only $allocs allocations" "$(cat "$tmp/err")"
  else passed=$((passed + 1)); echo "$name: $label: keel served $allocs allocations"; fi
}

runs_on_keel "linked through the CMake target" "$1"
if out=$("$4" -O2 "$3" "$2" -lpthread -o "$tmp/app" 2>&1); then
  runs_on_keel "c++ app.cpp keel-override.o -lpthread" "$tmp/app"
else
  fail "c++ app.cpp keel-override.o -lpthread does not build" "$out"
fi
printf '%s: %d passed, %d failed\n' "$name" "$passed" "$failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
