// Verifies one captured webhook request with the official Standard Webhooks library for
// JavaScript (npm `standardwebhooks`, unmodified), for tests/tests/standard_webhooks.rs.
//
// Reads one JSON object on standard input:
//   {"secret": "whsec_...", "headers": {"webhook-id": ..., ...}, "body_b64": "<the exact body bytes>",
//    "resign_timestamp": 1771000000}   (optional)
// With `resign_timestamp`, the headers' timestamp is replaced by it and the signature by the one
// the library's own `Webhook.sign` makes for it: the request is then authentic except for its time.
// Prints one JSON line: {"ok": true} or {"ok": false, "error": "<the library's message>"}.
const { Webhook, WebhookVerificationError } = require("standardwebhooks");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const c = JSON.parse(input);
  const body = Buffer.from(c.body_b64, "base64");
  const headers = { ...c.headers };
  const wh = new Webhook(c.secret);
  if (c.resign_timestamp !== undefined && c.resign_timestamp !== null) {
    headers["webhook-timestamp"] = String(c.resign_timestamp);
    headers["webhook-signature"] = wh.sign(headers["webhook-id"], new Date(c.resign_timestamp * 1000), body);
  }
  try {
    wh.verify(body, headers);
    console.log(JSON.stringify({ ok: true }));
  } catch (e) {
    if (!(e instanceof WebhookVerificationError)) throw e;
    console.log(JSON.stringify({ ok: false, error: e.message }));
  }
});
