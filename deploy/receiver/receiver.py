"""Sample webhook receiver for the Compose stack (Python standard library only).

Verifies X-Webhook-Signature when SECRET is set, drops duplicates by X-Webhook-Id, prints
every event, and fails FAIL_RATE of the requests with a 503 so the dashboard shows retries.
"""

import hashlib
import hmac
import json
import os
import random
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("SECRET", "your_webhook_signing_secret")
FAIL_RATE = float(os.environ.get("FAIL_RATE", "0"))
seen = set()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        ts = self.headers.get("X-Webhook-Timestamp", "")
        sig = self.headers.get("X-Webhook-Signature", "")
        if SECRET and sig:
            expected = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(sig, expected):
                return self.answer(401, "bad signature")
        if random.random() < FAIL_RATE:
            return self.answer(503, "try again")
        wid = self.headers.get("X-Webhook-Id", "")
        if wid in seen:
            return self.answer(200, "duplicate")
        seen.add(wid)
        try:
            event = json.loads(body)
        except ValueError:
            event = body.decode(errors="replace")
        print(f"{self.path} {self.headers.get('X-Webhook-Event', '')} {wid}: {json.dumps(event)[:300]}", flush=True)
        self.answer(200, "OK")

    def answer(self, status, text):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "5000"))), Handler).serve_forever()
