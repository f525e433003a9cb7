//! Assets: identified by a GUID, placed at a site, optionally inside a parent asset.

use caretaker_domain::clock::Timestamp;
use caretaker_domain::site::SiteId;
use caretaker_domain::tenant::TenantId;
use sqlx::{AnyConnection, Executor, Row, any::AnyRow};

use crate::StorageError;
use crate::read::{Bind, Sql};

/// An asset to insert (checked values).
#[derive(Debug, Default)]
pub struct NewAsset<'a> {
    pub identifier: &'a str,
    pub site: Option<SiteId>,
    pub parent: Option<i64>,
    pub matrix_code: &'a str,
    pub model: Option<i64>,
    pub serial_number: &'a str,
    pub asset_tag: &'a str,
    pub description: &'a str,
    pub quantity: i64,
    pub installation_date: Option<String>,
    pub purchase_date: Option<String>,
    pub purchase_value: Option<f64>,
    pub current_value: Option<f64>,
    pub year_of_manufacture: Option<i64>,
    pub life_span: Option<(i64, &'a str)>,
    pub category: Option<&'a str>,
}

pub async fn insert(
    conn: &mut AnyConnection,
    tenant: TenantId,
    a: &NewAsset<'_>,
    now: Timestamp,
) -> Result<i64, StorageError> {
    let inserted = insert_many(conn, tenant, std::slice::from_ref(a), now).await?;
    inserted.into_iter().next().map(|(_, id)| id).ok_or(StorageError::NotFound)
}

/// Parameters each asset binds in [`insert_many`].
const ASSET_PARAMETERS: usize = 17;

/// Inserts assets, several to a statement (as many as bind cheaply, see `bulk`); returns
/// the GUID and id of each, in no particular order (SQLite does not promise the order of
/// `RETURNING`). An asset may not have a parent inserted by the same call.
pub async fn insert_many(
    conn: &mut AnyConnection,
    tenant: TenantId,
    assets: &[NewAsset<'_>],
    now: Timestamp,
) -> Result<Vec<(String, i64)>, StorageError> {
    let mut inserted = Vec::with_capacity(assets.len());
    let per_statement = crate::bulk::items_per_statement(conn, 2, ASSET_PARAMETERS);
    for batch in assets.chunks(per_statement) {
        let mut values = String::with_capacity(batch.len() * 150);
        for i in 0..batch.len() {
            let p = 3 + i * ASSET_PARAMETERS;
            if i > 0 {
                values.push_str(", ");
            }
            // GUID to purchase date; the two values; year of manufacture to category.
            values.push_str(&format!(
                "($1, {}, CAST(${} AS DOUBLE PRECISION), CAST(${} AS DOUBLE PRECISION), {}, $2)",
                crate::bulk::parameters(p, 11),
                p + 11,
                p + 12,
                crate::bulk::parameters(p + 13, 4),
            ));
        }
        let sql = format!(
            "INSERT INTO assets (tenant_id, identifier, site_id, parent_asset_id, matrix_code, model_id, serial_number,
                asset_tag, description, quantity, installation_date, purchase_date, purchase_value, current_value,
                year_of_manufacture, life_span_value, life_span_unit, category, created_at)
             VALUES {values} RETURNING identifier, id"
        );
        let mut query = sqlx::query(&sql).bind(tenant.0).bind(now.unix_micros());
        for a in batch {
            let site = a.site.ok_or_else(|| StorageError::Corrupt(String::from("an asset without a site")))?;
            query = query
                .bind(a.identifier)
                .bind(site.0)
                .bind(a.parent)
                .bind(a.matrix_code)
                .bind(a.model)
                .bind(a.serial_number)
                .bind(a.asset_tag)
                .bind(a.description)
                .bind(a.quantity)
                .bind(a.installation_date.as_deref())
                .bind(a.purchase_date.as_deref())
                .bind(crate::float_text(a.purchase_value))
                .bind(crate::float_text(a.current_value))
                .bind(a.year_of_manufacture)
                .bind(a.life_span.map(|(v, _)| v))
                .bind(a.life_span.map(|(_, u)| u))
                .bind(a.category);
        }
        for row in conn.fetch_all(query).await? {
            inserted.push((row.try_get(0)?, row.try_get(1)?));
        }
    }
    Ok(inserted)
}

/// The id and site of the tenant's asset with that GUID.
pub async fn find<'c, E>(executor: E, tenant: TenantId, identifier: &str) -> Result<Option<(i64, SiteId)>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor
        .fetch_optional(
            sqlx::query("SELECT id, site_id FROM assets WHERE tenant_id = $1 AND identifier = $2")
                .bind(tenant.0)
                .bind(identifier.trim().to_ascii_lowercase()),
        )
        .await?;
    row.map(|r| Ok((r.try_get(0)?, SiteId(r.try_get(1)?)))).transpose()
}

/// A stored asset as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct Asset {
    pub identifier: String,
    pub site_code: String,
    pub parent_identifier: Option<String>,
    pub matrix_code: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial_number: String,
    pub asset_tag: String,
    pub description: String,
    pub quantity: i64,
    pub installation_date: Option<String>,
    pub purchase_date: Option<String>,
    pub purchase_value: Option<f64>,
    pub current_value: Option<f64>,
    pub year_of_manufacture: Option<i64>,
    pub life_span: Option<(i64, String)>,
    pub category: Option<String>,
    /// Custom field answers: (name, value).
    pub custom_fields: Vec<(String, String)>,
}

