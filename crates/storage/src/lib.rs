//! Caretaker's storage: the one place that speaks SQL.
//!
//! One query source serves both backends: every statement is written once, with `$1`-style
//! parameters (which SQLite understands too) and portable types, and runs through sqlx's
//! `Any` driver on an embedded SQLite file or on PostgreSQL. The rules that keep a
//! statement portable are at the top of `migrations/0001_foundation.sql`.
//!
//! Writes take a transaction that the caller opened and commits ("transactions are
//! parameters"); reads take any executor. This crate knows rows and constraints, not
//! permissions: who may call what is decided above it.

mod db;
mod error;
mod migrate;
mod read;
mod write;

pub mod assets;
pub mod audit;
pub mod bulk;
pub mod companies;
pub mod contractors;
pub mod credentials;
pub mod custom_fields;
pub mod outbound;
pub mod reference_data;
pub mod role_packages;
pub mod server_settings;
pub mod sessions;
pub mod sites;
pub mod tasks;
pub mod tenants;
pub mod throttle;
pub mod users;
pub mod visibility;
pub mod workflows;

#[cfg(feature = "testing")]
pub mod testing;

pub use db::{Backend, Db, DbOptions, Savepoint, Tx};
/// A connection (or, through `&mut tx`, a transaction) that storage functions run on.
pub type Conn = sqlx::AnyConnection;
pub use error::{DriverError, StorageError};
pub use migrate::{MIGRATIONS, Migration};
pub use read::{ReadSession, Reader};
pub use write::{WriteTx, Writer};

/// A nullable float as text, for `CAST($n AS DOUBLE PRECISION)` in SQL. sqlx 0.8's `Any`
/// declares a NULL double as `float4` on PostgreSQL (its `Null(Double)` arm encodes an
/// `Option<f32>`), so a cached statement first run with NULL refuses a later value; text
/// NULLs and values share one declared type.
pub(crate) fn float_text(value: Option<f64>) -> Option<String> {
    value.filter(|v| v.is_finite()).map(|v| v.to_string())
}

/// Booleans are stored as BIGINT 0/1 on both backends.
pub(crate) fn flag(value: bool) -> i64 {
    i64::from(value)
}
