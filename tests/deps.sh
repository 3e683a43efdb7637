#!/usr/bin/env bash
# deps.sh — the Debian packages each test target needs, and a probe that each
# toolchain really compiles, links and runs a program.
#   deps.sh [TARGET...]            install what the targets lack (as root; else print the
#                                  apt-get command), then probe them
#   deps.sh --install [TARGET...]  apt-get update + install them even if present (CI)
#   deps.sh --list [TARGET...]     print the packages, one per line
#   deps.sh --no-probe [TARGET...] install as above, probe nothing (run_targets.sh probes each)
#   deps.sh --probe TARGET         probe one target only; exit 0 when it works
# TARGET: native debug asan tsan i386 aarch64 win64 hardened hardened-i386 hardened-aarch64
# hardened-win64 programs (default: $KEELTEST_TARGETS, else all). "native" (and "hardened")
# includes "programs": the real programs its tests run.
# Exit status: 0 when every probe passed, 1 when one failed (its message names
# the packages), 2 when packages are missing and we are not root.
set -u

# toolchain_of TARGET: the target whose toolchain it uses (the hardened
# targets build the same code with KEEL_HARDENED_EVERYWHERE).
toolchain_of() {
  case $1 in
    debug|hardened) echo native ;;
    hardened-*) echo "${1#hardened-}" ;;
    *) echo "$1" ;;
  esac
}

# pkgs_of TARGET: the packages, in install order (see install_target).
pkgs_of() {
  case $(toolchain_of "$1") in
    native|debug) echo cmake make gcc g++ binutils pkg-config valgrind google-perftools libunwind8 ;;
    asan)    echo gcc libasan8 libubsan1 ;;
    tsan)    echo gcc libtsan2 ;;
    # the cross compilers alone cannot link: their C libraries are separate
    # qemu-user: the tests run under qemu-i386 where the kernel runs no
    # 32-bit x86 program (IA32 emulation off: some VMs; the toolchain file)
    i386)    echo gcc-i686-linux-gnu libc6-dev-i386-cross libc6-i386 qemu-user ;;
    # gcc-12-aarch64-linux-gnu must be in before gcc-aarch64-linux-gnu
    aarch64) echo gcc-12-aarch64-linux-gnu gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user ;;
    win64)   echo gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine wine64 ;;
    # what tests/override/real_programs.sh runs on keel
    programs) echo python3 sqlite3 gcc g++ binutils lua5.4 perl git redis-server redis-tools ;;
    *) return 1 ;;
  esac
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# probe TARGET: compile, link and run (or emulate) a one-line program; for
# "programs", every command the real-program tests start is on PATH.
probe() {
  local t=$1 d rc out c p miss=()
  t=$(toolchain_of "$t")
  if [ "$t" = programs ]; then
    for c in python3 sqlite3 gcc nm as lua5.4 perl git redis-server redis-cli redis-benchmark; do
      command -v "$c" >/dev/null 2>&1 || miss+=("$c")
    done
    [ ${#miss[@]} -eq 0 ] && return 0
    echo "deps: programs: not found: ${miss[*]} (packages: $(pkgs_of programs | tr '\n' ' '))" >&2
    return 1
  fi
  d=$(mktemp -d "${TMPDIR:-/tmp}/keel-probe-XXXXXX") || return 1
  printf '#include <stdio.h>\nint main(void) { puts("probe ok"); return 0; }\n' >"$d/p.c"
  printf '#include <cstdio>\nint main() { std::puts("probe ok"); }\n' >"$d/p.cpp"
  out=$(
    cd "$d" || exit 1
    case $t in
      native)  gcc p.c -o p && g++ p.cpp -o q && ./q >/dev/null && cmake --version >/dev/null &&
               make --version >/dev/null && pkg-config --version >/dev/null && ./p ;;
      asan)    gcc -fsanitize=address,undefined p.c -o p && ./p ;;
      tsan)    gcc -fsanitize=thread p.c -o p && ./p ;;
      i386)    i686-linux-gnu-gcc p.c -o p && { ./p 2>/dev/null || qemu-i386 ./p; } ;;
      aarch64) aarch64-linux-gnu-gcc p.c -o p && qemu-aarch64 -L /usr/aarch64-linux-gnu ./p ;;
      win64)   x86_64-w64-mingw32-gcc -static p.c -o p.exe &&
               WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" WINEPREFIX=${WINEPREFIX:-$d/wine} timeout 300 wine p.exe ;;
    esac 2>&1)
  rc=$?
  rm -rf "$d"
  [ $rc -eq 0 ] && grep -q "probe ok" <<<"$out" && return 0
  for p in $(pkgs_of "$t"); do installed "$p" || miss+=("$p"); done
  echo "deps: the $t toolchain cannot build and run a one-line program: $(tail -n 3 <<<"$out" | tr '\n' ' ')" >&2
  if [ ${#miss[@]} -gt 0 ]; then echo "deps: $t: missing packages: ${miss[*]}" >&2
  else echo "deps: $t: its packages ($(pkgs_of "$t" | tr '\n' ' ')) are installed, yet the probe fails" >&2; fi
  return 1
}

mode=auto probe_all=1
[ "${1:-}" = --no-probe ] && { probe_all=0; shift; }
case "${1:-}" in
  --install) mode=install; shift ;;
  --list) mode=list; shift ;;
  --probe) probe "$2"; exit $? ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"${KEELTEST_TARGETS:-native debug asan tsan i386 aarch64 win64 hardened hardened-i386 hardened-aarch64 hardened-win64}"
