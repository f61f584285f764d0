#!/usr/bin/env bash
# The growth benchmark (issue 22): refresh and client_credentials on an empty database, then
# on one a busy week filled (bench/fill.py: BENCH_FILL_ROWS access-token records, most
# expired, two thirds as many refresh tokens, most in ended families) with the janitor
# running every BENCH_JANITOR_INTERVAL seconds, in one sitting, per backend. Prints the
# result lines, the table sizes before and after, and each janitor pass's time; then the
# same fill pruned first (portcullis prune, timed), the janitor still on: the steady state.
#
#   bench/growth.sh                     # 3 million rows, 20 s per scenario, both backends
#   BENCH_FILL_ROWS=300000 BENCH_DURATION=5 BENCH_BACKENDS=sqlite bench/growth.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${BENCH_FILL_ROWS:-3000000}
for backend in ${BENCH_BACKENDS:-sqlite postgres}; do
  echo "== $backend, empty"
  env -u BENCH_FILL_ROWS BENCH_SCENARIOS=refresh,client_credentials BENCH_BACKENDS="$backend" bench/run.sh \
    | grep -E '^\{|^fill|^after|^janitor'
  echo "== $backend, $rows rows, janitor every ${BENCH_JANITOR_INTERVAL:-10} s"
  BENCH_FILL_ROWS=$rows BENCH_JANITOR_INTERVAL=${BENCH_JANITOR_INTERVAL:-10} \
    BENCH_SCENARIOS=refresh,client_credentials BENCH_BACKENDS="$backend" bench/run.sh \
    | grep -E '^\{|^fill|^after|^janitor'
  echo "== $backend, $rows rows pruned first, janitor every ${BENCH_JANITOR_INTERVAL:-10} s"
  BENCH_FILL_ROWS=$rows BENCH_PRUNE_FIRST=1 BENCH_JANITOR_INTERVAL=${BENCH_JANITOR_INTERVAL:-10} \
    BENCH_SCENARIOS=refresh,client_credentials BENCH_BACKENDS="$backend" bench/run.sh \
    | grep -E '^\{|^fill|^prune|^after|^janitor'
done
