#!/usr/bin/env bash
# Events at scale (issue 21): the synthetic generator's journeys loaded into a two-shard
# ClickHouse (Debian's 18.16, `scripts/clickhouse`) and analysed there by `waymark … --events`,
# beside the embedded engine reading the same number of events from a file. Prints JSON lines.
#
#   bench/clickhouse.sh WAYMARK BENCH WORK EVENTS    e.g. EVENTS=100000000
set -euo pipefail
waymark="$1" bench="$2" work="$3" events="$4"
ch="$work/clickhouse"
url="$(./scripts/clickhouse start "$ch")"
trap './scripts/clickhouse stop "$ch"; rm -rf "$ch"' EXIT
base="${url%%/\?*}"
url="$base/scale?cluster=waymark"
# Collection through the API (16 and 64 connections, 100 events a call, 10 s): acknowledged
# once committed to SQLite, beside acknowledged once in ClickHouse as well (`serve --events`).
for connections in 16 64; do
for events_url in "" "$base/ingest$connections?cluster=waymark"; do
  rm -rf "$work"/ingest.db*
  "$waymark" serve --db "$work/ingest.db" --listen 127.0.0.1:0 --write-key bench-key \
    ${events_url:+--events "$events_url"} > "$work/serve.out" 2>/dev/null &
  server=$!
  for _ in $(seq 100); do grep -q listening "$work/serve.out" && break; sleep 0.1; done
  served=$(awk '/listening/ {print $NF}' "$work/serve.out")
  "$bench" http-ingest "$served" bench-key "${INGEST_SECONDS:-10}" "$connections" 100 \
    | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); r['subject'] += ' into ' + sys.argv[1]; print(json.dumps(r))" \
      "$( [ -n "$events_url" ] && echo "SQLite and ClickHouse 2 shards" || echo SQLite )"
  kill -TERM "$server"; wait "$server" || true
done
done
"$bench" clickhouse-load "$url" "$events"
steps="Visit website,Start application,Upload documents,Approve,Sign contract"
# One run each: the Waymark process's wall time and peak memory (ClickHouse's own are the
# servers').
measure() {
  local task="$1" subject="$2"; shift 2
  local err="$work/time.err"
  /usr/bin/time -v "$@" >/dev/null 2>"$err"
  python3 - "$task" "$subject" "$err" <<'PY'
import json, re, sys
task, subject, err = sys.argv[1:4]
text = open(err).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1).split(":")
seconds = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall)))
peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) * 1024
print(json.dumps({"tool": "waymark", "task": task, "subject": subject, "seconds": seconds, "peak_bytes": peak}))
PY
}
subject="synthetic $events, ClickHouse 2 shards"
measure "clickhouse dfg" "$subject" "$waymark" analyze dfg --events "$url" --format json
measure "clickhouse funnel" "$subject" "$waymark" analyze funnel --events "$url" --steps "$steps" --within 30d --format json
measure "clickhouse journey report" "$subject" "$waymark" journey report bench/synthetic-journey.yaml --events "$url" --format json
# The embedded engine on 10M events from a file, the largest it holds in 2 GiB.
"$bench" synthetic-csv 10000000 "$work/synthetic.csv"
subject="synthetic 10000000, embedded (file)"
measure "embedded dfg" "$subject" "$waymark" analyze dfg "$work/synthetic.csv" --format json
measure "embedded funnel" "$subject" "$waymark" analyze funnel "$work/synthetic.csv" --steps "$steps" --within 30d --format json
measure "embedded journey report" "$subject" "$waymark" journey report bench/synthetic-journey.yaml "$work/synthetic.csv" --format json
rm -f "$work/synthetic.csv"
