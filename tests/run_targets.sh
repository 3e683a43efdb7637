#!/usr/bin/env bash
# run_targets.sh — `make test`: builds and runs the tests on every target.
#   native   Linux x86-64, release build in build/
#   debug    Linux x86-64, debug build with every internal assertion
#            (KEEL_DEBUG=2) in build-debug/
#   asan     ASan+UBSan build in build-asan/
#   tsan     TSan build in build-tsan/
#   i386     i686-linux-gnu-gcc, runs natively (libc6-i386)   build-i386/
#   aarch64  aarch64-linux-gnu-gcc under qemu-aarch64          build-aarch64/
#   win64    x86_64-w64-mingw32-gcc under wine                 build-win64/
#   hardened, hardened-i386, hardened-aarch64, hardened-win64: the same four
#            with every library hardened (KEEL_HARDENED_EVERYWHERE, src/harden.h)
#            in build-hardened/, build-hardened-i386/, ...
# tests/deps.sh first installs what the chosen targets need (as root) and each
# toolchain is probed with a one-line program. A toolchain that fails its probe
# is a failure naming the missing packages; when we are not root and could not
# install them, the target prints SKIPPED instead, and with
# KEELTEST_REQUIRE_ALL_TARGETS=1 a skipped target is a failure too. KEELTEST_TARGETS
# picks a subset ("native i386": only their packages are installed). Each test
# runs under ctest's timeout. KEELTEST_BUILD_ONLY names targets that are set
# up, probed and built but whose tests are not run (.ci/run's fresh root: its
# question is whether every install step is there, and the tests have just
# run on the CI machine itself); each is a line of the summary.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)
targets=${KEELTEST_TARGETS:-"native debug asan tsan i386 aarch64 win64 hardened hardened-i386 hardened-aarch64 hardened-win64"}
require_all=${KEELTEST_REQUIRE_ALL_TARGETS:-0}
build_only=" ${KEELTEST_BUILD_ONLY:-} "
total_pass=0 total_fail=0 built_only=0 failed_targets=() lines=()
for t in ${KEELTEST_BUILD_ONLY:-}; do   # a name that is not a target of this run is a typo
  if [[ " $targets " != *" $t "* ]]; then
    echo "KEELTEST_BUILD_ONLY: '$t' is not one of the targets of this run ($targets)" >&2
    exit 2
  fi
done

skip() {  # target, reason
  lines+=("SKIPPED: $1 ($2)")
  echo "SKIPPED: $1 ($2)"
  [ "$require_all" = 1 ] && failed_targets+=("$1 (skipped, but KEELTEST_REQUIRE_ALL_TARGETS=1)")
}

