#!/usr/bin/env bash
# `npm start`: install dependencies if missing, build, then hand over to the launcher (deploy/start.mjs),
# which picks external services, the local ones, or an embedded PostgreSQL. See deploy/start.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -d node_modules ]]; then
  if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi
npm run build
exec node deploy/start.mjs "$@"
