#!/usr/bin/env bash
# deps-programs.sh — the Debian packages that tests/override/real_programs.sh
# runs on keel (issue 4's acceptance test), in one place.
#   deps-programs.sh            install what is missing when run as root, else print the command
#   deps-programs.sh --install  apt-get update + install all of them (CI)
#   deps-programs.sh --list     print the list
set -u
pkgs=(python3 sqlite3 gcc g++ binutils lua5.4 perl git redis-server redis-tools)

case "${1:-}" in
  --list) printf '%s\n' "${pkgs[@]}"; exit 0 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${1:-}" = "--install" ] || [ ${#missing[@]} -gt 0 ] || exit 0

cmd="apt-get install -y --no-install-recommends ${pkgs[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "deps-programs: missing packages: ${missing[*]}" >&2
  echo "deps-programs: as root run: apt-get update && $cmd" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# redis-server's package starts a service where an init system runs; the
# tests start their own server on a free loopback port, so keep it off.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq && $cmd -qq
