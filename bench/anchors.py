"""The anchors, measured the same way as waymark-bench: one JSON line per measurement, the
median of several runs, on the same files.

    python anchors.py xes-import FILE RUNS
    python anchors.py analyses FILE RUNS
    python anchors.py funnel FILE WINDOW_SECONDS RUNS STEP...

PM4Py reads with each of its readers; the fastest that works is reported. DuckDB and ClickHouse
(chdb) get the events as an in-memory pandas DataFrame, as PM4Py holds them, so every tool starts
from a loaded log.
"""

import contextlib
import io
import json
import os
import statistics
import sys
import time

with contextlib.redirect_stdout(io.StringIO()):  # PM4Py prints a banner on import
    import pm4py
import duckdb
import chdb
import pandas as pd


def median_seconds(function, runs):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def report(tool, task, subject, seconds, **extra):
    print(json.dumps({"tool": tool, "task": task, "subject": subject, "seconds": seconds, **extra}), flush=True)


def read_pm4py(path, variant):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return pm4py.read_xes(path, variant=variant)


def load_frame(path):
    """The log as PM4Py's DataFrame: case:concept:name, concept:name, time:timestamp."""
    if path.endswith(".csv"):
        frame = pd.read_csv(path, sep=None, engine="python", keep_default_na=False)
        frame = pm4py.format_dataframe(frame, case_id="Case ID", activity_key="Activity", timestamp_key="Complete Timestamp")
    else:
        frame = read_pm4py(path, None)
    frame = frame[["case:concept:name", "concept:name", "time:timestamp"]].copy()
    frame["time:timestamp"] = pd.to_datetime(frame["time:timestamp"], utc=True)
    frame["position"] = range(len(frame))
    return frame


def xes_import(path, runs):
    """Every PM4Py reader that works on the file, each reported (the summary marks the fastest)."""
    name = os.path.basename(path)
    for variant in ["rustxes", "iterparse", "line_by_line", "iterparse_mem_compressed"]:
        try:
            events = len(read_pm4py(path, variant))
        except Exception as error:  # a reader that does not work on this file is skipped
            print(f"pm4py reader {variant} failed: {error}", file=sys.stderr)
            continue
        # The pure-Python readers take tens of seconds on large logs: one run there.
        seconds = median_seconds(lambda: read_pm4py(path, variant), runs if variant == "rustxes" else 1)
        report("pm4py", "xes-import", name, seconds, reader=variant, events=events)


DFG_SQL = """
with ordered as (
  select "case:concept:name" as c, "concept:name" as a, "time:timestamp" as t,
         lead("concept:name") over w as b, lead("time:timestamp") over w as u
  from events window w as (partition by "case:concept:name" order by "time:timestamp", position)
)
select a, b, count(*) as n,
       avg(epoch(u) - epoch(t)) as mean_seconds, median(epoch(u) - epoch(t)) as median_seconds
from ordered where b is not null group by a, b
"""

VARIANTS_SQL = """
select trace, count(*) as n, avg(seconds) from (
  select "case:concept:name", string_agg("concept:name", ',' order by "time:timestamp", position) as trace,
         epoch(max("time:timestamp")) - epoch(min("time:timestamp")) as seconds
  from events group by 1
) group by trace order by n desc
"""

DURATIONS_SQL = """
select avg(d), median(d), min(d), max(d), quantile_cont(d, 0.9) from (
  select epoch(max("time:timestamp")) - epoch(min("time:timestamp")) as d from events group by "case:concept:name"
)
"""


