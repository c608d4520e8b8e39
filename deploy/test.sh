#!/usr/bin/env bash
# `npm test`: everything CI checks, in order, failing fast.
#   deps (if node_modules is missing) → services (PostgreSQL + Redis) → build → lint → typecheck
#   → unit → integration → e2e (Redis queue backend) → core-flow e2e again on the PostgreSQL queue backend.
# Prints one timing line per step and, at the end, "N passed, M failed" summed over the Jest runs.
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS="$(mktemp -d "${TMPDIR:-/tmp}/gpupool-jest.XXXXXX")"
trap 'rm -rf "$RESULTS"' EXIT
TIMINGS=()

summary() {
  # Sum numPassedTests / numFailedTests / numPendingTests over every Jest --json file written so far.
  node -e '
    const fs = require("fs"), path = require("path");
    const dir = process.argv[1];
    let passed = 0, failed = 0, skipped = 0, runs = 0;
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".json"))) {
      try {
        const r = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
        passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + (r.numTodoTests ?? 0); runs++;
      } catch { /* a run that died before writing its report */ }
    }
    if (runs) console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
  ' "$RESULTS"
}

step() {
  local name="$1"; shift
  printf '\n[test] ▶ %s  (%s)\n' "$name" "$*"
  local t0=$SECONDS rc=0
  "$@" || rc=$?
  local line
  line="$(printf '[test] %-22s %4ss  %s' "$name" "$((SECONDS - t0))" "$([[ $rc == 0 ]] && echo ok || echo "FAILED (exit $rc)")")"
  TIMINGS+=("$line")
  echo "$line"
  if (( rc != 0 )); then
    printf '\n[test] timings:\n'; printf '  %s\n' "${TIMINGS[@]}"
    summary
    exit "$rc"
  fi
}

jest_tier() { # jest_tier <report-name> <npm script> [extra jest args...]
  local report="$1" script="$2"; shift 2
  npm run --silent "$script" -- --json --outputFile="$RESULTS/$report.json" "$@"
}

if [[ ! -d node_modules ]]; then
  if [[ -f package-lock.json ]]; then step deps npm ci --no-audit --no-fund; else step deps npm install --no-audit --no-fund; fi
fi
step services bash deploy/services.sh
step build npm run --silent build
# The Jest global setup would build again otherwise.
export GPUPOOL_TEST_BUILD=0
step lint npm run --silent lint
step typecheck npm run --silent typecheck
step unit jest_tier unit test:unit
step integration jest_tier integration test:int
step e2e jest_tier e2e test:e2e
# Jest 30 renamed --testPathPattern to --testPathPatterns.
step e2e-core-flow-pg env QUEUE_BACKEND=postgres npm run --silent test:e2e -- \
  --json --outputFile="$RESULTS/e2e-core-flow-postgres.json" --testPathPatterns core-flow

printf '\n[test] timings:\n'; printf '  %s\n' "${TIMINGS[@]}"
summary
