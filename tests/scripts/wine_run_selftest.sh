#!/usr/bin/env bash
# wine_run_selftest.sh — wine_run.sh itself, with stand-ins for wine: a
# success passes its output and status on; a quiet, instant failure is run
# once more (and a second one is the verdict); a failure that printed
# something, or a quiet one that took long, is the verdict at once.
# Usage: wine_run_selftest.sh PATH/TO/wine_run.sh
set -u

name=wine_run_selftest
passed=0
failed=0
check() {   # DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); printf '%s: FAIL: %s\n' "$name" "$what" >&2; fi
}

script=${1:?usage: wine_run_selftest.sh PATH/TO/wine_run.sh}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-wine-run-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# stand-in "wine": counts its runs in $tmp/runs, then does what MODE says
cat > "$tmp/wine" <<EOF2
#!/usr/bin/env bash
echo x >> "$tmp/runs"
n=\$(wc -l < "$tmp/runs")
case \$1 in
  ok) echo "out \$2"; echo "err \$2" >&2; exit 0 ;;
  quiet-once) [ "\$n" = 1 ] && exit 3; echo "ran"; exit 0 ;;
  quiet) exit 3 ;;
  wine-error-once) [ "\$n" = 1 ] && { echo "wine client error:0: recvmsg: Connection reset by peer" >&2; exit 1; }; echo "ran"; exit 0 ;;
  loud) echo "failing" >&2; exit 4 ;;
  slow) sleep 1.2; exit 5 ;;
esac
EOF2
chmod +x "$tmp/wine"

# "instant" is under 800 ms here, not wine_run.sh's 20: a stand-in that is
# a shell script can take longer than 20 ms to start on a loaded machine
# (the test failed once here beside a CI run); "slow" sleeps past it
export KEEL_WINE_RUN_QUICK_MS=800

run() {   # MODE ARG: runs the script, leaves status, stdout, stderr and run count
    rm -f "$tmp/runs"
    bash "$script" "$tmp/wine" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    runs=$(wc -l < "$tmp/runs")
}

run ok arg1
check "success: status 0" [ $rc = 0 ]
check "success: stdout passed on" grep -qx "out arg1" "$tmp/out"
check "success: stderr passed on" grep -qx "err arg1" "$tmp/err"
check "success: run once" [ "$runs" = 1 ]

run quiet-once
check "instant quiet failure, then success: status 0" [ $rc = 0 ]
check "instant quiet failure: run twice" [ "$runs" = 2 ]
check "instant quiet failure: the retry's output" grep -qx "ran" "$tmp/out"
check "instant quiet failure: the log says so" grep -q "once more" "$tmp/err"

run quiet
check "two instant quiet failures: the status" [ $rc = 3 ]
check "two instant quiet failures: run twice, not more" [ "$runs" = 2 ]

run wine-error-once
check "a wine client error alone, then success: status 0" [ $rc = 0 ]
check "a wine client error alone: run twice" [ "$runs" = 2 ]
check "a wine client error alone: the log says so" grep -q "once more" "$tmp/err"

run loud
check "a failure that printed: the status" [ $rc = 4 ]
check "a failure that printed: run once" [ "$runs" = 1 ]
check "a failure that printed: its output and the time" \
    bash -c "grep -qx failing '$tmp/err' && grep -q 'exited with status 4 after' '$tmp/err'"

run slow
check "a slow quiet failure: the status" [ $rc = 5 ]
check "a slow quiet failure: run once" [ "$runs" = 1 ]

printf '%s: %d passed, %d failed\n' "$name" "$passed" "$failed"
[ "$failed" = 0 ]