run_target() {  # name, build dir, cmake args...
  local name=$1 dir=$2; shift 2
  echo "==== target $name ($dir) ===="
  mkdir -p "$dir"
  if ! cmake -S . -B "$dir" -DKEEL_WERROR=ON "$@" >"$dir/configure.log" 2>&1; then
    cat "$dir/configure.log"; failed_targets+=("$name (configure)"); lines+=("$name: configure FAILED"); return
  fi
  if ! cmake --build "$dir" --target all keel_tests -j "$jobs" >"$dir/build.log" 2>&1; then
    tail -50 "$dir/build.log"; failed_targets+=("$name (build)"); lines+=("$name: build FAILED"); return
  fi
  if [[ $build_only == *" $name "* ]]; then
    lines+=("$name: built; tests not run (KEELTEST_BUILD_ONLY)"); built_only=$((built_only + 1)); return
  fi
  local out; out=$(mktemp)
  # in parallel: the tests that must run alone say so (RUN_SERIAL)
  ctest --test-dir "$dir" --output-on-failure --timeout 300 -j "$jobs" 2>&1 | tee "$out"
  local t f
  t=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$out" | tail -1)
  f=$(sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p' "$out" | tail -1)
  rm -f "$out"
  if [ -z "$t" ] || [ "$t" = 0 ]; then
    failed_targets+=("$name (no tests ran)"); lines+=("$name: no tests ran"); return
  fi
  total_pass=$((total_pass + t - f)); total_fail=$((total_fail + f))
  lines+=("$name: $((t - f)) passed, $f failed")
  [ "$f" = 0 ] || failed_targets+=("$name")
}

# one wine prefix for the probe and the tests (its first start takes a while)
export WINEPREFIX=${WINEPREFIX:-$root/build-win64/wineprefix} WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
[[ " $targets " == *" win64 "* || " $targets " == *" hardened-win64 "* ]] && mkdir -p build-win64
# install what the targets lack (as root), then probe each toolchain: one that
# cannot build and run a one-line program is a failure naming the packages, or
# SKIPPED when we could not install them (not root).
# shellcheck disable=SC2086
bash tests/deps.sh --no-probe $targets
deps_rc=$?
toolchain_ok() {   # target (its toolchain's: tests/deps.sh maps the hardened targets)
  bash tests/deps.sh --probe "$1" 2>"$root/build-$1.probe.log" && return 0
  cat "$root/build-$1.probe.log"
  if [ $deps_rc = 2 ]; then skip "$1" "$(tail -n 1 "$root/build-$1.probe.log" | sed 's/^deps: //'); as root: bash tests/deps.sh $1"
  else failed_targets+=("$1 (toolchain)"); lines+=("$1: toolchain FAILED: $(tail -n 1 "$root/build-$1.probe.log" | sed 's/^deps: //')"); fi
  return 1
}
if [[ " $targets " == *" native "* || " $targets " == *" debug "* || " $targets " == *" hardened "* ]] &&
   ! bash tests/deps.sh --probe programs; then
  echo "the real-program tests of the native target will fail: as root, bash tests/deps.sh programs"
fi

for target in $targets; do
  case $target in
    native) toolchain_ok native && run_target native build -DCMAKE_BUILD_TYPE=Release ;;
    debug) toolchain_ok native && run_target debug build-debug -DCMAKE_BUILD_TYPE=Debug -DKEEL_DEBUG=2 ;;
    asan)
      toolchain_ok asan &&
        run_target asan build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEEL_SANITIZE=address,undefined ;;
    tsan)
      toolchain_ok tsan &&
        run_target tsan build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEEL_SANITIZE=thread ;;
    i386)
      toolchain_ok i386 &&
        run_target i386 build-i386 -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/i686-linux-gnu.cmake" ;;
    aarch64)
      toolchain_ok aarch64 &&
        run_target aarch64 build-aarch64 -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake" ;;
    win64)
      toolchain_ok win64 &&
        run_target win64 build-win64 -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/x86_64-w64-mingw32.cmake" ;;
    hardened)
      toolchain_ok hardened && run_target hardened build-hardened -DCMAKE_BUILD_TYPE=Release -DKEEL_HARDENED_EVERYWHERE=ON ;;
    hardened-i386 | hardened-aarch64 | hardened-win64)
      toolchain_ok "$target" &&
        run_target "$target" "build-$target" -DCMAKE_BUILD_TYPE=Release -DKEEL_HARDENED_EVERYWHERE=ON \
          -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$(case $target in
            hardened-i386) echo i686-linux-gnu ;; hardened-aarch64) echo aarch64-linux-gnu ;;
            *) echo x86_64-w64-mingw32 ;; esac).cmake" ;;
    *) echo "unknown target $target"; failed_targets+=("$target (unknown)") ;;
  esac
done

echo
echo "==== summary (ctest tests per target) ===="
printf '%s\n' "${lines[@]}"
if [ ${#failed_targets[@]} -gt 0 ]; then
  echo "FAILED: ${failed_targets[*]}"
  total_fail=$((total_fail > 0 ? total_fail : 1))
fi
summary="tests: $total_pass passed, $total_fail failed"
[ "$built_only" -gt 0 ] && summary+="; $built_only target(s) built, their tests not run"
echo "$summary"
[ ${#failed_targets[@]} -eq 0 ]
