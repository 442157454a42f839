import hmac, hashlib
from flask import Flask, request

app = Flask(__name__)
SECRET = "your_webhook_signing_secret"

@app.route("/webhook/delivery", methods=["POST"])
def delivery():
    ts  = request.headers.get("X-Webhook-Timestamp", "")
    sig = request.headers.get("X-Webhook-Signature", "")
    body = request.get_data(as_text=True)

    if SECRET and sig:
        expected = "sha256=" + hmac.new(
            SECRET.encode(), f"{ts}.{body}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(sig, expected):
            return "Bad signature", 401

    data = request.get_json()
    print(f"DLR: {data['message_id']} -> {data['status']}")
    return "OK", 200
