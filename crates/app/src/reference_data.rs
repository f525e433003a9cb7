//! Matrices and reference lists: the default configuration of a tenant, and reading them.

use caretaker_domain::access::{Authorized, can};
use caretaker_domain::matrix::{
    DEFAULT_CUSTOM_FIELDS, DEFAULT_MATRIX_ITEMS, DEFAULT_REFERENCE_VALUES, MatrixCode, MatrixType, ReferenceGroup,
};
use caretaker_domain::tenant::TenantId;
use caretaker_storage::custom_fields::{self, NewField};
use caretaker_storage::reference_data::{self, MatrixItem, ReferenceValue};
use caretaker_storage::{Conn, StorageError, tenants};

use crate::principal::Principal;
use crate::{App, AppError};

/// Writes the default matrices and reference lists of a new tenant (in the caller's
/// transaction), so that it can create sites, assets and tasks at once.
pub async fn seed_defaults(conn: &mut Conn, tenant: TenantId) -> Result<(), StorageError> {
    for (matrix_type, code, name) in DEFAULT_MATRIX_ITEMS {
        let parent = MatrixCode::parse(code).ok().and_then(|c| c.parent()).map(|p| p.as_str().to_owned());
        reference_data::insert_matrix_item(conn, tenant, *matrix_type, code, name, parent.as_deref()).await?;
    }
    for (order, (group, value)) in DEFAULT_REFERENCE_VALUES.iter().enumerate() {
        reference_data::insert_reference_value(conn, tenant, *group, value, order as i64).await?;
    }
    for (order, (target, code, name, question, mandatory, data_type, answers, parent)) in
        DEFAULT_CUSTOM_FIELDS.iter().enumerate()
    {
        let field = NewField {
            target: target.name(),
            matrix_code: code,
            name,
            question,
            is_mandatory: *mandatory,
            data_type,
            answers,
            parent: *parent,
            sort_order: order as i64,
        };
        custom_fields::insert(conn, tenant, &field).await?;
    }
    Ok(())
}

/// Gives tenants created before matrices existed their default configuration (at start).
pub async fn ensure_defaults(app: &App) -> Result<usize, AppError> {
    let mut seeded = 0;
    for tenant in tenants::list(&app.db).await? {
        if reference_data::matrix_item_count(app.db.read(), tenant.id).await? == 0 {
            let mut tx = app.db.begin().await?;
            tenants::lock(&mut tx, tenant.id).await?;
            if reference_data::matrix_item_count(&mut *tx, tenant.id).await? == 0 {
                seed_defaults(&mut tx, tenant.id).await?;
                seeded += 1;
            }
            tx.commit().await.map_err(StorageError::from)?;
        }
    }
    Ok(seeded)
}

/// The items of one matrix type.
pub async fn matrix(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataRead, Principal>,
    matrix_type: MatrixType,
) -> Result<Vec<MatrixItem>, AppError> {
    Ok(reference_data::matrix_items(app.db.read(), by.principal().tenant, matrix_type).await?)
}

/// The values of one reference list group.
pub async fn reference_list(
    app: &App,
    by: &Authorized<'_, can::ReferenceDataRead, Principal>,
    group: ReferenceGroup,
) -> Result<Vec<ReferenceValue>, AppError> {
    Ok(reference_data::reference_values(app.db.read(), by.principal().tenant, group).await?)
}
