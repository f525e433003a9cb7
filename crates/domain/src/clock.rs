//! Time as a parameter. Code never reads the system clock directly (clippy's
//! `disallowed-methods` enforces it); it asks the [`Clock`] it was given.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A UTC instant with microsecond precision, stored as microseconds since the Unix epoch
/// (the representation used in both databases).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    pub fn from_offset_date_time(t: OffsetDateTime) -> Self {
        let micros = t.unix_timestamp_nanos() / 1_000;
        Self(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    pub fn to_offset_date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// `2021-03-10T14:23:23.123456Z`-style text (fraction only when non-zero).
    pub fn to_rfc3339(self) -> String {
        self.to_offset_date_time().format(&Rfc3339).unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
    }

    /// Reads RFC 3339 text (`2021-03-10T14:23:23Z`, with or without a fraction or offset).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        if text.len() > 40 {
            return None;
        }
        OffsetDateTime::parse(text.trim(), &Rfc3339).ok().map(Self::from_offset_date_time)
    }

    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1_000_000)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Where time comes from.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
        let now = OffsetDateTime::now_utc();
        Timestamp::from_offset_date_time(now)
    }
}

/// A clock that moves only when told to: for tests of expiry, skew windows and retries.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start.unix_micros())))
    }

    pub fn set(&self, t: Timestamp) {
        self.0.store(t.unix_micros(), Ordering::SeqCst);
    }

    pub fn advance_seconds(&self, seconds: i64) {
        self.0.fetch_add(seconds * 1_000_000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_microseconds() {
        let t = Timestamp::from_unix_micros(1_615_386_203_123_456);
        assert_eq!(t.to_rfc3339(), "2021-03-10T14:23:23.123456Z");
        assert_eq!(Timestamp::from_offset_date_time(t.to_offset_date_time()), t);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_unix_micros(0));
        assert_eq!(clock.now().unix_micros(), 0);
        clock.advance_seconds(5);
        assert_eq!(clock.now().unix_micros(), 5_000_000);
    }
}
