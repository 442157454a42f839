//! Security primitives every service shares: which URLs Hookline may call ([`url_policy`]),
//! how a request is signed ([`signature`]) and how secrets are kept at rest ([`seal`]).

pub mod seal;
pub mod signature;
pub mod url_policy;

pub use seal::{SealError, Sealer};
pub use signature::{sign, Signer};
pub use url_policy::{UrlError, UrlPolicy};
