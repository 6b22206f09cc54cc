#!/usr/bin/env bash
# Ingest and workflow throughput on each storage setting, side by side in one run: SQLite with
# one node, PostgreSQL with one, two and three nodes. Each setting and load starts on a fresh
# database; the load generator spreads its connections over the nodes. Prints one JSON line per
# run, with the CPU-seconds the Waymark nodes and the PostgreSQL server used during it.
#
#   bench/nodes.sh WAYMARK WAYMARK_BENCH POSTGRES_ADMIN_URL SECONDS [LOADS] [NODE_COUNTS]
#
# LOADS defaults to "ingest workflow", NODE_COUNTS (the PostgreSQL settings) to "1 2 3".
set -euo pipefail
waymark="$1"; bench="$2"; admin_url="$3"; seconds="$4"
loads="${5:-ingest workflow}"; node_counts="${6:-1 2 3}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d /tmp/waymark-nodes.XXXXXX)"
hz=$(getconf CLK_TCK)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

ticks() { local sum=0; for pid in "$@"; do sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done; echo "$sum"; }
pg_ticks() { for p in $(pgrep -x postgres || true); do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null; done | awk '{ s += $1 } END { print s + 0 }'; }

# start_nodes DB N: starts N nodes on DB, sets NODE_PIDS and URLS (comma-separated).
start_nodes() {
  local db="$1" n="$2" i out
  NODE_PIDS=(); URLS=""
  for i in $(seq 1 "$n"); do
    out="$work/node$RANDOM.out"
    "$waymark" serve --db "$db" --listen 127.0.0.1:0 --write-key wk_bench --admin-token at_bench >"$out" 2>/dev/null &
    NODE_PIDS+=($!); pids+=($!)
    for _ in $(seq 1 200); do grep -q "listening on" "$out" 2>/dev/null && break; sleep 0.05; done
    URLS="${URLS:+$URLS,}$(grep -o 'http://[0-9.:]*' "$out" | head -n 1)"
  done
}

stop_nodes() { for pid in "${NODE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }

fresh_db() { # fresh_db SETTING LOAD -> a location
  case "$1" in
    sqlite) echo "$work/$2-$RANDOM.db" ;;
    *) local name="bench_${2}_$RANDOM"; psql -q "$admin_url" -c "CREATE DATABASE $name" >/dev/null; echo "${admin_url%/*}/$name" ;;
  esac
}

run() { # run SETTING NODES LOAD
  local setting="$1" n="$2" load="$3" db line before pg_before after pg_after
  db="$(fresh_db "$setting" "$load")"
  start_nodes "$db" "$n"
  before=$(ticks "${NODE_PIDS[@]}"); pg_before=$(pg_ticks)
  case "$load" in
    ingest) line=$("$bench" http-ingest "$URLS" wk_bench "$seconds" 8 50 | tail -n 1) ;;
    workflow) line=$("$bench" http-workflow "$URLS" at_bench "$here/ten-steps.bpmn" 100 "$seconds" | tail -n 1) ;;
  esac
  after=$(ticks "${NODE_PIDS[@]}"); pg_after=$(pg_ticks)
  stop_nodes
  python3 -c "
import json, sys
line = json.loads(sys.argv[1])
line.update(setting=sys.argv[2], nodes=int(sys.argv[3]), node_cpu_s=int(sys.argv[4]) / $hz, postgres_cpu_s=int(sys.argv[5]) / $hz)
print(json.dumps(line))" "$line" "$setting" "$n" $((after - before)) $((pg_after - pg_before))
}

for load in $loads; do
  run sqlite 1 "$load"
  for n in $node_counts; do run postgres "$n" "$load"; done
done
