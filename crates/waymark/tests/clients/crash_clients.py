"""Sends events to a cluster of Waymark nodes with the real Segment and RudderStack Python
libraries while the nodes are killed and restarted, as a client behind a load balancer would.

    python crash_clients.py NODES_FILE WRITE_KEY STOP_FILE ACKNOWLEDGED_FILE

NODES_FILE holds the nodes' URLs, one per line, rewritten whenever a node restarts on a new port.
Each call goes to the next node in sync mode (sent before the call returns); one that fails is
sent again with the same messageId to the next node, as the libraries' own retries would. The
messageId of each call that was acknowledged is appended to ACKNOWLEDGED_FILE. Runs until
STOP_FILE exists.
"""

import os
import sys
import time

from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

nodes_file, key, stop_file, acknowledged_file = sys.argv[1:5]

segment = SegmentClient(write_key=key, host="http://127.0.0.1:1", sync_mode=True, timeout=5)
rudder = RudderClient(write_key=key, host="http://127.0.0.1:1", sync_mode=True, timeout=5, gzip=True)


def nodes():
    with open(nodes_file) as f:
        return [line.strip() for line in f if line.strip()]


def call(client, n, i, message_id):
    person = f"crash-{i % 50}"
    if i % 3 == 0:
        client.identify(person, {"plan": "gold" if i % 2 else "free"}, message_id=message_id)
    elif i % 3 == 1:
        client.track(person, "Crash Test Event", {"round": i}, message_id=message_id)
    else:
        client.page(person, name="Pricing", properties={"path": "/pricing"}, message_id=message_id)


sent = 0
with open(acknowledged_file, "a") as acknowledged:
    i = 0
    while not os.path.exists(stop_file):
        i += 1
        name, client = ("seg", segment) if i % 2 else ("rud", rudder)
        message_id = f"{name}-{i}"
        for attempt in range(40):
            urls = nodes()
            client.host = urls[(i + attempt) % len(urls)]
            try:
                call(client, i, i, message_id)
            except Exception:
                time.sleep(0.05)
                continue
            acknowledged.write(message_id + "\n")
            acknowledged.flush()
            sent += 1
            break
print(f"{sent} acknowledged")
