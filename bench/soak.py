"""Memory under a constant load: starts `waymark serve` on a fresh database, has
`waymark-bench http-ingest` send `/v1/batch` as fast as the server takes them (CLIENTS
connections, batches of 100) for SECONDS, and samples the server's resident memory every
10 seconds. Prints one JSON line: the curve (seconds, resident bytes, events stored so far)
and the ingestion figures.

usage: soak.py WAYMARK_BINARY BENCH_BINARY WORK_DIR SECONDS CLIENTS LABEL
"""

import json
import subprocess
import sys
import threading
import time
import urllib.request

import demo_server

waymark, bench, work, seconds, clients, label = (
    sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])

server = subprocess.Popen(
    [waymark, "serve", "--db", f"{work}/soak.db", "--listen", "127.0.0.1:0",
     "--write-key", "soak-key", "--admin-token", "soak-admin"],
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
url = None
for line in server.stdout:
    if "listening" in line:
        url = line.split()[-1]
        break


def resident():
    return demo_server.resident(server.pid)


def stored():
    request = urllib.request.Request(f"{url}/metrics",
                                     headers={"Authorization": "Bearer soak-admin"})
    with urllib.request.urlopen(request) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("waymark_events_stored_total"):
                return int(float(line.split()[1]))
    return 0


curve = []
done = threading.Event()


def sample():
    began = time.perf_counter()
    while not done.wait(10):
        curve.append([round(time.perf_counter() - began), resident(), stored()])


try:
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    curve.append([0, resident(), 0])
    load = subprocess.run([bench, "http-ingest", url, "soak-key", str(seconds), str(clients), "100"],
                          capture_output=True, text=True, check=True)
    done.set()
    sampler.join()
    curve.append([seconds, resident(), stored()])
    ingest = json.loads(load.stdout.strip().splitlines()[-1])
    first = next((point for point in curve if point[2] > 0), curve[0])
    last = curve[-1]
    growth = (last[1] - first[1]) / max(1, last[2] - first[2])
    print(json.dumps({"tool": label, "task": "soak", "subject": f"{clients} clients, {seconds} s",
                      "curve": curve, "events": last[2], "bytes_per_event_growth": growth,
                      "ingest": ingest}))
finally:
    server.terminate()
    server.wait()
