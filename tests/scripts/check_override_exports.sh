#!/usr/bin/env bash
# check_override_exports.sh — libkeel-override.so exports the malloc family
# of DESIGN.md section 7, the keel_*/vmem_* API, and nothing else; the
# hardened override (HARDENED=1) also the sized frees of section 10.
# Usage: [HARDENED=1] check_override_exports.sh <libkeel-override.so>
set -u
lib=$1
nm=${NM:-nm}
passed=0 failed=0
ok()   { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "check_override_exports: $*" >&2; }

family="malloc calloc realloc free reallocarray posix_memalign aligned_alloc memalign valloc pvalloc
malloc_usable_size malloc_trim mallinfo mallinfo2 malloc_stats malloc_info mallopt"
if [ "${HARDENED:-0}" = 1 ]; then
  # C23's sized frees, C++'s sized and aligned operator delete (64-bit size_t: m)
  family="$family free_sized free_aligned_sized _ZdlPvm _ZdaPvm _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t
_ZdlPvSt11align_val_t _ZdaPvSt11align_val_t"
fi
exported=$("$nm" -D --defined-only "$lib" | awk '$2 ~ /^[TWDBRV]$/ {print $3}' | sort -u)
[ -n "$exported" ] && ok || fail "no exported symbols read from $lib"
for f in $family keel_alloc keel_free keel_get_stats vmem_reserve; do
  grep -qx "$f" <<<"$exported" && ok || fail "$f is not exported"
done
extra=$(grep -v -x -E "(vmem_|keel_).*" <<<"$exported" | grep -v -x -F -f <(tr ' ' '\n' <<<"$family" | sed '/^$/d') || true)
[ -z "$extra" ] && ok || fail "exports outside the contract: $(tr '\n' ' ' <<<"$extra")"
echo "check_override_exports: $passed passed, $failed failed"
[ "$failed" = 0 ]
