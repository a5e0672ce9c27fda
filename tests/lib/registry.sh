#!/bin/sh
# tests/lib/registry.sh start|stop|status - a private Docker registry for the
# integration tests: Debian's docker-registry on 127.0.0.1:<free port> with
# htpasswd (bcrypt) auth and storage in a temp dir.  `start` also pushes the
# test image (tests/lib/test-image.sh) as
#   127.0.0.1:<port>/ecs-agent-c-test/busybox:latest
# (docker login with a private DOCKER_CONFIG; 127.0.0.0/8 is an insecure
# registry for the daemon by default, so plain http works) and removes the
# local tag again so tests really pull.
# A second htpasswd user, AWS (ecr_user / ecr_password), is the one the control
# plane hands out as an ECR token (controlplane --ecr-registry 127.0.0.1:<port>
# --ecr-password <ecr_password>): ECR's token user is always AWS.
# Writes shell-style key=value lines (port, user, password, ecr_user,
# ecr_password, image, dir, pid) to $REGISTRY_INFO
# (default ${TMPDIR:-/tmp}/ecs-agent-c-test-registry/info) and prints that path.  Idempotent; `stop` kills the registry and cleans up.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
base=${REGISTRY_DIR:-${TMPDIR:-/tmp}/ecs-agent-c-test-registry}
info=${REGISTRY_INFO:-$base/info}
DOCKER=${DOCKER:-docker}
user=ecs-agent-c-test
repo=ecs-agent-c-test/busybox:latest

alive() {
  [ -f "$info" ] || return 1
  pid=$(sed -n 's/^pid=//p' "$info")
  port=$(sed -n 's/^port=//p' "$info")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # a registry started before the AWS user existed is replaced
  grep -q '^ecr_password=' "$info" || return 1
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)
  [ "$code" = 401 ]
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  if alive; then echo "$info"; return 0; fi
  stop_quiet
  mkdir -p "$base"
  dir=$(mktemp -d "$base/run.XXXXXX")
  port=$(free_port)
  password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  ecr_password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  htpasswd -Bbn "$user" "$password" >"$dir/htpasswd"
  htpasswd -Bbn AWS "$ecr_password" >>"$dir/htpasswd"
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<EOC
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: ecs-agent-c-test-$password
auth:
  htpasswd:
    realm: ecs-agent-c-test
    path: $dir/htpasswd
EOC
  setsid /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null 9>&- &
  pid=$!
  # wait until it answers (401: auth is on), at most 60 s
  deadline=$(($(date +%s) + 60))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)" = 401 ]; do
    if [ "$(date +%s)" -gt "$deadline" ] || ! kill -0 "$pid" 2>/dev/null; then
      echo "registry.sh: registry did not come up:" >&2
      cat "$dir/registry.log" >&2
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
    sleep 0.1 # poll interval of this wait
  done
  image=$("$here/test-image.sh")
  target=127.0.0.1:$port/$repo
  export DOCKER_CONFIG="$dir/docker-config"
  mkdir -p "$DOCKER_CONFIG"
  echo "$password" | $DOCKER login -u "$user" --password-stdin "127.0.0.1:$port" >/dev/null
  $DOCKER tag "$image" "$target"
  $DOCKER push "$target" >"$dir/push.log" 2>&1 || { cat "$dir/push.log" >&2; $DOCKER rmi "$target" >/dev/null 2>&1 || true; kill "$pid"; exit 1; }
  $DOCKER rmi "$target" >/dev/null
  $DOCKER logout "127.0.0.1:$port" >/dev/null 2>&1 || true
  tmp=$info.tmp.$$
  mkdir -p "$(dirname "$info")"
  cat >"$tmp" <<EOI
port=$port
user=$user
password=$password
ecr_user=AWS
ecr_password=$ecr_password
image=$target
repo=$repo
dir=$dir
pid=$pid
EOI
  mv "$tmp" "$info"
  echo "$info"
}

stop_quiet() {
  if [ -f "$info" ]; then
    pid=$(sed -n 's/^pid=//p' "$info")
    dir=$(sed -n 's/^dir=//p' "$info")
    port=$(sed -n 's/^port=//p' "$info")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    # drop any copy of the test image pulled from it
    $DOCKER rmi "127.0.0.1:$port/$repo" >/dev/null 2>&1 || true
    case "$dir" in "$base"/run.*) rm -rf "$dir" ;; esac
    rm -f "$info"
  fi
}

case "${1:-}" in
start)
  exec 9>"$base.lock" 2>/dev/null || { mkdir -p "$(dirname "$base")"; exec 9>"$base.lock"; }
  flock 9
  start
  ;;
stop)
  exec 9>"$base.lock"
  flock 9
  stop_quiet
  ;;
status)
  if alive; then cat "$info"; else echo "not running" >&2; exit 1; fi
  ;;
*)
  echo "usage: $0 start|stop|status" >&2
  exit 2
  ;;
esac
