//! Time: a microsecond-precision UTC timestamp, and the injectable clock every store reads.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

/// A UTC instant with microsecond precision, the precision every backend stores exactly.
///
/// In serde formats it is RFC 3339 text in UTC with six decimals
/// (`2026-11-27T14:40:00.000000Z`); it reads RFC 3339 text with any offset, or a number of
/// microseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Self = Self(0);

    /// The earliest instant Pulse accepts: 0001-01-01T00:00:00Z. Every backend stores the
    /// whole range from [`Self::MIN`] to [`Self::MAX`] exactly.
    pub const MIN: Self = Self(-62_135_596_800_000_000);

    /// The latest instant Pulse accepts: 9999-12-31T23:59:59.999999Z.
    pub const MAX: Self = Self(253_402_300_799_999_999);

    /// The instant `micros` microseconds after the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// `datetime`, truncated to the microsecond.
    pub fn from_datetime(datetime: DateTime<Utc>) -> Self {
        Self(datetime.trunc_subsecs(6).timestamp_micros())
    }

    /// As a [`chrono`] date-time, clamped to the range `chrono` can represent (which holds
    /// every instant from [`Self::MIN`] to [`Self::MAX`]).
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or(if self.0 < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
    }

    /// Whether the instant lies between [`Self::MIN`] and [`Self::MAX`].
    pub fn is_supported(self) -> bool {
        (Self::MIN..=Self::MAX).contains(&self)
    }

    /// `self + duration`, saturating at the end of time.
    pub fn saturating_add(self, duration: Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(micros))
    }

    /// `self - duration`, saturating at the start of time.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(micros))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DateTime::from_timestamp_micros(self.0) {
            Some(datetime) => write!(f, "{}", datetime.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
            None => write!(f, "{}µs since the Unix epoch", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if DateTime::from_timestamp_micros(self.0).is_some() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 instant or microseconds since the Unix epoch")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Timestamp, E> {
                DateTime::parse_from_rfc3339(text)
                    .map(|datetime| Timestamp::from_datetime(datetime.with_timezone(&Utc)))
                    .map_err(|error| E::custom(format!("{text:?} is not an RFC 3339 instant: {error}")))
            }

            fn visit_i64<E: serde::de::Error>(self, micros: i64) -> Result<Timestamp, E> {
                Ok(Timestamp(micros))
            }

            fn visit_u64<E: serde::de::Error>(self, micros: u64) -> Result<Timestamp, E> {
                i64::try_from(micros).map(Timestamp).map_err(|_| E::custom("microseconds out of range"))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(datetime: DateTime<Utc>) -> Self {
        Self::from_datetime(datetime)
    }
}

/// Where Pulse reads the time. Stores never read the wall clock themselves.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(Utc::now())
    }
}

/// A clock that moves only when told to. For tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self { now: Mutex::new(start) }
    }

    /// The instant the clock stands at.
    pub fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves the clock forward by `duration`.
    pub fn advance(&self, duration: Duration) {
        let mut now = self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *now = now.saturating_add(duration);
    }

    /// Sets the clock to `instant`.
    pub fn set(&self, instant: Timestamp) {
        *self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = instant;
    }
}

impl Default for ManualClock {
    /// A clock at 2026-01-01T00:00:00Z.
    fn default() -> Self {
        Self::new(Timestamp::from_micros(1_767_225_600_000_000))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        ManualClock::now(self)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn instants_are_rfc_3339_text_in_json() {
        let at = Timestamp::from_micros(1_795_790_400_000_123);
        assert_eq!(serde_json::to_string(&at).unwrap(), r#""2026-11-27T14:40:00.000123Z""#);
        assert_eq!(serde_json::from_str::<Timestamp>(r#""2026-11-27T14:40:00.000123Z""#).unwrap(), at);
        assert_eq!(serde_json::from_str::<Timestamp>(r#""2026-11-27T15:40:00.000123+01:00""#).unwrap(), at);
        assert_eq!(serde_json::from_str::<Timestamp>("1795790400000123").unwrap(), at);
        let refused = serde_json::from_str::<Timestamp>(r#""yesterday""#).unwrap_err().to_string();
        assert!(refused.starts_with(r#""yesterday" is not an RFC 3339 instant"#), "{refused}");
    }

    use super::*;

    #[test]
    fn timestamps_keep_microseconds_and_print_utc() {
        let dt = DateTime::parse_from_rfc3339("2026-03-04T05:06:07.123456789Z").unwrap();
        let ts = Timestamp::from_datetime(dt.with_timezone(&Utc));
        assert_eq!(ts.to_string(), "2026-03-04T05:06:07.123456Z");
        assert_eq!(Timestamp::from_micros(ts.as_micros()), ts);
    }

    #[test]
    fn the_supported_range_is_years_1_to_9999() {
        assert_eq!(Timestamp::MIN.to_string(), "0001-01-01T00:00:00.000000Z");
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59.999999Z");
        assert!(Timestamp::MIN.is_supported() && Timestamp::MAX.is_supported());
        let outside =
            [Timestamp::from_micros(Timestamp::MIN.as_micros() - 1), Timestamp::from_micros(i64::MAX)];
        assert!(outside.iter().all(|instant| !instant.is_supported()));
        assert_eq!(
            Timestamp::from_micros(i64::MIN).to_string(),
            "-9223372036854775808µs since the Unix epoch"
        );
        assert_eq!(Timestamp::from_micros(i64::MIN).to_datetime(), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::default();
        let start = clock.now();
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now().as_micros() - start.as_micros(), 1_500_000);
    }
}
