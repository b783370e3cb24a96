//! The states an entry moves through, and why it left them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Where an entry stands. Stored as a small integer; [`Self::as_i16`] and
/// [`Self::from_i16`] are the one mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CommandDeadLetterStatus {
    /// Failed and waiting for someone to look at it.
    New = 0,
    /// A replay holds a lease on it.
    Replaying = 1,
    /// Replayed successfully, or fixed outside Pulse. Terminal, but may be replayed again.
    Resolved = 2,
    /// Judged not worth replaying. Terminal.
    Dismissed = 3,
}

impl CommandDeadLetterStatus {
    /// Every status, in stored order.
    pub const ALL: [Self; 4] = [Self::New, Self::Replaying, Self::Resolved, Self::Dismissed];

    /// The stored integer.
    pub const fn as_i16(self) -> i16 {
        self as i16
    }

    /// The status stored as `value`.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] for a value no status maps to: the stored row is corrupt.
    pub fn from_i16(value: i16) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_i16() == value)
            .ok_or_else(|| Error::corrupt(format!("unknown stored status {value}")))
    }

    /// `true` for Resolved and Dismissed.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Resolved | Self::Dismissed)
    }

    /// `true` for New and Replaying, the entries that still need attention.
    pub const fn is_unresolved(self) -> bool {
        !self.is_terminal()
    }
}

impl fmt::Display for CommandDeadLetterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::New => "New",
            Self::Replaying => "Replaying",
            Self::Resolved => "Resolved",
            Self::Dismissed => "Dismissed",
        })
    }
}

/// Why an entry left New for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// A replay succeeded.
    Replayed,
    /// Someone fixed the effect outside Pulse.
    HandledExternally,
    /// Dismissed: not worth replaying.
    Ignored,
}

impl Resolution {
    /// Every resolution.
    pub const ALL: [Self; 3] = [Self::Replayed, Self::HandledExternally, Self::Ignored];

    /// The stored text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Replayed => "replayed",
            Self::HandledExternally => "handled_externally",
            Self::Ignored => "ignored",
        }
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Resolution {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::corrupt(format!("unknown stored resolution {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_its_stored_integer() {
        let stored: Vec<i16> = CommandDeadLetterStatus::ALL.iter().map(|s| s.as_i16()).collect();
        assert_eq!(stored, [0, 1, 2, 3]);
        for status in CommandDeadLetterStatus::ALL {
            assert_eq!(CommandDeadLetterStatus::from_i16(status.as_i16()).unwrap(), status);
        }
        assert!(matches!(CommandDeadLetterStatus::from_i16(4), Err(Error::Backend { .. })));
        assert!(matches!(CommandDeadLetterStatus::from_i16(-1), Err(Error::Backend { .. })));
    }

    #[test]
    fn resolution_round_trips_through_its_stored_text() {
        for resolution in Resolution::ALL {
            assert_eq!(resolution.as_str().parse::<Resolution>().unwrap(), resolution);
        }
        assert!("fixed".parse::<Resolution>().is_err());
    }
}
