//! Reads that may run on the fast SQLite readers: statements built with numbered parameters
//! ([`Sql`]), rows read by position the same way from either driver ([`Columns`]), and
//! where a read runs ([`Reader`]).
//!
//! sqlx runs every SQLite connection on a thread of its own and hands each row to the async
//! task over a channel, copying every value twice on the way (into its SQLite row, then into
//! the `Any` row). For a page of 50 tasks that was most of the server's CPU: scheduler
//! wake-ups and allocations, not SQLite (docs/PERFORMANCE.md). So on SQLite the hot reads
//! (the credential stamp, a task with its notes and history, a page of tasks) run on
//! read-only connections of [`SqliteReaders`], synchronously on the calling thread: a page
//! costs SQLite a few dozen microseconds, less than one hand-over to another thread. The
//! statement text is the same one the `Any` path runs on PostgreSQL (and inside
//! transactions): one query source, two ways to execute it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Executor, Row};

use crate::{Db, StorageError, Tx};

/// A statement with numbered parameters (`$1`, `$2`, ...), built piece by piece.
#[derive(Default, Debug)]
pub(crate) struct Sql {
    /// Borrowed when the statement is a constant (no allocation per call).
    pub text: Cow<'static, str>,
    binds: Vec<Bind>,
}

#[derive(Clone, Debug)]
pub(crate) enum Bind {
    Int(i64),
    Text(String),
    /// A nullable parameter keeps its type when NULL (PostgreSQL plans with it).
    OptInt(Option<i64>),
    OptText(Option<String>),
}

impl Sql {
    pub fn new(text: impl Into<Cow<'static, str>>) -> Self {
        Self { text: text.into(), binds: Vec::new() }
    }

    /// Records a parameter and returns its placeholder.
    pub fn arg(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    /// Adds a parameter whose placeholder the text already holds (`$n`, in order).
    pub fn bind(mut self, bind: Bind) -> Self {
        self.binds.push(bind);
        self
    }

    pub(crate) fn query(&self) -> sqlx::query::Query<'_, Any, AnyArguments<'_>> {
        self.binds.iter().fold(sqlx::query(&self.text), |q, bind| match bind {
            Bind::Int(v) => q.bind(*v),
            Bind::Text(v) => q.bind(v.as_str()),
            Bind::OptInt(v) => q.bind(*v),
            Bind::OptText(v) => q.bind(v.as_deref()),
        })
    }
}

/// A row's columns by position, whichever driver read it.
pub(crate) trait Columns {
    fn int(&self, index: usize) -> Result<i64, StorageError>;
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StorageError>;
    fn text(&self, index: usize) -> Result<String, StorageError>;
    fn opt_text(&self, index: usize) -> Result<Option<String>, StorageError>;
    /// Text borrowed from the row (no copy).
    fn str(&self, index: usize) -> Result<&str, StorageError>;
    fn opt_str(&self, index: usize) -> Result<Option<&str>, StorageError>;
}

impl Columns for AnyRow {
    fn int(&self, index: usize) -> Result<i64, StorageError> {
        Ok(self.try_get(index)?)
    }
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StorageError> {
        Ok(self.try_get(index)?)
    }
    fn text(&self, index: usize) -> Result<String, StorageError> {
        Ok(self.try_get(index)?)
    }
    fn opt_text(&self, index: usize) -> Result<Option<String>, StorageError> {
        Ok(self.try_get(index)?)
    }
    fn str(&self, index: usize) -> Result<&str, StorageError> {
        Ok(self.try_get(index)?)
    }
    fn opt_str(&self, index: usize) -> Result<Option<&str>, StorageError> {
        Ok(self.try_get(index)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn int(&self, index: usize) -> Result<i64, StorageError> {
        Ok(self.get(index)?)
    }
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StorageError> {
        Ok(self.get(index)?)
    }
    fn text(&self, index: usize) -> Result<String, StorageError> {
        Ok(self.get(index)?)
    }
    fn opt_text(&self, index: usize) -> Result<Option<String>, StorageError> {
        Ok(self.get(index)?)
    }
    fn str(&self, index: usize) -> Result<&str, StorageError> {
        self.get_ref(index)?.as_str().map_err(unreadable)
    }
    fn opt_str(&self, index: usize) -> Result<Option<&str>, StorageError> {
        self.get_ref(index)?.as_str_or_null().map_err(unreadable)
    }
}

fn unreadable(err: rusqlite::types::FromSqlError) -> StorageError {
    StorageError::Corrupt(format!("a text column: {err}"))
}

/// Where a read runs: the read side of the database (the fast readers on SQLite, a pooled
/// connection on PostgreSQL) or a connection the caller holds (inside a transaction, it
/// sees the transaction's own writes).
pub enum Reader<'a> {
    Db(&'a Db),
    Conn(&'a mut AnyConnection),
    /// SQLite's fast writer, inside its transaction (see `write.rs`).
    Sqlite(&'a mut rusqlite::Connection),
    /// The fast writer's connection could not be reached (never expected): reads fail.
    Lost,
}

impl<'a> From<&'a Db> for Reader<'a> {
    fn from(db: &'a Db) -> Self {
        Reader::Db(db)
    }
}

impl<'a> From<&'a mut AnyConnection> for Reader<'a> {
    fn from(conn: &'a mut AnyConnection) -> Self {
        Reader::Conn(conn)
    }
}

impl<'a> From<&'a mut Tx> for Reader<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        Reader::Conn(tx)
    }
}

impl<'a> From<&'a mut PoolConnection<Any>> for Reader<'a> {
    fn from(conn: &'a mut PoolConnection<Any>) -> Self {
        Reader::Conn(conn)
    }
}

