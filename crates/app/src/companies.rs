//! Companies (manufacturers, sellers, service firms) and manufacturer models.

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, can};
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::user::Email;
use caretaker_storage::StorageError;
use caretaker_storage::audit::{self, Event};
use caretaker_storage::companies::{self, Company, NewCompany};

use crate::principal::Principal;
use crate::{App, AppError};

/// The company types of the Urgent API.
pub const COMPANY_TYPES: [&str; 3] = ["AssetManufacturer", "AssetSeller", "AssetServiceFirm"];

/// Create Company as sent.
#[derive(Debug, Default, Clone)]
pub struct CompanyInput {
    pub name: String,
    pub email_address: String,
    pub telephone_number: String,
    pub address_line1: String,
    pub address_line2: String,
    pub address_line3: String,
    pub town: String,
    pub county: String,
    pub postcode: String,
    pub country: String,
    pub company_types: Vec<String>,
}

fn rule(problem: &str, value: impl Into<String>) -> BrokenRule {
    BrokenRule::new("Company", problem, value)
}

/// Creates a company; returns its identifier (a GUID).
pub async fn create(
    app: &App,
    by: &Authorized<'_, can::CompaniesWrite, Principal>,
    input: CompanyInput,
) -> Result<String, AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    // The keys and sentences of the Urgent documentation where it gives them.
    for (value, problem, text) in [
        (&input.name, "MissingCompanyName", "Company Name is required"),
        (&input.email_address, "MissingEmailAddress", "Email Address is required"),
        (&input.telephone_number, "MissingTelephoneNumber", "Telephone Number is required"),
        (&input.address_line1, "MissingAddressLine1", "Address Line 1 is required"),
        (&input.country, "MissingCountry", "Country is required"),
    ] {
        if value.trim().is_empty() {
            check.push(rule(problem, text));
        }
    }
    if !input.email_address.trim().is_empty() && Email::parse(&input.email_address).is_err() {
        check.push(rule("InvalidEmailAddress", format!("{:?} is not a valid e-mail address", input.email_address)));
    }
    if input.company_types.is_empty() {
        check.push(rule("MissingCompanyType", "Company Type is required"));
    }
    let mut types: Vec<&str> = Vec::new();
    for given in &input.company_types {
        match COMPANY_TYPES.iter().find(|t| t.eq_ignore_ascii_case(given.trim())) {
            Some(known) if !types.contains(known) => types.push(known),
            Some(_) => {}
            None => check.push(rule(
                "InvalidCompanyType",
                format!("{given:?} is not a company type (AssetManufacturer, AssetSeller, AssetServiceFirm)"),
            )),
        }
    }
    for (field, value) in [
        ("Name", &input.name),
        ("AddressLine1", &input.address_line1),
        ("AddressLine2", &input.address_line2),
        ("AddressLine3", &input.address_line3),
        ("Town", &input.town),
        ("County", &input.county),
        ("Postcode", &input.postcode),
        ("Country", &input.country),
        ("TelephoneNumber", &input.telephone_number),
    ] {
        if value.chars().count() > 200 {
            check.push(rule("FieldTooLong", format!("{field} must be at most 200 characters")));
        }
    }
    check.finish().map_err(AppError::Invalid)?;
    let identifier = uuid::Uuid::new_v4().to_string();
    let name = input.name.trim();
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let new = NewCompany {
        identifier: &identifier,
        name,
        email: input.email_address.trim(),
        telephone: input.telephone_number.trim(),
        address: [
            input.address_line1.trim(),
            input.address_line2.trim(),
            input.address_line3.trim(),
            input.town.trim(),
            input.county.trim(),
            input.postcode.trim(),
            input.country.trim(),
        ],
        company_types: &types.join(","),
    };
    match companies::insert(&mut tx, by.tenant, &new, now).await {
        Ok(()) => {}
        Err(StorageError::Conflict(_)) => {
            return Err(AppError::conflict(rule("DuplicateName", format!("A company named {name:?} already exists"))));
        }
        Err(other) => return Err(other.into()),
    }
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "company.created",
            target: Some(name),
            detail: &types.join(", "),
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(identifier)
}

/// Adds a model to a manufacturer (a company of type AssetManufacturer).
pub async fn create_model(
    app: &App,
    by: &Authorized<'_, can::CompaniesWrite, Principal>,
    manufacturer: &str,
    model: &str,
) -> Result<(), AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    let model = model.trim();
    if model.is_empty() || model.chars().count() > 200 {
        check.push(BrokenRule::new("Model", "InvalidName", "Model Name must be 1 to 200 characters"));
    }
    let mut tx = app.db.begin().await?;
    let company = companies::find_by_name(&mut *tx, by.tenant, manufacturer).await?;
    match &company {
        Some((_, _, types)) if types.split(',').any(|t| t == "AssetManufacturer") => {}
        Some(_) => check.push(BrokenRule::new(
            "Model",
            "NotAManufacturer",
            format!("{manufacturer:?} is not a company of type AssetManufacturer"),
        )),
        None => {
            check.push(BrokenRule::new("Model", "UnknownManufacturer", format!("No company is named {manufacturer:?}")))
        }
    }
    check.finish().map_err(AppError::Invalid)?;
    let Some((company, name, _)) = company else { return Err(AppError::internal("checked input missing")) };
    match companies::insert_model(&mut tx, company, model).await {
        Ok(_) => {}
        Err(StorageError::Conflict(_)) => {
            return Err(AppError::conflict(BrokenRule::new(
                "Model",
                "DuplicateName",
                format!("{name} already has a model named {model:?}"),
            )));
        }
        Err(other) => return Err(other.into()),
    }
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "model.created",
            target: Some(&name),
            detail: model,
        },
        app.clock.now(),
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}

/// The tenant's companies by name, each with its models.
pub async fn list(app: &App, by: &Authorized<'_, can::CompaniesRead, Principal>) -> Result<Vec<Company>, AppError> {
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    Ok(companies::list(&mut conn, by.principal().tenant).await?)
}

/// One company of the tenant by its identifier (a GUID); [`AppError::NotFound`] otherwise.
pub async fn get(
    app: &App,
    by: &Authorized<'_, can::CompaniesRead, Principal>,
    identifier: &str,
) -> Result<Company, AppError> {
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    companies::get(&mut conn, by.principal().tenant, identifier).await?.ok_or(AppError::NotFound)
}

/// The model names of one company of the tenant, by name.
pub async fn models(
    app: &App,
    by: &Authorized<'_, can::CompaniesRead, Principal>,
    identifier: &str,
) -> Result<Vec<String>, AppError> {
    Ok(get(app, by, identifier).await?.models)
}
