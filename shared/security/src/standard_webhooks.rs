//! The Standard Webhooks signature (<https://www.standardwebhooks.com>, symmetric scheme), sent
//! by named subscriptions next to the 23 Telecom `X-Webhook-Signature` so that receivers can
//! verify with the official `standardwebhooks` libraries instead of hand-written code:
//!
//! - `webhook-id`: the message id, the same for every attempt of one event,
//! - `webhook-timestamp`: the attempt's Unix seconds,
//! - `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, several
//!   separated by spaces while a rotated-out secret still signs (the receiver accepts the
//!   request when any one matches).
//!
//! The key is the base64 decoding of the secret after its `whsec_` prefix. New secrets are
//! `whsec_` + 24 random bytes in standard base64 (the spec's minimum, 192 bits, as Svix
//! issues them; 32 characters, no padding). Secrets issued before were `whsec_` + 48 hex
//! characters: hex digits are base64 digits, so they decode too (to 36 bytes), exactly as the
//! official verifiers decode them, and keep working unchanged.

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as B64};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The prefix that marks a Standard Webhooks symmetric secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a new secret.
pub const SECRET_BYTES: usize = 24;

/// Decodes with or without `=` padding, as the official verifiers do (Python appends `==`
/// before a lenient decode).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A secret whose key cannot be read: not base64 after the prefix, or empty.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the signing secret is not a Standard Webhooks secret (whsec_ + base64)")]
pub struct SecretFormatError;

/// A fresh secret: `whsec_` + standard base64 of [`SECRET_BYTES`] random bytes.
pub fn generate_secret() -> String {
    let mut raw = [0u8; SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut raw);
    format!("{SECRET_PREFIX}{}", B64.encode(raw))
}

/// A Standard Webhooks signing key, its HMAC state computed once (as [`crate::Signer`]).
#[derive(Clone)]
pub struct StandardSigner {
    keyed: Hmac<Sha256>,
}

impl StandardSigner {
    /// The signer of `secret` (`whsec_<base64>`; the prefix is optional, as for the official
    /// verifiers).
    pub fn new(secret: &str) -> Result<Self, SecretFormatError> {
        let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
        let key = LENIENT.decode(encoded).map_err(|_| SecretFormatError)?;
        if key.is_empty() {
            return Err(SecretFormatError);
        }
        Ok(Self {
            keyed: Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length"),
        })
    }

    /// One signature, `v1,<base64>`, of `body` sent as message `id` at `timestamp`.
    pub fn sign(&self, id: &str, timestamp: &str, body: &[u8]) -> String {
        let mut mac = self.keyed.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for StandardSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StandardSigner([redacted])")
    }
}

/// The `webhook-signature` value: each signer's signature, in order, separated by spaces.
pub fn signature_header<'a>(
    signers: impl IntoIterator<Item = &'a StandardSigner>,
    id: &str,
    timestamp: &str,
    body: &[u8],
) -> String {
    signers
        .into_iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn matches_the_reference_vector() {
        // python3 -c 'import hmac,hashlib,base64; k=base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        //   print("v1,"+base64.b64encode(hmac.new(k, b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}",
        //   hashlib.sha256).digest()).decode())'
        // (the vector of the official libraries' own tests too)
        let s = StandardSigner::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(s.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", BODY), want);
        // The prefix is optional, and signing leaves no state behind.
        let bare = StandardSigner::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let _ = bare.sign("x", "1", b"other");
        assert_eq!(bare.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", BODY), want);
        assert_eq!(format!("{s:?}"), "StandardSigner([redacted])");
    }

    #[test]
    fn old_hex_secrets_sign_with_their_base64_decoding() {
        // python3 -c 'import hmac,hashlib,base64; k=base64.b64decode("00112233445566778899aabbccddeeff0011223344556677");
        //   print(len(k), "v1,"+base64.b64encode(hmac.new(k, b"wh_1.1771000000.{\"id\":\"st_1\"}",
        //   hashlib.sha256).digest()).decode())'
        let s = StandardSigner::new("whsec_00112233445566778899aabbccddeeff0011223344556677").unwrap();
        assert_eq!(
            s.sign("wh_1", "1771000000", br#"{"id":"st_1"}"#),
            "v1,+OcfyAz5EPLT/AZQzwBYF3EeIDOXx7ZcPZXKvENWeaQ="
        );
    }

    #[test]
    fn generated_secrets_and_unreadable_ones() {
        let a = generate_secret();
        assert!(
            a.starts_with(SECRET_PREFIX) && a.len() == SECRET_PREFIX.len() + 32,
            "{a}"
        );
        assert_eq!(B64.decode(&a[SECRET_PREFIX.len()..]).unwrap().len(), SECRET_BYTES);
        assert_ne!(a, generate_secret());
        assert!(StandardSigner::new(&a).is_ok());
        // Padded and unpadded spellings of one key sign alike.
        let padded = StandardSigner::new("whsec_AAECAw==").unwrap();
        let unpadded = StandardSigner::new("whsec_AAECAw").unwrap();
        assert_eq!(padded.sign("i", "1", b"b"), unpadded.sign("i", "1", b"b"));
        for bad in ["whsec_", "", "whsec_not base64!", "whsec_####"] {
            assert_eq!(StandardSigner::new(bad).unwrap_err(), SecretFormatError, "{bad}");
        }
    }

    #[test]
    fn several_signatures_are_space_separated_in_order() {
        let new = StandardSigner::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let old = StandardSigner::new("whsec_00112233445566778899aabbccddeeff0011223344556677").unwrap();
        let h = signature_header([&new, &old], "wh_1", "1771000000", br#"{"id":"st_1"}"#);
        let parts: Vec<&str> = h.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], new.sign("wh_1", "1771000000", br#"{"id":"st_1"}"#));
        assert_eq!(parts[1], "v1,+OcfyAz5EPLT/AZQzwBYF3EeIDOXx7ZcPZXKvENWeaQ=");
        assert_eq!(signature_header([&new], "i", "1", b""), new.sign("i", "1", b""));
    }
}
