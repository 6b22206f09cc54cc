"""Turns bench results (JSON lines) into Markdown tables with ratios against Waymark."""

import json
import sys
from collections import defaultdict


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    groups = defaultdict(list)
    for row in rows:
        if row["task"] in ("cli-import", "http-ingest", "journey-report", "http-workflow", "page",
                           "collected-report", "live-start", "live-page", "live-memory", "soak",
                           "live-report"):
            continue
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


def pages(rows):
    found = [r for r in rows if r["task"] == "page"]
    if found:
        print(f"\n| web page on the demo data ({found[0]['people']} people) | first ms | median ms | p95 ms | slowest ms | under 200 ms |")
        print("|---|---:|---:|---:|---:|---|")
        for r in found:
            fine = "yes" if max(r["max_ms"], r["first_ms"]) < 200 else "no"
            print(f"| `{r['subject']}` | {r['first_ms']:.1f} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['max_ms']:.1f} | {fine} |")


def server(rows):
    imports = [r for r in rows if r["task"] == "cli-import"]
    if imports:
        print("\n| waymark import | events | seconds | events/s |")
        print("|---|---:|---:|---:|")
        for r in imports:
            print(f"| {r['subject']} | {r['events']:,} | {r['seconds']:.3f} | {r['events_per_second']:,.0f} |")
    reports = [r for r in rows if r["task"] == "journey-report"]
    if reports:
        print("\n| journey report over | seconds (median) | events/s | peak memory |")
        print("|---|---:|---:|---:|")
        for r in reports:
            print(f"| {r['subject']} | {r['seconds']:.2f} | {r['events'] / r['seconds']:,.0f} | {r['peak_bytes'] / 2**20:,.0f} MiB |")
    ingest = [r for r in rows if r["task"] == "http-ingest"]
    if ingest:
        print("\n| HTTP /v1/batch load | events/s acknowledged | p50 ms | p90 ms | p99 ms | max ms | failed |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in ingest:
            print(
                f"| {r['subject']} | {r['events_per_second']:,.0f} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} "
                f"| {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['failed_batches']} |"
            )
        best = max(r["events_per_second"] for r in ingest)
        print(
            f"\nbest {best:,.0f} events/s = {best / 1700:.0f}x RudderStack's published ~1.7k/s on 2 cores, "
            f"{best / 100:.0f}x Snowplow's quick-start ~100/s"
        )

    workflow = [r for r in rows if r["task"] == "http-workflow"]
    if workflow:
        print("\n| workflow over HTTP (durable, SQLite) | instances/s | task completions/s | transitions/s | p50 ms | p99 ms | failed |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in workflow:
            print(
                f"| {r['subject']} | {r['instances_per_second']:,.1f} | {r['completions_per_second']:,.0f} "
                f"| {r['transitions_per_second']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['failed']} |"
            )
        best = max(r["transitions_per_second"] for r in workflow)
        instances = max(r["instances_per_second"] for r in workflow)
        print(
            f"\nbest {best:,.0f} transitions/s = {best / 1000:.1f}x the ~1,000/s reported for Temporal on Postgres; "
            f"{instances:,.0f} ten-task instances/s = {instances / 5:.0f}x Camunda 8 SaaS 1x's published 5/s"
        )


def live(rows):
    reports = [r for r in rows if r["task"] == "collected-report"]
    if reports:
        print("\n| cold journey report over collected events | seconds (median) | peak memory |")
        print("|---|---:|---:|")
        for r in reports:
            print(f"| {r['tool']} | {r['seconds']:.2f} | {r['peak_bytes'] / 2**20:,.0f} MiB |")
    pages = [r for r in rows if r["task"] == "live-page"]
    if pages:
        print("\n| page while events arrive | build | events/s | p50 ms | p99 ms |")
        print("|---|---|---:|---:|---:|")
        for r in pages:
            print(f"| {r['subject']} | {r['tool']} | {r['rate']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
    for r in rows:
        if r["task"] == "live-start":
            print(f"\n{r['tool']}: first view after a start {r['first_view_ms']:.0f} ms, figures after {r['figures_s']:.1f} s")
        if r["task"] == "live-memory":
            attributes = r.get('attribute_bytes_per_event')
            of_which = f" ({attributes:.0f} of them attributes read)" if attributes is not None else ""
            print(f"{r['tool']}: resident {r['resident_bytes'] / 2**20:,.0f} MiB; live log {r.get('live_bytes_per_event') or 0:.0f} bytes/event{of_which}")
        if r["task"] == "live-report":
            print(f"live report on {r['events']:,} events, {r['people']:,} people, {r['touched']} touched a snapshot: "
                  f"from scratch {r['scratch_seconds']:.3f} s, keeping the untouched people's instances "
                  f"{r['seconds']:.3f} s ({r['scratch_seconds'] / r['seconds']:.2f}x); refresh {r['refresh_seconds']:.3f} s, "
                  f"load {r['load_seconds']:.2f} s; {r['live_bytes_per_event']:.0f} bytes/event "
                  f"({r['attribute_bytes_per_event']:.0f} of them attributes)")
        if r["task"] == "soak":
            first, last = r["curve"][1] if len(r["curve"]) > 1 else r["curve"][0], r["curve"][-1]
            print(f"{r['tool']} soak ({r['subject']}): {r['events']:,} events, resident {first[1] / 2**20:,.0f} -> "
                  f"{last[1] / 2**20:,.0f} MiB, {r['bytes_per_event_growth']:.1f} bytes/event of growth, "
                  f"{r['ingest']['events_per_second']:,.0f} events/s")


if __name__ == "__main__":
    main()
    server([json.loads(line) for line in open(sys.argv[1]) if line.strip()])
    pages([json.loads(line) for line in open(sys.argv[1]) if line.strip()])
    live([json.loads(line) for line in open(sys.argv[1]) if line.strip()])
