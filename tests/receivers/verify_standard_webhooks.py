"""Verifies one captured webhook request with the official Standard Webhooks library for Python
(PyPI `standardwebhooks`, unmodified), for tests/tests/standard_webhooks.rs.

Reads one JSON object on standard input:
  {"secret": "whsec_...", "headers": {"webhook-id": ..., ...}, "body_b64": "<the exact body bytes>",
   "resign_timestamp": 1771000000}   (optional)
With `resign_timestamp`, the headers' timestamp is replaced by it and the signature by the one the
library's own `Webhook.sign` makes for it: the request is then authentic except for its time.
Prints one JSON line: {"ok": true} or {"ok": false, "error": "<the library's message>"}.
"""
import base64
import json
import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

case = json.load(sys.stdin)
body = base64.b64decode(case["body_b64"])
headers = dict(case["headers"])
wh = Webhook(case["secret"])
if case.get("resign_timestamp") is not None:
    ts = int(case["resign_timestamp"])
    headers["webhook-timestamp"] = str(ts)
    headers["webhook-signature"] = wh.sign(headers["webhook-id"], datetime.fromtimestamp(ts, tz=timezone.utc), body)
try:
    wh.verify(body, headers)
    print(json.dumps({"ok": True}))
except WebhookVerificationError as e:
    print(json.dumps({"ok": False, "error": str(e)}))
