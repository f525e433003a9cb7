//! Reading the audit log.

use caretaker_domain::access::{Authorized, can};
use caretaker_storage::audit::{self, Entry, Filter};

use crate::principal::Principal;
use crate::{App, AppError};

pub async fn list(
    app: &App,
    by: &Authorized<'_, can::AuditLogRead, Principal>,
    filter: &Filter,
    limit: i64,
) -> Result<Vec<Entry>, AppError> {
    Ok(audit::list(&app.db, by.principal().tenant, filter, limit.clamp(1, 1000)).await?)
}
