#!/usr/bin/env bash
# wine_run.sh WINE PROGRAM ARGS... — how the tests of the Windows targets run
# (tests/CMakeLists.txt puts it in front of the toolchain's emulator).
#
# It runs the program under wine and passes its output and exit status on. On
# a failure it says how long the run took, so a log shows whether the program
# ran at all. Wine takes tens of milliseconds to reach main; one CI run saw a
# test "fail" in 0.00 s with no output at all: wine itself had not started the
# program. Another printed only wine's own "wine client error:0: recvmsg:
# Connection reset by peer" in 15 ms: its server went away before the program
# ran. Such a run (non-zero status, nothing on stdout and nothing but wine
# client errors on stderr, under 20 ms) is started once more, and the log says
# so; any run that printed anything else, or took longer, is the verdict as it
# is. KEEL_WINE_RUN_QUICK_MS sets that bound (20 by default): the selftest,
# whose stand-in for wine is a shell script that can take longer than 20 ms
# to start on a loaded machine, sets a larger one.
set -u
quick_ms=${KEEL_WINE_RUN_QUICK_MS:-20}
wine=$1; shift
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
for attempt in 1 2; do
  t0=$(date +%s%N)
  "$wine" "$@" >"$out" 2>"$err"
  rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  cat "$out"; cat "$err" >&2
  [ $rc = 0 ] && exit 0
  echo "wine_run: $wine $* exited with status $rc after $ms ms (attempt $attempt)" >&2
  # stderr empty, or wine client errors only (grep -v finds no other line)
  if [ $attempt = 1 ] && [ ! -s "$out" ] && ! grep -qv '^wine client error:' "$err" && [ $ms -lt "$quick_ms" ]; then
    echo "wine_run: nothing from the program in $ms ms: wine did not run it; once more" >&2
    continue
  fi
  exit $rc
done
exit $rc
