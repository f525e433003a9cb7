use caretaker_domain::{BrokenRule, BrokenRules};
use caretaker_storage::StorageError;

/// Why a use case did not happen. Every variant maps to one status of the REST contract
/// (see caretaker-http's error mapping) and to one exit line of the command line.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request breaks rules (400); nothing was written.
    #[error("{0}")]
    Invalid(BrokenRules),
    /// The request collides with stored state (409); nothing was written.
    #[error("{0}")]
    Conflict(BrokenRules),
    /// Not found, or not visible to the caller (404): the two are never told apart.
    #[error("not found")]
    NotFound,
    /// The caller is known but may not do this (403).
    #[error("{0}")]
    Forbidden(BrokenRules),
    /// The database does not answer (503).
    #[error("the database is unavailable")]
    Unavailable(#[source] StorageError),
    /// A bug or corrupt state (500); the detail goes to the log, never to the caller.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    pub fn invalid(rule: BrokenRule) -> Self {
        AppError::Invalid(BrokenRules::one(rule))
    }

    pub fn conflict(rule: BrokenRule) -> Self {
        AppError::Conflict(BrokenRules::one(rule))
    }

    pub fn forbidden(rule: BrokenRule) -> Self {
        AppError::Forbidden(BrokenRules::one(rule))
    }

    pub fn internal(detail: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        AppError::Internal(detail.into())
    }
}

impl From<StorageError> for AppError {
    /// Storage errors that a use case did not map itself: unavailability stays visible,
    /// everything else is internal (a conflict the use case did not expect is a bug).
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::Unavailable(_) => AppError::Unavailable(err),
            StorageError::NotFound => AppError::NotFound,
            StorageError::InvalidData(_) => AppError::invalid(BrokenRule::new(
                "Request",
                "InvalidText",
                "The request holds characters that cannot be stored (such as NUL)",
            )),
            other => AppError::Internal(Box::new(other)),
        }
    }
}
