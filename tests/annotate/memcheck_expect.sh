#!/usr/bin/env bash
# memcheck_expect.sh — runs one case of annotate_cases (or override_leak)
# under memcheck with --leak-check=full and checks the report: for a misuse
# exactly the error memcheck gives for malloc's blocks, and no other; for
# "clean" no error at all, with keel's blocks seen (memcheck counts them).
# Usage: memcheck_expect.sh VALGRIND CASE PROGRAM [LIBRARY_TO_PRELOAD]
set -u
name=annotate_memcheck_${2:-} passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf '%s: FAIL: %s\n' "$name" "$1" >&2; }
finish() {
  [ "$failed" -eq 0 ] || { [ -n "${out:-}" ] && [ -f "$out" ] && sed 's/^/  | /' "$out" >&2; }
  printf '%s: %d passed, %d failed\n' "$name" "$passed" "$failed"
  [ -n "${out:-}" ] && rm -f "$out"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; exit $?
}
if [ $# -lt 3 ]; then fail "usage: memcheck_expect.sh VALGRIND CASE PROGRAM [LIBRARY_TO_PRELOAD]"; finish; fi
valgrind=$1 case=$2 prog=$3 preload=${4:-}
if ! command -v "$valgrind" >/dev/null 2>&1; then
  fail "valgrind not found ('$valgrind'): install it (Debian: apt-get install valgrind)"; finish
fi
out=$(mktemp "${TMPDIR:-/tmp}/keel-memcheck.XXXXXX")
if [ -n "$preload" ]; then
  # memcheck would put its own malloc in place of the preloaded library's
  LD_PRELOAD=$preload "$valgrind" --leak-check=full --error-exitcode=99 --soname-synonyms=somalloc=nouserintercepts \
    "$prog" "$case" >"$out" 2>&1
else
  "$valgrind" --leak-check=full --error-exitcode=99 "$prog" "$case" >"$out" 2>&1
fi
rc=$?

has() { if grep -qE -- "$1" "$out"; then pass; else fail "no line matching: $1"; fi; }
errors() {   # the number of errors memcheck counted, and its exit status
  has "ERROR SUMMARY: $1 errors"
  if [ "$rc" = "$2" ]; then pass; else fail "exit status $rc, want $2"; fi
}
# the allocation's stack (the client request is made in keel_alloc)
alloc_in_keel() {
  if grep -A4 -E -- "$1" "$out" | grep -q "keel_alloc"; then pass; else fail "the stack after '$1' does not name keel_alloc"; fi
}
case $case in
  overflow)
    has "Invalid write of size 1"
    has "Address 0x[0-9A-Fa-f]+ is 0 bytes after a block of size 20 alloc'd"
    alloc_in_keel "bytes after a block of size 20 alloc'd"
    errors 1 99 ;;
  uaf)
    has "Invalid write of size 1"
    has "Address 0x[0-9A-Fa-f]+ is 8 bytes inside a block of size 20 free'd"
    # within the first frames: at -O0 (the debug target) keel's inline
    # helpers below keel_free are frames of their own
    if grep -A6 "block of size 20 free'd" "$out" | grep -q keel_free; then pass; else fail "the free's stack does not name keel_free"; fi
    errors 1 99 ;;
  uaf_read)
    has "Invalid read of size 1"
    has "Address 0x[0-9A-Fa-f]+ is 8 bytes inside a block of size 20 free'd"
    errors 1 99 ;;
  aligned_under)
    has "Invalid read of size 1"
    has "Address 0x[0-9A-Fa-f]+ is 1 bytes before a block of size 100 alloc'd"
    errors 1 99 ;;
  large_overflow)
    has "Invalid write of size 1"
    has "Address 0x[0-9A-Fa-f]+ is 0 bytes after a block of size 200,000 alloc'd"
    errors 1 99 ;;
  leak)
    has "20 bytes in 1 blocks are definitely lost in loss record"
    alloc_in_keel "20 bytes in 1 blocks are definitely lost"
    has "definitely lost: 20 bytes in 1 blocks"
    errors 1 99 ;;
  override_leak)
    has "24 bytes in 1 blocks are definitely lost in loss record"
    alloc_in_keel "24 bytes in 1 blocks are definitely lost"
    has "definitely lost: 24 bytes in 1 blocks"
    errors 1 99 ;;
  clean)
    has "annotate_clean: [0-9]+ passed, 0 failed"
    has "All heap blocks were freed -- no leaks are possible"
    # memcheck saw keel's blocks: far more than the C library's own
    n=$(sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' "$out" | tr -d , | tail -n 1)
    if [ "${n:-0}" -ge 10000 ]; then pass; else fail "memcheck counted ${n:-no} allocations: it did not see keel's blocks"; fi
    errors 0 0 ;;
  *) fail "unknown case $case" ;;
esac
finish
