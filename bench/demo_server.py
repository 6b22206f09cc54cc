"""What the page benchmarks share: starting `waymark demo` and reading its banner, signing in
as a demo person, a process's resident memory."""

import subprocess
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


opener = urllib.request.build_opener(NoRedirect)


def start(waymark, db, people, who):
    """Starts `waymark demo` on `db`; returns the process, its address and the access tokens
    of the demo people named in `who`, read from its banner."""
    demo = subprocess.Popen(
        [waymark, "demo", "--db", db, "--listen", "127.0.0.1:0", "--people", str(people)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    banner = []
    for line in demo.stdout:
        banner.append(line.rstrip())
        if "stop with Ctrl-C" in line:
            break
    url = next(line.split()[-1] for line in banner if "listening on" in line)
    tokens = {}
    for line in banner:
        words = line.split()
        if len(words) >= 2 and words[0] in who:
            tokens[words[0]] = words[1]
    return demo, url, tokens


def sign_in(url, token):
    """A session cookie for the person whose access token this is."""
    # The sign-in form carries a token of its own, also set as a cookie (login CSRF).
    with opener.open(f"{url}/login") as answer:
        form = answer.read().decode()
        login = answer.headers["Set-Cookie"].split(";")[0]
    csrf = form.split('name="login" value="')[1].split('"')[0]
    body = urllib.parse.urlencode({"token": token, "next": "/work", "login": csrf}).encode()
    try:
        opener.open(urllib.request.Request(f"{url}/login/token", data=body, headers={"Cookie": login}))
    except urllib.error.HTTPError as answer:
        return answer.headers["Set-Cookie"].split(";")[0]
    raise SystemExit("signing in did not redirect")


def resident(pid):
    """A process's resident memory, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
