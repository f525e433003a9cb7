use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use std::sync::Arc;

use crate::StorageError;
use crate::read::{SqliteReaders, sqlite_file};
use crate::write::{Turn, WriteTx, WriterTurn};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};

/// A write transaction; commit it to keep the writes (dropped, it rolls back). It derefs to
/// the connection storage functions take. On SQLite it holds the writer's turn (see
/// `write.rs`) until it ends.
pub struct Tx {
    inner: Transaction<'static, Any>,
    _turn: Option<Turn>,
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &sqlx::AnyConnection {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.inner
    }
}

/// Which database sits under the pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Pool sizes and timeouts.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// Connections for reads (SQLite) or for everything (PostgreSQL).
    pub max_connections: u32,
    /// How long a request waits for a connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
    /// SQLite: a WAL file larger than this is cut back once writes pause (see `write.rs`).
    pub wal_kept_bytes: u64,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self { max_connections: 16, acquire_timeout: Duration::from_secs(5), wal_kept_bytes: 64 * 1024 * 1024 }
    }
}

/// The database: a pool for writes and a pool for reads.
///
/// On SQLite the write pool holds a single connection, so writers queue in the process
/// instead of failing with `SQLITE_BUSY`, while the read pool's connections run beside it
/// (WAL). On PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Db {
    backend: Backend,
    write: AnyPool,
    read: AnyPool,
    /// SQLite: the connections the hot reads run on (see `read.rs`).
    fast: Option<Arc<SqliteReaders>>,
    /// SQLite: the one writer's turn, and the fast writer (see `write.rs`).
    turn: Option<Arc<WriterTurn>>,
    /// How Contractor users' task pages are walked, per contractor (see `tasks.rs`).
    walks: Arc<crate::tasks::WalkChoices>,
}

/// How long a PostgreSQL connection may sit in the pool before it is pinged on its way
/// out (a failed ping swaps it for a new one).
const IDLE_BEFORE_PING: std::time::Duration = std::time::Duration::from_secs(1);

impl Db {
    /// Connects to `url`: `sqlite://PATH` (created when missing) or `postgres://...`.
    pub async fn connect(url: &str, options: &DbOptions) -> Result<Self, StorageError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        match backend {
            Backend::Sqlite => {
                let write = sqlite_pool(url, 1, options, false).await?;
                // Each SQLite connection is a thread of sqlx's: more readers than a few per core
                // add scheduling and memory, not throughput.
                let cores = std::thread::available_parallelism().map_or(2, |n| u32::try_from(n.get()).unwrap_or(2));
                let readers = options.max_connections.clamp(1, (2 * cores).max(4));
                let read = sqlite_pool(url, readers, options, true).await?;
                let file = sqlite_file(url);
                let fast = file.as_deref().map(|path| Arc::new(SqliteReaders::new(path)));
                let turn = file.map(|path| Arc::new(WriterTurn::new(path, options.wal_kept_bytes)));
                Ok(Self { backend, write, read, fast, turn, walks: Arc::default() })
            }
            Backend::Postgres => {
                let connect = AnyConnectOptions::from_str(url)
                    .map_err(|err| StorageError::Corrupt(format!("invalid database URL: {err}")))?
                    .disable_statement_logging();
                let pool = AnyPoolOptions::new()
                    .max_connections(options.max_connections.max(2))
                    .min_connections(0)
                    .acquire_timeout(options.acquire_timeout)
                    // sqlx pings every connection as it goes back to the pool; a ping before
                    // each acquire too was a third round trip per statement. Only a connection
                    // that sat idle (when the server may have restarted unseen) is checked.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for >= IDLE_BEFORE_PING {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_lazy_with(connect);
                Ok(Self { backend, write: pool.clone(), read: pool, fast: None, turn: None, walks: Arc::default() })
            }
        }
    }

    /// The SQLite URL of a file, for [`Db::connect`].
    pub fn sqlite_url(path: &Path) -> String {
        format!("sqlite://{}", path.display())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for reads.
    pub fn read(&self) -> &AnyPool {
        &self.read
    }

    /// Whether the hot reads run on SQLite's own read-only connections (see `read.rs`).
    pub fn fast_reads(&self) -> bool {
        self.fast.is_some()
    }

    /// SQLite: the synchronous read-only connections of the hot reads.
    pub(crate) fn walks(&self) -> &crate::tasks::WalkChoices {
        &self.walks
    }

    pub(crate) fn sqlite_readers(&self) -> Option<&SqliteReaders> {
        self.fast.as_deref()
    }

    /// Opens a write transaction.
    pub async fn begin(&self) -> Result<Tx, StorageError> {
        let turn = match &self.turn {
            Some(turn) => Some(turn.take_for_sqlx().await),
            None => None,
        };
        Ok(Tx { inner: self.write.begin().await?, _turn: turn })
    }

    /// Opens a write transaction for the hot writes: on SQLite on the fast writer (see
    /// `write.rs`), on PostgreSQL as [`Db::begin`].
    pub async fn begin_write(&self) -> Result<WriteTx, StorageError> {
        match &self.turn {
            Some(turn) => Ok(WriteTx::Sqlite(turn.begin().await?)),
            None => Ok(WriteTx::Any(self.begin().await?)),
        }
    }

    /// The pool writes go through (for the migration runner).
    pub(crate) fn write_pool(&self) -> &AnyPool {
        &self.write
    }

    /// Answers while the database answers: `SELECT 1` on a pooled connection.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.read.execute("SELECT 1").await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

fn backend_of(url: &str) -> Result<Backend, StorageError> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => Ok(Backend::Sqlite),
        Some("postgres" | "postgresql") => Ok(Backend::Postgres),
        _ => Err(StorageError::Corrupt(String::from("the database URL must start with sqlite:// or postgres://"))),
    }
}

