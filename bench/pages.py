"""Times the web app's pages on the demo data: starts `waymark demo` on a fresh database, signs
in as the demo people the banner names, requests every main page several times over loopback
and prints one JSON line per page for summarize.py: the first request (which may read the stored
events into the server's log cache), then the median, p95 and slowest of the others, in ms.

usage: pages.py WAYMARK_BINARY WORK_DIR PEOPLE RUNS
"""

import json
import statistics
import sys
import time
import urllib.error
import urllib.request

import demo_server
from demo_server import start

waymark, work, people, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

launched = time.perf_counter()
demo, url, tokens = start(waymark, f"{work}/pages.db", people, ("jennifer", "olivia", "alex", "ada", "chris", "carl", "hana"))
# From the command to the banner: writing the events, deploying, the demo's plans and follow-ups.
print(json.dumps({"tool": "waymark", "task": "demo-start", "subject": "waymark demo", "people": people,
                  "seconds": time.perf_counter() - launched}))
opener = demo_server.opener


def sign_in(token):
    return demo_server.sign_in(url, token)


pages = [
    ("olivia", "/journeys"),
    ("olivia", "/journeys/training-request"),
    ("olivia", "/journeys/loan-application"),
    ("olivia", "/journeys/loan-application/touchpoints/offer-follow-up-call"),
    ("olivia", "/journeys/loan-application/funnel?step=application-form&step=pre-acceptance&step=loan-approved&window=30d&by=segment"),
    ("olivia", "/journeys/loan-application/flow?touchpoint=offer-email&depth=4"),
    ("olivia", "/journeys/loan-application/conformance"),
    ("alex", "/customers?q=employee-3%40example.com"),
    ("jennifer", "/work"),
    ("jennifer", "/work/start/training-request"),
    ("jennifer", "/work/requests"),
    ("ada", "/admin/requests"),
    # Each role's home, the people behind figures, browsing, saved analyses, administration.
    ("olivia", "/"),
    ("ada", "/"),
    ("alex", "/"),
    ("chris", "/journeys/loan-application/funnel/people?step=application-form&step=pre-acceptance&step=loan-approved&window=30d&order=ordered&level=1"),
    ("chris", "/journeys/loan-application/touchpoints/offer-follow-up-call/people"),
    ("alex", "/customers/browse?stage=loan-application%2Fapply"),
    ("alex", "/customers/browse?trait=plan&value=returning"),
    ("chris", "/analyses"),
    ("ada", "/admin/deployed"),
    ("ada", "/admin/people"),
    # The journey editor (issue 19): starting a journey, a journey open for editing with its
    # rule suggestions and unbound events, its versions and a comparison.
    ("olivia", "/journeys/new"),
    ("olivia", "/journeys/loan-application/edit"),
    ("olivia", "/journeys/training-request/edit"),
    ("olivia", "/journeys/training-request/versions"),
    ("olivia", "/journeys/training-request/compare?from=1&to=2"),
    # KPIs, scorecards and alerts (issue 20): a journey's scorecard, its KPIs compared before and
    # after a date, every journey's KPIs by owner, and the alerts page previewing an anomaly rule
    # on the past 90 days (what the alert check does for each rule, on every bucket).
    ("olivia", "/journeys/loan-application/kpis"),
    ("olivia", "/journeys/training-request/kpis?at=" + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 35 * 86400)) + "&days=28"),
    ("chris", "/scorecards"),
    ("olivia", "/alerts?journey=loan-application&kpi=follow-up-calls-repeated&rule=anomaly"),
    # Opportunities, the roadmap and follow-ups (issue 20): the list by priority, one with its
    # evidence, the roadmap and its CSV, the delivered initiative measured before and after its
    # day (every KPI observed on the live log), the follow-ups measured from their audit trails,
    # and the Call Centre's inbox with them.
    ("olivia", "/opportunities"),
    ("olivia", "/opportunities/1"),
    ("olivia", "/roadmap"),
    ("olivia", "/roadmap.csv"),
    ("olivia", "/initiatives/3"),
    ("olivia", "/follow-ups"),
    ("carl", "/work"),
    # The five questions as a gate (issue 20): the faster payment waiting for Hana, its page (the
    # proposed map marked against the current version, the diff and the effort), and her inbox.
    ("olivia", "/journeys/training-request/proposals/2"),
    ("hana", "/journeys/training-request/proposals/2"),
    ("hana", "/work"),
]
try:
    cookies = {who: sign_in(token) for who, token in tokens.items()}
    for who, path in pages:
        times = []
        for _ in range(runs + 1):
            request = urllib.request.Request(f"{url}{path}", headers={"Cookie": cookies[who]})
            started = time.perf_counter()
            with opener.open(request) as answer:
                answer.read()
                status = answer.status
            times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"{path} answered {status}")
        first, times = times[0], sorted(times[1:])  # the first request may read the events
        print(json.dumps({
            "tool": "waymark", "task": "page", "subject": path, "people": people, "first_ms": first,
            "median_ms": statistics.median(times),
            "p95_ms": times[min(len(times) - 1, int(len(times) * 0.95))],
            "max_ms": times[-1],
        }))
finally:
    demo.terminate()
    demo.wait()
