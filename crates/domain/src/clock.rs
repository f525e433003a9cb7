//! Time as a parameter. Code never reads the system clock directly (clippy's
//! `disallowed-methods` enforces it); it asks the [`Clock`] it was given.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339 as Rfc3339Format;

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

    /// `2021-03-10T14:23:23.123456Z`-style text (fraction only when non-zero, without
    /// trailing zeros).
    pub fn to_rfc3339(self) -> String {
        self.rfc3339().as_str().to_owned()
    }

    /// The same text as [`Timestamp::to_rfc3339`] without allocating: written by hand for
    /// years 0 to 9999 (a page of 50 tasks formats 200 of these; the general formatter cost
    /// ten times as much); other years go through the `time` crate, which gives the same text.
    pub fn rfc3339(self) -> Rfc3339 {
        const MICROS_PER_DAY: i64 = 86_400_000_000;
        // 0000-01-01 and 10000-01-01 as microseconds since the epoch.
        const FIRST: i64 = -62_167_219_200_000_000;
        const END: i64 = 253_402_300_800_000_000;
        if !(FIRST..END).contains(&self.0) {
            return Rfc3339(Text::Long(
                self.to_offset_date_time()
                    .format(&Rfc3339Format)
                    .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z")),
            ));
        }
        let days = self.0.div_euclid(MICROS_PER_DAY);
        let of_day = self.0.rem_euclid(MICROS_PER_DAY);
        // Days to a civil date (Howard Hinnant's `civil_from_days`), years 0 to 9999 here.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let seconds = of_day / 1_000_000;
        let micros = of_day % 1_000_000;
        // Two digits at a time, from a table: 200 of these make a page of 50 tasks.
        const PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839\
                                    40414243444546474849505152535455565758596061626364656667686970717273747576777879\
                                    8081828384858687888990919293949596979899";
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        let mut two = |at: usize, value: i64| {
            let i = (value.rem_euclid(100) as usize) * 2;
            text[at] = PAIRS[i];
            text[at + 1] = PAIRS[i + 1];
        };
        two(0, year / 100);
        two(2, year);
        two(5, month);
        two(8, day);
        two(11, seconds / 3600);
        two(14, seconds / 60 % 60);
        two(17, seconds % 60);
        let mut len = 19;
        if micros != 0 {
            two(20, micros / 10_000);
            two(22, micros / 100);
            two(24, micros);
            // The fraction without its trailing zeros, as the `time` crate writes it.
            len = 26;
            while text[len - 1] == b'0' {
                len -= 1;
            }
        }
        text[len] = b'Z';
        Rfc3339(Text::Short(text, (len + 1) as u8))
    }

    /// Reads RFC 3339 text (`2021-03-10T14:23:23Z`, with or without a fraction or offset).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        if text.len() > 40 {
            return None;
        }
        OffsetDateTime::parse(text.trim(), &Rfc3339Format).ok().map(Self::from_offset_date_time)
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

    /// The hand-written text is the `time` crate's, byte for byte.
    fn by_time_crate(t: Timestamp) -> String {
        t.to_offset_date_time().format(&Rfc3339Format).unwrap()
    }

    #[test]
    fn rfc3339_text_matches_the_general_formatter_at_the_edges() {
        for micros in [
            0,
            1,
            -1,
            10,
            100_000,
            999_999,
            1_000_000,
            951_782_400_000_000,   // 2000-02-29
            951_868_799_999_999,   // 2000-02-29T23:59:59.999999
            4_107_542_400_000_000, // 2100-03-01
            -62_167_219_200_000_000,
            253_402_300_799_999_999,
        ] {
            let t = Timestamp::from_unix_micros(micros);
            assert_eq!(t.to_rfc3339(), by_time_crate(t), "{micros}");
        }
        // Outside years 0 to 9999 the general formatter answers (or the epoch's text).
        let far = Timestamp::from_unix_micros(253_402_300_800_000_000);
        assert_eq!(
            far.to_rfc3339(),
            far.to_offset_date_time().format(&Rfc3339Format).unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
        );
    }

    proptest::proptest! {
        #[test]
        fn rfc3339_text_matches_the_general_formatter(micros in -62_167_219_200_000_000_i64..253_402_300_800_000_000) {
            let t = Timestamp::from_unix_micros(micros);
            proptest::prop_assert_eq!(t.to_rfc3339(), by_time_crate(t));
        }

        #[test]
        fn rfc3339_text_matches_for_whole_seconds_and_millis(seconds in -62_167_219_200_i64..253_402_300_800, millis in 0_i64..1000) {
            let t = Timestamp::from_unix_micros(seconds * 1_000_000 + millis * 1000);
            proptest::prop_assert_eq!(t.to_rfc3339(), by_time_crate(t));
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_unix_micros(0));
        assert_eq!(clock.now().unix_micros(), 0);
        clock.advance_seconds(5);
        assert_eq!(clock.now().unix_micros(), 5_000_000);
    }
}

/// A time as RFC 3339 text (see [`Timestamp::rfc3339`]), held without allocating for years
/// 0 to 9999.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rfc3339(Text);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Text {
    /// ASCII digits and separators, and how many of them.
    Short([u8; 27], u8),
    Long(String),
}

impl Rfc3339 {
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only ASCII is ever written into it.
            Text::Short(bytes, len) => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            Text::Long(text) => text,
        }
    }
}

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
