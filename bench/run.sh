#!/usr/bin/env bash
# Runs every bench scenario against a release server on a fresh SQLite file, then on a
# fresh PostgreSQL database, and writes docs/PERFORMANCE.md from the results.
#
#   bench/run.sh                       # full run: 64 connections, 20 s per scenario
#   BENCH_DURATION=2 BENCH_BACKENDS=sqlite BENCH_PROFILE=debug BENCH_SMOKE=1 bench/run.sh
#                                      # CI smoke check: every scenario, no errors allowed,
#                                      # docs/PERFORMANCE.md left alone
#   BENCH_SCENARIOS=userinfo,introspect bench/run.sh   # a subset
#   BENCH_FILL_ROWS=3000000 BENCH_JANITOR_INTERVAL=10 ...  # on a database a busy week filled
#                                      # (bench/fill.py), the janitor running; see bench/growth.sh
#   BENCH_SQLITE_FROM=filled.db ...    # SQLite: start from a copy of a file an earlier run
#                                      # filled (its bench user included), so repeats compare alike
#
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test), trust auth.
# The server connects with BENCH_POSTGRES_PARAMS (default sslmode=disable): PostgreSQL
# is on the loopback here, where TLS protects nothing, and libpq's default (prefer)
# would encrypt every round trip against Debian's PostgreSQL, which offers TLS.
# BENCH_POSTGRES_PARAMS= measures with it.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${BENCH_DURATION:-20}
concurrency=${BENCH_CONCURRENCY:-64}
backends=${BENCH_BACKENDS:-"sqlite postgres"}
profile=${BENCH_PROFILE:-release}
smoke=${BENCH_SMOKE:-0}
admin_url=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
server_port=${BENCH_SERVER_PORT:-18080}
fake_port=${BENCH_FAKE_PORT:-18081}
scenarios=${BENCH_SCENARIOS:-all}

if [ "$profile" = release ]; then
  cargo build --release --locked -p portcullis -p portcullis-bench
  bin=target/release
else
  cargo build --locked -p portcullis -p portcullis-bench
  bin=target/debug
fi

work=$(mktemp -d)
results="$work/results.jsonl"
server_pid=""
pg_db=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$pg_db" ] && psql "$admin_url" -q -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

fake="http://127.0.0.1:$fake_port"
export PORTCULLIS_BIND="127.0.0.1:$server_port"
export PORTCULLIS_GOOGLE_CLIENT_IDS=bench-web.apps.googleusercontent.com
export PORTCULLIS_GOOGLE_JWKS_URL="$fake/google/certs"
export PORTCULLIS_GOOGLE_TOKENINFO_URL="$fake/google/tokeninfo"
export PORTCULLIS_GOOGLE_USERINFO_URL="$fake/google/userinfo"
export PORTCULLIS_FACEBOOK_APP_ID=1000
export PORTCULLIS_FACEBOOK_APP_SECRET=bench-app-secret
export PORTCULLIS_FACEBOOK_GRAPH_URL="$fake/facebook"
export RUST_LOG=${RUST_LOG:-warn,portcullis::janitor=info}
export PORTCULLIS_JANITOR_INTERVAL=${BENCH_JANITOR_INTERVAL:-600}

for backend in $backends; do
  case "$backend" in
    sqlite)
      export DATABASE_URL="sqlite://$work/bench.db"
      # A filled (or filled and pruned) file kept between runs, so that repeats compare alike.
      [ -n "${BENCH_SQLITE_FROM:-}" ] && cp "$BENCH_SQLITE_FROM" "$work/bench.db"
      ;;
    postgres)
      pg_db="bench_$(date +%s)_$$"
      psql "$admin_url" -q -c "CREATE DATABASE $pg_db" >/dev/null
      pg_params=${BENCH_POSTGRES_PARAMS-sslmode=disable}
      export DATABASE_URL="${admin_url%/*}/$pg_db${pg_params:+?$pg_params}"
      ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac

  "$bin/portcullis" migrate >/dev/null
  app=$("$bin/portcullis" app create --name Bench --client-type confidential \
        --grant-types password,refresh_token,client_credentials,convert_token --json)
  client_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$app")
  client_secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$app")
  # A copied file has its bench user already (the run that filled it made it).
  if [ "$backend" != sqlite ] || [ -z "${BENCH_SQLITE_FROM:-}" ]; then
    echo "load test passphrase 1" | "$bin/portcullis" createsuperuser --email bench@example.com --password-stdin >/dev/null
  fi
  if [ -n "${BENCH_FILL_ROWS:-}" ]; then
    target=$DATABASE_URL
    [ "$backend" = sqlite ] && target="$work/bench.db"
    echo "fill $backend: $(python3 bench/fill.py "$backend" "$target" "$BENCH_FILL_ROWS")"
    if [ "${BENCH_PRUNE_FIRST:-0}" = 1 ]; then
      started=$(date +%s.%N)
      deleted=$("$bin/portcullis" prune --json)
      echo "prune $backend: $(python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))' "$started" "$(date +%s.%N)") s, $deleted"
      echo "pruned $backend: $(python3 bench/fill.py sizes "$backend" "$target")"
    fi
  fi

  "$bin/portcullis" serve > "$work/server-$backend.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$server_port/healthz" >/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server-$backend.log"; exit 1; }
    sleep 0.1
  done

  args=(--base-url "http://127.0.0.1:$server_port" --client-id="$client_id" --client-secret="$client_secret"
        --user bench@example.com --password "load test passphrase 1" --concurrency "$concurrency"
        --duration "$duration" --scenario "$scenarios" --server-pid "$server_pid" --label "$backend" --fake-providers "127.0.0.1:$fake_port")
  [ "$backend" = "${backends%% *}" ] && args+=(--argon2-reference)
  [ "$backend" = postgres ] && args+=(--database-process postgres)
  [ "$smoke" = 1 ] && args+=(--fail-on-errors)
  "$bin/portcullis-bench" "${args[@]}" | tee -a "$results"

  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  if [ -n "${BENCH_FILL_ROWS:-}" ]; then
    echo "after $backend: $(python3 bench/fill.py sizes "$backend" "$target")"
    grep -h "janitor ran" "$work/server-$backend.log" | sed "s/^/janitor $backend: /" || true
  fi
  if [ -n "$pg_db" ]; then
    psql "$admin_url" -q -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null; pg_db=""
  fi
done

if [ "$smoke" = 1 ]; then
  echo "bench smoke: every scenario ran without errors"
  exit 0
fi
if [ "$scenarios" != all ]; then
  echo "a subset of scenarios ran; docs/PERFORMANCE.md left alone"
  exit 0
fi
python3 bench/report.py "$results" "$duration" "$concurrency" > docs/PERFORMANCE.md
echo "wrote docs/PERFORMANCE.md"