async fn sqlite_pool(url: &str, size: u32, options: &DbOptions, read_only: bool) -> Result<AnyPool, StorageError> {
    // `mode=rwc` creates the file; the read pool opens it read-only, so a write on it is a
    // bug that fails loudly instead of racing the writer.
    let separator = if url.contains('?') { '&' } else { '?' };
    let mode = if read_only { "ro" } else { "rwc" };
    let connect = AnyConnectOptions::from_str(&format!("{url}{separator}mode={mode}"))
        .map_err(|err| StorageError::Corrupt(format!("invalid SQLite URL: {err}")))?
        .disable_statement_logging();
    let pool = AnyPoolOptions::new()
        .max_connections(size)
        .min_connections(if read_only { 0 } else { 1 })
        .acquire_timeout(options.acquire_timeout)
        // A file's connections do not go stale: no idle or age limit, and so no pool
        // maintenance task (sqlx's loops, seen spinning on a core when a CLI command's
        // runtime shut down with it still scheduled).
        .idle_timeout(None)
        .max_lifetime(None)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; foreign keys are off by default in
                // SQLite; the busy timeout covers other processes on the same file (a
                // `caretaker tenant create` next to a running server).
                conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;")
                    .await?;
                if !read_only {
                    conn.execute("PRAGMA journal_mode = WAL;").await?;
                }
                Ok(())
            })
        })
        .connect_with(connect)
        .await?;
    Ok(pool)
}

/// A savepoint inside a transaction: a unit that can be undone alone (on PostgreSQL a failed
/// statement otherwise poisons the whole transaction).
pub struct Savepoint<'t> {
    conn: &'t mut sqlx::AnyConnection,
}

impl<'t> Savepoint<'t> {
    pub async fn open(conn: &'t mut sqlx::AnyConnection) -> Result<Savepoint<'t>, StorageError> {
        conn.execute(sqlx::raw_sql("SAVEPOINT caretaker_row")).await?;
        Ok(Savepoint { conn })
    }

    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        self.conn
    }

    pub async fn release(self) -> Result<(), StorageError> {
        self.conn.execute(sqlx::raw_sql("RELEASE SAVEPOINT caretaker_row")).await?;
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StorageError> {
        self.conn.execute(sqlx::raw_sql("ROLLBACK TO SAVEPOINT caretaker_row")).await?;
        self.conn.execute(sqlx::raw_sql("RELEASE SAVEPOINT caretaker_row")).await?;
        Ok(())
    }
}
