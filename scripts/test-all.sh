#!/bin/bash
# test-all.sh - the one command that runs every test tier (what `make test`
# and .ci/run call):
#   0. the tree's rules on the sources (scripts/check-tree.sh: file size,
#      include direction, no callback casts, documents that exist)
#   1. build (normal and ASan+UBSan)
#   2. unit tests, both builds
#   3. integration tests against the real Docker engine and a real registry
#      (sanitizer build)
#   4. pytest: the local control plane and the end-to-end tests with the real
#      agent binary (sanitizer build, so leaks and memory errors fail them)
#   5. every fuzz target, briefly, over its corpus
# Each tier appends "passed failed skipped name" lines to $TEST_RESULTS and
# one "name (reason)" line per skipped test to $TEST_SKIPPED.  The summary
# lists every failure and every skip, and ends with one line
# "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
export SHARED_DIR=${SHARED_DIR:-$root/../shared}
export TEST_RESULTS=$root/out/test-results.txt
export TEST_SKIPPED=$root/out/test-skipped.txt
mkdir -p out
: >"$TEST_RESULTS"
: >"$TEST_SKIPPED"
jobs=$(nproc 2>/dev/null || echo 2)
status=0
step() { echo; echo "##### $*"; }
# fail NAME: one failed check that is not a test binary (build, fixture)
fail() { echo "0 1 0 $1" >>"$TEST_RESULTS"; status=1; }

step "tree rules"
scripts/check-tree.sh || status=1

step "build"
if ! make -s -j"$jobs" O=out all; then fail build; fi
if ! make -s -j"$jobs" O=out/san SAN=1 all; then fail build-san; fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

step "unit tests"
scripts/run-unit.sh out $(ls out/tests/test_* 2>/dev/null) || status=1
step "unit tests (ASan+UBSan)"
scripts/run-unit.sh out/san $(ls out/san/tests/test_* 2>/dev/null) || status=1

step "test fixtures: Docker engine, image and registry"
scripts/ensure-docker.sh || fail docker-engine
export TEST_IMAGE
TEST_IMAGE=$(tests/lib/test-image.sh) || fail test-image
if [ -x tests/lib/registry.sh ]; then
  export REGISTRY_INFO=$root/out/registry.env
  tests/lib/registry.sh start || fail registry
fi
trap '[ -x tests/lib/registry.sh ] && tests/lib/registry.sh stop >/dev/null 2>&1' EXIT

step "integration tests (ASan+UBSan, real Docker engine)"
scripts/run-unit.sh out/san $(ls out/san/itests/test_* 2>/dev/null) || status=1

step "control plane and end-to-end tests (pytest)"
export AGENT_BIN=${AGENT_BIN:-$root/out/san/amazon-ecs-agent}
# each suite has its own conftest.py: one pytest run per suite
run_pytest() {
  local name=$1; shift
  local pyout=$root/out/pytest-$name.log xml=$root/out/pytest-$name.xml
  rm -f "$xml"
  /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider --junitxml="$xml" "$@" 2>&1 | tee "$pyout"
  local prc=${PIPESTATUS[0]}
  local tail pp pf pe ps px
  tail=$(grep -E '^=* ?[0-9]+ (passed|failed|errors?|skipped|xfailed|xpassed|deselected)' "$pyout" | tail -1)
  pp=$(echo "$tail" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+' || true)
  pf=$(echo "$tail" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+' || true)
  pe=$(echo "$tail" | grep -Eo '[0-9]+ errors?' | grep -Eo '[0-9]+' || true)
  ps=$(echo "$tail" | grep -Eo '[0-9]+ skipped' | grep -Eo '[0-9]+' || true)
  px=$(echo "$tail" | grep -Eo '[0-9]+ xfailed' | grep -Eo '[0-9]+' || true)
  pf=$(( ${pf:-0} + ${pe:-0} ))
  # an expected failure asserted nothing that passed: it is shown as a skip
  ps=$(( ${ps:-0} + ${px:-0} ))
  # a crash, an interrupted run or a run that collected no test (exit 5)
  # is a failure even without a "failed" count
  if [ "$prc" -ne 0 ] && [ "$pf" -eq 0 ]; then pf=1; fi
  if [ $(( ${pp:-0} + pf + ps )) -eq 0 ]; then pf=1; fi
  echo "${pp:-0} $pf $ps pytest-$name" >>"$TEST_RESULTS"
  [ "$pf" -eq 0 ] || status=1
  # the skipped tests by name, with pytest's reason
  [ -s "$xml" ] && /usr/bin/python3 - "$xml" "pytest-$name" >>"$TEST_SKIPPED" <<'PY'
import sys
import xml.etree.ElementTree as ET
for case in ET.parse(sys.argv[1]).iter("testcase"):
    for sk in case.findall("skipped"):
        name = "%s::%s" % (case.get("classname", ""), case.get("name", ""))
        reason = " ".join((sk.get("message") or sk.get("type") or "").split())
        if sk.get("type") == "pytest.xfail":
            reason = "expected failure: " + reason
        print("%s: %s (%s)" % (sys.argv[2], name, reason))
PY
}
run_pytest controlplane controlplane/tests
run_pytest e2e tests/e2e

step "fuzz targets over their corpus"
if [ -x scripts/fuzz.sh ]; then
  scripts/fuzz.sh --brief || status=1
fi

step "summary"
# "passed failed skipped name"; older writers' "passed failed name" lines
# count as no skip
awk '$2 > 0 {print "FAILED: " $NF " (" $2 ")"}' "$TEST_RESULTS"
sed 's/^/SKIPPED: /' "$TEST_SKIPPED"
read -r p f s < <(awk '{p += $1; f += $2; if (NF >= 4) s += $3}
                      END {print p+0, f+0, s+0}' "$TEST_RESULTS")
# a skip counted but not named (a writer that cannot name it) is still shown
named=$(wc -l <"$TEST_SKIPPED")
[ "$s" -le "$named" ] || echo "SKIPPED: $((s - named)) more test(s), see the logs above"
[ "$f" -eq 0 ] || status=1
echo "$p passed, $f failed, $s skipped"
exit $status
