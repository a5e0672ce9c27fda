#!/bin/bash
# docker_roundtrip.sh [N] - create + start + inspect + remove round trip, N
# times (default 20), through the agent's Docker client (bench/docker_roundtrip.c
# over src/docker) and through the docker CLI doing the same four steps;
# prints the median ms of each.  Needs the Docker daemon and the test image
# (tests/lib/test-image.sh, built if missing).  Containers are labelled
# ecs-agent-c-test=1 and removed.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
out=out/docker-bench
make -s O=$out $out/libagent.a
pkgs="libuv libcurl jansson libwebsockets openssl"
${CC:-gcc} -std=gnu11 -O2 -g -D_GNU_SOURCE -Isrc $(pkg-config --cflags $pkgs) \
  -o $out/docker_roundtrip bench/docker_roundtrip.c $out/libagent.a $(pkg-config --libs $pkgs) -lm
image=$(tests/lib/test-image.sh)

echo "== agent Docker client (src/docker), N=$n"
$out/docker_roundtrip "$image" "$n" | tee $out/client.txt | tail -1

echo "== docker CLI (create; start; inspect; rm -f), N=$n"
: >$out/cli.txt
for i in $(seq "$n"); do
  t0=$(date +%s%N)
  id=$(docker create --label ecs-agent-c-test=1 --label ecs-agent-c-test-bench=1 "$image" sleep 300)
  docker start "$id" >/dev/null
  docker inspect "$id" >/dev/null
  docker rm -f -v "$id" >/dev/null
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000 ))" >>$out/cli.txt
done
sort -n $out/cli.txt | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2;
  printf "cli median: %.1f ms (n=%d, min %.1f, max %.1f)\n", m/1000, NR, a[1]/1000, a[NR]/1000}'
