#!/usr/bin/env bash
# Runs each benchmark on an earlier tree (BEFORE) and on this one (AFTER), one right after the other
# on the same machine, so the pairs compare like with like; raw outputs under $OUT/<bench>-{before,after}.txt.
# Used for issue 12: test/bench/results/issue-12-before-after.md.
set -uo pipefail
BEFORE=${BEFORE:?set BEFORE to a worktree of the earlier commit (built with npm ci)}
AFTER=${AFTER:-$(cd "$(dirname "$0")/../.." && pwd)}
BENCHES=${BENCHES:-"planner cycle quality usage billing e2e"}
BILLING_ROWS=${BILLING_ROWS:-1000000}
USAGE_RECORDS=${USAGE_RECORDS:-1000000}
TRACE=${TRACE:?set TRACE to a trace CSV, e.g. ../shared/traces/philly.csv}
OUT=${OUT:-/tmp/bench}
mkdir -p "$OUT"
for tree in "$BEFORE" "$AFTER"; do (cd "$tree" && npm run --silent build) || exit 1; done
run() { # name tree label cmd...
  local name=$1 tree=$2 label=$3; shift 3
  echo "[bench] $name $label $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd "$tree" && /usr/bin/time -v "$@") > "$OUT/$name-$label.txt" 2>&1
  local status=$?
  echo "[bench] $name $label done $(date -u +%T) exit $status"
}
for bench in $BENCHES; do
  for pair in "before:$BEFORE" "after:$AFTER"; do
    label=${pair%%:*}; tree=${pair#*:}
    case $bench in
      planner) run planner "$tree" "$label" node dist/libs/domain/src/planning/bench/planner.bench.js ;;
      cycle) run cycle "$tree" "$label" node dist/libs/domain/src/scheduling/bench/cycle.bench.js 20 ;;
      quality) run quality "$tree" "$label" node dist/test/bench/quality.bench.js --trace "$TRACE" --out "$OUT/quality-$label" ;;
      usage) run usage "$tree" "$label" node dist/test/bench/usage.bench.js --records "$USAGE_RECORDS" ;;
      billing) run billing "$tree" "$label" node dist/test/bench/billing.bench.js --rows "$BILLING_ROWS" ;;
      e2e) run e2e-single "$tree" "$label" node dist/test/bench/scheduler-e2e.bench.js --workloads 2000 --concurrency 32
           run e2e-sweeps "$tree" "$label" node dist/test/bench/scheduler-e2e.bench.js --workloads 20000 --concurrency 4 --batch-size 500 ;;
    esac
  done
done
