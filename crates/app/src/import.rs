//! Bulk import for onboarding: many sites or assets in one transaction, all or nothing.
//! Every row goes through the same checks as Create Site / Create Asset; a refused file
//! answers with every refused row and its broken rules, and writes nothing.

use std::future::Future;

use caretaker_domain::access::{Authorized, can};
use caretaker_domain::clock::Timestamp;
use caretaker_storage::audit::{self, Event};
use caretaker_storage::{Conn, Savepoint, StorageError};

use crate::assets::{AssetImport, AssetInput};
use crate::principal::Principal;
use crate::sites::{SiteImport, SiteInput};
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

/// Rows checked, and then written, together (the progress moves a chunk at a time).
const CHUNK: usize = 500;

/// One kind of row the import writes. The loops below first have it `load` what all the
/// rows refer to (a statement per few hundred keys of a kind, not one per row), then hand it
/// the rows in order: `check` applies every rule of Create Site / Create Asset to one row in
/// memory and remembers it as accepted; `write` inserts the accepted rows of a chunk with
/// multi-row statements; `write_one` inserts a single row as Create does, the database's
/// refusal told as broken rules.
pub(crate) trait Importer<'r> {
    type Row: Sync + 'r;
    type Checked: Send + Sync;

    fn load(&mut self, conn: &mut Conn, rows: &[&'r Self::Row]) -> impl Future<Output = Result<(), AppError>> + Send;

    fn check(&mut self, row: &'r Self::Row) -> Result<Self::Checked, AppError>;

    fn write(
        &mut self,
        conn: &mut Conn,
        rows: &[Self::Checked],
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    fn write_one(
        &mut self,
        conn: &mut Conn,
        row: &Self::Checked,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), AppError>> + Send;
}

/// Imports sites in order (a parent may come earlier in the same file).
pub async fn sites(
    app: &App,
    by: &Authorized<'_, can::SitesWrite, Principal>,
    rows: Vec<Result<SiteInput, String>>,
    progress: impl FnMut(usize),
) -> Result<Outcome, AppError> {
    let by = by.principal();
    import_rows(app, by, &rows, || SiteImport::new(by.tenant), "sites.imported", progress).await
}

/// Imports assets in order.
pub async fn assets(
    app: &App,
    by: &Authorized<'_, can::AssetsWrite, Principal>,
    rows: Vec<Result<AssetInput, String>>,
    progress: impl FnMut(usize),
) -> Result<Outcome, AppError> {
    let by = by.principal();
    import_rows(app, by, &rows, || AssetImport::new(by), "assets.imported", progress).await
}

async fn import_rows<'r, I: Importer<'r>>(
    app: &App,
    by: &Principal,
    rows: &'r [Result<I::Row, String>],
    importer: impl Fn() -> I,
    action: &str,
    mut progress: impl FnMut(usize),
) -> Result<Outcome, AppError> {
    let now = app.clock.now();
    if let Some(outcome) = in_chunks(app, by, rows, importer(), action, now, &mut progress).await? {
        return Ok(outcome);
    }
    // The database refused rows that pass every rule: a code stored meanwhile by another
    // server, or text PostgreSQL cannot hold. Start again a row at a time to tell which.
    row_by_row(app, by, rows, importer(), action, now, &mut progress).await
}

/// The fast way: every row checked in memory, in order; the accepted rows of each chunk
/// written with a few multi-row statements while no row has been refused. Once one is,
/// nothing more is written (the file will be refused) but every row is still checked,
/// against the rows accepted before it, so that each refused row is reported. `None` when
/// the database refused a write: the transaction is rolled back, nothing was written.
async fn in_chunks<'r, I: Importer<'r>>(
    app: &App,
    by: &Principal,
    rows: &'r [Result<I::Row, String>],
    mut importer: I,
    action: &str,
    now: Timestamp,
    progress: &mut impl FnMut(usize),
) -> Result<Option<Outcome>, AppError> {
    let mut tx = app.db.begin().await?;
    // Everything the file refers to is looked up before anything is written: the lookups
    // then read the tables as they were, and PostgreSQL does not keep a plan made for a
    // table this import is filling (one cached while `sites` was nearly empty scanned it
    // whole for every later chunk).
    let inputs: Vec<&I::Row> = rows.iter().filter_map(|row| row.as_ref().ok()).collect();
    importer.load(&mut tx, &inputs).await?;
    let mut errors = Vec::new();
    let mut done = 0;
    for chunk in rows.chunks(CHUNK) {
        let mut accepted = Vec::with_capacity(chunk.len());
        for (offset, row) in chunk.iter().enumerate() {
            let row_number = done + offset + 1;
            match row {
                Err(message) => errors.push(RowError { row: row_number, messages: vec![message.clone()] }),
                Ok(input) => match importer.check(input) {
                    Ok(checked) => accepted.push(checked),
                    Err(err) => errors.push(RowError { row: row_number, messages: rule_messages(&err).ok_or(err)? }),
                },
            }
        }
        if errors.is_empty() && !accepted.is_empty() {
            match importer.write(&mut tx, &accepted, now).await {
                Ok(()) => {}
                Err(StorageError::Conflict(_) | StorageError::InvalidData(_)) => {
                    tx.rollback().await.map_err(StorageError::from)?;
                    return Ok(None);
                }
                Err(other) => return Err(other.into()),
            }
        }
        done += chunk.len();
        progress(done);
    }
    finish(tx, by, action, rows.len(), errors, now).await.map(Some)
}

/// The exact way, for a file the database refused in chunks: each accepted row written alone
/// under a savepoint, as Create would write it, so a refused write is that row's broken rule
/// and the rows after it see it missing.
async fn row_by_row<'r, I: Importer<'r>>(
    app: &App,
    by: &Principal,
    rows: &'r [Result<I::Row, String>],
    mut importer: I,
    action: &str,
    now: Timestamp,
    progress: &mut impl FnMut(usize),
) -> Result<Outcome, AppError> {
    let mut tx = app.db.begin().await?;
    let inputs: Vec<&I::Row> = rows.iter().filter_map(|row| row.as_ref().ok()).collect();
    importer.load(&mut tx, &inputs).await?;
    let mut errors = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let row_number = index + 1;
        let written = match row {
            Err(message) => Err(vec![message.clone()]),
            Ok(input) => match importer.check(input) {
                Err(err) => Err(rule_messages(&err).ok_or(err)?),
                Ok(checked) => {
                    let mut savepoint = Savepoint::open(&mut tx).await?;
                    match importer.write_one(savepoint.conn(), &checked, now).await {
                        Ok(()) => Ok(savepoint.release().await?),
                        Err(err) => {
                            savepoint.rollback().await?;
                            Err(rule_messages(&err).ok_or(err)?)
                        }
                    }
                }
            },
        };
        if let Err(messages) = written {
            errors.push(RowError { row: row_number, messages });
        }
        if row_number % CHUNK == 0 || row_number == rows.len() {
            progress(row_number);
        }
    }
    finish(tx, by, action, rows.len(), errors, now).await
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
