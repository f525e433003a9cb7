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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Executor};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

use crate::read::{Columns, Reader, Sql, sqlite_execute};
use crate::{StorageError, Tx};

/// The right to write, on SQLite: one holder at a time; inside, the fast writer's connection
/// (opened on first use) and the batch of committed transactions waiting for their fsync.
///
/// Group commit: a fast transaction runs inside a savepoint of one SQLite transaction that
/// stays open while other writers are queued for the turn. Its commit releases the savepoint
/// and, when nobody else is waiting (or the batch is full or old), commits the SQLite
/// transaction (one fsync for the whole batch) and wakes the batch's members. A member is
/// answered only after that COMMIT: every acknowledged write is durable, and a failed
/// COMMIT fails every member. A member that is not the flusher waits a few milliseconds at
/// most, then takes the turn and commits the batch itself.
#[derive(Debug)]
pub(crate) struct WriterTurn {
    path: PathBuf,
    state: Arc<Mutex<WriterState>>,
    /// Writers waiting for the turn.
    wanting: Arc<AtomicUsize>,
}

#[derive(Debug, Default)]
pub(crate) struct WriterState {
    conn: Option<rusqlite::Connection>,
    batch: Option<Batch>,
    /// Whether the last batch committed had more than one member (writers are busy).
    busy: bool,
    /// Wakes the checkpointer after a commit (see [`checkpointer`]).
    checkpoint: Option<std::sync::mpsc::SyncSender<()>>,
}

/// The transactions committed into the open SQLite transaction.
#[derive(Debug)]
struct Batch {
    members: usize,
    started: Instant,
    done: Arc<Flushed>,
}

/// How a batch ended: set once, then everyone waiting is woken.
#[derive(Debug, Default)]
struct Flushed {
    result: OnceLock<Result<(), String>>,
    notify: Notify,
}

/// A batch is committed when this many transactions are in it...
const MAX_BATCH: usize = 64;
/// ...or when it is this old,
const MAX_BATCH_AGE: Duration = Duration::from_millis(1);
/// and a member waits this long for the flusher before committing the batch itself.
const MEMBER_PATIENCE: Duration = Duration::from_millis(2);
/// While writers are busy, the batch stays open this long after a commit that found nobody
/// waiting, for the writers still checking their requests on the read side: an fsync costs
/// about a millisecond here, so a batch twice as large halves what each member pays for it.
/// Waiting longer costs more than it saves: with 32 clients, (age, linger, patience) of
/// (2, 1, 5) ms gave 4,890-5,153 creates/s and 5,413-5,681 status changes/s, (1, 0.3, 2) ms
/// 5,477-5,940 and 6,119-6,688 (docs/PERFORMANCE.md).
const LINGER: Duration = Duration::from_micros(300);

/// A held turn.
pub(crate) type Turn = OwnedMutexGuard<WriterState>;

/// Counts a writer as waiting while it exists (a cancelled wait uncounts itself).
struct Wanting(Arc<AtomicUsize>);

impl Wanting {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Wanting(Arc::clone(count))
    }
}

impl Drop for Wanting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl WriterTurn {
    /// `wal_kept`: the WAL file is cut back when larger than this once writes pause.
    pub fn new(path: PathBuf, wal_kept: u64) -> Self {
        // The checkpointer holds the state weakly: it ends when the turn is dropped.
        let state = Arc::new_cyclic(|state| {
            let checkpoint = checkpointer(path.clone(), wal_kept, Weak::clone(state));
            Mutex::new(WriterState { checkpoint, ..WriterState::default() })
        });
        Self { path, state, wanting: Arc::new(AtomicUsize::new(0)) }
    }

    async fn take(&self) -> Turn {
        let _wanting = Wanting::new(&self.wanting);
        Arc::clone(&self.state).lock_owned().await
    }

    /// The turn for a transaction on sqlx's writer: the open batch is committed first.
    pub async fn take_for_sqlx(&self) -> Turn {
        let mut turn = self.take().await;
        flush(&mut turn);
        // Its commit is not seen here: the checkpointer counts the write from its start.
        if let Some(checkpoint) = &turn.checkpoint {
            checkpoint.try_send(()).ok();
        }
        turn
    }