def analyses(path, runs):
    name = os.path.basename(path)
    frame = load_frame(path)
    events = len(frame)

    def with_pm4py():
        with contextlib.redirect_stdout(io.StringIO()):
            pm4py.discover_dfg(frame)
            pm4py.discover_performance_dfg(frame)
            pm4py.get_variants(frame)
            pm4py.get_all_case_durations(frame)

    report("pm4py", "dfg+variants+durations", name, median_seconds(with_pm4py, runs), events=events)

    connection = duckdb.connect()
    connection.register("events", frame)
    # Materialise once, as the other tools hold the log in their own memory.
    connection.execute("create table events_table as select * from events")
    connection.unregister("events")
    connection.execute("create view events as select * from events_table")

    def with_duckdb():
        connection.execute(DFG_SQL).fetchall()
        connection.execute(VARIANTS_SQL).fetchall()
        connection.execute(DURATIONS_SQL).fetchall()

    report("duckdb", "dfg+variants+durations", name, median_seconds(with_duckdb, runs), events=events)


def discover(path, runs):
    """PM4Py's process discovery on the same log (read once): the Inductive Miner (a process tree)
    and the Heuristics Miner (a heuristics net), the methods `waymark journey discover` builds on."""
    name = os.path.basename(path)
    frame = load_frame(path)
    events = len(frame)

    def inductive():
        with contextlib.redirect_stdout(io.StringIO()):
            pm4py.discover_process_tree_inductive(frame)

    def heuristics():
        with contextlib.redirect_stdout(io.StringIO()):
            pm4py.discover_heuristics_net(frame)

    report("pm4py-inductive", "discover", name, median_seconds(inductive, runs), events=events)
    report("pm4py-heuristics", "discover", name, median_seconds(heuristics, runs), events=events)


def funnel(path, window, runs, steps):
    name = os.path.basename(path)
    frame = load_frame(path)
    frame["ts"] = frame["time:timestamp"].astype("int64") // 1_000_000_000
    conditions = ", ".join('"concept:name" = ' + "'" + step.replace("'", "''") + "'" for step in steps)

    connection = duckdb.connect()
    connection.register("frame", frame)
    connection.execute('create table events as select "case:concept:name" as c, "concept:name" as a, ts, position from frame')
    # The ordered funnel in SQL: for each case, each step's earliest time after the previous step,
    # within the window of the first step's earliest time (the greedy chain of the first start).
    joins, selects = [], []
    for k, step in enumerate(steps):
        literal = "'" + step.replace("'", "''") + "'"
        if k == 0:
            joins.append(f"s0 as (select c, min(ts) as t0 from events where a = {literal} group by c)")
        else:
            joins.append(
                f"s{k} as (select s{k-1}.*, (select min(e.ts) from events e where e.c = s{k-1}.c and e.a = {literal} "
                f"and e.ts >= s{k-1}.t{k-1} and e.ts <= s{k-1}.t0 + {window}) as t{k} from s{k-1})"
            )
        selects.append(f"count(t{k})")
    sql = "with " + ", ".join(joins) + f" select {', '.join(selects)} from s{len(steps) - 1}"
    reached = connection.execute(sql).fetchone()
    report("duckdb", "funnel", name, median_seconds(lambda: connection.execute(sql).fetchone(), runs), reached=list(reached))

    query = (
        f"select level, count() from (select windowFunnel({window})(toDateTime(ts), {conditions}) as level "
        f"from Python(frame) group by \"case:concept:name\") group by level order by level"
    )

    def with_chdb():
        return chdb.query(query, "CSV")

    levels = {}
    for line in str(with_chdb()).strip().splitlines():
        level, count = line.split(",")
        levels[int(level)] = int(count)
    reached = [sum(n for level, n in levels.items() if level > k) for k in range(len(steps))]
    report("clickhouse", "funnel", name, median_seconds(with_chdb, runs), reached=reached, includes="DataFrame transfer")


def main():
    task, path = sys.argv[1], sys.argv[2]
    if task == "xes-import":
        xes_import(path, int(sys.argv[3]))
    elif task == "analyses":
        analyses(path, int(sys.argv[3]))
    elif task == "discover":
        discover(path, int(sys.argv[3]))
    elif task == "funnel":
        funnel(path, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
    else:
        sys.exit(f"unknown task {task}")


if __name__ == "__main__":
    main()
