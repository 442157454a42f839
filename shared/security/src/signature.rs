//! The 23 Telecom signature: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret,
//! "<timestamp>.<body>")>` with the same `<timestamp>` sent in `X-Webhook-Timestamp`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signature header value for `body` sent at `timestamp` (Unix seconds, as sent in the
/// timestamp header).
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    Signer::new(secret).sign(timestamp, body)
}

/// A signing key with its HMAC state computed once: HMAC hashes the padded key into inner and
/// outer SHA-256 states before any message byte, so a [`Signer`] kept per subscription spares
/// every request that work (and the key's allocation); signing clones the two states.
#[derive(Clone)]
pub struct Signer {
    keyed: Hmac<Sha256>,
}

impl Signer {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            keyed: Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length"),
        }
    }

    /// Signature header value for `body` sent at `timestamp`; the same as [`sign`].
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let mut mac = self.keyed.clone();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256=");
        out.push_str(&hex::encode(digest));
        out
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer([redacted])")
    }
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

    #[test]
    fn a_kept_signer_signs_each_message_independently() {
        let signer = Signer::new(b"your_webhook_signing_secret");
        // Signing once must not leave state behind for the next message.
        let _ = signer.sign("1", b"first");
        assert_eq!(
            signer.sign("1771000000", br#"{"message_id":"m1"}"#),
            "sha256=bf9bbdc25ef5715791f0847b9f2d97c4222e3ee1ff85b0a74ef7b5c4640ede41"
        );
        assert_eq!(format!("{signer:?}"), "Signer([redacted])");
    }
}