impl<'a> Reader<'a> {
    /// The database handle, when the reader is one (not a transaction's connection).
    pub(crate) fn db(&self) -> Option<&'a Db> {
        match self {
            Reader::Db(db) => Some(db),
            _ => None,
        }
    }

    /// Every row of `sql`, each decoded by `decode`.
    pub(crate) async fn rows<T>(
        &mut self,
        sql: &Sql,
        mut decode: impl FnMut(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        match self {
            Reader::Db(db) => match db.sqlite_readers() {
                Some(readers) => readers.rows(sql, decode),
                None => {
                    let mut conn = db.read().acquire().await?;
                    let rows = conn.fetch_all(sql.query()).await?;
                    rows.iter().map(|row| decode(row)).collect()
                }
            },
            Reader::Conn(conn) => {
                let rows = conn.fetch_all(sql.query()).await?;
                rows.iter().map(|row| decode(row)).collect()
            }
            Reader::Sqlite(conn) => sqlite_rows(conn, sql, decode),
            Reader::Lost => Err(crate::write::lost()),
        }
    }

    /// The first row of `sql`, if any.
    pub(crate) async fn first<T>(
        &mut self,
        sql: &Sql,
        decode: impl Fn(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        match self {
            Reader::Db(db) => match db.sqlite_readers() {
                Some(readers) => readers.first(sql, decode),
                None => {
                    let mut conn = db.read().acquire().await?;
                    conn.fetch_optional(sql.query()).await?.as_ref().map(|row| decode(row)).transpose()
                }
            },
            Reader::Conn(conn) => conn.fetch_optional(sql.query()).await?.as_ref().map(|row| decode(row)).transpose(),
            Reader::Sqlite(conn) => sqlite_first(conn, sql, decode),
            Reader::Lost => Err(crate::write::lost()),
        }
    }

    /// The same reader again, for another statement.
    pub fn again(&mut self) -> Reader<'_> {
        match self {
            Reader::Db(db) => Reader::Db(db),
            Reader::Conn(conn) => Reader::Conn(conn),
            Reader::Sqlite(conn) => Reader::Sqlite(conn),
            Reader::Lost => Reader::Lost,
        }
    }
}

/// The reads of one request that makes several. On SQLite one fast reader, held inside one
/// read transaction from the first read on: the reads see one state of the database, and
/// the WAL's read lock and the check for other writers' changes are taken once instead of
/// per statement. On PostgreSQL one pooled connection, taken at the first read and kept (a
/// request holding a connection never waits for a second one, which could starve the
/// pool); each statement sees what was committed when it ran. Drop it before waiting for a
/// write transaction (on SQLite its reads would not see that write; and while it lives,
/// checkpoints cannot pass the state it reads).
pub struct ReadSession<'a> {
    db: &'a Db,
    conn: Option<PoolConnection<Any>>,
    held: Option<rusqlite::Connection>,
}

impl<'a> ReadSession<'a> {
    pub fn new(db: &'a Db) -> Self {
        Self { db, conn: None, held: None }
    }

    /// Where the next read runs.
    pub async fn reader(&mut self) -> Result<Reader<'_>, StorageError> {
        if let Some(readers) = self.db.sqlite_readers() {
            let held = match self.held.take() {
                Some(held) => held,
                None => readers.begin()?,
            };
            return Ok(Reader::Sqlite(self.held.insert(held)));
        }
        Ok(Reader::Conn(self.conn().await?))
    }

    /// A connection, for reads not (yet) written for [`Reader`]. On SQLite it is outside the
    /// session's read transaction, which ends first (it is not held while the pool is
    /// waited for; the session's next read begins another).
    pub async fn conn(&mut self) -> Result<&mut AnyConnection, StorageError> {
        self.end_held();
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.db.read().acquire().await?,
        };
        Ok(&mut **self.conn.insert(conn))
    }

    /// Ends the SQLite read transaction, if one is held.
    fn end_held(&mut self) {
        if let (Some(held), Some(readers)) = (self.held.take(), self.db.sqlite_readers()) {
            readers.end(held);
        }
    }
}

impl Drop for ReadSession<'_> {
    fn drop(&mut self) {
        self.end_held();
    }
}

/// Idle connections kept; more are opened when more threads read at once.
const MAX_IDLE: usize = 16;

