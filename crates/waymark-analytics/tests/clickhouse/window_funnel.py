"""Runs ClickHouse's windowFunnel (in-process, through chdb) on a CSV of events.

    python window_funnel.py EVENTS.csv WINDOW_MICROSECONDS STEP...

EVENTS.csv has the header case_id,activity,micros. Prints the number of cases that reached at
least step k, for k = 1..n, as a JSON list.
"""

import json
import sys

import chdb


def main():
    path, window, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    quote = lambda text: "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    conditions = ", ".join(f"activity = {quote(step)}" for step in steps)
    query = (
        f"select level, count() from ("
        f" select windowFunnel({window})(micros, {conditions}) as level"
        f" from file({quote(path)}, 'CSVWithNames', 'case_id String, activity String, micros UInt64')"
        f" group by case_id) group by level"
    )
    levels = {}
    for line in str(chdb.query(query, "CSV")).strip().splitlines():
        level, count = line.split(",")
        levels[int(level)] = int(count)
    print(json.dumps([sum(n for level, n in levels.items() if level > k) for k in range(len(steps))]))


if __name__ == "__main__":
    main()
