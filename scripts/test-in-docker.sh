#!/bin/bash
# test-in-docker.sh - `make test-in-docker`: the whole test suite (`make test`)
# inside a Debian container built from local pieces, against the host's
# Docker engine (its socket is mounted).
#
# The builder image (ecs-agent-c-test/builder:<codename>-<hash of
# scripts/install-deps.sh>) is made without pulling from any registry:
#   1. debootstrap --variant=minbase <codename> from the apt mirror the host
#      already uses (/etc/apt/sources.list.d/debian.sources or sources.list);
#   2. `docker import` of that tree;
#   3. scripts/install-deps.sh run inside it (apt over the same mirror), then
#      `docker commit`.
# It is built once and reused until install-deps.sh changes.
#
# The run: a snapshot of the work tree (a clone plus the tracked and untracked,
# not ignored, files as they are now) is made in out/test-in-docker/src and mounted at the same path,
# with /tmp, so paths the tests hand to the host's Docker engine (bind
# mounts of temp dirs) mean the same thing inside and outside.  The
# container uses the host network (the tests' control plane and registry on
# 127.0.0.1 must be reachable by the engine, which runs on the host) and has
# NET_ADMIN + SYS_ADMIN without seccomp/AppArmor filtering (the network-
# namespace tests create namespaces; --privileged is refused by some engines).  The host's
# docker CLI is mounted in (the image has no Docker packages).
# Env: TID_IMAGE (use this builder image), TID_KEEP=1 (keep the snapshot),
#      TID_ARGS (make arguments, default "test").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

die() { echo "test-in-docker: $*" >&2; exit 1; }
say() { echo "test-in-docker: $*"; }

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable"

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
# bump BUILDER_REV when build_image changes
BUILDER_REV=1
hash=$( (cat scripts/install-deps.sh; echo "$BUILDER_REV") | sha256sum | cut -c1-12)
image=${TID_IMAGE:-ecs-agent-c-test/builder:$codename-$hash}

# the archive this machine's apt configuration names (scripts/apt-sources.sh)
mirror() {
  scripts/apt-sources.sh --mirror || die "no Debian mirror to bootstrap from"
}

build_image() {
  [ "$(id -u)" = 0 ] || die "building the builder image needs root (debootstrap)"
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
      die "apt-get install debootstrap failed"
  fi
  local m rootfs base cid
  m=$(mirror)
  rootfs=$(mktemp -d "${TMPDIR:-/tmp}/ecs-tid-root.XXXXXX")
  trap 'rm -rf "$rootfs"' RETURN
  say "debootstrap $codename from $m (minbase)"
  debootstrap --variant=minbase --include=ca-certificates "$codename" "$rootfs" "$m" \
    >"$root/out/test-in-docker/debootstrap.log" 2>&1 ||
    { tail -20 "$root/out/test-in-docker/debootstrap.log"; die "debootstrap failed"; }
  # apt inside uses the host's sources (same mirror, security updates)
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
    rm -f "$rootfs/etc/apt/sources.list"
  fi
  base=ecs-agent-c-test/builder-base:$codename-$hash
  tar --numeric-owner -C "$rootfs" -c . | docker import - "$base" >/dev/null
  say "installing the build and test dependencies in the image"
  cid=$(docker create --network host --label ecs-agent-c-test=1 -v "$root/scripts:/deps:ro" "$base" \
          /bin/sh -c 'apt-get update -qq && /bin/sh /deps/install-deps.sh && apt-get clean && rm -rf /var/lib/apt/lists/*')
  if ! docker start -a "$cid"; then
    docker rm -f "$cid" >/dev/null
    die "install-deps.sh failed inside the image"
  fi
  docker commit --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' "$cid" "$image" >/dev/null
  docker rm "$cid" >/dev/null
  docker rmi "$base" >/dev/null
  say "built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
}

mkdir -p out/test-in-docker
if ! docker image inspect "$image" >/dev/null 2>&1; then
  build_image
fi

# snapshot of the work tree, at a path that is the same inside and outside
snap=$root/out/test-in-docker/src
rm -rf "$snap"
mkdir -p "$snap"
rmdir "$snap"
git clone -q "$root" "$snap"           # history, so the build stamps the commit
git ls-files -z -co --exclude-standard | tar --null -T - -c | tar -x -C "$snap"   # + uncommitted work

# the shared spec/protocol data some tests read (SHARED_DIR, default ../shared)
shared=()
if [ -d "$root/../shared" ]; then
  shared=(-v "$(cd "$root/../shared" && pwd):$root/out/test-in-docker/shared:ro")
fi

name=ecs-agent-c-test-tid-$$
say "running make ${TID_ARGS:-test} in $image"
set +e
docker run --rm --name "$name" --label ecs-agent-c-test=1 --network host \
  --cap-add NET_ADMIN --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --security-opt systempaths=unconfined -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
  -v /var/run/docker.sock:/var/run/docker.sock \
  -v "$(command -v docker)":/usr/local/bin/docker:ro \
  -v "$snap:$snap" -v /tmp:/tmp "${shared[@]}" -w "$snap" \
  -e CI=true -e HOME=/root \
  "$image" /bin/bash -c "make ${TID_ARGS:-test}"
rc=$?
set -e
for f in test-results.txt test-skipped.txt; do
  [ -f "$snap/out/$f" ] && cp "$snap/out/$f" "out/test-in-docker/$f"
done
[ "${TID_KEEP:-0}" = 1 ] || rm -rf "$snap"
say "make ${TID_ARGS:-test} exited $rc"
exit $rc
