//! Assets: create (Manufacturer and Model must exist, dates ignore the time part), read, list.

use std::collections::HashMap;

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::matrix::{CustomFieldTarget, MatrixCode, MatrixType, ReferenceGroup};
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::site::{SiteId, parse_date};
use caretaker_domain::tenant::TenantId;
use caretaker_storage::assets::{self, Asset, NewAsset};
use caretaker_storage::audit::{self, Event};
use caretaker_storage::custom_fields::CustomField;
use caretaker_storage::{Conn, StorageError, bulk, sites};

use crate::principal::Principal;
use crate::{App, AppError, import};
use caretaker_storage::visibility::{self, Scope};

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
    let mut lookups = AssetLookups::default();
    lookups.load(&mut tx, by, &[&input]).await?;
    let checked = check_asset(&input, &lookups)?;
    insert_one(&mut tx, by.tenant, &checked, now).await?;
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "asset.created",
            target: Some(&checked.identifier),
            detail: input.site_code.trim(),
        },
        now,
    )
    .await?;
    let created = assets::get(&mut tx, by.tenant, &checked.identifier).await?.ok_or(AppError::NotFound)?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(created)
}

/// What the rules of assets refer to, looked up before the rules are checked: sites, active
/// Asset matrix codes and their custom fields, manufacturers and their models, active Asset
/// Category values, parent assets. Create loads what its one asset needs; the import loads
/// what the whole file needs before it writes.
#[derive(Default)]
struct AssetLookups {
    /// By code key (trimmed, ASCII lowercased); `None` also for a site outside the caller's
    /// access.
    sites: HashMap<String, Option<SiteId>>,
    matrix_codes: HashMap<String, bool>,
    fields: HashMap<String, Vec<CustomField>>,
    /// By name key (trimmed, lowercased): the company and whether it is a manufacturer.
    manufacturers: HashMap<String, Option<(i64, bool)>>,
    /// By company and name key.
    models: HashMap<(i64, String), Option<i64>>,
    /// By value key (trimmed, lowercased).
    categories: HashMap<String, bool>,
    /// By GUID (trimmed, ASCII lowercased): id and site.
    parents: HashMap<String, Option<(i64, SiteId)>>,
}

/// Keys not yet in `known`, each once.
fn missing<V>(known: &HashMap<String, V>, keys: impl Iterator<Item = String>) -> Vec<String> {
    let mut missing: Vec<String> = keys.filter(|k| !known.contains_key(k)).collect();
    missing.sort_unstable();
    missing.dedup();
    missing
}

impl AssetLookups {
    async fn load(&mut self, conn: &mut Conn, by: &Principal, inputs: &[&AssetInput]) -> Result<(), StorageError> {
        let tenant = by.tenant;
        // Sites outside the caller's access are looked up as missing.
        let visible = match by.scope() {
            Scope::All => None,
            Scope::Granted { user } => Some(visibility::granted_site_ids(conn, tenant, user).await?),
            Scope::Contractor { .. } | Scope::Own { .. } => Some(Default::default()),
        };
        let keys = missing(
            &self.sites,
            inputs.iter().map(|i| i.site_code.trim()).filter(|c| !c.is_empty()).map(str::to_ascii_lowercase),
        );
        let found = bulk::site_ids(conn, tenant, &keys).await?;
        for key in keys {
            let id = found.get(&key).copied().filter(|id| visible.as_ref().is_none_or(|v| v.contains(&id.0)));
            self.sites.insert(key, id);
        }
        let codes = missing(
            &self.matrix_codes,
            inputs.iter().map(|i| i.matrix_code.trim()).filter(|c| MatrixCode::parse(c).is_ok()).map(String::from),
        );
        let active = bulk::active_matrix_codes(conn, tenant, MatrixType::Asset, &codes).await?;
        for code in codes {
            let is_active = active.contains(&code);
            self.matrix_codes.insert(code, is_active);
        }
        for code in inputs.iter().map(|i| i.matrix_code.trim()).filter(|c| MatrixCode::parse(c).is_ok()) {
            if !self.fields.contains_key(code) {
                let fields =
                    crate::custom_fields::applicable(&mut *conn, tenant, CustomFieldTarget::Asset, code).await?;
                self.fields.insert(code.to_owned(), fields);
            }
        }
        let names =
            missing(&self.manufacturers, inputs.iter().filter_map(|i| present(&i.manufacturer)).map(str::to_lowercase));
        let found = bulk::companies(conn, tenant, &names).await?;
        for name in names {
            let company = found.get(&name).map(|(id, types)| (*id, types.split(',').any(|t| t == "AssetManufacturer")));
            self.manufacturers.insert(name, company);
        }
        let mut models: HashMap<i64, Vec<String>> = HashMap::new();
        for input in inputs {
            if let (Some(manufacturer), Some(model)) = (present(&input.manufacturer), present(&input.model))
                && let Some(Some((company, true))) = self.manufacturers.get(&manufacturer.to_lowercase())
            {
                let key = (*company, model.to_lowercase());
                if !self.models.contains_key(&key) {
                    models.entry(key.0).or_default().push(key.1);
                }
            }
        }
        for (company, mut names) in models {
            names.sort_unstable();
            names.dedup();
            let found = bulk::models(conn, company, &names).await?;
            for name in names {
                let id = found.get(&name).copied();
                self.models.insert((company, name), id);
            }
        }
        let categories =
            missing(&self.categories, inputs.iter().filter_map(|i| present(&i.category)).map(str::to_lowercase));
        let active = bulk::active_reference_keys(conn, tenant, ReferenceGroup::AssetCategory, &categories).await?;
        for key in categories {
            let is_active = active.contains(&key);
            self.categories.insert(key, is_active);
        }
        let parents = missing(
            &self.parents,
            inputs.iter().filter_map(|i| present(&i.parent_asset_identifier)).map(str::to_ascii_lowercase),
        );
        let found = bulk::assets(conn, tenant, &parents).await?;
        for key in parents {
            let parent = found.get(&key).copied();
            self.parents.insert(key, parent);
        }
        Ok(())
    }
}

