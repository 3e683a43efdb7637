#!/usr/bin/env bash
# check_layout_selftest.sh — check_layout.sh itself: a tree that keeps the
# rules passes; a tree that breaks each rule once fails, naming every
# offending file and nothing else (comments that mention the calls are fine).
# Usage: check_layout_selftest.sh PATH/TO/check_layout.sh
set -u

name=check_layout_selftest
passed=0
failed=0
check() {   # DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); printf '%s: FAIL: %s\n' "$name" "$what" >&2; fi
}

script=${1:?usage: check_layout_selftest.sh PATH/TO/check_layout.sh}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-layout-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# A tree that keeps every rule.
good=$tmp/good
mkdir -p "$good/include/keel" "$good/src/os" "$good/tests"
cat > "$good/include/keel/vmem.h" <<'C'
#include <sys/mman.h>
static void* f(void) { return mmap(0, 1, 0, 0, -1, 0); }
C
printf '#include <stddef.h>\n' > "$good/include/keel/keel.h"
printf '#include <stddef.h>\n' > "$good/include/keel/keel.hpp"
cat > "$good/src/os/thread.c" <<'C'
#include <windows.h>
void g(void) { VirtualFree(0, 0, 0); }
C
cat > "$good/src/heap.c" <<'C'
/* Never call mmap( directly; <sys/mman.h> belongs to vmem.h. */
// madvise(MADV_DONTNEED) happens in vmem_decommit
static const char* s = "munmap(";
#include "keel/vmem.h"
C
printf '#include "check.h"\n' > "$good/tests/test_heap.c"

out=$(bash "$script" "$good" 2>&1); rc=$?
check "a clean tree passes (rc $rc): $out" test $rc -eq 0
check "a clean tree reports 0 failed" grep -q '^check_layout: [1-9][0-9]* passed, 0 failed$' <<< "$out"

# A tree that breaks each rule in one file.
bad=$tmp/bad
cp -r "$good" "$bad"
printf '#include <sys/mman.h>\n' > "$bad/src/segment.c"
printf '#  include <Windows.h>\n' > "$bad/include/keel/keel.h"
printf 'void h(void* p) { madvise (p, 1, 4); }\n' > "$bad/src/page.c"
printf '#include "../src/heap.c"\n' > "$bad/tests/test_unity.c"
printf 'notes\n' > "$bad/include/keel/README.md"
printf '#include <stddef.h>\n' > "$bad/include/loose.h"
printf '#include "../../src/config.h"\n' > "$bad/include/keel/arena.h"

out=$(bash "$script" "$bad" 2>&1); rc=$?
check "a broken tree fails (rc $rc)" test $rc -ne 0
check "a broken tree reports 5 failed: $out" grep -q '^check_layout: 0 passed, 5 failed$' <<< "$out"
for f in src/segment.c:1 include/keel/keel.h:1 src/page.c:1 tests/test_unity.c:1 \
         include/keel/README.md include/loose.h include/keel/arena.h:1; do
    check "the report names $f" grep -qF "    $f" <<< "$out"
done
not_named() { ! grep -F "    $1" <<< "$out"; }
for f in src/heap.c src/os/thread.c include/keel/vmem.h include/keel/keel.hpp; do
    check "the report does not name $f" not_named "$f"
done

printf '%s: %d passed, %d failed\n' "$name" "$passed" "$failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
