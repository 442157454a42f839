//! The messaging channel of a message, status or inbound event.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The messaging channel a status or inbound event belongs to. Every feed Hookline reads is
/// SMS today; a record without a `channel` is SMS, so old records still decode, and SMS is not
/// written out, so SMS records stay byte-identical.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Sms,
    Mms,
    Whatsapp,
    Rcs,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Self::Sms, Self::Mms, Self::Whatsapp, Self::Rcs];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Mms => "mms",
            Self::Whatsapp => "whatsapp",
            Self::Rcs => "rcs",
        }
    }

    pub fn is_sms(&self) -> bool {
        *self == Self::Sms
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
