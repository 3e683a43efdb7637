#!/usr/bin/env bash
# system_install_check.sh — `make install` into the system, then the README's
# heap program built as a new user would build it,
#   cc app.c $(pkg-config --cflags --libs keel)
# with no rpath and no LD_LIBRARY_PATH, runs at once: make install refreshed
# the loader cache. Changes the system, so it is meant for a throw-away root
# (.ci/run runs it inside tests/scripts/fresh_root.sh); it needs root and
# uninstalls what it installed when done.
#   usage: bash tests/scripts/system_install_check.sh   (from the repository root)
set -u
cd "$(dirname "$0")/../.."
name=system_install_check passed=0 failed=0
fail() { failed=$((failed + 1)); printf '%s: FAIL: %s\n' "$name" "$1" >&2; [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/    /' >&2; return 0; }
finish() { printf '%s: %d passed, %d failed\n' "$name" "$passed" "$failed"; [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; exit $?; }
[ "$(id -u)" = 0 ] || { fail "needs root (it installs into /usr/local)"; finish; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-sysinstall.XXXXXX") || exit 1
uninstall() {
  [ -f build/install_manifest.txt ] && xargs -d '\n' rm -f <build/install_manifest.txt && ldconfig
  rm -rf "$tmp"
}
trap uninstall EXIT

if out=$(make install 2>&1); then passed=$((passed + 1)); else fail "make install failed" "$out"; finish; fi
grep -q "ran ldconfig" <<<"$out" && passed=$((passed + 1)) || fail "make install did not run ldconfig" "$out"

# the README's heap example, as written there
awk '/^<!-- example: heap -->$/ { on = 1; next } on && /^```c$/ { take = 1; next } take && /^```$/ { exit } take' \
  README.md >"$tmp/app.c"
[ -s "$tmp/app.c" ] || { fail "README.md has no heap example"; finish; }
flags=$(pkg-config --cflags --libs keel 2>&1) || { fail "pkg-config --cflags --libs keel failed" "$flags"; finish; }
# shellcheck disable=SC2086  # flags are words
if out=$(cc "$tmp/app.c" $flags -o "$tmp/app" 2>&1); then passed=$((passed + 1)); else fail "cc app.c \$(pkg-config --cflags --libs keel) failed" "$out"; finish; fi
if out=$(env -u LD_LIBRARY_PATH "$tmp/app" 2>&1); then
  passed=$((passed + 1)); echo "$name: $out"
else
  fail "the program does not run (exit status $?)" "$out"
fi
lib=$(ldd "$tmp/app" | awk '$1 ~ /^libkeel\.so/ { print $3 }')
case $lib in
  /usr/local/*) passed=$((passed + 1)); echo "$name: libkeel.so found by the loader at $lib" ;;
  *) fail "the program did not load the installed libkeel.so (ldd: ${lib:-not found})" ;;
esac
finish