/// An asset's values once every rule holds, with its new GUID.
pub(crate) struct Checked<'a> {
    identifier: String,
    site: Option<SiteId>,
    parent: Option<i64>,
    matrix_code: &'a str,
    model: Option<i64>,
    serial_number: &'a str,
    asset_tag: &'a str,
    description: &'a str,
    quantity: i64,
    installation_date: Option<String>,
    purchase_date: Option<String>,
    purchase_value: Option<f64>,
    current_value: Option<f64>,
    year_of_manufacture: Option<i64>,
    life_span: Option<(i64, &'static str)>,
    category: Option<&'a str>,
    answers: Vec<(String, String)>,
}

impl Checked<'_> {
    fn new_asset(&self) -> NewAsset<'_> {
        NewAsset {
            identifier: &self.identifier,
            site: self.site,
            parent: self.parent,
            matrix_code: self.matrix_code,
            model: self.model,
            serial_number: self.serial_number,
            asset_tag: self.asset_tag,
            description: self.description,
            quantity: self.quantity,
            installation_date: self.installation_date.clone(),
            purchase_date: self.purchase_date.clone(),
            purchase_value: self.purchase_value,
            current_value: self.current_value,
            year_of_manufacture: self.year_of_manufacture,
            life_span: self.life_span,
            category: self.category,
        }
    }
}

