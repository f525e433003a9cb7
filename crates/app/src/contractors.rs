//! Contractors: create, list, read.

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, can};
use caretaker_domain::contractor::{ContractorCode, ContractorId, display_name};
use caretaker_domain::rules::RuleCheck;
use caretaker_storage::StorageError;
use caretaker_storage::audit::{self, Event};
use caretaker_storage::contractors::{self, Contractor, NewContractor};

use crate::principal::Principal;
use crate::{App, AppError};

/// What the Create Contractor form (or `caretaker contractor create`) sends.
#[derive(Debug, Default)]
pub struct ContractorInput {
    pub name: String,
    /// Defaults to the name in capitals with spaces as dashes.
    pub code: Option<String>,
    pub parent: Option<String>,
    pub email: String,
    pub telephone: String,
}

pub async fn create(
    app: &App,
    by: &Authorized<'_, can::ContractorsWrite, Principal>,
    input: ContractorInput,
) -> Result<ContractorId, AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    let name = check.check(display_name("Contractor", &input.name, 200));
    let code = match input.code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => check.check(ContractorCode::parse(code)),
        None => check.check(ContractorCode::from_name(&input.name)),
    };
    if input.email.len() > 254 || input.telephone.len() > 50 {
        check.push(BrokenRule::new("Contractor", "FieldTooLong", "E-mail or telephone is too long"));
    }
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let parent = match input.parent.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(parent) => match contractors::find_by_code(&mut *tx, by.tenant, parent).await? {
            Some(found) => Some(found.id),
            None => {
                check.push(BrokenRule::new(
                    "Contractor",
                    "UnknownParent",
                    format!("No contractor has the code {parent:?}"),
                ));
                None
            }
        },
        None => None,
    };
    check.finish().map_err(AppError::Invalid)?;
    let (Some(name), Some(code)) = (name, code) else {
        return Err(AppError::internal("checked input missing"));
    };
    let id = match contractors::insert(
        &mut tx,
        &NewContractor {
            tenant: by.tenant,
            code: &code,
            name: &name,
            parent,
            email: input.email.trim(),
            telephone: input.telephone.trim(),
        },
        now,
    )
    .await
    {
        Ok(id) => id,
        Err(StorageError::Conflict(_)) => {
            return Err(AppError::conflict(BrokenRule::new(
                "Contractor",
                "DuplicateCode",
                format!("A contractor with the code {code} already exists"),
            )));
        }
        Err(other) => return Err(other.into()),
    };
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "contractor.created",
            target: Some(code.as_str()),
            detail: &name,
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(id)
}

pub async fn list(
    app: &App,
    by: &Authorized<'_, can::ContractorsRead, Principal>,
    search: Option<&str>,
) -> Result<Vec<Contractor>, AppError> {
    Ok(contractors::list(app.db.read(), by.principal().tenant, search).await?)
}

/// Another tenant's id is [`AppError::NotFound`].
pub async fn get(
    app: &App,
    by: &Authorized<'_, can::ContractorsRead, Principal>,
    id: ContractorId,
) -> Result<Contractor, AppError> {
    contractors::get(app.db.read(), by.principal().tenant, id).await?.ok_or(AppError::NotFound)
}
