#!/usr/bin/env bash
# An idle server's CPU with many open tasks and waiting timers: `waymark serve` on a database
# holding N open tasks and N timers due in a year, CPU-seconds over SECONDS of idling.
#
#   bench/idle.sh WAYMARK DB N SECONDS     DB: a file path, or a postgres:// URL (empty database)
set -euo pipefail
waymark="$1"; db="$2"; n="$3"; seconds="$4"
year=$(( $(date +%s) * 1000000 + 365 * 86400 * 1000000 ))
rows="INSERT INTO tasks (instance_id, task_id, node, name, kind, topic, candidate_groups, candidate_users, status, created_us, requester)
  SELECT i, 1, 'approve', 'Approve', 'user', NULL, 'managers', '', 'open', 1, 'p' || i FROM series;
INSERT INTO timers (instance_id, timer_id, due_us) SELECT i, 2, $year FROM series;
INSERT INTO jobs (kind, instance_id, item, due_us) SELECT 'timer', i, 2, $year FROM series;"
source "$(cd "$(dirname "$0")" && pwd)/fill.sh"
fill "$db" "$n" "$rows"
"$waymark" serve --db "$db" --listen 127.0.0.1:0 >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 5   # start-up (the live log's first reading) is not idling
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
# PostgreSQL's own processes (their CPU is the database's, not the node's).
pg_ticks() { for p in $(pgrep -x postgres || true); do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null; done | awk '{ s += $1 } END { print s + 0 }'; }
before=$(ticks); pg_before=$(pg_ticks)
sleep "$seconds"
after=$(ticks); pg_after=$(pg_ticks)
hz=$(getconf CLK_TCK)
python3 -c "print(f'idle node: {($after - $before) / $hz:.2f} CPU-s in $seconds s = {100 * ($after - $before) / $hz / $seconds:.2f}% of a core')"
case "$db" in
  postgres://*|postgresql://*)
    python3 -c "print(f'idle PostgreSQL: {($pg_after - $pg_before) / $hz:.2f} CPU-s in $seconds s = {100 * ($pg_after - $pg_before) / $hz / $seconds:.2f}% of a core')" ;;
esac