/// Checks every rule of one asset, all at once, against what `lookups` found; gives it a GUID.
fn check_asset<'a>(input: &'a AssetInput, lookups: &AssetLookups) -> Result<Checked<'a>, AppError> {
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
        let found = lookups.sites.get(&input.site_code.trim().to_ascii_lowercase()).copied().flatten();
        if found.is_none() {
            check.push(rule("UnknownSite", format!("No site has the code {:?}", input.site_code.trim())));
        }
        found
    };
    let matrix_code = input.matrix_code.trim();
    if matrix_code.is_empty() {
        check.push(rule("MissingMatrixCode", "MatrixCode is required"));
    } else if MatrixCode::parse(matrix_code).is_err()
        || !lookups.matrix_codes.get(matrix_code).copied().unwrap_or(false)
    {
        check.push(rule("UnknownMatrixCode", format!("{matrix_code:?} is not an Asset matrix code")));
    }
    let fields = if MatrixCode::parse(matrix_code).is_ok() {
        lookups.fields.get(matrix_code).map_or(&[][..], Vec::as_slice)
    } else {
        &[]
    };
    let answers = crate::custom_fields::check_answers("Asset", fields, &input.custom_fields, &mut check);
    let model = match (present(&input.manufacturer), present(&input.model)) {
        (None, None) => None,
        (Some(manufacturer), model) => match lookups.manufacturers.get(&manufacturer.to_lowercase()).copied().flatten()
        {
            Some((company, true)) => match model {
                Some(model) => {
                    let found = lookups.models.get(&(company, model.to_lowercase())).copied().flatten();
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
        && !lookups.categories.get(&category.to_lowercase()).copied().unwrap_or(false)
    {
        check.push(rule("UnknownCategory", format!("{category:?} is not an Asset Category value")));
    }
    let parent = match present(&input.parent_asset_identifier) {
        Some(parent) => match lookups.parents.get(&parent.to_ascii_lowercase()).copied().flatten() {
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

    Ok(Checked {
        identifier: uuid::Uuid::new_v4().to_string(),
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
        answers,
    })
}

/// Inserts one checked asset with its custom-field answers, in the caller's transaction and
/// without an audit entry: Create Asset, and the import's row-at-a-time fallback.
async fn insert_one(conn: &mut Conn, tenant: TenantId, checked: &Checked<'_>, now: Timestamp) -> Result<i64, AppError> {
    let id = assets::insert(conn, tenant, &checked.new_asset(), now).await?;
    for (name, value) in &checked.answers {
        caretaker_storage::custom_fields::set_answer(conn, "asset", id, name, value).await?;
    }
    Ok(id)
}

/// The import of assets: rows are checked against lookups loaded for the whole file and
/// written several to a statement.
pub(crate) struct AssetImport<'p> {
    by: &'p Principal,
    lookups: AssetLookups,
}

impl<'p> AssetImport<'p> {
    pub(crate) fn new(by: &'p Principal) -> Self {
        AssetImport { by, lookups: AssetLookups::default() }
    }
}

impl<'r> import::Importer<'r> for AssetImport<'_> {
    type Row = AssetInput;
    type Checked = Checked<'r>;

    async fn load(&mut self, conn: &mut Conn, rows: &[&'r AssetInput]) -> Result<(), AppError> {
        Ok(self.lookups.load(conn, self.by, rows).await?)
    }

    fn check(&mut self, input: &'r AssetInput) -> Result<Checked<'r>, AppError> {
        check_asset(input, &self.lookups)
    }

    async fn write(&mut self, conn: &mut Conn, rows: &[Checked<'r>], now: Timestamp) -> Result<(), StorageError> {
        let new: Vec<NewAsset<'_>> = rows.iter().map(Checked::new_asset).collect();
        let inserted = assets::insert_many(conn, self.by.tenant, &new, now).await?;
        if rows.iter().any(|row| !row.answers.is_empty()) {
            let ids: HashMap<String, i64> = inserted.into_iter().collect();
            for row in rows {
                let id = ids.get(&row.identifier).copied().ok_or(StorageError::NotFound)?;
                for (name, value) in &row.answers {
                    caretaker_storage::custom_fields::set_answer(conn, "asset", id, name, value).await?;
                }
            }
        }
        Ok(())
    }

    async fn write_one(&mut self, conn: &mut Conn, row: &Checked<'r>, now: Timestamp) -> Result<(), AppError> {
        insert_one(conn, self.by.tenant, row, now).await.map(|_| ())
    }
}

/// One asset the caller may see (its site must be visible).
pub async fn get(
    app: &App,
    by: &Authorized<'_, can::AssetsRead, Principal>,
    identifier: &str,
) -> Result<Asset, AppError> {
    let by = by.principal();
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    let asset = assets::get(&mut conn, by.tenant, identifier).await?.ok_or(AppError::NotFound)?;
    let visible = match by.scope() {
        Scope::All => true,
        Scope::Granted { user } => {
            let site = sites::id_by_code(&mut *conn, by.tenant, &asset.site_code).await?;
            let granted = visibility::granted_site_ids(&mut conn, by.tenant, user).await?;
            site.is_some_and(|s| granted.contains(&s.0))
        }
        Scope::Contractor { .. } | Scope::Own { .. } => false,
    };
    if visible { Ok(asset) } else { Err(AppError::NotFound) }
}

/// A page of the assets the caller may see, optionally of one site.
pub async fn list(
    app: &App,
    by: &Authorized<'_, can::AssetsRead, Principal>,
    site_code: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<Asset>, Option<String>), AppError> {
    let by = by.principal();
    let tenant = by.tenant;
    let limit = limit.clamp(1, 200);
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    let granted = match by.scope() {
        Scope::All => None,
        Scope::Granted { user } => Some(visibility::granted_site_ids(&mut conn, tenant, user).await?),
        Scope::Contractor { .. } | Scope::Own { .. } => return Ok((Vec::new(), None)),
    };
    let site = match site_code {
        Some(code) => match sites::id_by_code(&mut *conn, tenant, code).await? {
            Some(site) if granted.as_ref().is_none_or(|g| g.contains(&site.0)) => Some(site),
            _ => return Ok((Vec::new(), None)),
        },
        None => None,
    };
    if granted.is_none() || site.is_some() {
        return Ok(assets::page(&mut conn, tenant, site, after, limit).await?);
    }
    // Explicit access without a site: page through the tenant's assets keeping those at
    // granted sites (at most ten pages read per call; a cursor follows a short page).
    let codes = visibility::granted_site_keys(&mut conn, tenant, by.user.map_or(0, |u| u.0)).await?;
    let mut kept = Vec::new();
    let mut cursor = after.map(str::to_owned);
    for _ in 0..10 {
        let (page, next) = assets::page(&mut conn, tenant, None, cursor.as_deref(), limit).await?;
        kept.extend(page.into_iter().filter(|a| codes.contains(&a.site_code.to_ascii_lowercase())));
        cursor = next;
        if kept.len() as i64 >= limit || cursor.is_none() {
            break;
        }
    }
    if kept.len() as i64 > limit {
        kept.truncate(usize::try_from(limit).unwrap_or(0));
        cursor = kept.last().map(|a| a.identifier.clone());
    }
    Ok((kept, cursor))
}
