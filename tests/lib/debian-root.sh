#!/bin/bash
# debian-root.sh - prints the tag of a throwaway Debian root image for the
# package install test (tests/e2e/test_deb.py), building it when missing:
# `debootstrap --variant=minbase` of this machine's release from the archive
# its own apt configuration names (scripts/apt-sources.sh), with systemd (for
# `systemd-analyze verify`) and docker.io (the engine the agent's unit
# requires: a real host has it), then `docker import`.  Nothing is pulled from
# a registry.  The image is labelled ecs-agent-c-test=1 and kept for later runs
# (rebuilt when REV changes); `docker rmi` it to rebuild.
set -euo pipefail
cd "$(dirname "$0")/../.."
REV=1
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
tag=ecs-agent-c-test/debroot:$codename-$REV
die() { echo "debian-root: $*" >&2; exit 1; }

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap missing (apt-get install debootstrap)"
mirror=$(scripts/apt-sources.sh --mirror) || die "no Debian mirror configured on this machine"
root=$(mktemp -d "${TMPDIR:-/tmp}/debroot.XXXXXX")
trap 'rm -rf "$root"' EXIT
echo "debian-root: debootstrap $codename (minbase + systemd + docker.io) from the configured mirror" >&2
debootstrap --variant=minbase --include=systemd,docker.io "$codename" "$root" "$mirror" >"$root.log" 2>&1 ||
  { tail -20 "$root.log" >&2; rm -f "$root.log"; die "debootstrap failed"; }
rm -f "$root.log"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
tar --numeric-owner -C "$root" -c . |
  docker import --change 'LABEL ecs-agent-c-test=1' --change 'CMD ["/bin/sleep", "infinity"]' - "$tag" >/dev/null
echo "$tag"
