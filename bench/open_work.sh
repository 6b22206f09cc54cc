#!/usr/bin/env bash
# Workflow throughput beside much open work: `waymark serve` on a database already holding N
# open tasks assigned to other people and N timers due in a year (as `idle.sh`), then the
# workflow load of `nodes.sh` (USERS people working ten-step requests) for SECONDS. Prints the
# load generator's JSON line. What it shows: whether a step or an inbox reads the open work of
# everyone else.
#
#   bench/open_work.sh WAYMARK WAYMARK_BENCH DB N USERS SECONDS
#     DB: a file path, or a postgres:// URL (an empty database)
set -euo pipefail
waymark="$1"; bench="$2"; db="$3"; n="$4"; users="$5"; seconds="$6"
here="$(cd "$(dirname "$0")" && pwd)"
year=$(( $(date +%s) * 1000000 + 365 * 86400 * 1000000 ))
rows="INSERT INTO tasks (instance_id, task_id, node, name, kind, topic, assignee, candidate_groups, candidate_users, status, created_us, requester)
  SELECT -i, 1, 'approve', 'Approve', 'user', NULL, 'other-' || i, '', '', 'open', 1, 'p' || i FROM series;
INSERT INTO timers (instance_id, timer_id, due_us) SELECT -i, 2, $year FROM series;
INSERT INTO jobs (kind, instance_id, item, due_us) SELECT 'timer', -i, 2, $year FROM series;"
source "$(cd "$(dirname "$0")" && pwd)/fill.sh"
fill "$db" "$n" "$rows"
out="$(mktemp)"
"$waymark" serve --db "$db" --listen 127.0.0.1:0 --admin-token at_bench >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 200); do grep -q "listening on" "$out" 2>/dev/null && break; sleep 0.05; done
url="$(grep -o 'http://[0-9.:]*' "$out" | head -n 1)"
"$bench" http-workflow "$url" at_bench "$here/ten-steps.bpmn" "$users" "$seconds" | tail -n 1
