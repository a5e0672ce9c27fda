#!/bin/sh
# Installs every Debian package the build, the tests, the control plane and
# the benchmarks need on a fresh Debian 12 machine (run as root).
set -eu
PKGS="build-essential pkg-config git file libuv1-dev libcurl4-openssl-dev libjansson-dev
libwebsockets-dev libssl-dev libcmocka-dev clang libclang-rt-14-dev valgrind
python3 python3-aiohttp python3-pytest python3-botocore python3-prometheus-client awscli
docker-registry apache2-utils busybox-static iproute2 iptables curl ca-certificates
cmake dpkg-dev debootstrap lintian stress-ng chromium podman
libdbus-1-dev libexpat1-dev dbus-daemon python3-dbus python3-gi"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
echo "dependencies ok"
