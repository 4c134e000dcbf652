#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/*.swift) with swiftc and runs them, one after the other.
#
#   bash fuzz/run.sh [events|pmml|all]      (default: all; `make fuzz` runs this)
#
# Environment:
#   FUZZ_RUNS=N               executions per target (default 10000000)
#   FUZZ_RUNS_EVENTS=N        … for the event decoder only (default FUZZ_RUNS)
#   FUZZ_RUNS_PMML=N          … for the PMML loader only (default FUZZ_RUNS)
#   FUZZ_MAX_TIME=S           also stop a target after S seconds (default 0: no time limit)
#   FUZZ_SEGMENT_RUNS=N       restart libFuzzer every N runs (default 0: one process), see fuzz/README.md
#   FUZZ_SANITIZERS=list      swiftc -sanitize= list (default fuzzer,address; fuzzer alone if that fails to link)
#   FUZZ_DETECT_LEAKS=0|1     LeakSanitizer at the end of each input (default 1)
#   FUZZ_MERGE=0|1            merge new coverage into fuzz/corpus/<target>/ (default 1)
#   FUZZ_CORPUS_MAX_FILES=N   cap on the committed corpus per target (default 500)
#   FUZZ_CORPUS_MAX_BYTES=N   cap on the committed corpus per target (default 2000000)
#   FUZZ_NO_BUILD=1           reuse the binaries in fuzz/.build-fuzz/
#   PMML_FUZZ_SKIP_KNOWN_CRASHES=1  skip PMML inputs that hit the XMLParser crashes already found (fuzz/README.md)
#
# Everything CPU-heavy runs under `nice -n 19`. Build output, the working corpora and the logs live in
# fuzz/.build-fuzz/ (git-ignored). A crash, leak, timeout or OOM reproducer is written to fuzz/crashes/.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/fuzz/.build-fuzz"
mkdir -p "$out" "$root/fuzz/crashes"

targets=${1:-all}
case "$targets" in
  all) targets="events pmml" ;;
  events|pmml) ;;
  *) echo "usage: $0 [events|pmml|all]" >&2; exit 2 ;;
esac

runs_default=${FUZZ_RUNS:-10000000}
max_time=${FUZZ_MAX_TIME:-0}
segment=${FUZZ_SEGMENT_RUNS:-0}
sanitizers=${FUZZ_SANITIZERS:-fuzzer,address}
detect_leaks=${FUZZ_DETECT_LEAKS:-1}
merge=${FUZZ_MERGE:-1}
max_files=${FUZZ_CORPUS_MAX_FILES:-500}
max_bytes=${FUZZ_CORPUS_MAX_BYTES:-2000000}

# The Swift runtime's own crash backtracer would otherwise intercept the fatal signal before libFuzzer
# (and keep the pipe open while it symbolicates); libFuzzer + ASan print the stack themselves.
export SWIFT_BACKTRACE=enable=no
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# -detect_leaks=0 only stops libFuzzer's per-input check; ASan's own check at exit must go too.
if [ "$detect_leaks" = 0 ]; then export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"; fi

# target → module name, sources, harness, max_len, dictionary, runs
module_of() { case $1 in events) echo Events ;; pmml) echo Scoring ;; esac; }
harness_of() { case $1 in events) echo fuzz/EventDecoderFuzz.swift ;; pmml) echo fuzz/PMMLLoaderFuzz.swift ;; esac; }
binary_of() { case $1 in events) echo "$out/event-decoder-fuzz" ;; pmml) echo "$out/pmml-loader-fuzz" ;; esac; }
max_len_of() { case $1 in events) echo 70000 ;; pmml) echo 8192 ;; esac; }
dict_of() { case $1 in events) echo fuzz/events.dict ;; pmml) echo fuzz/pmml.dict ;; esac; }
runs_of() { case $1 in events) echo "${FUZZ_RUNS_EVENTS:-$runs_default}" ;; pmml) echo "${FUZZ_RUNS_PMML:-$runs_default}" ;; esac; }

# Modules a target's module imports, built first as static libraries (Scoring imports CSV).
deps_of() { case $1 in events) echo "" ;; pmml) echo CSV ;; esac; }

build() {
  local target=$1 module binary
  module=$(module_of "$target")
  binary=$(binary_of "$target")
  local flags=(-parse-as-library -O -package-name StreamScore -I "$out" -L "$out")
  # lld links the sanitizer runtimes without gold's flood of "Cannot export local symbol" warnings.
  if command -v ld.lld >/dev/null 2>&1; then flags+=(-use-ld=lld); fi
  local dep
  for dep in $(deps_of "$target"); do
    echo "== build $dep (a dependency of $module)"
    nice -n 19 swiftc "${flags[@]}" -module-name "$dep" -emit-module -emit-module-path "$out/$dep.swiftmodule" \
      -emit-library -static -o "$out/lib$dep.a" $(find "Sources/$dep" -name '*.swift' | sort)
    flags+=(-l"$dep")
  done
  # Every source of the module, subfolders included (Sources/Scoring/Models/).
  local sources
  mapfile -t sources < <(find "Sources/$module" -name '*.swift' | sort)
  echo "== build $target: swiftc -sanitize=$sanitizers ${flags[*]} -module-name $module Sources/$module/**/*.swift $(harness_of "$target")"
  if ! nice -n 19 swiftc -sanitize="$sanitizers" "${flags[@]}" -module-name "$module" "${sources[@]}" "$(harness_of "$target")" \
       -o "$binary" 2>"$out/build-$target.log"; then
    if [ "$sanitizers" != fuzzer ]; then
      echo "   -sanitize=$sanitizers failed (see $out/build-$target.log); retrying with -sanitize=fuzzer alone"
      nice -n 19 swiftc -sanitize=fuzzer "${flags[@]}" -module-name "$module" "${sources[@]}" "$(harness_of "$target")" -o "$binary"
    else
      cat "$out/build-$target.log" >&2
      return 1
    fi
  fi
}