    /// Takes the turn and opens a transaction (a savepoint of the batch) on the fast writer.
    pub async fn begin(&self) -> Result<SqliteTx, StorageError> {
        let mut turn = self.take().await;
        if turn.conn.is_none() {
            turn.conn = Some(self.open(turn.checkpoint.is_some())?);
        }
        let state = &mut *turn;
        let conn = state.conn.as_mut().ok_or_else(lost)?;
        if state.batch.is_some() && conn.is_autocommit() {
            // The batch's transaction ended under it (SQLite rolls back on some I/O errors).
            fail(state.batch.take(), "the write batch was rolled back by the database");
        }
        if state.batch.is_none() {
            // IMMEDIATE: the file's write lock now, not at the first write (no upgrade that
            // could fail against another process).
            conn.execute_batch("BEGIN IMMEDIATE")?;
            state.batch = Some(Batch { members: 0, started: Instant::now(), done: Arc::default() });
        }
        if let Err(err) = conn.execute_batch("SAVEPOINT caretaker_write") {
            // Nothing of this transaction exists; the batch stays for its members.
            if state.batch.as_ref().is_some_and(|b| b.members == 0) {
                conn.execute_batch("ROLLBACK").ok();
                state.batch = None;
            }
            return Err(err.into());
        }
        Ok(SqliteTx { turn: Some(turn), wanting: Arc::clone(&self.wanting), state: Arc::clone(&self.state) })
    }

    /// The fast writer's connection; `checkpointed`: the checkpointer runs, so the
    /// connection does not checkpoint itself.
    fn open(&self, checkpointed: bool) -> Result<rusqlite::Connection, StorageError> {
        let conn = rusqlite::Connection::open(&self.path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // As sqlx's writer: foreign keys on, a full sync at every commit (durable when
        // acknowledged), WAL beside the readers. Temporary storage in memory: each member
        // of a group commit is a savepoint whose sub-journal (the pages it changed, copied
        // before it changes them) otherwise spills to a temporary file past 64 KiB, a
        // `pwrite` per page while the writer's turn is held.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA journal_mode = WAL; PRAGMA temp_store = MEMORY;",
        )?;
        if checkpointed {
            conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        }
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }
}

