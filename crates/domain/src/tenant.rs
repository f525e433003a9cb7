//! Tenants: one client organisation each; the name is the `{tenant}` segment of REST paths.

use std::fmt;

use crate::BrokenRule;

/// A tenant name: 1 to 64 characters of ASCII letters, digits, spaces, `-`, `_` and `.`,
/// not starting or ending with a space. Unique case-insensitively (see [`TenantName::key`]).
///
/// ASCII only on purpose: the name is lower-cased inside signed REST paths by clients in
/// many languages, and only ASCII lower-cases the same everywhere.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantName(String);

impl TenantName {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, BrokenRule> {
        let invalid = |why: &str| BrokenRule::new("Tenant", "InvalidName", why.to_string());
        if raw.is_empty() {
            return Err(BrokenRule::new("Tenant", "MissingName", "Tenant name is required"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(invalid(&format!("Tenant name must be at most {} characters", Self::MAX_LEN)));
        }
        if let Some(bad) = raw.chars().find(|c| !Self::allowed(*c)) {
            return Err(invalid(&format!(
                "Tenant name may contain only letters, digits, spaces, '-', '_' and '.' (found {:?})",
                bad
            )));
        }
        if raw.starts_with(' ') || raw.ends_with(' ') {
            return Err(invalid("Tenant name must not start or end with a space"));
        }
        Ok(Self(raw.to_owned()))
    }

    fn allowed(c: char) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form under which names are unique and looked up.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant's database identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(pub i64);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["a", "Urgent SI", "acme-2.0_x", "A.B", &"x".repeat(64)] {
            assert!(TenantName::parse(ok).is_ok(), "{ok:?} should be accepted");
        }
    }

    #[test]
    fn refuses_everything_else_with_a_clear_key() {
        assert_eq!(TenantName::parse("").unwrap_err().key, "BrokenRule_Tenant_MissingName");
        for bad in ["a/b", "a%20b", "ü", " lead", "trail ", "tab\t", &"x".repeat(65), "a\nb"] {
            let err = TenantName::parse(bad).unwrap_err();
            assert_eq!(err.key, "BrokenRule_Tenant_InvalidName", "{bad:?}");
        }
    }

    #[test]
    fn key_folds_case() {
        assert_eq!(TenantName::parse("Urgent SI").unwrap().key(), "urgent si");
    }

    proptest! {
        #[test]
        fn valid_names_are_accepted_verbatim(name in "[A-Za-z0-9_.-]([A-Za-z0-9 _.-]{0,62}[A-Za-z0-9_.-])?") {
            let parsed = TenantName::parse(&name).unwrap();
            prop_assert_eq!(parsed.as_str(), name.as_str());
            prop_assert_eq!(parsed.key(), name.to_ascii_lowercase());
        }

        #[test]
        fn any_string_is_accepted_exactly_when_it_follows_the_rules(name in "\\PC{0,70}") {
            let expected = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || " -_.".contains(c))
                && !name.starts_with(' ')
                && !name.ends_with(' ');
            prop_assert_eq!(TenantName::parse(&name).is_ok(), expected);
        }

        #[test]
        fn names_differing_only_in_case_share_a_key(name in "[A-Za-z0-9]{1,64}") {
            let upper = TenantName::parse(&name.to_ascii_uppercase()).unwrap();
            let lower = TenantName::parse(&name.to_ascii_lowercase()).unwrap();
            prop_assert_eq!(upper.key(), lower.key());
        }
    }
}
