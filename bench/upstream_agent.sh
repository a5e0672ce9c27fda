#!/bin/sh
# upstream_agent.sh - builds the upstream Go agent (amazon-ecs-agent, module
# github.com/aws/amazon-ecs-agent/agent) at UPSTREAM_VERSION [v1.105.1] from
# its sources through the Go module proxy and prints the binary's path, for
# the side-by-side benchmarks (bench/state_change_calls.py --upstream).
# Not part of `make test`: it needs the network (the module proxy).
#
# Idempotent: the binary is cached in UPSTREAM_CACHE
# [/var/cache/ecs-upstream/<version>]; a second run prints the cached path.
# The module ships vendor/; it is built from a writable copy with
# -mod=vendor, CGO off, the version stamped as upstream's Makefile does.
# Exit 0 and the path on stdout; exit 1 with the reason on stderr when the
# module cannot be had (e.g. the proxy does not serve it).
set -eu
VERSION=${UPSTREAM_VERSION:-v1.105.1}
GO=${GO:-/usr/local/go/bin/go}
CACHE=${UPSTREAM_CACHE:-/var/cache/ecs-upstream/$VERSION}
BIN=$CACHE/amazon-ecs-agent
MOD=github.com/aws/amazon-ecs-agent/agent

if [ -x "$BIN" ] && "$BIN" -version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$CACHE"
export GOPATH="$CACHE/gopath" GOMODCACHE="$CACHE/gopath/pkg/mod" GOFLAGS=-mod=mod
cd "$CACHE"
info=$("$GO" mod download -json "$MOD@$VERSION" 2>&1) || true
dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
  err=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Error": "\(.*\)",*$/\1/p')
  # the proxy's own word first, to tell "not served" from "no network"
  proxy=$("$GO" env GOPROXY | cut -d, -f1)
  said=
  if [ -n "$proxy" ] && [ "$proxy" != direct ] && command -v curl >/dev/null; then
    said=$(curl -s -m 20 "$proxy/$MOD/@v/list" 2>&1 | head -c 200 | tr '\n' ' ')
  fi
  echo "upstream_agent.sh: $MOD@$VERSION cannot be had here: $proxy answers \"${said:-nothing}\";" \
    "go mod download: ${err:-$info}" >&2
  exit 1
fi
src=$CACHE/src
rm -rf "$src"
cp -r "$dir" "$src"
chmod -R u+w "$src"
cd "$src"
GOFLAGS=-mod=vendor CGO_ENABLED=0 nice "$GO" build -trimpath -tags netcgo \
  -ldflags "-X github.com/aws/amazon-ecs-agent/agent/version.Version=${VERSION#v}" \
  -o "$BIN.tmp" ./
mv "$BIN.tmp" "$BIN"
echo "$BIN"
