#!/bin/bash
# image.sh - prints the test image name (ecs-agent-c-test/busybox:latest).
# Uses the test suite's tests/lib/test-image.sh when it exists; otherwise
# builds the same image (FROM scratch + Debian's busybox-static) itself.
set -euo pipefail
cd "$(dirname "$0")/.."
img=ecs-agent-c-test/busybox:latest
if [ -x tests/lib/test-image.sh ]; then
  tests/lib/test-image.sh | tail -1
  exit 0
fi
if ! docker image inspect "$img" >/dev/null 2>&1; then
  bb=$(command -v busybox || true)
  [ -n "$bb" ] || { echo "busybox-static is not installed" >&2; exit 1; }
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cp "$bb" "$ctx/busybox"
  cat >"$ctx/Dockerfile" <<'DF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
DF
  docker build -q -t "$img" --label ecs-agent-c-test=1 "$ctx" >&2
fi
echo "$img"
