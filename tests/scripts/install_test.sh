#!/usr/bin/env bash
# install_test.sh — `cmake --install` into a fresh prefix gives the headers,
# libkeel.a, libkeel.so, keel.pc and the CMake package, and a program outside
# the tree builds against them through pkg-config and through
# find_package(keel) (keel::keel and keel::keel_static), and runs.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR [C_COMPILER]
set -u

name=install_test
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf '%s: FAIL: %s\n' "$name" "$1" >&2; [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/    /' >&2; return 0; }
check() {   # DESCRIPTION COMMAND...: one check; on failure the output is shown
    local what=$1 out; shift
    if out=$("$@" 2>&1); then pass; else fail "$what" "$out"; fi
}
finish() {
    printf '%s: %d passed, %d failed\n' "$name" "$passed" "$failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit $?
}

if [ $# -lt 2 ] || [ ! -d "$1" ] || [ ! -d "$2/include/keel" ]; then
    fail "usage: install_test.sh BUILD_DIR SOURCE_DIR [C_COMPILER]"
    finish
fi
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
cc=${3:-${CC:-cc}}

# the version keel.h declares, which keel.pc and the CMake package must carry
hversion=$(awk '/^#define KEEL_VERSION_(MAJOR|MINOR|PATCH) / { v = v (v == "" ? "" : ".") $3 } END { print v }' "$src/include/keel/keel.h")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-install-XXXXXX") || { fail "mktemp -d failed"; finish; }
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

# ---- install ----
if ! out=$(cmake --install "$build" --prefix "$prefix" 2>&1); then
    fail "cmake --install $build --prefix $prefix failed" "$out"
    finish
fi
pass

for h in "$src"/include/keel/*.h "$src"/include/keel/*.hpp; do
    [ -e "$h" ] || continue
    rel=include/keel/${h##*/}
    check "$rel is installed, identical to the source" cmp "$h" "$prefix/$rel"
done
# shellcheck disable=SC2317  # called through check
only_public_headers() { ! find "$prefix/include" -type f | grep -vE '/include/keel/[^/]+\.(h|hpp)$'; }
check "nothing but the public headers is installed under include/" only_public_headers

# libdir is lib, lib64 or lib/<multiarch>: wherever libkeel.a went.
archive=$(find "$prefix" -name libkeel.a -type f | head -n 1)
if [ -z "$archive" ]; then
    fail "libkeel.a is not installed under $prefix" "$(cd "$prefix" && find . | sort)"
    finish
fi
pass
libdir=$(dirname "$archive")
rel=${libdir#"$prefix"/}
check "libkeel.so is installed in $rel" test -e "$libdir/libkeel.so"
check "libkeel.so resolves to a real file" test -f "$(readlink -f "$libdir/libkeel.so")"
check "keel.pc is installed in $rel/pkgconfig" test -f "$libdir/pkgconfig/keel.pc"
check "keelConfig.cmake is installed in $rel/cmake/keel" test -f "$libdir/cmake/keel/keelConfig.cmake"
check "keelConfigVersion.cmake is installed" test -f "$libdir/cmake/keel/keelConfigVersion.cmake"
check "keel-override.o (the static override as one object) is installed in $rel" test -f "$libdir/keel-override.o"
# shellcheck disable=SC2317  # called through check
no_test_library() { ! find "$prefix" -name '*keel_fault*' | grep .; }
check "no test-only library (keel_fault) is installed" no_test_library

# ---- a consumer outside the tree ----
mkdir -p "$tmp/app"
cat > "$tmp/app/consumer.c" <<'C'
#include <keel/vmem.h>
#include <keel/arena.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    keel_arena arena;
    size_t page = vmem_get_page_size();
    char* p;
    if (page == 0 || (page & (page - 1)) != 0) { printf("bad page size %zu\n", page); return 1; }
    if (!keel_arena_init(&arena, (size_t)1 << 20)) { printf("keel_arena_init failed\n"); return 1; }
    p = (char*)keel_arena_push(&arena, 100, 16);
    if (p == NULL) { printf("keel_arena_push failed\n"); return 1; }
    memcpy(p, "arena ok", 9);
    printf("page size %zu, %s, pos %zu\n", page, p, keel_arena_pos(&arena));
    keel_arena_release(&arena);
    printf("released %s\n", arena.base == NULL ? "ok" : "NOT ok");
    return 0;
}
C
page=$(getconf PAGESIZE 2>/dev/null || echo 4096)
expected="page size $page, arena ok, pos 100
released ok"

# run_app DESCRIPTION PROGRAM: runs it and compares its output.
run_app() {
    local out
    if ! out=$("$2" 2>&1); then
        fail "$1: the program failed" "$out"
    elif [ "$out" != "$expected" ]; then
        fail "$1: unexpected output" "$out"
    else
        pass
    fi
}

# shared_from_prefix PROGRAM: it loads libkeel.so from the prefix.
# shellcheck disable=SC2317  # called through check
shared_from_prefix() {
    local lib
    lib=$(ldd "$1" | awk '$1 ~ /^libkeel\.so/ { print $3 }')
    [ -n "$lib" ] || { echo "$1 does not load libkeel.so"; ldd "$1"; return 1; }
    [[ $(readlink -f "$lib") == "$prefix"/* ]] || { echo "libkeel.so loaded from $lib, not from $prefix"; return 1; }
}

# no_shared PROGRAM: it does not load libkeel.so.
# shellcheck disable=SC2317  # called through check
no_shared() { ! ldd "$1" | grep libkeel; }

# on_keel PROGRAM: run with KEEL_SHOW_STATS=1, keel reports the allocations it served.
# shellcheck disable=SC2317  # called through check
on_keel() { env -u LD_PRELOAD KEEL_SHOW_STATS=1 "$1" 2>&1 >/dev/null | grep -E '^keel: allocs [1-9]'; }

# ---- through pkg-config ----
if ! command -v pkg-config > /dev/null 2>&1; then
    fail "pkg-config is not installed: apt-get install pkg-config"
else
    export PKG_CONFIG_PATH=$libdir/pkgconfig
    if ! flags=$(pkg-config --cflags --libs keel 2>&1); then
        fail "pkg-config --cflags --libs keel failed" "$flags"
    else
        pass
        check "keel.pc's version ($(pkg-config --modversion keel)) is keel.h's ($hversion)" \
            test "$(pkg-config --modversion keel)" = "$hversion"
        incdir=$(pkg-config --variable=includedir keel)
        check "keel.pc's includedir ($incdir) is the installed one ($prefix/include)" \
            test "$(readlink -f "$incdir")" = "$(readlink -f "$prefix/include")"
        pclibdir=$(pkg-config --variable=libdir keel)
        check "keel.pc's libdir ($pclibdir) is the installed one ($libdir)" \
            test "$(readlink -f "$pclibdir")" = "$(readlink -f "$libdir")"
        # shellcheck disable=SC2086  # flags are words
        if out=$("$cc" -std=c11 -Wall -Wextra -Werror -o "$tmp/app/app_pc" "$tmp/app/consumer.c" $flags -Wl,-rpath,"$libdir" 2>&1); then
            pass
            run_app "pkg-config build" "$tmp/app/app_pc"
            check "pkg-config build loads the installed libkeel.so" shared_from_prefix "$tmp/app/app_pc"
        else
            fail "building with \$(pkg-config --cflags --libs keel) failed: $flags" "$out"
        fi
    fi
    unset PKG_CONFIG_PATH
fi

# ---- libkeel.a with -lpthread alone (DESIGN.md section 2) ----
if out=$("$cc" -std=c11 -o "$tmp/app/app_a" "$tmp/app/consumer.c" -I"$prefix/include" "$archive" -lpthread 2>&1); then
    pass
    run_app "static archive build" "$tmp/app/app_a"
else
    fail "building with libkeel.a -lpthread failed" "$out"
fi

# ---- through find_package(keel) ----
cat > "$tmp/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(keel_consumer C)
find_package(keel REQUIRED)
if(NOT keel_VERSION STREQUAL KEEL_EXPECTED_VERSION)
  message(FATAL_ERROR "the CMake package says version ${keel_VERSION}, keel.h ${KEEL_EXPECTED_VERSION}")
endif()
add_executable(app_shared consumer.c)
target_link_libraries(app_shared PRIVATE keel::keel)
add_executable(app_static consumer.c)
target_link_libraries(app_static PRIVATE keel::keel_static)
if(TARGET keel::keel_override_object)
  add_executable(app_override consumer.c)
  target_link_libraries(app_override PRIVATE keel::keel_override_object)
endif()
CM
if ! out=$(cmake -S "$tmp/app" -B "$tmp/app/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" -DKEEL_EXPECTED_VERSION="$hversion" \
               -DCMAKE_BUILD_TYPE=Release 2>&1); then
    fail "configuring a project with find_package(keel REQUIRED) failed" "$out"
elif ! out=$(cmake --build "$tmp/app/build" 2>&1); then
    fail "building against keel::keel and keel::keel_static failed" "$out"
else
    pass
    run_app "find_package build with keel::keel" "$tmp/app/build/app_shared"
    check "keel::keel loads the installed libkeel.so" shared_from_prefix "$tmp/app/build/app_shared"
    run_app "find_package build with keel::keel_static" "$tmp/app/build/app_static"
    check "keel::keel_static does not load libkeel.so" no_shared "$tmp/app/build/app_static"
    if [ -f "$libdir/keel-override.o" ]; then
        run_app "find_package build with keel::keel_override_object" "$tmp/app/build/app_override"
        check "keel::keel_override_object makes keel the program's malloc" on_keel "$tmp/app/build/app_override"
    fi
fi

finish
