#!/usr/bin/env bash
# npm run bench:scheduler -- [--write] [--cycles N] [--workloads N] [--concurrency N]
# (a) the pure cycle on 6,250 nodes with 100,000 pending workloads; (b) admission end to end beside raw BullMQ.
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run --silent build
bash deploy/services.sh >/dev/null
node dist/libs/domain/src/scheduling/bench/cycle.bench.js "$@"
node dist/test/bench/scheduler-e2e.bench.js "$@"
