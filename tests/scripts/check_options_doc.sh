#!/usr/bin/env bash
# check_options_doc.sh — every tunable of src/config.h (each macro defined
# under an #ifndef of its own name: -D can set it) and every CMake option of
# CMakeLists.txt (option() and cache strings named KEEL_*) has a row in the
# README's options table, and every KEEL_ name of that table that claims to
# live in src/config.h is defined there. And the run-time options: the
# README's table under the "run-time options" marker has exactly the rows of
# KEEL_OPTION_LIST in src/options.h, each with the option's name, its environment
# variable (KEEL_ + the name in upper case) and its documentation line.
# Usage: check_options_doc.sh SOURCE_DIR
set -u
name=check_options_doc passed=0 failed=0
fail() { failed=$((failed + 1)); printf '%s: FAIL: %s\n' "$name" "$1" >&2; }
finish() { printf '%s: %d passed, %d failed\n' "$name" "$passed" "$failed"; [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; exit $?; }
root=${1:-}
if [ -z "$root" ] || [ ! -f "$root/src/config.h" ] || [ ! -f "$root/README.md" ]; then fail "usage: check_options_doc.sh SOURCE_DIR"; finish; fi

# the rows of the table under "## Options"
table=$(awk '/^## Options/ { on = 1; next } on && /^## / { exit } on && /^\|/' "$root/README.md")
[ -n "$table" ] || { fail "README.md has no options table under '## Options'"; finish; }
in_table() { grep -q -- "\`$1\`" <<<"$table"; }

# tunables: "#ifndef X" directly followed by "#define X"
tunables=$(awk '/^#ifndef KEEL_[A-Z0-9_]+$/ && $2 !~ /_H$/ { want = $2; next } want != "" && $1 == "#define" && $2 == want { print want } { want = "" }' "$root/src/config.h")
[ -n "$tunables" ] || { fail "no tunable found in src/config.h"; finish; }
for t in $tunables; do
  if in_table "$t"; then passed=$((passed + 1)); else fail "src/config.h tunable $t has no row in README.md's options table"; fi
done
# CMake options
for o in $(sed -n 's/^option(\(KEEL_[A-Z0-9_]*\) .*/\1/p; s/^set(\(KEEL_[A-Z0-9_]*\) .* CACHE .*/\1/p' "$root/CMakeLists.txt"); do
  if in_table "$o"; then passed=$((passed + 1)); else fail "CMake option $o has no row in README.md's options table"; fi
done
# rows that say src/config.h name real tunables
while read -r n; do
  if grep -qx "$n" <<<"$tunables"; then passed=$((passed + 1)); else fail "README.md's options table names $n in src/config.h, which does not define it"; fi
done < <(grep 'src/config.h' <<<"$table" | grep -o '`KEEL_[A-Z0-9_]*`' | tr -d '`')

# run-time options: src/options.h's KEEL_OPTION_LIST against the README's
opts=$(perl -0777 -ne 'while (/X\(([A-Z0-9_]+), "([a-z_]+)", KIND_[A-Z]+,[^"]*"([^"]*)"\)/g) { print "$2\tKEEL_$1\t$3\n" }' "$root/src/options.h")
[ -n "$opts" ] || { fail "no option rows (X(ID, \"name\", KIND_..., ...)) found in src/options.h"; finish; }
rt=$(awk '/<!-- run-time options:/ { on = 1; next } on && /^\|/ { seen = 1; print; next } on && seen { exit }' "$root/README.md" | tail -n +3)
[ -n "$rt" ] || { fail "README.md has no run-time options table after a '<!-- run-time options: -->' marker"; finish; }
while IFS=$'\t' read -r n env doc; do
  up=KEEL_$(tr a-z A-Z <<<"$n")
  if [ "$env" != "$up" ]; then fail "option $n: environment variable $env, want $up"; continue; fi
  row=$(grep -F -- "| \`$n\` | \`$env\` |" <<<"$rt")
  if [ -z "$row" ]; then fail "option $n of src/options.h has no row '| \`$n\` | \`$env\` | ...' in README.md's run-time table"
  elif ! grep -qF -- "| $doc |" <<<"$row"; then fail "README.md's row of $n does not end with src/options.h's doc line '$doc'"
  else passed=$((passed + 1)); fi
done <<<"$opts"
while read -r n; do
  if grep -q "^$n"$'\t' <<<"$opts"; then passed=$((passed + 1)); else fail "README.md's run-time table names $n, which src/options.h does not have"; fi
done < <(sed -n 's/^| `\([a-z_]*\)` |.*/\1/p' <<<"$rt")
finish