/// Read-only SQLite connections used synchronously by whichever thread reads.
///
/// A connection is taken for one statement and put back, never held across an `.await`,
/// so a thread never waits for another: when none is idle a new one is opened. Their
/// number is bounded by the threads that read at once (the runtime's workers).
#[derive(Debug)]
pub(crate) struct SqliteReaders {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl SqliteReaders {
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_owned(), idle: Mutex::new(Vec::new()) }
    }

    fn with<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T, StorageError>) -> Result<T, StorageError> {
        let conn = self.take()?;
        let result = f(&conn);
        self.put(conn);
        result
    }

    /// An idle connection, or a new one.
    fn take(&self) -> Result<rusqlite::Connection, StorageError> {
        let idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    /// Keeps `conn` for the next reader, up to [`MAX_IDLE`].
    fn put(&self, conn: rusqlite::Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// A connection inside a read transaction (it reads from its first statement on).
    fn begin(&self) -> Result<rusqlite::Connection, StorageError> {
        let conn = self.take()?;
        conn.prepare_cached("BEGIN")?.raw_execute()?;
        Ok(conn)
    }

    /// Ends the read transaction of a connection from [`Self::begin`] and puts it back (or
    /// closes it, should its transaction not end).
    fn end(&self, conn: rusqlite::Connection) {
        let ended = conn.prepare_cached("COMMIT").and_then(|mut commit| commit.raw_execute()).is_ok();
        if ended && conn.is_autocommit() {
            self.put(conn);
        }
    }

    fn open(&self) -> Result<rusqlite::Connection, StorageError> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    fn rows<T>(
        &self,
        sql: &Sql,
        decode: impl FnMut(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        self.with(|conn| sqlite_rows(conn, sql, decode))
    }

    fn first<T>(
        &self,
        sql: &Sql,
        decode: impl Fn(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        self.with(|conn| sqlite_first(conn, sql, decode))
    }
}

pub(crate) fn sqlite_rows<T>(
    conn: &rusqlite::Connection,
    sql: &Sql,
    mut decode: impl FnMut(&dyn Columns) -> Result<T, StorageError>,
) -> Result<Vec<T>, StorageError> {
    let mut statement = prepare(conn, sql)?;
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

pub(crate) fn sqlite_first<T>(
    conn: &rusqlite::Connection,
    sql: &Sql,
    decode: impl Fn(&dyn Columns) -> Result<T, StorageError>,
) -> Result<Option<T>, StorageError> {
    let mut statement = prepare(conn, sql)?;
    let mut rows = statement.raw_query();
    rows.next()?.map(|row| decode(row)).transpose()
}

/// Runs a statement that returns no rows; the number of rows it changed.
pub(crate) fn sqlite_execute(conn: &rusqlite::Connection, sql: &Sql) -> Result<u64, StorageError> {
    let mut statement = prepare(conn, sql)?;
    Ok(statement.raw_execute()? as u64)
}

/// The cached statement with its parameters bound by name: SQLite numbers `$n` by first
/// appearance in the text, which need not be the order they were recorded in.
fn prepare<'c>(conn: &'c rusqlite::Connection, sql: &Sql) -> Result<rusqlite::CachedStatement<'c>, StorageError> {
    let mut statement = conn.prepare_cached(&sql.text)?;
    for index in 1..=statement.parameter_count() {
        let bind = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|number| number.parse::<usize>().ok())
            .and_then(|number| sql.binds.get(number.checked_sub(1)?))
            .ok_or_else(|| StorageError::Corrupt(format!("statement parameter {index} has no value")))?;
        match bind {
            Bind::Int(value) => statement.raw_bind_parameter(index, value)?,
            Bind::Text(value) => statement.raw_bind_parameter(index, value.as_str())?,
            Bind::OptInt(value) => statement.raw_bind_parameter(index, value)?,
            Bind::OptText(value) => statement.raw_bind_parameter(index, value.as_deref())?,
        }
    }
    Ok(statement)
}

/// The file a `sqlite://` URL names, when it is a plain file the fast readers can open
/// (not an in-memory database).
pub(crate) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').map_or((rest, ""), |(p, q)| (p, q));
    let plain = !path.is_empty() && !path.starts_with(':') && !path.contains('%') && !query.contains("memory");
    plain.then(|| PathBuf::from(path))
}

/// SQLite's plan of `sql` (the `detail` of each step, one per line), for tests that a
/// statement reads an index range instead of scanning.
#[cfg(test)]
pub(crate) async fn query_plan(db: &Db, sql: &Sql) -> String {
    let explain = Sql { text: format!("EXPLAIN QUERY PLAN {}", sql.text).into(), binds: sql.binds.clone() };
    let rows = db.read().fetch_all(explain.query()).await.expect("a plan");
    rows.iter().map(|row| row.try_get::<String, _>(3).expect("detail")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_files_get_fast_readers() {
        assert_eq!(sqlite_file("sqlite:///data/caretaker.db"), Some(PathBuf::from("/data/caretaker.db")));
        assert_eq!(sqlite_file("sqlite://data/c.db?mode=rwc"), Some(PathBuf::from("data/c.db")));
        assert_eq!(sqlite_file("sqlite:c.db"), Some(PathBuf::from("c.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://file.db?mode=memory"), None);
        assert_eq!(sqlite_file("sqlite://my%20data.db"), None);
        assert_eq!(sqlite_file("postgres://localhost/db"), None);
    }
}
