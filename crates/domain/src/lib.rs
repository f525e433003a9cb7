//! Caretaker's domain: the types a value must pass through to be trusted, the rules
//! between them, and the permission catalogue.
//!
//! This crate does no I/O: no database, no network, no clock reads (time arrives as a
//! [`clock::Timestamp`] from an injected [`clock::Clock`]). Everything here is plain data
//! and pure functions, so it is tested with plain unit and property tests.

pub mod access;
pub mod clock;
pub mod contractor;
pub mod credential;
pub mod matrix;
pub mod outbound;
pub mod rules;
pub mod site;
pub mod task;
pub mod tcn;
pub mod tenant;
pub mod user;

pub use rules::{BrokenRule, BrokenRules};
