//! Sites: a tree keyed by SiteCode.

use std::fmt;

use crate::BrokenRule;

/// A site's code: 1-50 ASCII letters, digits, `-`, `_`, `.` or `/`; unique per tenant
/// ignoring case.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SiteCode(String);

impl SiteCode {
    pub const MAX_LEN: usize = 50;

    pub fn parse(raw: &str) -> Result<Self, BrokenRule> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(BrokenRule::new("Site", "MissingSiteCode", "SiteCode is required"));
        }
        if raw.len() > Self::MAX_LEN || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b)) {
            return Err(BrokenRule::new(
                "Site",
                "InvalidSiteCode",
                format!("SiteCode {raw:?} must be 1-{} letters, digits, '-', '_', '.' or '/'", Self::MAX_LEN),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for SiteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A site's database identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SiteId(pub i64);

/// A day's opening hours, `HH:MM` to `HH:MM` (24-hour clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpeningHours {
    /// 1 = Monday ... 7 = Sunday.
    pub day: u8,
    pub opens: String,
    pub closes: String,
}

pub const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// The day number of a day's English name (any case).
pub fn day_number(name: &str) -> Option<u8> {
    DAYS.iter().position(|d| d.eq_ignore_ascii_case(name.trim())).and_then(|i| u8::try_from(i + 1).ok())
}

/// `HH:MM`, 00:00 to 24:00.
pub fn parse_clock_time(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
}

/// A `YYYY-MM-DD` date (any time part after it ignored).
pub fn parse_date(text: &str) -> Option<time::Date> {
    let day = text.trim().get(..10)?;
    time::Date::parse(day, &time::format_description::well_known::Iso8601::DATE).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn site_codes() {
        assert_eq!(SiteCode::parse(" S-001 ").unwrap().as_str(), "S-001");
        assert_eq!(SiteCode::parse("Room/1.2").unwrap().key(), "room/1.2");
        assert_eq!(SiteCode::parse("").unwrap_err().key, "BrokenRule_Site_MissingSiteCode");
        assert_eq!(SiteCode::parse("a b").unwrap_err().key, "BrokenRule_Site_InvalidSiteCode");
        assert!(SiteCode::parse(&"x".repeat(51)).is_err());
    }

    #[test]
    fn hours_and_days() {
        assert_eq!(parse_clock_time("08:30"), Some(510));
        assert_eq!(parse_clock_time("24:00"), Some(1440));
        for bad in ["8:30", "24:01", "12:60", "noon", ""] {
            assert_eq!(parse_clock_time(bad), None, "{bad}");
        }
        assert_eq!(day_number("monday"), Some(1));
        assert_eq!(day_number("Sunday"), Some(7));
        assert_eq!(day_number("Funday"), None);
        assert!(parse_date("2024-01-31T10:00:00Z").is_some());
        assert!(parse_date("2024-02-30").is_none());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC{0,60}") {
            let _ = SiteCode::parse(&text);
            let _ = parse_clock_time(&text);
            let _ = parse_date(&text);
            let _ = day_number(&text);
        }
    }
}
