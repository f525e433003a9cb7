//! Assets: create (Manufacturer and Model must exist, dates ignore the time part), read, list.

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::matrix::{CustomFieldTarget, MatrixCode, MatrixType, ReferenceGroup};
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::site::parse_date;
use caretaker_storage::assets::{self, Asset, NewAsset};
use caretaker_storage::audit::{self, Event};
use caretaker_storage::{Conn, StorageError, companies, reference_data, sites};

use crate::principal::Principal;
use crate::{App, AppError};

/// The units of `LifeSpan.Unit`.
pub const LIFE_SPAN_UNITS: [&str; 3] = ["Days", "Months", "Years"];

/// Create Asset as sent.
#[derive(Debug, Default, Clone)]
pub struct AssetInput {
    pub parent_asset_identifier: Option<String>,
    pub site_code: String,
    pub matrix_code: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub asset_tag: Option<String>,
    pub description: Option<String>,
    pub quantity: Option<i64>,
    pub installation_date: Option<String>,
    pub purchase_date: Option<String>,
    pub purchase_value: Option<f64>,
    pub current_value: Option<f64>,
    pub year_of_manufacture: Option<i64>,
    pub life_span: Option<(Option<i64>, Option<String>)>,
    pub category: Option<String>,
    /// Answers to the custom fields of the asset's matrix code: (name, value).
    pub custom_fields: Vec<(String, String)>,
}

fn rule(problem: &str, value: impl Into<String>) -> BrokenRule {
    BrokenRule::new("Asset", problem, value)
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Creates an asset; returns it with its new GUID.
pub async fn create(
    app: &App,
    by: &Authorized<'_, can::AssetsWrite, Principal>,
    input: AssetInput,
) -> Result<Asset, AppError> {
    let by = by.principal();
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let identifier = insert_checked(&mut tx, by, &input, now).await?;
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "asset.created",
            target: Some(&identifier),
            detail: input.site_code.trim(),
        },
        now,
    )
    .await?;
    let created = assets::get(&mut tx, by.tenant, &identifier).await?.ok_or(AppError::NotFound)?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(created)
}

