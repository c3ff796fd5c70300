"""Loopback delivery servers for Herald's tests: an SMTP server (aiosmtpd) and an HTTP webhook
receiver that checks every signature with code Herald did not write (the `standardwebhooks`
package; Knock's `x-webhook-signature` with Python's hmac). Both record what they got; the
receiver serves the records as JSON.

Usage: servers.py SMTP_PORT HTTP_PORT SIGNING_SECRET

Receiver paths (any method):
  /hooks/ok/<key>            200
  /hooks/status/<code>/<key> that status
  /hooks/flaky/<n>/<key>     500 for the first n requests of <key>, then 200
  /hooks/slow/<ms>/<key>     waits <ms>, then 200
Records: GET /_hooks?key=<key> (webhooks), GET /_mail?to=<address> (emails).
"""

import base64
import email
import email.policy
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SMTP_PORT, HTTP_PORT, SECRET = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
LOCK = threading.Lock()
HOOKS = []  # every webhook request received
MAILS = []  # every email received
COUNTS = {}  # requests per key


def knock_verified(headers, body):
    value = headers.get("x-webhook-signature")
    if not value:
        return None
    parts = dict(p.split("=", 1) for p in value.split(","))
    mac = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(base64.b64encode(mac.digest()).decode(), parts["s"])


def standard_verified(headers, body):
    if "webhook-signature" not in headers:
        return None
    try:
        Webhook(SECRET).verify(body, headers)
        return True
    except WebhookVerificationError:
        return False


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, payload=b"", content_type="text/plain"):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def handle_any(self):
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if parts and parts[0] == "_hooks":
            key = parse_qs(url.query).get("key", [None])[0]
            with LOCK:
                found = [h for h in HOOKS if key is None or h["key"] == key]
            return self.answer(200, json.dumps(found).encode(), "application/json")
        if parts and parts[0] == "_mail":
            to = parse_qs(url.query).get("to", [None])[0]
            with LOCK:
                found = [m for m in MAILS if to is None or to in m["rcpt_tos"]]
            return self.answer(200, json.dumps(found).encode(), "application/json")
        if len(parts) < 3 or parts[0] != "hooks":
            return self.answer(404, b"no such path")
        kind, key = parts[1], parts[-1]
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            COUNTS[key] = COUNTS.get(key, 0) + 1
            seen = COUNTS[key]
        started = time.time()
        status = 200
        if kind == "status":
            status = int(parts[2])
        elif kind == "flaky" and seen <= int(parts[2]):
            status = 500
        elif kind == "slow":
            time.sleep(int(parts[2]) / 1000)
        record = {
            "key": key,
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
            "webhook_id": headers.get("webhook-id"),
            "standard_verified": standard_verified(headers, body),
            "knock_verified": knock_verified(headers, body),
            "answered": status,
            "started": started,
            "ended": time.time(),
        }
        with LOCK:
            HOOKS.append(record)
        self.answer(status, b'{"ok": true}' if status < 300 else b"failing on purpose")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Mailbox:
    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = parsed.get_body(preferencelist=("plain",))
        html = parsed.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(parsed["from"]),
            "to": str(parsed["to"]),
            "subject": str(parsed["subject"]),
            "message_id": str(parsed["message-id"]),
            "herald_message_id": str(parsed["x-herald-message-id"]),
            "text": text.get_content() if text else None,
            "html": html.get_content() if html else None,
        }
        with LOCK:
            MAILS.append(record)
        return "250 OK queued"


if __name__ == "__main__":
    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=SMTP_PORT)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", HTTP_PORT), Receiver)
    print(f"smtp 127.0.0.1:{SMTP_PORT} http 127.0.0.1:{HTTP_PORT}", flush=True)
    http.serve_forever()
