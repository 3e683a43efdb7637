#!/usr/bin/env bash
# limit_python.sh — KEEL_LIMIT under the override with a real program
# (DESIGN.md section 11): python3 building a list of 1 MiB bytearrays under
# KEEL_LIMIT=96M must stop with MemoryError, which it catches and reports,
# and exit cleanly; keel's peak of committed memory (read through ctypes
# from keel_get_stats) must stay under the cap. A missing python3 fails.
# Usage: limit_python.sh LIBKEEL-OVERRIDE.so
set -u
name=override_limit_python passed=0 failed=0
ok() { passed=$((passed + 1)); echo "$name: $1"; }
bad() { failed=$((failed + 1)); echo "$name: FAILED: $1" >&2; }
finish() { echo "$name: $passed passed, $failed failed"; [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; exit $?; }
so=${1:-}
[ -f "$so" ] || { bad "usage: limit_python.sh LIBKEEL-OVERRIDE.so"; finish; }
command -v python3 >/dev/null || { bad "python3 is not installed (as root: bash tests/deps.sh programs)"; finish; }
cap=$((96 << 20))
script='
import ctypes
class Stats(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("live", "committed", "peak", "reserved", "cached",
                "allocs", "frees", "blocks", "segments", "heaps")]
keel = ctypes.CDLL(None)
keel.keel_get_stats.restype = Stats
x = []
try:
    while True:
        x.append(bytearray(1 << 20))
except MemoryError:
    n = len(x)
    x = None
    print("MemoryError after %d MiB" % n)
print("keel peak committed %d" % keel.keel_get_stats().peak)
'
# ulimit -v: should the cap not hold, python3 stops at 4 GiB, not at the machine's end
out=$(ulimit -v 4194304; timeout -k 5 300 env LD_PRELOAD="$so" KEEL_LIMIT=96M python3 -c "$script" 2>&1)
rc=$?
echo "$out" | sed 's/^/  /'
if [ $rc -ne 0 ]; then bad "python3 exited with status $rc under KEEL_LIMIT=96M (want a caught MemoryError and exit 0)"; finish; fi
ok "python3 exited 0 under KEEL_LIMIT=96M"
mib=$(sed -n 's/^MemoryError after \([0-9]*\) MiB$/\1/p' <<<"$out")
if [ -z "$mib" ]; then bad "no 'MemoryError after N MiB' line: the cap did not stop python3"
elif [ "$mib" -lt 48 ] || [ "$mib" -gt 96 ]; then bad "MemoryError after $mib MiB, want 48 to 96 under a 96 MiB cap"
else ok "MemoryError after $mib MiB of 96"; fi
peak=$(sed -n 's/^keel peak committed \([0-9]*\)$/\1/p' <<<"$out")
if [ -z "$peak" ]; then bad "keel_get_stats was not read through ctypes"
elif [ "$peak" -gt "$cap" ]; then bad "keel's committed peak $peak is above the cap $cap"
else ok "keel's committed peak $((peak >> 20)) MiB <= 96 MiB"; fi
finish