/// Checks every rule of one asset and inserts it in the caller's transaction, without an
/// audit entry; returns its GUID. The unit of both Create Asset and the import.
pub async fn insert_checked(
    conn: &mut Conn,
    by: &Principal,
    input: &AssetInput,
    now: Timestamp,
) -> Result<String, AppError> {
    let mut check = RuleCheck::new();
    let date = |check: &mut RuleCheck, field: &str, value: &Option<String>| {
        present(value).and_then(|text| {
            let parsed = parse_date(text).map(|d| d.to_string());
            if parsed.is_none() {
                check.push(rule(
                    "InvalidDate",
                    format!("{field} must be a date (YYYY-MM-DD; any time part is ignored)"),
                ));
            }
            parsed
        })
    };
    let installation_date = date(&mut check, "InstallationDate", &input.installation_date);
    let purchase_date = date(&mut check, "PurchaseDate", &input.purchase_date);
    if input.custom_fields.len() > 200 {
        check.push(rule("TooManyItems", "CustomFields may have at most 200 entries"));
    }
    let quantity = input.quantity.unwrap_or(1);
    if quantity < 1 {
        check.push(rule("InvalidQuantity", "Quantity must be at least 1"));
    }
    for (field, value) in [("PurchaseValue", input.purchase_value), ("CurrentValue", input.current_value)] {
        if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
            check.push(rule("InvalidValue", format!("{field} must not be negative")));
        }
    }
    if input.year_of_manufacture.is_some_and(|y| !(1800..=2200).contains(&y)) {
        check.push(rule("InvalidYearOfManufacture", "YearOfManufacture must be a year such as 2023"));
    }
    let life_span = match &input.life_span {
        Some((value, unit)) => match (
            value,
            unit.as_deref().and_then(|u| LIFE_SPAN_UNITS.iter().find(|k| k.eq_ignore_ascii_case(u.trim()))),
        ) {
            (Some(v), Some(unit)) if *v >= 1 => Some((*v, *unit)),
            (None, None) => None,
            _ => {
                check.push(rule(
                    "InvalidLifeSpan",
                    "LifeSpan needs a Value of at least 1 and a Unit of Days, Months or Years",
                ));
                None
            }
        },
        None => None,
    };
    for (field, value, max) in [
        ("SerialNumber", &input.serial_number, 100),
        ("AssetTag", &input.asset_tag, 100),
        ("Description", &input.description, 4000),
    ] {
        if value.as_deref().is_some_and(|v| v.chars().count() > max) {
            check.push(rule("FieldTooLong", format!("{field} must be at most {max} characters")));
        }
    }

    let site = if input.site_code.trim().is_empty() {
        check.push(rule("MissingSiteCode", "SiteCode is required"));
        None
    } else {
        let found =
            if by.sees_all_sites() { sites::id_by_code(&mut *conn, by.tenant, &input.site_code).await? } else { None };
        if found.is_none() {
            check.push(rule("UnknownSite", format!("No site has the code {:?}", input.site_code.trim())));
        }
        found
    };
    let matrix_code = input.matrix_code.trim();
    if matrix_code.is_empty() {
        check.push(rule("MissingMatrixCode", "MatrixCode is required"));
    } else if MatrixCode::parse(matrix_code).is_err()
        || !reference_data::matrix_item_exists(&mut *conn, by.tenant, MatrixType::Asset, matrix_code, true).await?
    {
        check.push(rule("UnknownMatrixCode", format!("{matrix_code:?} is not an Asset matrix code")));
    }
    let fields = if MatrixCode::parse(matrix_code).is_ok() {
        crate::custom_fields::applicable(conn, by.tenant, CustomFieldTarget::Asset, matrix_code).await?
    } else {
        Vec::new()
    };
    let answers = crate::custom_fields::check_answers("Asset", &fields, &input.custom_fields, &mut check);
    let model = match (present(&input.manufacturer), present(&input.model)) {
        (None, None) => None,
        (Some(manufacturer), model) => match companies::find_by_name(&mut *conn, by.tenant, manufacturer).await? {
            Some((company, _, types)) if types.split(',').any(|t| t == "AssetManufacturer") => match model {
                Some(model) => {
                    let found = companies::find_model(&mut *conn, company, model).await?;
                    if found.is_none() {
                        check.push(rule("UnknownModel", format!("{manufacturer} has no model named {model:?}")));
                    }
                    found
                }
                None => {
                    check.push(rule("MissingModel", "Model is required with a Manufacturer"));
                    None
                }
            },
            _ => {
                check.push(rule("UnknownManufacturer", format!("No manufacturer is named {manufacturer:?}")));
                None
            }
        },
        (None, Some(_)) => {
            check.push(rule("MissingManufacturer", "Manufacturer is required with a Model"));
            None
        }
    };
    if let Some(category) = present(&input.category)
        && !reference_data::reference_value_exists(&mut *conn, by.tenant, ReferenceGroup::AssetCategory, category, true)
            .await?
    {
        check.push(rule("UnknownCategory", format!("{category:?} is not an Asset Category value")));
    }
    let parent = match present(&input.parent_asset_identifier) {
        Some(parent) => match assets::find(&mut *conn, by.tenant, parent).await? {
            Some((id, parent_site)) => {
                if site.is_some_and(|s| s != parent_site) {
                    check.push(rule("ParentAtAnotherSite", "The parent asset is at another site"));
                }
                Some(id)
            }
            None => {
                check.push(rule("UnknownParent", format!("No asset has the identifier {parent:?}")));
                None
            }
        },
        None => None,
    };
    check.finish().map_err(AppError::Invalid)?;

    let identifier = uuid::Uuid::new_v4().to_string();
    let new = NewAsset {
        identifier: &identifier,
        site,
        parent,
        matrix_code,
        model,
        serial_number: input.serial_number.as_deref().unwrap_or("").trim(),
        asset_tag: input.asset_tag.as_deref().unwrap_or("").trim(),
        description: input.description.as_deref().unwrap_or("").trim(),
        quantity,
        installation_date,
        purchase_date,
        purchase_value: input.purchase_value,
        current_value: input.current_value,
        year_of_manufacture: input.year_of_manufacture,
        life_span,
        category: present(&input.category),
    };
    let id = assets::insert(conn, by.tenant, &new, now).await?;
    for (name, value) in &answers {
        caretaker_storage::custom_fields::set_answer(conn, "asset", id, name, value).await?;
    }
    Ok(identifier)
}

/// One asset the caller may see (its site must be visible).
pub async fn get(
    app: &App,
    by: &Authorized<'_, can::AssetsRead, Principal>,
    identifier: &str,
) -> Result<Asset, AppError> {
    if !by.principal().sees_all_sites() {
        return Err(AppError::NotFound);
    }
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    assets::get(&mut conn, by.principal().tenant, identifier).await?.ok_or(AppError::NotFound)
}

/// A page of the assets the caller may see, optionally of one site.
pub async fn list(
    app: &App,
    by: &Authorized<'_, can::AssetsRead, Principal>,
    site_code: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<Asset>, Option<String>), AppError> {
    let tenant = by.principal().tenant;
    if !by.principal().sees_all_sites() {
        return Ok((Vec::new(), None));
    }
    let site = match site_code {
        Some(code) => match sites::id_by_code(app.db.read(), tenant, code).await? {
            Some(site) => Some(site),
            None => return Ok((Vec::new(), None)),
        },
        None => None,
    };
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    Ok(assets::page(&mut conn, tenant, site, after, limit.clamp(1, 200)).await?)
}
