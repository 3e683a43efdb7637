#!/usr/bin/env bash
# fresh_root.sh — the README's test command on a brand-new Debian 12 root, so
# that nothing an earlier session installed on this machine can hide a missing
# install step.
#
# Builds the root with debootstrap (minbase plus gcc, g++, make, cmake, git,
# pkg-config: what a new machine has), clones this repository's HEAD into it
# (committed work only, as CI sees it), mounts /proc, /sys and /dev, and runs
# the test command there as root. The Debian mirror, and apt's proxy and
# validity settings, come from this host's own apt configuration.
#   usage: bash tests/scripts/fresh_root.sh [--keep] [--dir DIR] [COMMAND]
#   COMMAND  default "KEELTEST_REQUIRE_ALL_TARGETS=1 make test" (a skipped target fails)
#   --keep   leave the root in place (it is removed by default)
#   --dir    where to build it (default: a new directory under /var/tmp)
# Exit status: the command's; 3 when the root could not be built.
# Needs root (debootstrap, chroot, mounts); installs debootstrap if missing.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
keep=0 dir="" cmd="KEELTEST_REQUIRE_ALL_TARGETS=1 make test"
while [ $# -gt 0 ]; do
  case $1 in
    --keep) keep=1; shift ;;
    --dir) dir=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) cmd=$1; shift ;;
  esac
done
say() { printf 'fresh_root: %s\n' "$*"; }
die() { printf 'fresh_root: %s\n' "$*" >&2; exit 3; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and mounts)"
git -C "$repo" rev-parse HEAD >/dev/null 2>&1 || die "$repo is not a git repository"

# ---- the mirror, from this host's apt configuration ----
# deb822 .sources files (URIs:/Suites:) and one-line .list files; the first
# Debian archive that carries bookworm, and the security archive if any.
mirror="" security=""
while read -r uri suites; do
  case " $suites " in
    *" bookworm "*) [ -n "$mirror" ] || mirror=$uri ;;
    *" bookworm-security "*) [ -n "$security" ] || security=$uri ;;
  esac
done < <(
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && awk '
      /^[ \t]*$/ { if (u != "" && t ~ /(^| )deb( |$)/) print u, s; u = s = t = ""; next }
      tolower($1) == "uris:" { u = $2 } tolower($1) == "suites:" { $1 = ""; s = $0 } tolower($1) == "types:" { $1 = ""; t = $0 }
      END { if (u != "" && t ~ /(^| )deb( |$)/) print u, s }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && sed -n 's/^[ \t]*deb[ \t]\+\(\[[^]]*\][ \t]\+\)\?\([^ \t]\+\)[ \t]\+\([^ \t]\+\).*/\2 \3/p' "$f"
  done)
[ -n "$mirror" ] || die "no bookworm archive in this host's apt configuration (/etc/apt/sources.list*)"
say "mirror $mirror${security:+, security $security}"

if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null || die "cannot install debootstrap"
fi

[ -n "$dir" ] || dir=$(mktemp -d /var/tmp/keel-fresh-root.XXXXXX)
mkdir -p "$dir" || die "cannot create $dir"
dir=$(cd "$dir" && pwd)
mounted=()
cleanup() {
  local m i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    m=${mounted[i]}
    umount -l "$m" 2>/dev/null || say "could not unmount $m"
  done
  if [ $keep = 1 ]; then say "root kept in $dir"
  elif ! grep -q " $dir/" /proc/mounts; then rm -rf "$dir"
  else say "something is still mounted under $dir: not removed"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
say "debootstrap bookworm into $dir"
if ! debootstrap --variant=minbase --include=gcc,g++,make,cmake,git,pkg-config,ca-certificates \
     bookworm "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1; then
  tail -n 20 "$dir.debootstrap.log" >&2
  die "debootstrap failed (log: $dir.debootstrap.log)"
fi
rm -f "$dir.debootstrap.log"
say "root built in $((SECONDS - t0)) s"

# apt inside the root: the same archives and the host's settings that matter
# for reaching them (proxy, validity checks of a snapshot mirror).
{
  echo "deb $mirror bookworm main"
  echo "deb $mirror bookworm-updates main"
  [ -n "$security" ] && echo "deb $security bookworm-security main"
} >"$dir/etc/apt/sources.list"
apt-config dump 2>/dev/null |
  grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy|ftp::Proxy|Retries) ' >"$dir/etc/apt/apt.conf.d/90host" || true
cp -L /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
cp -L /etc/hosts "$dir/etc/hosts" 2>/dev/null || true

# /dev recursively: /dev/pts and /dev/shm (wine needs it) are mounts of their own
for m in proc sys dev; do
  mkdir -p "$dir/$m"
  case $m in
    proc) mount -t proc proc "$dir/proc" ;;
    sys) mount -t sysfs sys "$dir/sys" || mount --rbind /sys "$dir/sys" ;;
    dev) mount --rbind /dev "$dir/dev" && mount --make-rslave "$dir/dev" ;;
  esac || die "cannot mount /$m in the root"
  mounted+=("$dir/$m")
done

say "cloning $repo ($(git -C "$repo" rev-parse --short HEAD)) into /root/keel"
git clone -q "$repo" "$dir/root/keel" || die "git clone failed"

say "running as root in the new root: $cmd"
t1=$SECONDS
chroot "$dir" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  /bin/bash -c "cd /root/keel && $cmd"
rc=$?
say "'$cmd' exited with status $rc after $((SECONDS - t1)) s (root built in $((t1 - t0)) s)"
exit $rc
