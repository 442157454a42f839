//! Security primitives every service shares: which URLs Hookline may call ([`url_policy`]),
//! how a request is signed ([`signature`], and the Standard Webhooks scheme of named
//! subscriptions, [`standard_webhooks`]) and how secrets are kept at rest ([`seal`]).

pub mod seal;
pub mod signature;
pub mod standard_webhooks;
pub mod url_policy;

pub use seal::{SealError, Sealer};
pub use signature::{sign, Signer};
pub use standard_webhooks::StandardSigner;
pub use url_policy::{UrlError, UrlPolicy};
