"""Sends events to a Waymark server with the real Segment and RudderStack Python libraries.

    python python_clients.py URL WRITE_KEY

Each library uses its own client with sync_mode, so every call is sent before the next line runs;
errors make the script exit non-zero.
"""

import sys

from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

url, key = sys.argv[1], sys.argv[2]
failures = []


def on_error(error, items):
    failures.append(f"{error}: {items}")


segment = SegmentClient(write_key=key, host=url, sync_mode=True, on_error=on_error, max_retries=1)
segment.identify("py-user", {"email": "jennifer@example.com", "plan": "gold"})
segment.track("py-user", "Order Completed", {"total": 12.5, "currency": "EUR"})
segment.page(anonymous_id="py-anon", name="Pricing", properties={"path": "/pricing"})
segment.screen("py-user", name="Home")
segment.group("py-user", "acme", {"name": "Acme"})
segment.alias("py-anon", "py-user")
segment.flush()

# RudderStack's client gzips its requests by default.
rudder = RudderClient(write_key=key, host=url, sync_mode=True, on_error=on_error, max_retries=1, gzip=True)
rudder.track("rudder-user", "Rudder Event", {"channel": "app"})
rudder.identify("rudder-user", {"phone": "+31 6 1234 5678"})
rudder.flush()

if failures:
    sys.exit("\n".join(failures))
print("sent")
