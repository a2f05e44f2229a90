#!/usr/bin/env bash
# Build, once, the Debian 13 ("trixie") chroot with GIMP 3 for the GIMP plug-in's end-to-end
# tests (tests/test_plugin_gimp_e2e.py). Kept between runs: a second call returns at once.
# Needs root and the Debian package mirror apt already uses. /proc is mounted into the chroot
# only while packages install (and while a test runs GIMP), never left mounted.
set -euo pipefail
DIR=${NST_GIMP_CHROOT:-/var/cache/nst-trixie}
STAMP="$DIR/.nst-ready-1"
PACKAGES="gimp python3-gi gir1.2-gimp-3.0 xvfb xauth imagemagick"

if [ -f "$STAMP" ]; then
  echo "GIMP 3 chroot ready: $DIR"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "gimp_chroot.sh: needs root (debootstrap, chroot)" >&2
  exit 1
fi
mirror=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}' || true)
[ -n "$mirror" ] || mirror=$(grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}' || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
if mountpoint -q "$DIR/proc" 2>/dev/null; then umount "$DIR/proc"; fi
rm -rf "$DIR"  # a half-built one from an interrupted run
echo "building the GIMP 3 chroot in $DIR from $mirror (a few minutes)"
debootstrap --variant=minbase trixie "$DIR" "$mirror" >/dev/null
cp /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$DIR/proc"
trap 'umount "$DIR/proc" 2>/dev/null || true' EXIT
chroot "$DIR" apt-get update -qq
chroot "$DIR" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
chroot "$DIR" apt-get clean
touch "$STAMP"
echo "GIMP 3 chroot ready: $DIR ($(chroot "$DIR" gimp-console-3.0 --version | head -1))"
