#!/bin/bash
# fuzz-long.sh - the long fuzz campaign: every fuzz/fuzz_<name>.c (or those
# named) for SECONDS each, one after the other on one core, in its own build
# dir (out/rel-fuzz), growing out/rel-fuzz/corpus/<name> (seeded from
# fuzz/corpus/<name> and fuzz/regressions/<name>).  Crashes land in
# out/rel-fuzz/crashes/<name>/.  One summary line per target:
#   <name> seconds=<s> execs=<n> exec/s=<n> cov=<n> corpus=<n> crashes=<n>
#   tests/reliability/fuzz-long.sh [-t SECONDS] [name...]
set -u
cd "$(dirname "$0")/../.."
secs=600
if [ "${1:-}" = "-t" ]; then secs=$2; shift 2; fi
out=out/rel-fuzz
mkdir -p "$out/bin" "$out/crashes" "$out/corpus" "$out/logs"
make -s -j"$(nproc)" O="$out" CC=clang FUZZ=1 "$out/libagent.a" || exit 1
pkgs="libuv libcurl jansson libwebsockets openssl dbus-1"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=($(ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_||; s|\.c$||'))
summary=$out/summary.txt
for short in "${names[@]}"; do
  name=fuzz_$short
  bin=$out/bin/$name
  clang -g -O1 -std=gnu11 -D_GNU_SOURCE -Isrc $(pkg-config --cflags $pkgs) \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -o "$bin" "fuzz/$name.c" "$out/libagent.a" $(pkg-config --libs $pkgs) -lm || { echo "$short build FAILED" | tee -a "$summary"; continue; }
  mkdir -p "$out/corpus/$short" "$out/crashes/$short"
  for d in fuzz/corpus/$short fuzz/regressions/$short; do
    [ -d "$d" ] && cp -n "$d"/* "$out/corpus/$short/" 2>/dev/null
  done
  log=$out/logs/$short.log
  "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$out/crashes/$short/" "$out/corpus/$short" >"$log" 2>&1
  rc=$?
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
  eps=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
  ncorp=$(ls "$out/corpus/$short" | wc -l)
  ncrash=$(ls "$out/crashes/$short" | wc -l)
  echo "$short seconds=$secs rc=$rc execs=${execs:-?} exec/s=${eps:-?} cov=${cov:-?} corpus=$ncorp crashes=$ncrash" | tee -a "$summary"
done
