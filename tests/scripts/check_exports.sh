#!/usr/bin/env bash
# check_exports.sh — libkeel exports vmem_* and keel_* and nothing else: the
# dynamic symbols of libkeel.so and the global symbols of libkeel.a, the
# whole public API in both, and no test-only fault seam.
# Usage: check_exports.sh LIBKEEL_SO LIBKEEL_A
set -u

name=check_exports
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf '%s: FAIL: %s\n' "$name" "$*" >&2; }
finish() {
    printf '%s: %d passed, %d failed\n' "$name" "$passed" "$failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit $?
}

if [ $# -ne 2 ]; then
    fail "usage: check_exports.sh LIBKEEL_SO LIBKEEL_A"
    finish
fi
so=$1
archive=$2
NM=${NM:-nm}

api="vmem_reserve vmem_commit vmem_decommit vmem_release vmem_reset vmem_protect
vmem_alloc vmem_free vmem_reserve_aligned vmem_get_page_info vmem_get_page_size
vmem_align_forward vmem_align_backward vmem_get_usage_summary vmem_get_error_message
keel_arena_init keel_arena_push keel_arena_push_zero keel_arena_pos keel_arena_pop_to
keel_arena_clear keel_arena_release"

# Symbols only test builds may have (VMEM_FAULT_INJECTION).
test_only="vmem_fault_inject vmem_fault_injected"

# Symbols the linker itself defines in every shared object; not ours.
linker_defined="_init _fini _edata _end __bss_start"

# symbols KIND FILE: "NAME TYPE" per defined global symbol.
symbols() {
    case $1 in
        shared) "$NM" -D --defined-only "$2" ;;
        static) "$NM" -g --defined-only "$2" ;;
    esac | awk 'NF >= 2 && $0 !~ /:$/ { print $NF, $(NF-1) }'
}

for kind in shared static; do
    if [ $kind = shared ]; then file=$so; else file=$archive; fi
    if [ ! -f "$file" ]; then
        fail "$kind library '$file' does not exist (build keel_shared and keel_static)"
        continue
    fi
    if ! list=$(symbols $kind "$file") || [ -z "$list" ]; then
        fail "$kind library '$file': $NM listed no defined global symbols"
        continue
    fi
    pass

    # Every exported symbol is ours.
    strays=""
    while read -r sym type; do
        case $sym in
            vmem_*|keel_*) ;;
            *)
                if [ $kind = shared ] && { [ "$type" = A ] || [[ " $linker_defined " == *" $sym "* ]]; }; then
                    continue
                fi
                strays="$strays $sym($type)" ;;
        esac
    done <<< "$list"
    if [ -z "$strays" ]; then
        pass
    else
        fail "$kind library '$file' exports symbols outside vmem_*/keel_*:$strays"
    fi

    # The whole API is there.
    missing=""
    for sym in $api; do
        grep -qx "$sym [A-Za-z]" <<< "$list" || missing="$missing $sym"
    done
    if [ -z "$missing" ]; then
        pass
    else
        fail "$kind library '$file' lacks API symbols:$missing"
    fi

    # The fault seam is not.
    leaked=""
    for sym in $test_only; do
        grep -q "^$sym " <<< "$list" && leaked="$leaked $sym"
    done
    if [ -z "$leaked" ]; then
        pass
    else
        fail "$kind library '$file' exports the test-only fault seam:$leaked (VMEM_FAULT_INJECTION leaked into a release library)"
    fi
done

finish
