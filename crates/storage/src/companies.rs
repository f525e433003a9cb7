//! Companies and their manufacturer models.

use caretaker_domain::clock::Timestamp;
use caretaker_domain::tenant::TenantId;
use sqlx::{AnyConnection, Executor, Row, any::AnyRow};

use crate::StorageError;

/// A company to insert (checked values).
#[derive(Debug)]
pub struct NewCompany<'a> {
    pub identifier: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub telephone: &'a str,
    /// AddressLine1, AddressLine2, AddressLine3, Town, County, Postcode, Country.
    pub address: [&'a str; 7],
    pub company_types: &'a str,
}

/// Inserts; [`StorageError::Conflict`] when the name is taken in the tenant.
pub async fn insert(
    conn: &mut AnyConnection,
    tenant: TenantId,
    c: &NewCompany<'_>,
    now: Timestamp,
) -> Result<(), StorageError> {
    let [a1, a2, a3, town, county, postcode, country] = c.address;
    conn.execute(
        sqlx::query(
            "INSERT INTO companies (tenant_id, identifier, name, name_key, email, telephone, address_line1, address_line2,
                address_line3, town, county, postcode, country, company_types, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(tenant.0)
        .bind(c.identifier)
        .bind(c.name)
        .bind(c.name.to_lowercase())
        .bind(c.email)
        .bind(c.telephone)
        .bind(a1)
        .bind(a2)
        .bind(a3)
        .bind(town)
        .bind(county)
        .bind(postcode)
        .bind(country)
        .bind(c.company_types)
        .bind(now.unix_micros()),
    )
    .await?;
    Ok(())
}

/// A company's id, name and types, found by name (any case).
pub async fn find_by_name<'c, E>(
    executor: E,
    tenant: TenantId,
    name: &str,
) -> Result<Option<(i64, String, String)>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_optional(
            sqlx::query("SELECT id, name, company_types FROM companies WHERE tenant_id = $1 AND name_key = $2")
                .bind(tenant.0)
                .bind(name.trim().to_lowercase()),
        )
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).transpose()
}

/// Adds a model to a manufacturer; [`StorageError::Conflict`] when it has one of that name.
pub async fn insert_model(conn: &mut AnyConnection, company: i64, name: &str) -> Result<i64, StorageError> {
    let row = conn
        .fetch_one(
            sqlx::query(
                "INSERT INTO manufacturer_models (company_id, name, name_key) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(company)
            .bind(name)
            .bind(name.to_lowercase()),
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// The model of that manufacturer with that name (any case).
pub async fn find_model<'c, E>(executor: E, company: i64, name: &str) -> Result<Option<i64>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_optional(
            sqlx::query("SELECT id FROM manufacturer_models WHERE company_id = $1 AND name_key = $2")
                .bind(company)
                .bind(name.trim().to_lowercase()),
        )
        .await?;
    row.map(|r| Ok(r.try_get(0)?)).transpose()
}

/// A stored company with its models.
#[derive(Clone, Debug, PartialEq)]
pub struct Company {
    pub id: i64,
    /// The GUID the API names it by.
    pub identifier: String,
    pub name: String,
    pub email: String,
    pub telephone: String,
    /// AddressLine1, AddressLine2, AddressLine3, Town, County, Postcode, Country.
    pub address: [String; 7],
    /// AssetManufacturer, AssetSeller, AssetServiceFirm.
    pub company_types: Vec<String>,
    /// Its manufacturer models' names, by name.
    pub models: Vec<String>,
    pub created_at: Timestamp,
}

impl Company {
    pub fn is_manufacturer(&self) -> bool {
        self.company_types.iter().any(|t| t == "AssetManufacturer")
    }
}

const SELECT: &str = "SELECT id, identifier, name, email, telephone, address_line1, address_line2, address_line3,
        town, county, postcode, country, company_types, created_at FROM companies";

fn from_row(r: &AnyRow) -> Result<Company, StorageError> {
    let text = |c: &str| r.try_get::<String, _>(c);
    let types: String = text("company_types")?;
    Ok(Company {
        id: r.try_get("id")?,
        identifier: text("identifier")?,
        name: text("name")?,
        email: text("email")?,
        telephone: text("telephone")?,
        address: [
            text("address_line1")?,
            text("address_line2")?,
            text("address_line3")?,
            text("town")?,
            text("county")?,
            text("postcode")?,
            text("country")?,
        ],
        company_types: types.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
        models: Vec::new(),
        created_at: Timestamp::from_unix_micros(r.try_get("created_at")?),
    })
}

/// The tenant's companies by name, each with its models.
pub async fn list(conn: &mut AnyConnection, tenant: TenantId) -> Result<Vec<Company>, StorageError> {
    let rows =
        conn.fetch_all(sqlx::query(&format!("{SELECT} WHERE tenant_id = $1 ORDER BY name_key")).bind(tenant.0)).await?;
    let mut companies = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let models = conn
        .fetch_all(
            sqlx::query(
                "SELECT m.company_id, m.name FROM manufacturer_models m JOIN companies c ON c.id = m.company_id
                 WHERE c.tenant_id = $1 ORDER BY m.name_key",
            )
            .bind(tenant.0),
        )
        .await?;
    // By id, not by a scan of the companies per model (thousands of each would be millions
    // of comparisons).
    let at: std::collections::HashMap<i64, usize> = companies.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    for row in &models {
        if let Some(c) = at.get(&row.try_get::<i64, _>(0)?).and_then(|i| companies.get_mut(*i)) {
            c.models.push(row.try_get(1)?);
        }
    }
    Ok(companies)
}

/// The tenant's company with that identifier, with its models.
pub async fn get(
    conn: &mut AnyConnection,
    tenant: TenantId,
    identifier: &str,
) -> Result<Option<Company>, StorageError> {
    let row = conn
        .fetch_optional(
            sqlx::query(&format!("{SELECT} WHERE tenant_id = $1 AND identifier = $2"))
                .bind(tenant.0)
                .bind(identifier.trim().to_ascii_lowercase()),
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut company = from_row(&row)?;
    company.models = models(&mut *conn, company.id).await?;
    Ok(Some(company))
}

/// A company's model names, by name.
pub async fn models<'c, E>(executor: E, company: i64) -> Result<Vec<String>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let rows = executor
        .fetch_all(
            sqlx::query("SELECT name FROM manufacturer_models WHERE company_id = $1 ORDER BY name_key").bind(company),
        )
        .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
