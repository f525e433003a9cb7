//! Bulk import for onboarding: many sites or assets in one transaction, all or nothing.
//! Every row goes through the same checks as Create Site / Create Asset; a refused file
//! answers with every refused row and its broken rules, and writes nothing.

use std::future::Future;
use std::pin::Pin;

use caretaker_domain::access::{Authorized, can};
use caretaker_domain::clock::Timestamp;
use caretaker_storage::audit::{self, Event};
use caretaker_storage::{Conn, Savepoint, StorageError};

use crate::assets::{self, AssetInput};
use crate::principal::Principal;
use crate::sites::{self, SiteInput};
use crate::{App, AppError};

/// A refused row: its number (1 = the first data row) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub row: usize,
    pub messages: Vec<String>,
}

/// What an import did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every row was written.
    Imported(usize),
    /// Nothing was written; these rows broke rules.
    Refused(Vec<RowError>),
}

fn rule_messages(err: &AppError) -> Option<Vec<String>> {
    match err {
        AppError::Invalid(rules) | AppError::Conflict(rules) | AppError::Forbidden(rules) => {
            Some(rules.rules().iter().map(|r| format!("{}: {}", r.key, r.value)).collect())
        }
        _ => None,
    }
}

/// One row's insert, in the caller's transaction.
type InsertRow<T> = for<'a> fn(
    &'a mut Conn,
    &'a Principal,
    &'a T,
    Timestamp,
) -> Pin<Box<dyn Future<Output = Result<(), AppError>> + Send + 'a>>;

/// Imports sites in order (a parent may come earlier in the same file).
pub async fn sites(
    app: &App,
    by: &Authorized<'_, can::SitesWrite, Principal>,
    rows: Vec<Result<SiteInput, String>>,
    progress: impl FnMut(usize),
) -> Result<Outcome, AppError> {
    let insert: InsertRow<SiteInput> =
        |conn, by, input, now| Box::pin(async move { sites::insert_checked(conn, by, input, now).await.map(|_| ()) });
    import_rows(app, by.principal(), rows, insert, "sites.imported", progress).await
}

/// Imports assets in order.
pub async fn assets(
    app: &App,
    by: &Authorized<'_, can::AssetsWrite, Principal>,
    rows: Vec<Result<AssetInput, String>>,
    progress: impl FnMut(usize),
) -> Result<Outcome, AppError> {
    let insert: InsertRow<AssetInput> =
        |conn, by, input, now| Box::pin(async move { assets::insert_checked(conn, by, input, now).await.map(|_| ()) });
    import_rows(app, by.principal(), rows, insert, "assets.imported", progress).await
}

/// Every row through `insert`, each under its own savepoint; all or nothing.
async fn import_rows<T>(
    app: &App,
    by: &Principal,
    rows: Vec<Result<T, String>>,
    insert: InsertRow<T>,
    action: &str,
    mut progress: impl FnMut(usize),
) -> Result<Outcome, AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let mut errors = Vec::new();
    let total = rows.len();
    for (index, row) in rows.into_iter().enumerate() {
        let row_number = index + 1;
        match row {
            Err(message) => errors.push(RowError { row: row_number, messages: vec![message] }),
            Ok(input) => {
                let mut savepoint = Savepoint::open(&mut tx).await?;
                match insert(savepoint.conn(), by, &input, now).await {
                    Ok(()) => savepoint.release().await?,
                    Err(err) => {
                        savepoint.rollback().await?;
                        match rule_messages(&err) {
                            Some(messages) => errors.push(RowError { row: row_number, messages }),
                            None => return Err(err),
                        }
                    }
                }
            }
        }
        if row_number % 1000 == 0 || row_number == total {
            progress(row_number);
        }
    }
    finish(tx, by, action, total, errors, now).await
}

async fn finish(
    mut tx: caretaker_storage::Tx,
    by: &Principal,
    action: &str,
    total: usize,
    errors: Vec<RowError>,
    now: Timestamp,
) -> Result<Outcome, AppError> {
    if !errors.is_empty() {
        tx.rollback().await.map_err(StorageError::from)?;
        return Ok(Outcome::Refused(errors));
    }
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action,
            target: None,
            detail: &format!("{total} rows"),
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(Outcome::Imported(total))
}
