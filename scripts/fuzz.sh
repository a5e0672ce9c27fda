#!/bin/bash
# fuzz.sh - builds every libFuzzer target fuzz/fuzz_<name>.c with clang
# (ASan + UBSan) and runs it.
#   fuzz.sh --brief        each target over its corpus plus a short random run
#                          (what `make test` does); results go to $TEST_RESULTS
#                          as "passed failed skipped name" lines
#   fuzz.sh [SECONDS]      each target for SECONDS (default 60), growing its
#                          corpus in out/fuzz/corpus/<name> (seeded from fuzz/corpus/<name>)
# Crashes are written to out/fuzz/crashes/<name>/; copy each into
# fuzz/regressions/<name>/ once fixed: those files are replayed by --brief.
set -u
cd "$(dirname "$0")/.."
mode=${1:-60}
out=out/fuzz
mkdir -p "$out/bin" "$out/crashes"
targets=$(ls fuzz/fuzz_*.c 2>/dev/null)
[ -n "$targets" ] || { echo "no fuzz targets"; exit 0; }
if ! make -s -j"$(nproc)" O="$out" CC=clang FUZZ=1 "$out/libagent.a"; then
  echo "0 1 0 fuzz-build" >>"${TEST_RESULTS:-/dev/null}"
  exit 1
fi
pkgs="libuv libcurl jansson libwebsockets openssl dbus-1"
rc=0
for src in $targets; do
  name=$(basename "$src" .c)
  short=${name#fuzz_}
  bin=$out/bin/$name
  if ! clang -g -O1 -std=gnu11 -D_GNU_SOURCE -Isrc $(pkg-config --cflags $pkgs) \
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
       -o "$bin" "$src" "$out/libagent.a" $(pkg-config --libs $pkgs) -lm; then
    echo "0 1 0 $name-build" >>"${TEST_RESULTS:-/dev/null}"; rc=1; continue
  fi
  seeds=fuzz/corpus/$short
  [ -d "$seeds" ] || seeds=fuzz/corpus/$name
  mkdir -p "$out/corpus/$name" "$out/crashes/$name"
  # libFuzzer writes new inputs into the first directory: a scratch one,
  # never the committed corpus
  rm -rf "$out/scratch/$name"; mkdir -p "$out/scratch/$name"
  dirs=("$out/scratch/$name")
  [ -d "$seeds" ] && dirs+=("$seeds")
  [ -d "fuzz/regressions/$short" ] && dirs+=("fuzz/regressions/$short")
  if [ "$mode" = "--brief" ]; then
    # every corpus and regression input, then 2000 mutations
    if ASAN_OPTIONS=detect_leaks=1 "$bin" -runs=2000 -max_len=65536 -rss_limit_mb=1024 \
         -artifact_prefix="$out/crashes/$name/" "${dirs[@]}" >"$out/$name.log" 2>&1; then
      echo "fuzz $name: ok ($(grep -Eo 'Done [0-9]+ runs' "$out/$name.log" | tail -1))"
      echo "1 0 0 $name" >>"${TEST_RESULTS:-/dev/null}"
    else
      tail -40 "$out/$name.log"; echo "fuzz $name: FAILED"
      echo "0 1 0 $name" >>"${TEST_RESULTS:-/dev/null}"; rc=1
    fi
  else
    [ -d "$seeds" ] && cp -n "$seeds"/* "$out/corpus/$name/" 2>/dev/null
    "$bin" -max_total_time="$mode" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$out/crashes/$name/" "$out/corpus/$name" 2>&1 | tail -12 | tee "$out/$name.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  fi
done
exit $rc
