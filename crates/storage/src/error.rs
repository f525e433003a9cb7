use sqlx::error::ErrorKind;

/// What went wrong in storage, in the terms the layers above act on.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A uniqueness rule refused the write; `.0` names what collided (the constraint or,
    /// on SQLite, the column list).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A foreign key or check constraint refused the write.
    #[error("constraint violated: {0}")]
    Constraint(String),
    #[error("not found")]
    NotFound,
    /// The database does not answer (connection refused, pool timed out, closed).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] DriverError),
    /// The database refused a value as data (e.g. a NUL character in text on PostgreSQL):
    /// the request's fault, not the server's.
    #[error("the database cannot store a value: {0}")]
    InvalidData(String),
    /// A stored value that the code cannot read: a bug or a hand-edited database.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Other(#[source] DriverError),
}

/// The driver's own error (sqlx's, or rusqlite's on the fast SQLite readers).
pub type DriverError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl From<rusqlite::Error> for StorageError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match &err {
            rusqlite::Error::QueryReturnedNoRows => StorageError::NotFound,
            rusqlite::Error::SqliteFailure(failure, message) if failure.code == ErrorCode::ConstraintViolation => {
                let what = message.clone().unwrap_or_else(|| failure.to_string());
                // SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY.
                if matches!(failure.extended_code, 2067 | 1555) {
                    StorageError::Conflict(what)
                } else {
                    StorageError::Constraint(what)
                }
            }
            rusqlite::Error::SqliteFailure(failure, _)
                if matches!(
                    failure.code,
                    ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                        | ErrorCode::CannotOpen
                        | ErrorCode::SystemIoFailure
                ) =>
            {
                StorageError::Unavailable(Box::new(err))
            }
            _ => StorageError::Other(Box::new(err)),
        }
    }
}

impl From<sqlx::Error> for StorageError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => StorageError::NotFound,
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StorageError::Unavailable(Box::new(err)),
            sqlx::Error::Database(db) => {
                let what = db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned());
                match db.kind() {
                    ErrorKind::UniqueViolation => StorageError::Conflict(what),
                    ErrorKind::ForeignKeyViolation | ErrorKind::NotNullViolation | ErrorKind::CheckViolation => {
                        StorageError::Constraint(what)
                    }
                    _ if is_connection_loss(db.code().as_deref()) => StorageError::Unavailable(Box::new(err)),
                    // SQLSTATE class 22: data exceptions (bad characters, values out of range).
                    _ if db.code().is_some_and(|code| code.starts_with("22")) => StorageError::InvalidData(what),
                    _ => StorageError::Other(Box::new(err)),
                }
            }
            _ => StorageError::Other(Box::new(err)),
        }
    }
}

/// PostgreSQL SQLSTATE classes 08 (connection exception) and 57P (operator intervention,
/// e.g. the server shutting down): the database went away, not the query's fault.
fn is_connection_loss(code: Option<&str>) -> bool {
    code.is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
}
