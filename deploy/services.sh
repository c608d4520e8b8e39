#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis that gpupool's tests and `npm start` use are answering.
#
#   bash deploy/services.sh          (or: npm run services)
#
# Idempotent and non-destructive:
#   - a service that already answers is left alone (never stopped, restarted or reconfigured);
#   - a local service that is down is started (PostgreSQL through pg_ctlcluster, Redis as a daemon);
#   - a service that is not installed is installed from Debian's packages, then started;
#   - when DATABASE_URL / REDIS_URL point at another host or port, they are only waited for.
# Then it waits until both answer, or fails after SERVICES_TIMEOUT seconds (default 60) saying which.
#
# Local defaults: PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth on 127.0.0.1),
# Redis on 127.0.0.1:6379 (no persistence, noeviction: the machine's Redis is transport only).
set -euo pipefail

TIMEOUT="${SERVICES_TIMEOUT:-60}"
LOCAL_PG_URL="postgres://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS_URL="redis://127.0.0.1:6379"
PG_URL="${DATABASE_URL:-$LOCAL_PG_URL}"
REDIS_URL_="${REDIS_URL:-$LOCAL_REDIS_URL}"

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# host and port of a URL (scheme://[user[:pass]@]host[:port][/...]); default port as 2nd argument.
url_host() { local r="${1#*://}"; r="${r##*@}"; r="${r%%/*}"; r="${r%%\?*}"; r="${r%:*}"; printf '%s' "${r:-127.0.0.1}"; }
url_port() {
  local r="${1#*://}"; r="${r##*@}"; r="${r%%/*}"; r="${r%%\?*}"
  if [[ "$r" == *:* ]]; then printf '%s' "${r##*:}"; else printf '%s' "$2"; fi
}
is_local() { [[ "$1" == 127.0.0.1 || "$1" == localhost ]]; }

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") >/dev/null 2>&1; }

PG_HOST="$(url_host "$PG_URL")"; PG_PORT="$(url_port "$PG_URL" 5432)"
RD_HOST="$(url_host "$REDIS_URL_")"; RD_PORT="$(url_port "$REDIS_URL_" 6379)"

pg_up() {
  if have pg_isready; then pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1; else tcp_open "$PG_HOST" "$PG_PORT"; fi
}
redis_up() {
  if have redis-cli && [[ "$REDIS_URL_" == redis://* ]]; then
    [[ "$(timeout 3 redis-cli -u "$REDIS_URL_" --no-auth-warning ping 2>/dev/null)" == PONG ]]
  else
    tcp_open "$RD_HOST" "$RD_PORT"
  fi
}

# Only a service expected on this machine's usual port is ours to install/start.
manage_pg=0; manage_redis=0
if ! pg_up; then
  if is_local "$PG_HOST" && [[ "$PG_PORT" == 5432 ]]; then manage_pg=1
  else log "PostgreSQL at $PG_HOST:$PG_PORT (DATABASE_URL) is not answering yet; waiting for it, not starting anything"; fi
fi
if ! redis_up; then
  if is_local "$RD_HOST" && [[ "$RD_PORT" == 6379 ]]; then manage_redis=1
  else log "Redis at $RD_HOST:$RD_PORT (REDIS_URL) is not answering yet; waiting for it, not starting anything"; fi
fi

# --- install what is missing (one apt-get run for both) -----------------------------------------
pkgs=()
if (( manage_pg )) && { ! have pg_ctlcluster || [[ -z "$(ls /etc/postgresql 2>/dev/null)" ]]; }; then pkgs+=(postgresql); fi
if (( manage_redis )) && ! have redis-server; then pkgs+=(redis-server); fi
if (( ${#pkgs[@]} )); then
  have apt-get || die "${pkgs[*]} not installed and apt-get is not available: install them, or set DATABASE_URL/REDIS_URL"
  [[ "$(id -u)" == 0 ]] || die "${pkgs[*]} not installed and not running as root: install them, or set DATABASE_URL/REDIS_URL"
  log "installing ${pkgs[*]} from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null || die "apt-get install ${pkgs[*]} failed"
fi

# --- PostgreSQL ---------------------------------------------------------------------------------
if (( manage_pg )) && ! pg_up; then
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1 || true)"
  if [[ -z "$version" ]]; then
    version="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n1 || true)"
    [[ -n "$version" ]] || die "PostgreSQL is not installed (no /usr/lib/postgresql/*)"
    log "creating PostgreSQL $version cluster 'main' on port 5432"
    pg_createcluster --port 5432 "$version" main >/dev/null
  fi
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Trust for user postgres over 127.0.0.1 (local development and CI only). Added before the start,
  # so it never needs a reload of a running server.
  if [[ -f "$hba" ]] && ! grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+(all|postgres)[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    log "adding trust for postgres@127.0.0.1 to $hba"
    { printf 'host all postgres 127.0.0.1/32 trust\n'; cat "$hba"; } >"$hba.gpupool" && cat "$hba.gpupool" >"$hba" && rm -f "$hba.gpupool"
  fi
  log "starting PostgreSQL $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || log "pg_ctlcluster start returned non-zero (may already be starting)"
fi

# --- Redis --------------------------------------------------------------------------------------
if (( manage_redis )) && ! redis_up; then
  log "starting redis-server on 127.0.0.1:6379"
  # --maxmemory-policy noeviction: BullMQ must never lose keys to eviction.
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --maxmemory-policy noeviction >/dev/null || die "redis-server failed to start"
fi

# --- wait ---------------------------------------------------------------------------------------
deadline=$(( SECONDS + TIMEOUT ))
pg_ok=0; rd_ok=0
while :; do
  (( pg_ok )) || { pg_up && pg_ok=1; }
  (( rd_ok )) || { redis_up && rd_ok=1; }
  (( pg_ok && rd_ok )) && break
  if (( SECONDS >= deadline )); then
    (( pg_ok )) || printf '[services] ERROR: PostgreSQL is not answering on %s:%s after %ss\n' "$PG_HOST" "$PG_PORT" "$TIMEOUT" >&2
    (( rd_ok )) || printf '[services] ERROR: Redis is not answering on %s:%s after %ss\n' "$RD_HOST" "$RD_PORT" "$TIMEOUT" >&2
    exit 1
  fi
  sleep 0.5
done

# The local trust login the tests rely on (only checked for the local default, where we know the user).
if is_local "$PG_HOST" && [[ -z "${DATABASE_URL:-}" ]] && have psql; then
  psql -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1 \
    || die "PostgreSQL answers on 127.0.0.1:5432 but user postgres cannot log in without a password (add 'host all postgres 127.0.0.1/32 trust' to pg_hba.conf, or set DATABASE_URL)"
fi

log "PostgreSQL $PG_HOST:$PG_PORT and Redis $RD_HOST:$RD_PORT are answering"
