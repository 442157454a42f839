//! The 23 Telecom signature: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret,
//! "<timestamp>.<body>")>` with the same `<timestamp>` sent in `X-Webhook-Timestamp`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signature header value for `body` sent at `timestamp` (Unix seconds, as sent in the
/// timestamp header).
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_hmac_of_ts_dot_body() {
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"your_webhook_signing_secret",
        //   b"1771000000.{\"message_id\":\"m1\"}", hashlib.sha256).hexdigest())'
        assert_eq!(
            sign(b"your_webhook_signing_secret", "1771000000", br#"{"message_id":"m1"}"#),
            "sha256=bf9bbdc25ef5715791f0847b9f2d97c4222e3ee1ff85b0a74ef7b5c4640ede41"
        );
    }
}
