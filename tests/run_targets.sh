#!/usr/bin/env bash
# run_targets.sh — `make test`: builds and runs the tests on every target.
#   native   Linux x86-64, release build in build/
#   asan     ASan+UBSan build in build-asan/
#   tsan     TSan build in build-tsan/
#   i386     i686-linux-gnu-gcc, runs natively (libc6-i386)   build-i386/
#   aarch64  aarch64-linux-gnu-gcc under qemu-aarch64          build-aarch64/
#   win64    x86_64-w64-mingw32-gcc under wine                 build-win64/
# A target whose toolchain is missing prints SKIPPED; with
# KEEL_REQUIRE_ALL_TARGETS=1 a skipped target is a failure. KEEL_TARGETS picks
# a subset ("native i386"). Each test runs under ctest's timeout.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)
targets=${KEEL_TARGETS:-"native asan tsan i386 aarch64 win64"}
require_all=${KEEL_REQUIRE_ALL_TARGETS:-0}
total_pass=0 total_fail=0 failed_targets=() lines=()

have() { command -v "$1" >/dev/null 2>&1; }

sanitizer_works() {   # can gcc build and run a program with -fsanitize=$1 ?
  local d; d=$(mktemp -d)
  echo 'int main(void){return 0;}' > "$d/t.c"
  gcc -fsanitize="$1" "$d/t.c" -o "$d/t" >/dev/null 2>&1 && "$d/t" >/dev/null 2>&1
  local rc=$?; rm -rf "$d"; return $rc
}

skip() {  # target, reason
  lines+=("SKIPPED: $1 ($2)")
  echo "SKIPPED: $1 ($2)"
  [ "$require_all" = 1 ] && failed_targets+=("$1 (skipped, but KEEL_REQUIRE_ALL_TARGETS=1)")
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
  local out; out=$(mktemp)
  ctest --test-dir "$dir" --output-on-failure --timeout 300 2>&1 | tee "$out"
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

bash tests/deps.sh

for target in $targets; do
  case $target in
    native) run_target native build -DCMAKE_BUILD_TYPE=Release ;;
    asan)
      if sanitizer_works address,undefined; then
        run_target asan build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEEL_SANITIZE=address,undefined
      else skip asan "gcc cannot build with -fsanitize=address,undefined (libasan/libubsan missing)"; fi ;;
    tsan)
      if sanitizer_works thread; then
        run_target tsan build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEEL_SANITIZE=thread
      else skip tsan "gcc cannot build and run with -fsanitize=thread"; fi ;;
    i386)
      if have i686-linux-gnu-gcc && [ -e /lib/ld-linux.so.2 ]; then
        run_target i386 build-i386 -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/i686-linux-gnu.cmake"
      else skip i386 "needs i686-linux-gnu-gcc and libc6-i386: apt-get install gcc-i686-linux-gnu libc6-i386"; fi ;;
    aarch64)
      if have aarch64-linux-gnu-gcc && have qemu-aarch64; then
        run_target aarch64 build-aarch64 -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake"
      else skip aarch64 "needs aarch64-linux-gnu-gcc and qemu-aarch64: apt-get install gcc-12-aarch64-linux-gnu gcc-aarch64-linux-gnu qemu-user"; fi ;;
    win64)
      if have x86_64-w64-mingw32-gcc && have wine; then
        mkdir -p build-win64
        export WINEPREFIX=${WINEPREFIX:-$root/build-win64/wineprefix} WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
        timeout 300 wine cmd /c exit >/dev/null 2>&1   # first start creates the prefix
        run_target win64 build-win64 -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/x86_64-w64-mingw32.cmake"
      else skip win64 "needs x86_64-w64-mingw32-gcc and wine: apt-get install gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine wine64"; fi ;;
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
echo "tests: $total_pass passed, $total_fail failed"
[ ${#failed_targets[@]} -eq 0 ]