/// Starts the thread that copies the WAL into the database file beside the writer, and
/// turns off the fast writer's own checkpoints: SQLite's automatic checkpoint runs inside
/// the COMMIT that crosses 1,000 WAL pages, so every writer waited for it to write and
/// sync the database file. A passive checkpoint on its own connection copies what readers
/// no longer need without blocking the writer. A pass after a commit, at most one every
/// 100 ms; the thread ends with the writer's turn. `None` (the writer then checkpoints
/// itself) when the thread cannot be started.
///
/// Under steady reads and writes SQLite never rewinds the WAL, so a burst leaves a file as
/// large as its writes (docs/DECISIONS.md "The WAL under sustained load"). Once no commit
/// has come for [`QUIET`], a WAL file larger than `wal_kept` is checkpointed whole and
/// truncated, holding the writer's turn meanwhile: a write arriving then waits for it, one
/// time after a burst, instead of every write paying for a rewound WAL during it.
fn checkpointer(
    path: PathBuf,
    wal_kept: u64,
    state: Weak<Mutex<WriterState>>,
) -> Option<std::sync::mpsc::SyncSender<()>> {
    use std::sync::mpsc::RecvTimeoutError;
    let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
    let wal = {
        let mut name = path.clone().into_os_string();
        name.push("-wal");
        PathBuf::from(name)
    };
    let thread = std::thread::Builder::new().name(String::from("sqlite-checkpoint")).spawn(move || {
        let mut conn: Option<rusqlite::Connection> = None;
        let mut last: Option<Instant> = None;
        // Whether commits came since the WAL's size was last looked at.
        let mut written = false;
        // How long a pause must last; longer after a cut-back that readers held off.
        let mut quiet = QUIET;
        loop {
            let woke = if written {
                woken.recv_timeout(quiet)
            } else {
                woken.recv().map_err(|_| RecvTimeoutError::Disconnected)
            };
            match woke {
                Ok(()) => written = true,
                Err(RecvTimeoutError::Timeout) => {
                    written = false;
                    let large = std::fs::metadata(&wal).is_ok_and(|meta| meta.len() > wal_kept);
                    if let (true, Some(open), Some(state)) = (large, &conn, state.upgrade()) {
                        match truncate(open, &state) {
                            Ok(true) => quiet = QUIET,
                            // Readers (another process's, say) kept the old WAL: again later.
                            Ok(false) => {
                                written = true;
                                quiet = (quiet * 2).min(MAX_QUIET);
                            }
                            Err(err) => {
                                tracing::warn!(error = %err, "cutting back the SQLite WAL failed; it is tried after the next pause");
                            }
                        }
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // At most one pass per CHECKPOINT_EVERY: the rest of it is waited out, and the
            // commits meanwhile fold into this pass.
            if let Some(due) = last.map(|at| at + CHECKPOINT_EVERY) {
                while let Some(left) = due.checked_duration_since(Instant::now()) {
                    match woken.recv_timeout(left) {
                        Ok(()) => {}
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            }
            if conn.is_none() {
                conn = rusqlite::Connection::open(&path).ok();
                if let Some(conn) = &conn {
                    conn.busy_timeout(Duration::from_secs(5)).ok();
                }
            }
            if let Some(open) = &conn
                && let Err(err) = open.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            {
                tracing::warn!(error = %err, "checkpoint of the SQLite WAL failed; it is retried after the next commit");
                conn = None;
            }
            last = Some(Instant::now());
        }
    });
    thread.ok().map(|_| wake)
}

/// Copies the whole WAL into the database file and truncates it, holding the writer's turn;
/// whether it was done. Readers still on the WAL are waited for [`TRUNCATE_PATIENCE`] at
/// most (SQLite then answers "busy" and leaves the WAL as it is).
fn truncate(conn: &rusqlite::Connection, state: &Mutex<WriterState>) -> rusqlite::Result<bool> {
    let mut turn = state.blocking_lock();
    flush(&mut turn);
    conn.busy_timeout(TRUNCATE_PATIENCE)?;
    // (busy, pages in the WAL, pages copied): see SQLite's `wal_checkpoint` pragma.
    let busy = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get::<_, i64>(0));
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(busy? == 0)
}

/// How often, at most, the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// Writes have paused when none came for this long...
const QUIET: Duration = Duration::from_secs(1);
/// ...or, after cut-backs readers held off, up to this long.
const MAX_QUIET: Duration = Duration::from_secs(64);
/// How long cutting the WAL back waits for readers (and writers of other processes).
const TRUNCATE_PATIENCE: Duration = Duration::from_millis(50);

/// Commits the open batch, if any, and tells its members how it went.
fn flush(state: &mut WriterState) {
    let Some(batch) = state.batch.take() else { return };
    state.busy = batch.members > 1;
    let result = match state.conn.as_mut() {
        Some(conn) if !conn.is_autocommit() => match conn.execute_batch("COMMIT") {
            Ok(()) => {
                if let Some(checkpoint) = &state.checkpoint {
                    // Full means a pass is already due.
                    checkpoint.try_send(()).ok();
                }
                Ok(())
            }
            Err(err) => {
                // A failed COMMIT (e.g. the disk is full) leaves the transaction open.
                conn.execute_batch("ROLLBACK").ok();
                Err(err.to_string())
            }
        },
        _ => Err(String::from("the write batch was rolled back by the database")),
    };
    finish(&batch.done, result);
}

/// Commits the batch on a blocking thread, then gives the turn back: the COMMIT's fsync
/// (about a millisecond on this kind of disk) would otherwise stop one of the runtime's few
/// workers, and every request waiting on it, for that long.
async fn flush_aside(mut turn: Turn) {
    // A panic there has dropped the turn; the batch's members then commit it themselves.
    let _ = tokio::task::spawn_blocking(move || flush(&mut turn)).await;
}

fn fail(batch: Option<Batch>, why: &str) {
    if let Some(batch) = batch {
        finish(&batch.done, Err(why.to_owned()));
    }
}

fn finish(done: &Flushed, result: Result<(), String>) {
    done.result.set(result).ok();
    done.notify.notify_waiters();
}

/// A transaction on SQLite's fast writer (a savepoint of the open batch); rolled back when
/// dropped uncommitted.
pub struct SqliteTx {
    turn: Option<Turn>,
    wanting: Arc<AtomicUsize>,
    state: Arc<Mutex<WriterState>>,
}

impl SqliteTx {
    fn conn(&mut self) -> Result<&mut rusqlite::Connection, StorageError> {
        self.turn.as_mut().and_then(|turn| turn.conn.as_mut()).ok_or_else(lost)
    }

    async fn commit(mut self) -> Result<(), StorageError> {
        let Some(mut turn) = self.turn.take() else { return Err(lost()) };
        let state = &mut *turn;
        let conn = state.conn.as_mut().ok_or_else(lost)?;
        if let Err(err) = conn.execute_batch("RELEASE caretaker_write") {
            undo(state);
            return Err(err.into());
        }
        let Some(batch) = state.batch.as_mut() else { return Err(lost()) };
        batch.members += 1;
        let done = Arc::clone(&batch.done);
        let batch_due = batch.members >= MAX_BATCH || batch.started.elapsed() >= MAX_BATCH_AGE;
        let alone = self.wanting.load(Ordering::SeqCst) == 0;
        let flush_now = batch_due || (alone && !state.busy);
        let linger = alone && !flush_now;
        if flush_now {
            flush_aside(turn).await;
        } else {
            drop(turn);
        }
        let patience = if linger { LINGER } else { MEMBER_PATIENCE };
        loop {
            let notified = done.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(result) = done.result.get() {
                return result.clone().map_err(|why| StorageError::Other(why.into()));
            }
            if tokio::time::timeout(patience, notified).await.is_err() {
                // Whoever was to commit the batch has not: commit it (or see it committed).
                let turn = Arc::clone(&self.state).lock_owned().await;
                if done.result.get().is_none() && turn.batch.as_ref().is_some_and(|b| Arc::ptr_eq(&b.done, &done)) {
                    flush_aside(turn).await;
                }
            }
        }
    }
}

/// Rolls the current savepoint back; commits the batch when nobody else is coming to.
fn undo(state: &mut WriterState) {
    if let Some(conn) = state.conn.as_mut()
        && !conn.is_autocommit()
    {
        conn.execute_batch("ROLLBACK TO caretaker_write; RELEASE caretaker_write").ok();
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        let Some(mut turn) = self.turn.take() else { return };
        undo(&mut turn);
        match turn.batch.as_ref().map(|batch| batch.members) {
            // The batch holds nothing: end its transaction.
            Some(0) => {
                if let Some(conn) = turn.conn.as_mut()
                    && !conn.is_autocommit()
                {
                    conn.execute_batch("ROLLBACK").ok();
                }
                if let Some(batch) = turn.batch.take() {
                    finish(&batch.done, Ok(()));
                }
            }
            // Members wait for a COMMIT, and nobody else is coming to make it.
            Some(_) if self.wanting.load(Ordering::SeqCst) == 0 => flush(&mut turn),
            _ => {}
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
        self.reader().first(sql, decode).await
    }

    /// Every row of `sql`.
    pub(crate) async fn rows<T>(
        &mut self,
        sql: &Sql,
        decode: impl FnMut(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        self.reader().rows(sql, decode).await
    }

    /// Reads on the same connection (they see the transaction's writes).
    fn reader(&mut self) -> Reader<'_> {
        match self {
            Writer::Conn(conn) => Reader::Conn(conn),
            Writer::Sqlite(conn) => Reader::Sqlite(conn),
            // Reads then fail as the writes would.
            Writer::Lost => Reader::Lost,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A group commit's members are savepoints: their sub-journals stay in memory instead of
    /// spilling to a temporary file while the writer's turn is held.
    #[tokio::test]
    async fn the_fast_writer_keeps_temporary_storage_in_memory() {
        let dir = std::env::temp_dir().join(format!("caretaker-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let turn = WriterTurn::new(dir.join("writer.db"), u64::MAX);
        let mut tx = turn.begin().await.unwrap();
        let temp_store: i64 = tx.conn().unwrap().query_row("PRAGMA temp_store", [], |row| row.get(0)).unwrap();
        assert_eq!(temp_store, 2, "2 is MEMORY");
        drop(tx);
        drop(turn);
        std::fs::remove_dir_all(&dir).ok();
    }
}
