#!/bin/bash
# run-unit.sh OUTDIR BIN... - runs cmocka test binaries, prints their output,
# and appends "passed failed skipped name" per binary to $TEST_RESULTS (if
# set), and one "binary: test (reason)" line per skipped test to
# $TEST_SKIPPED (if set).
# A binary that crashes or exits non-zero without a cmocka summary counts as
# one failure.  Exit status: 0 if everything passed.
set -u
out=$1; shift
rc=0
for bin in "$@"; do
  name=$(basename "$bin")
  log="$out/logs/$name.log"
  mkdir -p "$out/logs"
  echo "=== $bin"
  timeout "${UNIT_TIMEOUT:-600}" "$bin" >"$log" 2>&1
  st=$?
  passed=$(grep -Eo '^\[  PASSED  \] [0-9]+' "$log" | awk '{s+=$4} END {print s+0}')
  failed=$(grep -Eo '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
  # cmocka's summary: "[  SKIPPED ] N test(s), listed below:" then one
  # "[  SKIPPED ] name" line per skipped test
  skipped=$(grep -Eo '^\[  SKIPPED \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
  if [ "$st" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
  fi
  if [ "$st" -ne 0 ] || [ "$failed" -ne 0 ]; then
    cat "$log"
    echo "--- $name: FAILED (exit $st)"
    rc=1
  else
    grep -E '^\[  (PASSED|SKIPPED) *\]' "$log"
  fi
  if [ -n "${TEST_RESULTS:-}" ]; then
    echo "$passed $failed $skipped $name" >>"$TEST_RESULTS"
  fi
  if [ "$skipped" -gt 0 ] && [ -n "${TEST_SKIPPED:-}" ]; then
    # "[ RUN      ] t", whatever the test printed, "[  SKIPPED ] t": the
    # last line the test printed before skip() is its reason
    awk -v bin="$name" '
      /^\[ RUN      \] / { t = substr($0, 14); reason = ""; next }
      /^\[  SKIPPED \] / { s = substr($0, 14)
        if (t != "" && s == t) print bin ": " t " (" (reason == "" ? "skip() without a message" : reason) ")"
        t = ""; next }
      /^\[/ { t = ""; next }
      t != "" && NF > 0 { reason = $0; gsub(/^[ \t]+|[ \t]+$/, "", reason) }
    ' "$log" >>"$TEST_SKIPPED"
  fi
done
exit $rc
