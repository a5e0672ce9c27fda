#!/bin/bash
# docker_roundtrip.sh [N] - create + start + inspect + remove(force) round
# trip, N times (default 20), through the agent's Docker client
# (bench/docker_roundtrip.c over src/docker) and through the docker CLI doing
# the same four steps (docker create; start; inspect; rm -f -v).  The two are
# interleaved (client, CLI, client, CLI, ...) so load on the shared daemon
# hits both alike; prints the median ms of each.  Needs the Docker daemon and
# the test image (tests/lib/test-image.sh builds it if missing).  Containers
# are labelled ecs-agent-c-test=1 and removed.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
out=out/docker-bench
make -s O=$out $out/libagent.a
pkgs="libuv libcurl jansson libwebsockets openssl dbus-1"
${CC:-gcc} -std=gnu11 -O2 -g -D_GNU_SOURCE -Isrc $(pkg-config --cflags $pkgs) \
  -o $out/docker_roundtrip bench/docker_roundtrip.c $out/libagent.a $(pkg-config --libs $pkgs) -lm
image=$(tests/lib/test-image.sh)

coproc RT { "$out/docker_roundtrip" "$image" -; }
: >$out/client.txt
: >$out/cli.txt
for i in $(seq "$n"); do
  echo go >&"${RT[1]}"
  read -r ms <&"${RT[0]}"
  echo "$ms" >>$out/client.txt
  t0=$(date +%s%N)
  id=$(docker create --label ecs-agent-c-test=1 --label ecs-agent-c-test-bench=1 "$image" sleep 300)
  docker start "$id" >/dev/null
  docker inspect "$id" >/dev/null
  docker rm -f -v "$id" >/dev/null
  t1=$(date +%s%N)
  cli=$(awk -v d=$((t1 - t0)) 'BEGIN {printf "%.3f", d / 1e6}')
  echo "$cli" >>$out/cli.txt
  printf 'round %2d: client %8.1f ms   cli %8.1f ms\n' "$i" "$ms" "$cli"
done
exec {RT[1]}>&-
wait "$RT_PID" 2>/dev/null || true
med() { sort -n "$1" | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2;
  printf "median %.1f ms (n=%d, min %.1f, max %.1f)", m, NR, a[1], a[NR]}'; }
echo "agent Docker client (src/docker): $(med $out/client.txt)"
echo "docker CLI:                       $(med $out/cli.txt)"