# Adds the most useful new inputs of the working corpus to the committed one, within the caps:
# libFuzzer's merge picks the inputs that add coverage; of those, the smallest are kept first.
merge_corpus() {
  local target=$1 binary committed work staging
  binary=$(binary_of "$target")
  committed="$root/fuzz/corpus/$target"
  work="$out/corpus-$target"
  staging="$out/merge-$target"
  rm -rf "$staging"
  mkdir -p "$staging"
  cp "$committed"/* "$staging"/
  nice -n 19 "$binary" -set_cover_merge=1 -max_len="$(max_len_of "$target")" -timeout=10 -rss_limit_mb=4096 \
    -detect_leaks=0 "$staging" "$work" >"$out/merge-$target.log" 2>&1 || {
      echo "   merge failed (see $out/merge-$target.log); committed corpus unchanged"; return 0; }
  local files bytes added=0
  files=$(find "$committed" -type f | wc -l)
  bytes=$(find "$committed" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  while read -r size name; do
    [ -e "$committed/$name" ] && continue
    if [ $((files + 1)) -gt "$max_files" ] || [ $((bytes + size)) -gt "$max_bytes" ]; then break; fi
    cp "$staging/$name" "$committed/$name"
    files=$((files + 1)); bytes=$((bytes + size)); added=$((added + 1))
  done < <(find "$staging" -type f -printf '%s %f\n' | sort -n)
  echo "   corpus: +$added files → $files files, $bytes bytes in fuzz/corpus/$target/"
}

run_target() {
  local target=$1 binary runs work log start rc=0
  binary=$(binary_of "$target")
  runs=$(runs_of "$target")
  work="$out/corpus-$target"
  log="$out/run-$target.log"
  mkdir -p "$work"
  : >"$log"
  echo "== fuzz $target: $runs runs, max_len $(max_len_of "$target") (log: $log)"
  start=$(date +%s)
  # One libFuzzer process per segment of at most $segment runs (all of them when 0); the working
  # corpus carries over, so segments only bound how much a leak in the code under test can pile up.
  local done_runs=0 segment_no=0
  while [ "$done_runs" -lt "$runs" ]; do
    local this=$((runs - done_runs)) time_left=0
    if [ "$segment" -gt 0 ] && [ "$this" -gt "$segment" ]; then this=$segment; fi
    if [ "$max_time" -gt 0 ]; then
      time_left=$((max_time - ($(date +%s) - start)))
      [ "$time_left" -le 0 ] && break
    fi
    segment_no=$((segment_no + 1))
    echo "--- segment $segment_no: -runs=$this -max_total_time=$time_left" >>"$log"
    set +e
    nice -n 19 "$binary" -runs="$this" -max_total_time="$time_left" -max_len="$(max_len_of "$target")" \
      -timeout=10 -rss_limit_mb=4096 -detect_leaks="$detect_leaks" -dict="$(dict_of "$target")" \
      -print_final_stats=1 -artifact_prefix="$root/fuzz/crashes/$target-" \
      "$work" "$root/fuzz/corpus/$target" >>"$log" 2>&1
    rc=$?
    set -e
    local seg_execs
    seg_execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    done_runs=$((done_runs + ${seg_execs:-0}))
    [ "$rc" -ne 0 ] && break
    # A segment that stopped early ran out of time.
    [ "${seg_execs:-0}" -lt "$this" ] && break
  done
  local wall=$(( $(date +%s) - start )) rate=0
  [ "$wall" -gt 0 ] && rate=$((done_runs / wall))
  echo "   executions: $done_runs  exec/s: $rate  wall: ${wall} s  segments: $segment_no  (exit $rc)"
  if [ "$rc" -eq 0 ]; then
    echo "   result: no crash"
  else
    local artifact
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "   result: CRASH — reproducer ${artifact:-(none written; see $log)}"
    grep -m1 -E "ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|Fatal error|out-of-memory" "$log" | sed 's/^/   /' || true
  fi
  if [ "$merge" = 1 ]; then merge_corpus "$target"; fi
  return "$rc"
}

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
  for t in $targets; do build "$t"; done
fi
status=0
for t in $targets; do
  run_target "$t" || status=1
done
exit "$status"
