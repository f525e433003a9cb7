//! The hot writes (raise a task, change its status) on SQLite, without sqlx's connection
//! thread: a rusqlite connection used synchronously by whichever task holds the writer's
//! turn, a statement costing microseconds instead of two cross-thread hand-overs.
//!
//! SQLite has one writer at a time. The turn ([`WriterTurn`]) is what makes that so in the
//! process: every write transaction, sqlx's ([`Db::begin`](crate::Db::begin)) or this fast
//! one ([`Db::begin_write`](crate::Db::begin_write)), holds it from its first statement to
//! its commit, so the two connections never race for the file's lock (other processes, such
//! as a `caretaker` command beside the server, wait on the busy timeout as before).
//! On PostgreSQL a [`WriteTx`] is an ordinary transaction.
//!
//! Statements are the same [`Sql`] text on both, run through [`Writer`].

use std::path::PathBuf;
use std::sync::Arc;

use sqlx::{AnyConnection, Executor};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::read::{Columns, Reader, Sql, sqlite_execute, sqlite_first, sqlite_rows};
use crate::{StorageError, Tx};

/// The right to write, on SQLite: one holder at a time; inside, the fast writer's connection
/// (opened on first use).
#[derive(Debug)]
pub(crate) struct WriterTurn {
    path: PathBuf,
    conn: Arc<Mutex<Option<rusqlite::Connection>>>,
}

/// A held turn.
pub(crate) type Turn = OwnedMutexGuard<Option<rusqlite::Connection>>;

impl WriterTurn {
    pub fn new(path: PathBuf) -> Self {
        Self { path, conn: Arc::new(Mutex::new(None)) }
    }

    pub async fn take(&self) -> Turn {
        Arc::clone(&self.conn).lock_owned().await
    }

    /// Takes the turn and opens a transaction on the fast writer.
    pub async fn begin(&self) -> Result<SqliteTx, StorageError> {
        let mut turn = self.take().await;
        if turn.is_none() {
            *turn = Some(self.open()?);
        }
        let conn = turn.as_mut().ok_or(StorageError::NotFound)?;
        // IMMEDIATE: the file's write lock now, not at the first write (no upgrade that
        // could fail against another process).
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(SqliteTx { turn, open: true })
    }

    fn open(&self) -> Result<rusqlite::Connection, StorageError> {
        let conn = rusqlite::Connection::open(&self.path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // As sqlx's writer: foreign keys on, a full sync at every commit (durable when
        // acknowledged), WAL beside the readers.
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA journal_mode = WAL;")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }
}

/// A transaction on SQLite's fast writer; rolled back when dropped uncommitted.
pub struct SqliteTx {
    turn: Turn,
    open: bool,
}

impl SqliteTx {
    fn conn(&mut self) -> Result<&mut rusqlite::Connection, StorageError> {
        self.turn.as_mut().ok_or(StorageError::NotFound)
    }

    async fn commit(mut self) -> Result<(), StorageError> {
        let conn = self.conn()?;
        let done = conn.execute_batch("COMMIT");
        if done.is_err() {
            // A failed COMMIT (e.g. the disk is full) leaves the transaction open.
            conn.execute_batch("ROLLBACK").ok();
        }
        self.open = false;
        Ok(done?)
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if self.open
            && let Some(conn) = self.turn.as_mut()
            && !conn.is_autocommit()
        {
            conn.execute_batch("ROLLBACK").ok();
        }
    }
}

/// A write transaction for the hot writes: SQLite's fast writer, or (PostgreSQL) a
/// transaction of the pool. Commit it to keep the writes.
pub enum WriteTx {
    Sqlite(SqliteTx),
    Any(Tx),
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), StorageError> {
        match self {
            WriteTx::Sqlite(tx) => tx.commit().await,
            WriteTx::Any(tx) => Ok(tx.commit().await?),
        }
    }
}

/// Where a write runs: a transaction's connection, either driver.
pub enum Writer<'a> {
    Conn(&'a mut AnyConnection),
    Sqlite(&'a mut rusqlite::Connection),
    /// The fast writer's connection could not be reached (never expected).
    Lost,
}

impl<'a> From<&'a mut AnyConnection> for Writer<'a> {
    fn from(conn: &'a mut AnyConnection) -> Self {
        Writer::Conn(conn)
    }
}

impl<'a> From<&'a mut Tx> for Writer<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        Writer::Conn(tx)
    }
}

impl<'a> From<&'a mut WriteTx> for Writer<'a> {
    fn from(tx: &'a mut WriteTx) -> Self {
        match tx {
            WriteTx::Sqlite(tx) => match tx.conn() {
                Ok(conn) => Writer::Sqlite(conn),
                Err(_) => Writer::Lost,
            },
            WriteTx::Any(tx) => Writer::Conn(tx),
        }
    }
}

impl<'a> From<&'a mut WriteTx> for Reader<'a> {
    fn from(tx: &'a mut WriteTx) -> Self {
        match Writer::from(tx) {
            Writer::Conn(conn) => Reader::Conn(conn),
            Writer::Sqlite(conn) => Reader::Sqlite(conn),
            // Reads then fail as the writes would.
            Writer::Lost => Reader::Lost,
        }
    }
}

impl Writer<'_> {
    /// Runs a statement that returns no rows; the number of rows it changed.
    pub(crate) async fn execute(&mut self, sql: &Sql) -> Result<u64, StorageError> {
        match self {
            Writer::Conn(conn) => Ok(conn.execute(sql.query()).await?.rows_affected()),
            Writer::Sqlite(conn) => sqlite_execute(conn, sql),
            Writer::Lost => Err(lost()),
        }
    }

    /// The first row of `sql` (e.g. `INSERT ... RETURNING id`).
    pub(crate) async fn first<T>(
        &mut self,
        sql: &Sql,
        decode: impl Fn(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        match self {
            Writer::Conn(conn) => conn.fetch_optional(sql.query()).await?.as_ref().map(|row| decode(row)).transpose(),
            Writer::Sqlite(conn) => sqlite_first(conn, sql, decode),
            Writer::Lost => Err(lost()),
        }
    }

    /// Every row of `sql`.
    pub(crate) async fn rows<T>(
        &mut self,
        sql: &Sql,
        decode: impl Fn(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        match self {
            Writer::Conn(conn) => {
                let rows = conn.fetch_all(sql.query()).await?;
                rows.iter().map(|row| decode(row)).collect()
            }
            Writer::Sqlite(conn) => sqlite_rows(conn, sql, decode),
            Writer::Lost => Err(lost()),
        }
    }

    /// The same writer again, for another statement.
    pub fn again(&mut self) -> Writer<'_> {
        match self {
            Writer::Conn(conn) => Writer::Conn(conn),
            Writer::Sqlite(conn) => Writer::Sqlite(conn),
            Writer::Lost => Writer::Lost,
        }
    }
}

pub(crate) fn lost() -> StorageError {
    StorageError::Corrupt(String::from("the SQLite writer's connection is missing"))
}
