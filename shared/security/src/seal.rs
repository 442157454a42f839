//! Sealing of stored secrets (signing secrets, Basic-auth credentials).
//!
//! Secrets travel through the config topic, which operators back up and replicate. With an
//! operator key (`HOOKLINE_SECRET_KEY`, 32 bytes as 64 hex chars) they are sealed with
//! ChaCha20-Poly1305 (`v1:<base64(nonce ‖ ciphertext)>`); without one they are stored as
//! `plain:<secret>`, which the api and delivery services accept only when started with
//! `--allow-plaintext-secrets` (they refuse to start otherwise).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

const SEALED: &str = "v1:";
const PLAIN: &str = "plain:";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the operator secret key must be 64 hex characters (32 bytes)")]
    BadKey,
    #[error("the secret is sealed but no operator secret key is configured")]
    KeyMissing,
    #[error("the sealed secret does not open with the configured key")]
    Corrupt,
}

/// Seals and opens secrets with the operator key, if there is one.
#[derive(Clone)]
pub struct Sealer {
    cipher: Option<ChaCha20Poly1305>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("encrypts", &self.encrypts()).finish()
    }
}

impl Sealer {
    /// `key_hex`: the operator key, or `None` to store secrets in clear text.
    pub fn new(key_hex: Option<&str>) -> Result<Self, SealError> {
        let cipher = match key_hex {
            None => None,
            Some(k) => {
                let bytes = hex::decode(k.trim()).map_err(|_| SealError::BadKey)?;
                if bytes.len() != 32 {
                    return Err(SealError::BadKey);
                }
                Some(ChaCha20Poly1305::new(Key::from_slice(&bytes)))
            }
        };
        Ok(Self { cipher })
    }

    /// A fresh random key in the form [`Sealer::new`] takes (used by the embedded mode).
    pub fn random_key_hex() -> String {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        hex::encode(k)
    }

    pub fn encrypts(&self) -> bool {
        self.cipher.is_some()
    }

    pub fn seal(&self, secret: &str) -> String {
        let Some(cipher) = &self.cipher else {
            return format!("{PLAIN}{secret}");
        };
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), secret.as_bytes())
            .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{SEALED}{}", B64.encode(out))
    }

    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        if let Some(plain) = stored.strip_prefix(PLAIN) {
            return Ok(plain.to_string());
        }
        let b64 = stored.strip_prefix(SEALED).ok_or(SealError::Corrupt)?;
        let cipher = self.cipher.as_ref().ok_or(SealError::KeyMissing)?;
        let raw = B64.decode(b64).map_err(|_| SealError::Corrupt)?;
        if raw.len() < 12 {
            return Err(SealError::Corrupt);
        }
        let (nonce, ct) = raw.split_at(12);
        let pt = cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| SealError::Corrupt)?;
        String::from_utf8(pt).map_err(|_| SealError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_no_clear_text() {
        let s = Sealer::new(Some(&Sealer::random_key_hex())).unwrap();
        let sealed = s.seal("whsec_topsecret");
        assert!(sealed.starts_with("v1:") && !sealed.contains("topsecret"));
        assert_eq!(s.open(&sealed).unwrap(), "whsec_topsecret");
        let other = Sealer::new(Some(&Sealer::random_key_hex())).unwrap();
        assert_eq!(other.open(&sealed), Err(SealError::Corrupt));
        assert_eq!(Sealer::new(None).unwrap().open(&sealed), Err(SealError::KeyMissing));
    }

    #[test]
    fn plain_without_key_and_bad_keys() {
        let s = Sealer::new(None).unwrap();
        assert_eq!(s.seal("x"), "plain:x");
        assert_eq!(s.open("plain:x").unwrap(), "x");
        assert_eq!(Sealer::new(Some("abcd")).unwrap_err(), SealError::BadKey);
    }
}
