//! A fresh database per test, on either backend.
//!
//! SQLite: a file in a temporary folder. PostgreSQL: a new database on the server named by
//! `CARETAKER_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`),
//! dropped when the test ends. Without that variable the PostgreSQL half of every storage
//! test is skipped, and the suite says so once on stderr.
//!
//! [`both_backends!`](crate::both_backends) turns one `async fn(TestDb)` into a SQLite test
//! and a PostgreSQL test.

#![allow(clippy::expect_used, clippy::panic)] // test support: failing loudly is the point

use std::io::Write;
use std::sync::Once;

use caretaker_domain::clock::{ManualClock, Timestamp};
use sqlx::{Connection, Executor};

use crate::{Backend, Db, DbOptions};

/// The variable naming the PostgreSQL server for tests. The `CARETAKER_TEST_` prefix is
/// reserved for the test suite: the server's configuration loader ignores it.
pub const POSTGRES_URL_VAR: &str = "CARETAKER_TEST_POSTGRES_URL";

/// 2021-03-10T14:23:23Z, the instant of the spec's known-answer vector.
pub const TEST_EPOCH: Timestamp = Timestamp::from_unix_micros(1_615_386_203_000_000);

/// A migrated, empty database of its own, with a clock that starts at [`TEST_EPOCH`].
pub struct TestDb {
    pub db: Db,
    /// The URL to hand to another process (e.g. the real binary).
    pub url: String,
    pub clock: ManualClock,
    guard: Guard,
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("url", &self.url).finish_non_exhaustive()
    }
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = Db::sqlite_url(&dir.path().join("caretaker.db"));
        Self::open(url, Guard::Sqlite(dir)).await
    }

    /// `None` (after saying so once) when no PostgreSQL server is configured.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = postgres_admin_url()?;
        let name = format!("caretaker_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connect to the PostgreSQL test server");
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create the test database");
        admin.close().await.ok();
        let url = database_url(&admin_url, &name);
        Some(Self::open(url, Guard::Postgres { admin_url, name }).await)
    }

    /// A database that has not been migrated (for migration tests).
    pub async fn postgres_unmigrated() -> Option<TestDb> {
        let admin_url = postgres_admin_url()?;
        let name = format!("caretaker_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connect");
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create");
        admin.close().await.ok();
        let url = database_url(&admin_url, &name);
        let db = Db::connect(&url, &DbOptions::default()).await.expect("connect");
        Some(TestDb { db, url, clock: ManualClock::new(TEST_EPOCH), guard: Guard::Postgres { admin_url, name } })
    }

    async fn open(url: String, guard: Guard) -> TestDb {
        let clock = ManualClock::new(TEST_EPOCH);
        let db = Db::connect(&url, &DbOptions::default()).await.expect("connect to the test database");
        db.migrate(&clock).await.expect("migrate the test database");
        TestDb { db, url, clock, guard }
    }

    /// `SELECT COUNT(*) FROM {what}`, e.g. `count("users WHERE tenant_id = 1")`.
    pub async fn count(&self, what: &str) -> i64 {
        use sqlx::Row;
        let sql = format!("SELECT COUNT(*) FROM {what}");
        let row = self.db.read().fetch_one(sqlx::query(&sql)).await.expect("count rows");
        row.try_get(0).expect("an integer count")
    }

    /// A pooled connection, for storage functions that take one.
    pub async fn conn(&self) -> sqlx::pool::PoolConnection<sqlx::Any> {
        self.db.read().acquire().await.expect("a connection")
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = &self.guard {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime, which may not block on async work: drop
            // the database from a thread with a runtime of its own.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                runtime.block_on(async {
                    let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                    admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.ok()
                })
            });
            let _ = dropped.join();
        }
    }
}

/// The configured PostgreSQL server, or `None` after a one-time notice.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            static NOTICE: Once = Once::new();
            NOTICE.call_once(|| {
                // Straight to the process's stderr: the test harness captures `eprintln!`.
                let _ = writeln!(
                    std::io::stderr(),
                    "\nNOTE: {POSTGRES_URL_VAR} is not set: the PostgreSQL half of the storage tests was SKIPPED.\n"
                );
            });
            None
        }
    }
}

/// `admin_url` with its database replaced by `name`.
pub fn database_url(admin_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("a valid PostgreSQL URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Runs one `async fn(TestDb)` as two tests, `NAME::sqlite` and `NAME::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::testing::TestDb::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    )+};
}