const SELECT: &str = "SELECT a.id, a.identifier, s.code AS site_code, p.identifier AS parent_identifier, a.matrix_code,
        c.name AS manufacturer, m.name AS model, a.serial_number, a.asset_tag, a.description, a.quantity,
        a.installation_date, a.purchase_date, a.purchase_value, a.current_value, a.year_of_manufacture,
        a.life_span_value, a.life_span_unit, a.category
    FROM assets a JOIN sites s ON s.id = a.site_id
    LEFT JOIN assets p ON p.id = a.parent_asset_id
    LEFT JOIN manufacturer_models m ON m.id = a.model_id
    LEFT JOIN companies c ON c.id = m.company_id";

fn from_row(r: &AnyRow) -> Result<Asset, StorageError> {
    let span_value: Option<i64> = r.try_get("life_span_value")?;
    let span_unit: Option<String> = r.try_get("life_span_unit")?;
    Ok(Asset {
        identifier: r.try_get("identifier")?,
        site_code: r.try_get("site_code")?,
        parent_identifier: r.try_get("parent_identifier")?,
        matrix_code: r.try_get("matrix_code")?,
        manufacturer: r.try_get("manufacturer")?,
        model: r.try_get("model")?,
        serial_number: r.try_get("serial_number")?,
        asset_tag: r.try_get("asset_tag")?,
        description: r.try_get("description")?,
        quantity: r.try_get("quantity")?,
        installation_date: r.try_get("installation_date")?,
        purchase_date: r.try_get("purchase_date")?,
        purchase_value: r.try_get("purchase_value")?,
        current_value: r.try_get("current_value")?,
        year_of_manufacture: r.try_get("year_of_manufacture")?,
        life_span: span_value.zip(span_unit),
        category: r.try_get("category")?,
        custom_fields: Vec::new(),
    })
}

pub async fn get(conn: &mut AnyConnection, tenant: TenantId, identifier: &str) -> Result<Option<Asset>, StorageError> {
    let row = conn
        .fetch_optional(
            sqlx::query(&format!("{SELECT} WHERE a.tenant_id = $1 AND a.identifier = $2"))
                .bind(tenant.0)
                .bind(identifier.trim().to_ascii_lowercase()),
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut asset = from_row(&row)?;
    asset.custom_fields = crate::custom_fields::answers(&mut *conn, "asset", row.try_get("id")?).await?;
    Ok(Some(asset))
}

/// A page's statement. Only what was asked narrows it: the site picks the index, the cursor
/// bounds its range (`$n IS NULL OR ...` would make every page read from the tenant's first
/// asset, through all the other sites' assets).
fn page_sql(tenant: TenantId, site: Option<SiteId>, after: Option<&str>, limit: i64) -> Sql {
    let mut sql = Sql::default();
    let mut conditions = format!("a.tenant_id = {}", sql.arg(Bind::Int(tenant.0)));
    if let Some(site) = site {
        conditions.push_str(&format!(" AND a.site_id = {}", sql.arg(Bind::Int(site.0))));
    }
    if let Some(after) = after {
        conditions.push_str(&format!(" AND a.identifier > {}", sql.arg(Bind::Text(after.to_owned()))));
    }
    let limit = sql.arg(Bind::Int(limit));
    sql.text = format!("{SELECT} WHERE {conditions} ORDER BY a.identifier LIMIT {limit}").into();
    sql
}

/// A page of the tenant's assets by GUID, after `after`; optionally of one site.
pub async fn page(
    conn: &mut AnyConnection,
    tenant: TenantId,
    site: Option<SiteId>,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<Asset>, Option<String>), StorageError> {
    let rows = conn.fetch_all(page_sql(tenant, site, after, limit + 1).query()).await?;
    let more = rows.len() as i64 > limit;
    let mut assets = Vec::with_capacity(rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows.iter().take(usize::try_from(limit).unwrap_or(0)) {
        assets.push(from_row(row)?);
        ids.push(row.try_get::<i64, _>("id")?);
    }
    let mut answers = crate::custom_fields::answers_of(conn, "asset", &ids).await?;
    for (asset, id) in assets.iter_mut().zip(&ids) {
        asset.custom_fields = answers.remove(id).unwrap_or_default();
    }
    let next = if more { assets.last().map(|a| a.identifier.clone()) } else { None };
    Ok((assets, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::query_plan;
    use crate::testing::TestDb;

    /// A deep page costs what the first does, and a site's page reads only that site's assets.
    #[tokio::test]
    async fn a_page_reads_one_index_range_from_its_cursor() {
        let t = TestDb::sqlite().await;
        let plan = query_plan(&t.db, &page_sql(TenantId(1), None, Some("guid"), 100)).await;
        assert!(plan.contains("(tenant_id=? AND identifier>?)"), "{plan}");
        let of_site = query_plan(&t.db, &page_sql(TenantId(1), Some(SiteId(7)), Some("guid"), 100)).await;
        assert!(of_site.contains("(tenant_id=? AND site_id=? AND identifier>?)"), "{of_site}");
        assert!(!of_site.contains("TEMP B-TREE"), "{of_site}");
    }
}
