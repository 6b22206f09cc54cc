"""Turns bench results (JSON lines) into Markdown tables with ratios against Waymark."""

import json
import sys
from collections import defaultdict


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    groups = defaultdict(list)
    for row in rows:
        groups[(row["task"], row["subject"])].append(row)
    print("| task | file | tool | seconds | Waymark is faster by |")
    print("|---|---|---|---:|---:|")
    for (task, subject), items in groups.items():
        ours = next((r["seconds"] for r in items if r["tool"] == "waymark"), None)
        for row in items:
            ratio = "" if row["tool"] == "waymark" or not ours else f"{row['seconds'] / ours:.1f}x"
            note = f" ({row['reader']})" if "reader" in row else ""
            print(f"| {task} | {subject} | {row['tool']}{note} | {row['seconds']:.4f} | {ratio} |")
    for row in rows:
        if row["task"].startswith("scale"):
            events = row["events"]
            per_core = events / row["seconds"] / row.get("threads", 1)
            print(
                f"\nscale {events:,} events, {row['cases']:,} cases: {row['seconds']:.3f} s, "
                f"peak memory {row['peak_rss_bytes'] / 2**20:.0f} MiB (including generation), "
                f"{per_core / 1e6:.1f} M events/s per core"
            )


if __name__ == "__main__":
    main()
