//! Companies and their manufacturer models.

use caretaker_domain::clock::Timestamp;
use caretaker_domain::tenant::TenantId;
use sqlx::{AnyConnection, Executor, Row};

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
