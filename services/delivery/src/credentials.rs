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
use chrono::{DateTime, Utc};
use hookline_model::{SealedSecret, Subscription};
use hookline_security::standard_webhooks::signature_header;
use hookline_security::{SealError, Sealer, Signer, StandardSigner};
use std::sync::Arc;

/// Why a subscription's credentials cannot be used: the request is not sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CredentialError {
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Format(#[from] hookline_security::standard_webhooks::SecretFormatError),
}

pub(crate) struct Credentials {
    sealer: Sealer,
    signers: Memo<Arc<Signer>>,
    /// Standard Webhooks signers, by sealed secret.
    standard: Memo<Arc<StandardSigner>>,
    /// `Authorization` header values, by sealed `user:password`.
    basic: Memo<Arc<str>>,
}

impl Credentials {
    pub fn new(sealer: Sealer) -> Self {
        Self {
            sealer,
            signers: Memo::default(),
            standard: Memo::default(),
            basic: Memo::default(),
        }
    }

    /// The Standard Webhooks signer for a sealed `whsec_` secret.
    pub fn standard_signer(&self, sealed: &SealedSecret) -> Result<Arc<StandardSigner>, CredentialError> {
        self.standard.get_or_try(&sealed.0, || {
            Ok(Arc::new(StandardSigner::new(&self.sealer.open(&sealed.0)?)?))
        })
    }

    /// The `webhook-signature` value of `sub` for message `id` sent at `timestamp`: the current
    /// secret's signature, then the previous secret's while it is live at `now` (a rotation's
    /// overlap). `None` without a signing secret.
    pub fn standard_signature(
        &self,
        sub: &Subscription,
        id: &str,
        timestamp: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<String>, CredentialError> {
        let Some(current) = &sub.signing_secret else {
            return Ok(None);
        };
        let mut signers = vec![self.standard_signer(current)?];
        if let Some(previous) = sub.previous_secret.as_ref().filter(|p| p.live_at(now)) {
            signers.push(self.standard_signer(&previous.secret)?);
        }
        Ok(Some(signature_header(
            signers.iter().map(|s| &**s),
            id,
            timestamp,
            body,
        )))
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

    #[test]
    fn standard_signature_adds_the_previous_secret_until_it_expires() {
        use hookline_model::{Dialect, PreviousSecret};
        let (creds, sealer) = credentials();
        let (new, old) = (
            hookline_security::standard_webhooks::generate_secret(),
            hookline_security::standard_webhooks::generate_secret(),
        );
        let mut sub = Subscription::new(Dialect::Named, "ws", "wh_1", "https://example.com");
        let now = Utc::now();
        assert_eq!(creds.standard_signature(&sub, "i", "1", b"b", now).unwrap(), None);
        sub.signing_secret = Some(SealedSecret(sealer.seal(&new)));
        let only_new = StandardSigner::new(&new).unwrap().sign("i", "1", b"b");
        assert_eq!(
            creds.standard_signature(&sub, "i", "1", b"b", now).unwrap(),
            Some(only_new.clone())
        );
        sub.previous_secret = Some(PreviousSecret {
            secret: SealedSecret(sealer.seal(&old)),
            expires_at: now + chrono::Duration::seconds(60),
        });
        let both = format!("{only_new} {}", StandardSigner::new(&old).unwrap().sign("i", "1", b"b"));
        assert_eq!(creds.standard_signature(&sub, "i", "1", b"b", now).unwrap(), Some(both));
        let later = now + chrono::Duration::seconds(60);
        assert_eq!(
            creds.standard_signature(&sub, "i", "1", b"b", later).unwrap(),
            Some(only_new),
            "expired: the new one only"
        );
        // A secret that is not base64 cannot sign: the request is not sent.
        sub.signing_secret = Some(SealedSecret(sealer.seal("not base64!")));
        assert!(matches!(
            creds.standard_signature(&sub, "i", "1", b"b", now),
            Err(CredentialError::Format(_))
        ));
    }
}
