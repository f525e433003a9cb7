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

/// Which sites a Management or Site user may see. (Explicit sites, areas and channels arrive
/// with the sites; until then a list of site codes names sites that must exist.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteAccess {
    None,
    All,
    /// Explicit site codes (each includes its child sites).
    Sites(Vec<String>),
}

impl SiteAccess {
    /// `all`, `none`, or comma-separated site codes.
    pub fn parse(raw: &str) -> Result<Self, BrokenRule> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Ok(SiteAccess::None),
            "all" => Ok(SiteAccess::All),
            _ => {
                let codes: Vec<String> =
                    raw.split(',').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect();
                if codes.is_empty() { Ok(SiteAccess::None) } else { Ok(SiteAccess::Sites(codes)) }
            }
        }
    }

    /// The stored form of the kind (`none`, `all`, `sites`).
    pub fn kind(&self) -> &'static str {
        match self {
            SiteAccess::None => "none",
            SiteAccess::All => "all",
            SiteAccess::Sites(_) => "sites",
        }
    }
}
