#!/usr/bin/env bash
# deps.sh — the Debian packages the tests need, in one place.
#   deps.sh            install what is missing when run as root, else print the command
#   deps.sh --install  apt-get update + install all of them (CI)
#   deps.sh --list     print the list
set -u
# gcc-12-aarch64-linux-gnu must be installed before gcc-aarch64-linux-gnu.
first=(cmake make gcc g++ binutils pkg-config gcc-12-aarch64-linux-gnu gcc-i686-linux-gnu libc6-i386
       qemu-user gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 valgrind)
second=(gcc-aarch64-linux-gnu wine wine64)

case "${1:-}" in
  --list) printf '%s\n' "${first[@]}" "${second[@]}"; exit 0 ;;
esac

missing=()
for p in "${first[@]}" "${second[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${1:-}" = "--install" ] || [ ${#missing[@]} -gt 0 ] || exit 0

cmd1="apt-get install -y --no-install-recommends ${first[*]}"
cmd2="apt-get install -y --no-install-recommends ${second[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: as root run: apt-get update && $cmd1 && $cmd2" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && $cmd1 -qq && $cmd2 -qq
