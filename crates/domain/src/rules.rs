//! Broken rules: the Urgent error vocabulary (`BrokenRule_<Entity>_<Problem>`), collected
//! so that every rule a request breaks is reported in one answer.

use std::fmt;

/// One broken rule: a stable machine-readable key and a readable sentence.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BrokenRule {
    pub key: String,
    pub value: String,
}

impl BrokenRule {
    /// `entity` and `problem` form the key `BrokenRule_<entity>_<problem>`.
    pub fn new(entity: &str, problem: &str, value: impl Into<String>) -> Self {
        Self { key: format!("BrokenRule_{entity}_{problem}"), value: value.into() }
    }
}

impl fmt::Display for BrokenRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// A non-empty set of broken rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct BrokenRules(Vec<BrokenRule>);

impl BrokenRules {
    pub fn one(rule: BrokenRule) -> Self {
        Self(vec![rule])
    }

    pub fn rules(&self) -> &[BrokenRule] {
        &self.0
    }

    pub fn into_rules(self) -> Vec<BrokenRule> {
        self.0
    }
}

impl fmt::Display for BrokenRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for rule in &self.0 {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            f.write_str(&rule.value)?;
        }
        Ok(())
    }
}

/// Collects the outcome of several checks so that all of them run before answering.
#[derive(Debug, Default)]
pub struct RuleCheck(Vec<BrokenRule>);

impl RuleCheck {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value of a successful check, records the rule of a failed one.
    pub fn check<T>(&mut self, result: Result<T, BrokenRule>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(rule) => {
                self.0.push(rule);
                None
            }
        }
    }

    pub fn push(&mut self, rule: BrokenRule) {
        self.0.push(rule);
    }

    /// `Ok(())` when no rule was broken.
    pub fn finish(self) -> Result<(), BrokenRules> {
        if self.0.is_empty() { Ok(()) } else { Err(BrokenRules(self.0)) }
    }
}
