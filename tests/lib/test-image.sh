#!/bin/sh
# tests/lib/test-image.sh - build (once) the local test image used by the
# integration tests: ecs-agent-c-test/busybox:latest, FROM scratch, holding
# the static /bin/busybox of Debian's busybox-static and a symlink per applet
# (sh, sleep, httpd, cat, echo, ls, ...).  No registry is needed.
# Idempotent and safe to run concurrently; prints the image name.
# Env: TEST_IMAGE (override the name), DOCKER (docker CLI, default docker),
#      BUSYBOX (default /bin/busybox).
set -eu
IMAGE=${TEST_IMAGE:-ecs-agent-c-test/busybox:latest}
DOCKER=${DOCKER:-docker}
BUSYBOX=${BUSYBOX:-/bin/busybox}

if $DOCKER image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi

lock=${TMPDIR:-/tmp}/ecs-agent-c-test-image.lock
exec 9>"$lock"
flock 9
if $DOCKER image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi

[ -x "$BUSYBOX" ] || { echo "test-image.sh: $BUSYBOX not found (apt-get install busybox-static)" >&2; exit 1; }
if ! file "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' && command -v file >/dev/null 2>&1; then
  echo "test-image.sh: $BUSYBOX is not statically linked" >&2
  exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/www" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
echo 'ecs-agent-c-test' >"$root/www/index.html"

tar -C "$root" -cf - . | $DOCKER import \
  --change 'LABEL ecs-agent-c-test=1' \
  --change 'ENV PATH=/bin' \
  --change 'CMD ["/bin/sh"]' \
  - "$IMAGE" >/dev/null
echo "$IMAGE"
