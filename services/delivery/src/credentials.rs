//! The opened form of each subscription's sealed credentials, kept between requests.
//!
//! Secrets are stored sealed (ChaCha20-Poly1305, `hookline-security`) in the config log and
//! nowhere else: dispatch and retry records name the subscription, and this process opens the
//! secret of the live subscription, so its opened form exists only in delivery's memory. Opening one and keying HMAC with it
//! on every request costs a decryption, the HMAC key schedule and a few allocations per
//! webhook; the result depends only on the sealed value, so it is computed once per value.
//! A re-sealed or rotated secret is a different value and gets its own entry.

use crate::memo::Memo;
use base64::Engine;
use hookline_model::SealedSecret;
use hookline_security::{SealError, Sealer, Signer};
use std::sync::Arc;

pub(crate) struct Credentials {
    sealer: Sealer,
    signers: Memo<Arc<Signer>>,
    /// `Authorization` header values, by sealed `user:password`.
    basic: Memo<Arc<str>>,
}

impl Credentials {
    pub fn new(sealer: Sealer) -> Self {
        Self {
            sealer,
            signers: Memo::default(),
            basic: Memo::default(),
        }
    }

    /// The signer for a sealed signing secret.
    pub fn signer(&self, sealed: &SealedSecret) -> Result<Arc<Signer>, SealError> {
        self.signers.get_or_try(&sealed.0, || {
            Ok(Arc::new(Signer::new(self.sealer.open(&sealed.0)?.as_bytes())))
        })
    }

    /// The `Authorization: Basic …` value for sealed `user:password` credentials.
    pub fn basic_authorization(&self, sealed: &SealedSecret) -> Result<Arc<str>, SealError> {
        self.basic.get_or_try(&sealed.0, || {
            let creds = self.sealer.open(&sealed.0)?;
            let encoded = base64::engine::general_purpose::STANDARD.encode(creds);
            Ok(Arc::from(format!("Basic {encoded}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> (Credentials, Sealer) {
        let key = Sealer::random_key_hex();
        (
            Credentials::new(Sealer::new(Some(&key)).unwrap()),
            Sealer::new(Some(&key)).unwrap(),
        )
    }

    #[test]
    fn signs_like_the_opened_secret_and_keeps_rotations_apart() {
        let (creds, sealer) = credentials();
        let old = SealedSecret(sealer.seal("old-secret"));
        let new = SealedSecret(sealer.seal("new-secret"));
        for _ in 0..2 {
            assert_eq!(
                creds.signer(&old).unwrap().sign("1", b"body"),
                hookline_security::sign(b"old-secret", "1", b"body")
            );
            assert_eq!(
                creds.signer(&new).unwrap().sign("1", b"body"),
                hookline_security::sign(b"new-secret", "1", b"body")
            );
        }
    }

    #[test]
    fn basic_authorization_and_unopenable_secrets() {
        let (creds, sealer) = credentials();
        let basic = SealedSecret(sealer.seal("user:pass"));
        assert_eq!(&*creds.basic_authorization(&basic).unwrap(), "Basic dXNlcjpwYXNz");
        let foreign = Sealer::new(Some(&Sealer::random_key_hex())).unwrap();
        let other = SealedSecret(foreign.seal("x"));
        assert!(creds.signer(&other).is_err());
        assert!(creds.basic_authorization(&other).is_err());
    }
}
