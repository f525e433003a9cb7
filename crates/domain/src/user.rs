//! Users: three types, a lifecycle status, and an e-mail address unique per tenant.

use std::fmt;
use std::str::FromStr;

use crate::BrokenRule;

/// An e-mail address, trimmed; compared case-insensitively through [`Email::key`].
///
/// Deliberately modest checks (one `@`, non-empty parts, a dot-free-or-not domain without
/// spaces or control characters, at most 254 bytes): the address is an identifier here, and
/// the set-password mail is what proves it reaches someone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, BrokenRule> {
        let raw = raw.trim();
        let invalid = || BrokenRule::new("User", "InvalidEmail", format!("{raw:?} is not a valid e-mail address"));
        if raw.is_empty() {
            return Err(BrokenRule::new("User", "MissingEmail", "E-mail address is required"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(BrokenRule::new(
                "User",
                "InvalidEmail",
                format!("E-mail address must be at most {} characters", Self::MAX_LEN),
            ));
        }
        let (local, domain) = raw.split_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || raw.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
        {
            return Err(invalid());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form under which addresses are unique within a tenant.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's database identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

/// The three kinds of user of the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserType {
    Management,
    Contractor,
    Site,
}

impl UserType {
    pub const ALL: [UserType; 3] = [UserType::Management, UserType::Contractor, UserType::Site];

    /// The stored and displayed name (`Management`, `Contractor`, `Site`).
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Management => "Management",
            UserType::Contractor => "Contractor",
            UserType::Site => "Site",
        }
    }
}

impl FromStr for UserType {
    type Err = BrokenRule;

    /// Case-insensitive; `Supplier` is accepted for `Contractor` (as some tenants call it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "management" => Ok(UserType::Management),
            "contractor" | "supplier" => Ok(UserType::Contractor),
            "site" => Ok(UserType::Site),
            _ => Err(BrokenRule::new(
                "User",
                "InvalidUserType",
                format!("User type must be Management, Contractor or Site (got {s:?})"),
            )),
        }
    }
}

impl fmt::Display for UserType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a user is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserStatus {
    /// Created; has not yet set a password.
    Invited,
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Invited => "Invited",
            UserStatus::Active => "Active",
            UserStatus::Disabled => "Disabled",
        }
    }
}

