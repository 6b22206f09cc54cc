"""Times the web app's pages on the demo data: starts `waymark demo` on a fresh database, signs
in as the demo people the banner names, requests every main page several times over loopback
and prints one JSON line per page for summarize.py: the first request (which may read the stored
events into the server's log cache), then the median, p95 and slowest of the others, in ms.

usage: pages.py WAYMARK_BINARY WORK_DIR PEOPLE RUNS
"""

import json
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

waymark, work, people, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

demo = subprocess.Popen(
    [waymark, "demo", "--db", f"{work}/pages.db", "--listen", "127.0.0.1:0", "--people", str(people)],
    stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL,
    text=True,
)
banner = []
for line in demo.stdout:
    banner.append(line.rstrip())
    if "stop with Ctrl-C" in line:
        break
url = next(line.split()[-1] for line in banner if "listening on" in line)
tokens = {}
for line in banner:
    words = line.split()
    if len(words) >= 2 and words[0] in ("jennifer", "olivia", "alex", "ada"):
        tokens[words[0]] = words[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


opener = urllib.request.build_opener(NoRedirect)


def sign_in(token):
    # The sign-in form carries a token of its own, also set as a cookie (login CSRF).
    with opener.open(f"{url}/login") as answer:
        form = answer.read().decode()
        login = answer.headers["Set-Cookie"].split(";")[0]
    csrf = form.split('name="login" value="')[1].split('"')[0]
    body = urllib.parse.urlencode({"token": token, "next": "/work", "login": csrf}).encode()
    try:
        opener.open(urllib.request.Request(f"{url}/login/token", data=body, headers={"Cookie": login}))
    except urllib.error.HTTPError as answer:
        cookie = answer.headers["Set-Cookie"]
        return cookie.split(";")[0]
    raise SystemExit("signing in did not redirect")


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
