#!/bin/bash
# test-all.sh - the one command that runs every test tier (what `make test`
# and .ci/run call):
#   1. build (normal and ASan+UBSan)
#   2. unit tests, both builds
#   3. integration tests against the real Docker engine and a real registry
#      (sanitizer build)
#   4. pytest: the local control plane and the end-to-end tests with the real
#      agent binary (sanitizer build, so leaks and memory errors fail them)
#   5. every fuzz target, briefly, over its corpus
# Ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
export SHARED_DIR=${SHARED_DIR:-$root/../shared}
export TEST_RESULTS=$root/out/test-results.txt
mkdir -p out
: >"$TEST_RESULTS"
jobs=$(nproc 2>/dev/null || echo 2)
status=0
step() { echo; echo "##### $*"; }
fail() { echo "$1 0 $2" >>"$TEST_RESULTS"; status=1; }

step "build"
if ! make -s -j"$jobs" O=out all; then fail 0 build; fi
if ! make -s -j"$jobs" O=out/san SAN=1 all; then fail 0 build-san; fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

step "unit tests"
scripts/run-unit.sh out $(ls out/tests/test_* 2>/dev/null) || status=1
step "unit tests (ASan+UBSan)"
scripts/run-unit.sh out/san $(ls out/san/tests/test_* 2>/dev/null) || status=1

step "test fixtures: Docker engine, image and registry"
scripts/ensure-docker.sh || fail 0 docker-engine
export TEST_IMAGE
TEST_IMAGE=$(tests/lib/test-image.sh) || fail 0 test-image
if [ -x tests/lib/registry.sh ]; then
  export REGISTRY_INFO=$root/out/registry.env
  tests/lib/registry.sh start || fail 0 registry
fi
trap '[ -x tests/lib/registry.sh ] && tests/lib/registry.sh stop >/dev/null 2>&1' EXIT

step "integration tests (ASan+UBSan, real Docker engine)"
scripts/run-unit.sh out/san $(ls out/san/itests/test_* 2>/dev/null) || status=1

step "control plane and end-to-end tests (pytest)"
export AGENT_BIN=${AGENT_BIN:-$root/out/san/amazon-ecs-agent}
# each suite has its own conftest.py: one pytest run per suite
run_pytest() {
  local name=$1; shift
  local pyout=$root/out/pytest-$name.log
  /usr/bin/python3 -m pytest -q -p no:cacheprovider "$@" 2>&1 | tee "$pyout"
  local prc=${PIPESTATUS[0]}
  local tail pp pf pe
  tail=$(grep -E '^=* ?[0-9]+ (passed|failed|errors?|skipped)' "$pyout" | tail -1)
  pp=$(echo "$tail" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+' || true)
  pf=$(echo "$tail" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+' || true)
  pe=$(echo "$tail" | grep -Eo '[0-9]+ errors?' | grep -Eo '[0-9]+' || true)
  pf=$(( ${pf:-0} + ${pe:-0} ))
  if [ "$prc" -ne 0 ] && [ "$prc" -ne 5 ] && [ "$pf" -eq 0 ]; then pf=1; fi
  echo "${pp:-0} $pf pytest-$name" >>"$TEST_RESULTS"
  [ "$pf" -eq 0 ] || status=1
}
run_pytest controlplane controlplane/tests
run_pytest e2e tests/e2e

step "fuzz targets over their corpus"
if [ -x scripts/fuzz.sh ]; then
  scripts/fuzz.sh --brief || status=1
fi

step "summary"
awk '$2 > 0 {print "FAILED: " $3 " (" $2 ")"}' "$TEST_RESULTS"
p=$(awk '{s+=$1} END {print s+0}' "$TEST_RESULTS")
f=$(awk '{s+=$2} END {print s+0}' "$TEST_RESULTS")
[ "$f" -eq 0 ] || status=1
echo "$p passed, $f failed"
exit $status
