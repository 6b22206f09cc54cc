"""Real TLS servers for the end-to-end test of outgoing TLS: an SMTP server that requires
STARTTLS (aiosmtpd, keeping mail in a maildir) and an HTTPS webhook receiver, both with a
certificate for `localhost` from a private CA made with trustme.

usage: servers.py DIR SMTP_PORT HTTPS_PORT
Writes DIR/ca.pem (the CA that signed the certificates), DIR/other-ca.pem (a CA that did not),
keeps mail in DIR/mail and each webhook call in DIR/hooks/N.json, then DIR/ready.
"""

import http.server
import json
import os
import ssl
import sys
import threading
import time

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

directory, smtp_port, https_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ca = trustme.CA()
ca.cert_pem.write_to_path(os.path.join(directory, "ca.pem"))
trustme.CA().cert_pem.write_to_path(os.path.join(directory, "other-ca.pem"))
certificate = ca.issue_cert("localhost", "127.0.0.1")

smtp_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
certificate.configure_cert(smtp_context)
# Mailbox makes the maildir (with its tmp/new/cur) when the directory does not exist yet.
mail = os.path.join(directory, "mail")
smtp = Controller(
    Mailbox(mail),
    hostname="127.0.0.1",
    port=smtp_port,
    tls_context=smtp_context,
    require_starttls=True,
)
smtp.start()

hooks = os.path.join(directory, "hooks")
os.makedirs(hooks, exist_ok=True)


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        call = {"path": self.path, "key": self.headers.get("Idempotency-Key"), "body": body.decode()}
        name = os.path.join(hooks, "%d.json" % len(os.listdir(hooks)))
        with open(name, "w") as out:
            json.dump(call, out)
        answer = json.dumps({"orderNumber": "PO-42"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


https_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
certificate.configure_cert(https_context)
server = http.server.ThreadingHTTPServer(("127.0.0.1", https_port), Receiver)
server.socket = https_context.wrap_socket(server.socket, server_side=True)
threading.Thread(target=server.serve_forever, daemon=True).start()

open(os.path.join(directory, "ready"), "w").close()
while True:
    time.sleep(3600)
