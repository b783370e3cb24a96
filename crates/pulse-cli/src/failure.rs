//! Why a command failed, what the operator can do about it, and the exit code it ends with.

use std::fmt;
use std::process::ExitCode;

/// A failed command.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The library refused or failed.
    Pulse(pulse::Error),
    /// The command line asks for something that cannot be done, with what to do instead.
    Usage(String),
    /// Something the operator named does not exist, with what to do instead.
    Missing(String),
    /// The command ran and found something wrong, said in words.
    Failed(String),
}

impl Failure {
    /// Exit code 2: the command line is wrong, or its input is invalid.
    pub(crate) const USAGE: u8 = 2;
    /// Exit code 3: what was named does not exist.
    pub(crate) const NOT_FOUND: u8 = 3;
    /// Exit code 4: the entry's state does not allow the change.
    pub(crate) const CONFLICT: u8 = 4;

    /// Prints the failure on stderr and returns its exit code.
    pub(crate) fn report(self) -> ExitCode {
        eprintln!("error: {self}");
        if let Some(hint) = self.hint() {
            eprintln!("hint: {hint}");
        }
        ExitCode::from(match self {
            Self::Usage(_) => Self::USAGE,
            Self::Missing(_) => Self::NOT_FOUND,
            Self::Failed(_) => 1,
            Self::Pulse(error) => match error {
                pulse::Error::InvalidInput { .. } => Self::USAGE,
                pulse::Error::NotFound { .. } | pulse::Error::RequestNotFound { .. } => Self::NOT_FOUND,
                pulse::Error::Conflict { .. }
                | pulse::Error::Dismissed { .. }
                | pulse::Error::LeaseLost { .. } => Self::CONFLICT,
                _ => 1,
            },
        })
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Pulse(pulse::Error::Unavailable { .. }) => {
                Some("the store could not be reached; check --db or --database-url, and try again")
            }
            Self::Pulse(pulse::Error::NotFound { .. }) => Some("`pulse list` shows the entries there are"),
            Self::Pulse(pulse::Error::RequestNotFound { .. }) => {
                Some("`pulse requests list` shows the requests there are")
            }
            Self::Pulse(pulse::Error::Conflict { .. }) => {
                Some("`pulse show ID` shows where the entry stands now")
            }
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pulse(error) => {
                write!(f, "{error}")?;
                let mut source = std::error::Error::source(error);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            Self::Usage(message) | Self::Missing(message) | Self::Failed(message) => f.write_str(message),
        }
    }
}

impl From<pulse::Error> for Failure {
    fn from(error: pulse::Error) -> Self {
        Self::Pulse(error)
    }
}