# the native and debug tests run real programs on keel
for t in "${targets[@]}"; do case $t in native|debug|hardened) targets+=(programs); break ;; esac; done

all=()
for t in "${targets[@]}"; do
  p=$(pkgs_of "$t") || { echo "deps: unknown target '$t' (native debug asan tsan i386 aarch64 win64 hardened hardened-i386 hardened-aarch64 hardened-win64 programs)" >&2; exit 1; }
  for x in $p; do case " ${all[*]} " in *" $x "*) ;; *) all+=("$x") ;; esac; done
done
if [ $mode = list ]; then printf '%s\n' "${all[@]}"; exit 0; fi

missing=()
for p in "${all[@]}"; do installed "$p" || missing+=("$p"); done
[ $mode = install ] && missing=("${all[@]}")

if [ ${#missing[@]} -gt 0 ]; then
  # gcc-aarch64-linux-gnu resolves only once gcc-12-aarch64-linux-gnu is in
  first=() second=()
  for p in "${missing[@]}"; do
    case $p in gcc-aarch64-linux-gnu|wine|wine64) second+=("$p") ;; *) first+=("$p") ;; esac
  done
  cmd1="apt-get install -y --no-install-recommends ${first[*]}"
  cmd2=${second[*]:+"apt-get install -y --no-install-recommends ${second[*]}"}
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages: ${missing[*]}" >&2
    echo "deps: as root run: apt-get update && $cmd1${cmd2:+ && $cmd2}" >&2
    exit 2
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # redis-server's package starts a service where an init system runs; the
  # tests start their own server on a free loopback port, so keep it off.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  t0=$SECONDS
  apt-get update -qq || { echo "deps: apt-get update failed" >&2; exit 1; }
  if [ ${#first[@]} -gt 0 ]; then $cmd1 -q || { echo "deps: '$cmd1' failed" >&2; exit 1; }; fi
  if [ -n "$cmd2" ]; then $cmd2 -q || { echo "deps: '$cmd2' failed" >&2; exit 1; }; fi
  echo "deps: installed ${#missing[@]} packages (and what they depend on) in $((SECONDS - t0)) s"
fi

[ $probe_all = 1 ] || exit 0
rc=0
for t in "${targets[@]}"; do
  if probe "$t"; then echo "deps: $t toolchain ok"; else rc=1; fi
done
exit $rc
