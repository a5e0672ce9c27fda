#!/bin/bash
# run.sh - the benchmarks (`make bench`): builds the agent and bench/direct_launch,
# makes sure the test image exists, then runs bench/bench.py against the real
# Docker engine and the local control plane.  Prints the results table and
# writes out/bench/results.json.  Knobs: see the header of bench/bench.py
# (BENCH_IDLE_SECONDS=60 for a shorter run).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/bench
if [ -z "${AGENT_BIN:-}" ]; then
  make -s build
fi
# the released (static) build, for the footprint phase
if [ -z "${STATIC_BIN:-}" ] && [[ ",${BENCH_PHASES:-footprint}," == *,footprint,* ]]; then
  scripts/build-static.sh out/release >/dev/null
fi
cc=${CC:-gcc}
$cc -std=gnu11 -O2 -g -Wall -Wextra -Werror -o out/bench/direct_launch bench/direct_launch.c \
  $(pkg-config --cflags --libs libcurl jansson)
export BENCH_IMAGE
BENCH_IMAGE=$(bench/image.sh | tail -1)
rc=0
/usr/bin/python3 bench/bench.py "$@" || rc=$?
# agent CPU with 50 running tasks, telemetry on vs off (bench/telemetry_cpu.py)
case ",${BENCH_PHASES:-telemetry}," in
  *,telemetry,*) /usr/bin/python3 bench/telemetry_cpu.py || rc=$? ;;
esac
# idle RSS with 50 tasks with task roles and endpoints, credentials request
# latency (bench/endpoints.py)
case ",${BENCH_PHASES:-endpoints}," in
  *,endpoints,*) /usr/bin/python3 bench/endpoints.py || rc=$? ;;
esac
# 20 agents x 10 tasks through one service, a control-plane restart: reconnects, its CPU and
# p99 latency per API call (bench/fleet.py)
case ",${BENCH_PHASES:-fleet}," in
  *,fleet,*) AGENT_BIN=${AGENT_BIN:-$PWD/out/amazon-ecs-agent} /usr/bin/python3 bench/fleet.py || rc=$? ;;
esac
# one GET /metrics: agent CPU, latency, size; idle CPU with a scrape every 15 s (bench/scrape.py)
case ",${BENCH_PHASES:-scrape}," in
  *,scrape,*) /usr/bin/python3 bench/scrape.py || rc=$? ;;
esac
exit $rc
