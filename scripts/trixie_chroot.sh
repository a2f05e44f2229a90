#!/usr/bin/env bash
# Build, once, a Debian 13 ("trixie") chroot with GIMP 3 and Krita 5.2 for the plugins'
# end-to-end tests (tests/test_plugin_gimp_e2e.py, and tests/test_plugin_krita_e2e.py on
# Krita 5.2 beside Debian 12's 5.1). Kept between runs: a second call returns at once, and a
# chroot from an older package list only gets the missing packages.
# Needs root and the Debian package mirror apt already uses. /proc is mounted into the chroot
# only while packages install (and while a test runs an editor), never left mounted.
set -euo pipefail
DIR=${NST_CHROOT:-/var/cache/nst-trixie}
PACKAGES="gimp python3-gi gir1.2-gimp-3.0 krita python3-pyqt5 xvfb xauth imagemagick xdotool"
READY="$DIR/.nst-packages"

if [ -f "$READY" ] && [ "$(cat "$READY")" = "$PACKAGES" ]; then
  echo "Debian 13 chroot ready: $DIR"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "trixie_chroot.sh: needs root (debootstrap, chroot)" >&2
  exit 1
fi
if mountpoint -q "$DIR/proc" 2>/dev/null; then umount "$DIR/proc"; fi
if [ ! -f "$DIR/.nst-base" ]; then
  mirror=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}' || true)
  [ -n "$mirror" ] || mirror=$(grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}' || true)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  rm -rf "$DIR"  # a half-built one from an interrupted run (nothing is mounted in it)
  echo "building the Debian 13 chroot in $DIR from $mirror (a few minutes)"
  debootstrap --variant=minbase trixie "$DIR" "$mirror" >/dev/null
  touch "$DIR/.nst-base"
fi
cp /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$DIR/proc"
trap 'umount "$DIR/proc" 2>/dev/null || true' EXIT
chroot "$DIR" apt-get update -qq
# shellcheck disable=SC2086 # a list of packages
chroot "$DIR" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
chroot "$DIR" apt-get clean
echo "$PACKAGES" > "$READY"
echo "Debian 13 chroot ready: $DIR ($(chroot "$DIR" gimp-console-3.0 --version | head -1);" \
  "Krita $(chroot "$DIR" dpkg-query -W -f '${Version}' krita))"
