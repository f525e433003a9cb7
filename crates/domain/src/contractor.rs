//! Contractors (suppliers): companies that do the work, with an optional parent.

use std::fmt;

use crate::BrokenRule;

/// A contractor's code: 1-50 ASCII letters, digits, `-`, `_` or `.`; unique per tenant
/// ignoring case. Tasks name their contractor by it (`Supplier`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContractorCode(String);

impl ContractorCode {
    pub const MAX_LEN: usize = 50;

    pub fn parse(raw: &str) -> Result<Self, BrokenRule> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(BrokenRule::new("Contractor", "MissingCode", "Contractor code is required"));
        }
        if raw.len() > Self::MAX_LEN || !raw.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(BrokenRule::new(
                "Contractor",
                "InvalidCode",
                format!("Contractor code {raw:?} must be 1-{} letters, digits, '-', '_' or '.'", Self::MAX_LEN),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The default code for a name: capitals, spaces as dashes, other characters dropped.
    pub fn from_name(name: &str) -> Result<Self, BrokenRule> {
        let code: String = name
            .trim()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_ascii_alphanumeric() || "-_.".contains(c) => Some(c.to_ascii_uppercase()),
                _ => None,
            })
            .take(Self::MAX_LEN)
            .collect();
        Self::parse(&code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for ContractorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A contractor's database identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContractorId(pub i64);

/// A display name (people, contractors, packages): trimmed, 1 to `max` characters, no
/// control characters.
pub fn display_name(entity: &str, raw: &str, max: usize) -> Result<String, BrokenRule> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(BrokenRule::new(entity, "MissingName", format!("{entity} name is required")));
    }
    if name.chars().count() > max || name.chars().any(char::is_control) {
        return Err(BrokenRule::new(
            entity,
            "InvalidName",
            format!("{entity} name must be 1-{max} characters without control characters"),
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_code_from_name() {
        assert_eq!(ContractorCode::from_name("Acme Plumbing Ltd").unwrap().as_str(), "ACME-PLUMBING-LTD");
        assert_eq!(ContractorCode::from_name("O'Brien & Sons").unwrap().as_str(), "OBRIEN--SONS");
        assert!(ContractorCode::from_name("&&&").is_err());
    }

    #[test]
    fn codes() {
        assert_eq!(ContractorCode::parse("acme-1").unwrap().key(), "acme-1");
        assert_eq!(ContractorCode::parse("").unwrap_err().key, "BrokenRule_Contractor_MissingCode");
        assert_eq!(ContractorCode::parse("a b").unwrap_err().key, "BrokenRule_Contractor_InvalidCode");
    }

    #[test]
    fn names() {
        assert_eq!(display_name("User", "  Ann  ", 10).unwrap(), "Ann");
        assert_eq!(display_name("User", " ", 10).unwrap_err().key, "BrokenRule_User_MissingName");
        assert_eq!(display_name("User", "a\u{0}b", 10).unwrap_err().key, "BrokenRule_User_InvalidName");
    }

    proptest! {
        #[test]
        fn from_name_never_panics_and_yields_valid_codes(name in "\\PC{0,80}") {
            if let Ok(code) = ContractorCode::from_name(&name) {
                prop_assert!(ContractorCode::parse(code.as_str()).is_ok());
            }
        }
    }
}
