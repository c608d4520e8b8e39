#!/usr/bin/env bash
# npm run bench:scheduler -- [--write]
# (a) the pure cycle on 6,250 nodes with 100,000 pending workloads; (b) admission end to end beside raw BullMQ.
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run --silent build
bash deploy/services.sh >/dev/null
write=""
for arg in "$@"; do [[ "$arg" == --write ]] && write=--write; done
node dist/libs/domain/src/scheduling/bench/cycle.bench.js 20 $write
# One workload per HTTP request, then sweeps (POST /v1/workloads/batch): each beside raw BullMQ in the same run.
node dist/test/bench/scheduler-e2e.bench.js --workloads 2000 --concurrency 32 $write
node dist/test/bench/scheduler-e2e.bench.js --workloads 20000 --concurrency 4 --batch-size 500 $write