impl FromStr for UserStatus {
    type Err = BrokenRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "invited" => Ok(UserStatus::Invited),
            "active" => Ok(UserStatus::Active),
            "disabled" => Ok(UserStatus::Disabled),
            _ => Err(BrokenRule::new("User", "InvalidStatus", format!("Unknown user status {s:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails() {
        assert_eq!(Email::parse(" Api.Integration@Company.com ").unwrap().as_str(), "Api.Integration@Company.com");
        assert_eq!(Email::parse("A@B.com").unwrap().key(), "a@b.com");
        for bad in ["", "plain", "@x.com", "a@", "a@@b", "a b@c.d", "a@b.", "<a@b.c>"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn user_types_parse_case_insensitively() {
        assert_eq!("management".parse::<UserType>().unwrap(), UserType::Management);
        assert_eq!("Supplier".parse::<UserType>().unwrap(), UserType::Contractor);
        assert_eq!("SITE".parse::<UserType>().unwrap(), UserType::Site);
        assert_eq!("admin".parse::<UserType>().unwrap_err().key, "BrokenRule_User_InvalidUserType");
    }

    proptest! {
        #[test]
        fn email_parse_never_panics(s in "\\PC{0,300}") {
            let _ = Email::parse(&s);
        }
    }
}

/// Which sites a Management or Site user may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteAccess {
    None,
    All,
    /// Explicit sites, geographic areas and site channels (each site includes its children).
    Some(SiteGrants),
}

/// Explicit site access: site codes, geographic area codes, site channel codes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteGrants {
    pub sites: Vec<String>,
    pub areas: Vec<String>,
    pub channels: Vec<String>,
}

impl SiteGrants {
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty() && self.areas.is_empty() && self.channels.is_empty()
    }

    /// The written form: `CODE, area:CODE, channel:CODE` (what [`SiteAccess::parse`] reads).
    pub fn to_text(&self) -> String {
        let sites = self.sites.iter().cloned();
        let areas = self.areas.iter().map(|c| format!("area:{c}"));
        let channels = self.channels.iter().map(|c| format!("channel:{c}"));
        sites.chain(areas).chain(channels).collect::<Vec<_>>().join(", ")
    }
}

impl SiteAccess {
    /// `all`, `none`, or a comma-separated list of site codes, `area:CODE` (a geographic
    /// area) and `channel:CODE` (a site channel).
    pub fn parse(raw: &str) -> Result<Self, BrokenRule> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Ok(SiteAccess::None),
            "all" => Ok(SiteAccess::All),
            "some" => Err(BrokenRule::new(
                "User",
                "NoSitesChosen",
                "Choose at least one site, geographic area or site channel (or no site access)",
            )),
            _ => {
                let mut grants = SiteGrants::default();
                for item in raw.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    let (list, code) = match item.split_once(':') {
                        Some((kind, code)) if kind.trim().eq_ignore_ascii_case("area") => (&mut grants.areas, code),
                        Some((kind, code)) if kind.trim().eq_ignore_ascii_case("channel") => {
                            (&mut grants.channels, code)
                        }
                        Some((kind, code)) if kind.trim().eq_ignore_ascii_case("site") => (&mut grants.sites, code),
                        Some(_) => {
                            return Err(BrokenRule::new(
                                "User",
                                "InvalidSiteAccess",
                                format!("{item:?}: write a site code, area:CODE or channel:CODE"),
                            ));
                        }
                        None => (&mut grants.sites, item),
                    };
                    let code = code.trim().to_owned();
                    if code.is_empty() || code.chars().count() > 50 {
                        return Err(BrokenRule::new(
                            "User",
                            "InvalidSiteAccess",
                            format!("{item:?} does not name a site, area or channel"),
                        ));
                    }
                    if !list.iter().any(|c: &String| c.eq_ignore_ascii_case(&code)) {
                        list.push(code);
                    }
                }
                if grants.is_empty() { Ok(SiteAccess::None) } else { Ok(SiteAccess::Some(grants)) }
            }
        }
    }

    /// The stored form of the kind (`none`, `all`, `some`).
    pub fn kind(&self) -> &'static str {
        match self {
            SiteAccess::None => "none",
            SiteAccess::All => "all",
            SiteAccess::Some(_) => "some",
        }
    }
}

#[cfg(test)]
mod site_access_tests {
    use super::*;

    #[test]
    fn site_access_reads_sites_areas_and_channels() {
        assert_eq!(SiteAccess::parse(" ALL "), Ok(SiteAccess::All));
        assert_eq!(SiteAccess::parse(""), Ok(SiteAccess::None));
        assert_eq!(SiteAccess::parse(" , "), Ok(SiteAccess::None));
        let grants = SiteGrants {
            sites: vec!["S1".into(), "S2".into()],
            areas: vec!["01-02".into()],
            channels: vec!["02".into()],
        };
        let parsed = SiteAccess::parse("S1, area:01-02, Channel: 02, site:S2, s1").unwrap();
        assert_eq!(parsed, SiteAccess::Some(grants.clone()));
        assert_eq!(parsed.kind(), "some");
        assert_eq!(SiteAccess::parse(&grants.to_text()), Ok(SiteAccess::Some(grants)));
        assert!(SiteAccess::parse("region:01").is_err());
        assert_eq!(SiteAccess::parse(" Some ").unwrap_err().key, "BrokenRule_User_NoSitesChosen");
        assert!(SiteAccess::parse("area:").is_err());
    }
}
