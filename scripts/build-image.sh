#!/bin/bash
# build-image.sh BINARY [IMAGE...] - the agent's container image, FROM scratch,
# without a Dockerfile and without pulling anything (`make release`).
#
# The root file system is staged from the local machine and handed to the
# local Docker engine with `docker import` (the seed's image was FROM scratch
# too, so nothing else is needed):
#   /agent                              the binary (stripped copy), the entrypoint
#   /usr/lib/<multiarch>/...            every shared library `ldd` lists for it and
#                                       for the libwebsockets evlib_uv plugin (which
#                                       lws dlopens at run time), the dynamic loader,
#                                       /etc/ld.so.cache built for that tree
#   /lib, /lib64                        -> usr/... as on the build host (merged /usr)
#   /etc/ssl/certs/ca-certificates.crt  CA bundle (curl and OpenSSL default paths)
#   /usr/lib/ssl/{cert.pem,certs,openssl.cnf}  OpenSSL's default locations
#   /etc/{passwd,group,nsswitch.conf}   minimal, from packaging/rootfs
#   /data, /log, /tmp                   volumes / scratch space
# Image config: ENTRYPOINT ["/agent"], EXPOSE 51678, VOLUME /data /log,
# ENV ECS_DATADIR=/data/ (checkpointing on, as ecs-init runs the agent),
# HEALTHCHECK /agent -healthcheck (GET /v1/health: ACS, Docker, checkpoint,
# state-change queue; the first two minutes are registration's).
# Tags every IMAGE given (default amazon/amazon-ecs-agent:make) and, for each,
# <repository>:latest, then prints the binary and image sizes.  `make release`
# hands it the static binary (scripts/build-static.sh) and both names users
# meet: upstream Makefile's amazon/amazon-ecs-agent:make and the README's
# amazon/ecs-container-agent:make.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:?usage: build-image.sh BINARY [IMAGE...]}
shift
[ $# -gt 0 ] || set -- amazon/amazon-ecs-agent:make
image=$1

die() { echo "build-image: $*" >&2; exit 1; }
[ -x "$bin" ] || die "$bin is not an executable (run 'make build' first)"
command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable"
cacert=/etc/ssl/certs/ca-certificates.crt
[ -s "$cacert" ] || die "$cacert missing (apt-get install ca-certificates)"

stage=$(mktemp -d "${TMPDIR:-/tmp}/ecs-agent-image.XXXXXX")
trap 'rm -rf "$stage"' EXIT

multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
libdir=$(pkg-config --variable=libdir libwebsockets 2>/dev/null || echo "/usr/lib/$multiarch")
plugin=$libdir/libwebsockets-evlib_uv.so
[ -f "$plugin" ] || die "$plugin missing (apt-get install libwebsockets-evlib-uv)"

# Keep the host's top-level symlinks (merged /usr: /lib -> usr/lib ...).
for d in lib lib32 lib64 libx32 bin sbin; do
  if [ -L "/$d" ]; then
    ln -s "$(readlink "/$d")" "$stage/$d"
  fi
done

# Copy a file to the same (resolved) directory inside the stage, content of
# the symlink target under the name asked for.
put() {
  local src=$1 dir
  dir=$(readlink -f "$(dirname "$src")")
  mkdir -p "$stage$dir"
  cp -L "$src" "$stage$dir/$(basename "$src")"
}

deps() {
  # "libx.so => /path (addr)" and "/lib64/ld-linux... (addr)"
  ldd "$1" | awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }'
}

static=0
case "$(LC_ALL=C ldd "$bin" 2>&1 || true)" in
  *"not a dynamic executable"* | *"statically linked"*) static=1 ;;
esac

install -m 0755 "$bin" "$stage/agent"
strip --strip-unneeded "$stage/agent" 2>/dev/null || true
if [ "$static" = 0 ]; then
  { deps "$bin"; deps "$plugin"; } | sort -u | while read -r lib; do
    [ -n "$lib" ] && put "$lib"
  done
  put "$plugin"
  # strip the copies of the libraries too (debug symbols are not needed to run)
  find "$stage/usr" -name '*.so*' -type f -exec strip --strip-unneeded {} + 2>/dev/null || true
  # ld.so.cache for the staged tree, so the loader finds every library
  mkdir -p "$stage/etc"
  printf '/usr/lib/%s\n/usr/local/lib\n' "$multiarch" >"$stage/etc/ld.so.conf"
  ldconfig -r "$stage" 2>/dev/null || echo "build-image: ldconfig -r failed; relying on the loader's default paths" >&2
fi

mkdir -p "$stage/etc/ssl/certs" "$stage/usr/lib/ssl" "$stage/data" "$stage/log" "$stage/tmp"
chmod 1777 "$stage/tmp"
cp "$cacert" "$stage/etc/ssl/certs/ca-certificates.crt"
ln -s /etc/ssl/certs/ca-certificates.crt "$stage/usr/lib/ssl/cert.pem"
ln -s /etc/ssl/certs "$stage/usr/lib/ssl/certs"
if [ -f /etc/ssl/openssl.cnf ]; then
  cp /etc/ssl/openssl.cnf "$stage/etc/ssl/openssl.cnf"
  ln -s /etc/ssl/openssl.cnf "$stage/usr/lib/ssl/openssl.cnf"
fi
cp packaging/rootfs/etc/passwd packaging/rootfs/etc/group packaging/rootfs/etc/nsswitch.conf "$stage/etc/"
# Licence texts travel with the binary (Apache-2.0 §4).
mkdir -p "$stage/usr/share/doc/amazon-ecs-agent"
for f in LICENSE NOTICE THIRD-PARTY; do
  [ -f "$f" ] && cp "$f" "$stage/usr/share/doc/amazon-ecs-agent/"
done

# The agent must start in the staged tree: catches a missing library now,
# not at `docker run`.
if [ "$static" = 0 ] && command -v chroot >/dev/null && [ "$(id -u)" = 0 ]; then
  if ! chroot "$stage" /agent -version >/dev/null 2>"$stage.err"; then
    cat "$stage.err" >&2; rm -f "$stage.err"
    die "the staged /agent does not start"
  fi
  rm -f "$stage.err"
fi

version=$(cat VERSION 2>/dev/null || echo 0.0.0)
tar --numeric-owner --owner=0 --group=0 -C "$stage" -c . |
  docker import \
    --change 'ENTRYPOINT ["/agent"]' \
    --change 'EXPOSE 51678' \
    --change 'VOLUME ["/data", "/log"]' \
    --change 'ENV ECS_DATADIR=/data/' \
    --change 'ENV PATH=/' \
    --change 'HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 CMD ["/agent", "-healthcheck"]' \
    --message "amazon-ecs-agent $version (C)" \
    - "$image" >/dev/null
tags=()
for name in "$@"; do
  repo=${name%:*}
  [ "$name" = "$image" ] || docker tag "$image" "$name"
  [ "$repo:latest" = "$name" ] || docker tag "$image" "$repo:latest"
  tags+=("$name" "$repo:latest")
done

bin_size=$(stat -c %s "$bin")
stripped=$(stat -c %s "$stage/agent")
img_size=$(docker image inspect --format '{{.Size}}' "$image")
echo "image ${tags[*]}"
echo "  binary:   $bin_size bytes ($stripped stripped)"
echo "  image:    $img_size bytes"
