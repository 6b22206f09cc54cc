"""Times the journey pages while events arrive: starts `waymark demo` on a database it seeded
before (so the events were collected the way the collection API stores them), times the first
view after the start, then sends a steady stream of events through `/v1/batch` (RATE a second,
in batches of 100, for people of the demo) and meanwhile requests each journey page RUNS times.
Prints one JSON line per page for summarize.py (p50 and p99 in ms, with the load running), and
one for the start (the first view, and how long until the figures showed) and the server's
memory (resident, in bytes, after the run).

usage: live.py WAYMARK_BINARY DATABASE PEOPLE RUNS RATE LABEL
"""

import base64
import json
import random
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

import demo_server

waymark, db, people, runs, rate, label = (
    sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])

started = time.perf_counter()
demo, url, tokens = demo_server.start(waymark, db, people, ("olivia",))
listening = time.perf_counter() - started
opener = demo_server.opener


def view(cookie, path):
    request = urllib.request.Request(f"{url}{path}", headers={"Cookie": cookie})
    began = time.perf_counter()
    try:
        with opener.open(request, timeout=600) as answer:
            page = answer.read().decode()
            status = answer.status
    except urllib.error.HTTPError as answer:
        page, status = answer.read().decode(), answer.code
    return (time.perf_counter() - began) * 1000, status, page


stop = threading.Event()
sent = [0, 0]  # events acknowledged, batches refused


def load():
    auth = "Basic " + base64.b64encode(b"demo-write-key:").decode()
    steps = ["A_SUBMITTED", "A_PARTLYSUBMITTED", "A_PREACCEPTED", "W_Completeren aanvraag",
             "A_ACCEPTED", "O_SENT", "W_Nabellen offertes", "A_APPROVED"]
    rng = random.Random(7)
    n = 0
    period = 100 / rate
    next_at = time.perf_counter()
    while not stop.is_set():
        batch = []
        for _ in range(100):
            person = rng.randrange(people)
            n += 1
            batch.append({"type": "track", "userId": f"customer-{person - person % 10 + 6}",
                          "event": rng.choice(steps), "messageId": f"load-{label}-{n}",
                          "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        request = urllib.request.Request(
            f"{url}/v1/batch", data=json.dumps({"batch": batch}).encode(),
            headers={"Content-Type": "application/json", "Authorization": auth})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                answer.read()
                sent[0] += len(batch)
        except Exception:
            sent[1] += 1
        next_at += period
        time.sleep(max(0.0, next_at - time.perf_counter()))


pages = [
    "/journeys/loan-application",
    "/journeys",
    "/journeys/loan-application/touchpoints/offer-follow-up-call",
    "/journeys/loan-application/funnel?step=application-form&step=pre-acceptance&step=loan-approved&window=30d",
    "/journeys/loan-application/flow?touchpoint=offer-email&depth=4",
]
try:
    cookie = demo_server.sign_in(url, tokens["olivia"])
    first_ms, _, page = view(cookie, pages[0])
    # Until the events are read, a page says so; the figures show when they are.
    while "instances, " not in page:
        time.sleep(0.2)
        _, _, page = view(cookie, pages[0])
    figures = time.perf_counter() - started
    print(json.dumps({"tool": label, "task": "live-start", "subject": "loan-application",
                      "listening_s": listening, "first_view_ms": first_ms, "figures_s": figures}))
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    time.sleep(3)
    for path in pages:
        times = []
        for _ in range(runs):
            ms, status, _ = view(cookie, path)
            if status != 200:
                raise SystemExit(f"{path} answered {status}")
            times.append(ms)
        times.sort()
        print(json.dumps({"tool": label, "task": "live-page", "subject": path.split("?")[0],
                          "rate": rate, "runs": runs, "p50_ms": statistics.median(times),
                          "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
                          "max_ms": times[-1]}), flush=True)
    stop.set()
    worker.join()
    held = {}
    try:
        request = urllib.request.Request(f"{url}/metrics",
                                         headers={"Authorization": "Bearer demo-admin-token"})
        with opener.open(request) as answer:
            for line in answer.read().decode().splitlines():
                if line.startswith("waymark_live_"):
                    name, value = line.split()[:2]
                    held[name] = float(value)
    except urllib.error.HTTPError:
        pass
    events = held.get("waymark_live_log_events", 0)
    print(json.dumps({"tool": label, "task": "live-memory", "subject": "server",
                      "resident_bytes": demo_server.resident(demo.pid), "events_sent": sent[0],
                      "batches_refused": sent[1], "live_events": events,
                      "live_bytes": held.get("waymark_live_log_bytes"),
                      "snapshot_bytes": held.get("waymark_live_snapshot_bytes"),
                      "live_bytes_per_event": held.get("waymark_live_log_bytes", 0) / events if events else None,
                      "attribute_bytes_per_event":
                          held.get("waymark_live_log_attribute_bytes", 0) / events if events else None,
                      "refresh_s": held.get("waymark_live_log_refresh_seconds")}))
finally:
    stop.set()
    demo.terminate()
    demo.wait()
