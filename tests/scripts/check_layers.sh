#!/usr/bin/env bash
# check_layers.sh — the layering of src/ holds: each file calls functions
# (and reads globals) of files in its own layer or below, never above, as the
# layer table of docs/design.md lists them. Read from the object files of the
# built library with nm, so it sees what the code really calls (inline
# functions of headers count for the file that includes them). Every file of
# src/ must be in the table, and every file of the table must exist; every
# function the internal headers declare (KEEL_HIDDEN) must be defined, by
# one of the libraries (the hardened build defines what harden.h declares).
# Usage: check_layers.sh LIBRARY.a DESIGN.md SOURCE_DIR [LIBRARY.a ...]
#   (NM: the nm to use); the layering is checked in every library given.
set -u
name=check_layers passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf '%s: FAIL: %s\n' "$name" "$1" >&2; }
finish() { printf '%s: %d passed, %d failed\n' "$name" "$passed" "$failed"; [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; exit $?; }

if [ $# -lt 3 ] || [ ! -f "$1" ] || [ ! -f "$2" ] || [ ! -d "$3/src" ]; then
  fail "usage: check_layers.sh LIBRARY.a DESIGN.md SOURCE_DIR [LIBRARY.a ...]"; finish
fi
libs=("$1" "${@:4}")
design=$2 src=$3/src nm=${NM:-nm}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-layers.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# The table: rows "| N | `a.c` `b.c` | ..." after the marker line.
awk '/<!-- layers:/ { on = 1; next }
     on && /^\| *[0-9]+ *\|/ { split($0, col, "|"); n = col[2] + 0; s = col[3]
       while (match(s, /`[^`]+\.c`/)) { f = substr(s, RSTART + 1, RLENGTH - 2); print f, n; s = substr(s, RSTART + RLENGTH) } next }
     on && /^$/ && seen { exit } on && /^\|/ { seen = 1 }' "$design" >"$tmp/layers"
if [ ! -s "$tmp/layers" ]; then fail "no layer table in $design (a '<!-- layers: -->' marker and rows '| N | \`file.c\` ... |')"; finish; fi

# every file of the table exists, every .c of src/ is in the table. Each
# check is one process for all the files, not one per file: a process start
# costs tens of milliseconds on a VM kernel whose page faults are slow.
while read -r f _; do
  if [ -f "$src/$f" ]; then pass; else fail "docs/design.md lists src/$f, which does not exist"; fi
done <"$tmp/layers"
(cd "$src" && find . -name '*.c' | sed 's|^\./||' | sort) >"$tmp/sources"
while read -r verdict rel; do
  if [ "$verdict" = in ]; then pass; else fail "src/$rel is in no layer of docs/design.md"; fi
done < <(awk 'NR == FNR { t[$1] = 1; next } { print (($1 in t) ? "in" : "out"), $1 }' "$tmp/layers" "$tmp/sources")

# nm_symbols DIR MIN_FIELDS NM-OPTION...: "symbol object layer" for each
# line of nm -A over the objects in DIR with at least MIN_FIELDS fields after
# "object:", objects of no layer ($tmp/objlayer) left out
nm_symbols() {
  local dir=$1 min=$2
  shift 2
  (cd "$dir" && "$nm" -A "$@" -- * 2>/dev/null) |
    awk -v min="$min" 'NR == FNR { lay[$1] = $2; next }
         { i = index($0, ":"); o = substr($0, 1, i - 1); $0 = substr($0, i + 1)
           if (NF >= min && lay[o] != "-") print $NF, o, lay[o] }' "$tmp/objlayer" -
}

: >"$tmp/alldefs"
for k in "${!libs[@]}"; do
  lib=$(cd "$(dirname "${libs[$k]}")" && pwd)/$(basename "${libs[$k]}")
  (cd "$tmp" && mkdir "objs$k" && cd "objs$k" && ar x "$lib") || { fail "cannot unpack $lib"; finish; }
  # object -> layer, by the source file's name (alloc.c.o, alloc.c.obj, alloc.o)
  (cd "$tmp/objs$k" && ls) | awk 'NR == FNR { n = $1; sub(/.*\//, "", n); sub(/\.c$/, "", n); lay[n] = $2; next }
      { b = $1; sub(/\.obj$/, "", b); sub(/\.o$/, "", b); sub(/\.c$/, "", b); print $1, ((b in lay) ? lay[b] : "-") }' \
      "$tmp/layers" - >"$tmp/objlayer"
  while read -r ob l; do
    [ "$l" = - ] && fail "object $ob of $lib has no source file in the layer table"
  done <"$tmp/objlayer"
  nm_symbols "$tmp/objs$k" 3 -g --defined-only >"$tmp/defs"   # "object:value type name"
  nm_symbols "$tmp/objs$k" 1 -u >"$tmp/uses"                  # "object:    U name"
  [ -s "$tmp/defs" ] || { fail "nm found no symbols in $lib"; finish; }
  cat "$tmp/defs" >>"$tmp/alldefs"
  # every use of another object's symbol goes to the same layer or below
  awk 'NR == FNR { def[$1] = $2; lay[$1] = $3; next }
       ($1 in def) && def[$1] != $2 { n++
         if (lay[$1] > $3) printf "UP %s (layer %d) uses %s of %s (layer %d)\n", $2, $3, $1, def[$1], lay[$1]
       }
       END { printf "EDGES %d\n", n }' "$tmp/defs" "$tmp/uses" >"$tmp/result"
  edges=$(sed -n 's/^EDGES //p' "$tmp/result")
  if [ "${edges:-0}" -lt 20 ]; then fail "only ${edges:-0} calls between files found in $lib: nm did not read it"; else pass; fi
  while read -r _ line; do fail "$line"; done < <(grep '^UP ' "$tmp/result")
  grep -q '^UP ' "$tmp/result" || { pass; echo "$name: $(basename "$lib"): $edges uses of another file's symbols, none upward"; }
done

# every function the internal headers declare is defined somewhere
grep -ho '^KEEL_HIDDEN [^;=]*[ *]keel__[a-z0-9_]*(' "$src"/*.h | sed 's/.*[ *]\(keel__[a-z0-9_]*\)(/\1/' | sort -u >"$tmp/declared"
while read -r verdict fn; do
  if [ "$verdict" = defined ]; then pass
  else fail "src/ declares $fn, which no object of the libraries defines"; fi
done < <(awk 'NR == FNR { d[$1] = 1; next } { print (($1 in d) ? "defined" : "missing"), $1 }' "$tmp/alldefs" "$tmp/declared")
finish
