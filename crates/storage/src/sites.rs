//! Sites, their hazards, notes and working hours.

use std::collections::HashMap;

use caretaker_domain::clock::Timestamp;
use caretaker_domain::site::{SiteCode, SiteId};
use caretaker_domain::tenant::TenantId;
use sqlx::{AnyConnection, Executor, Row, any::AnyRow};

use crate::read::{Bind, Reader, Sql};
use crate::{StorageError, flag};

/// A site to insert (checked values).
#[derive(Debug, Default)]
pub struct NewSite<'a> {
    pub code: Option<&'a SiteCode>,
    pub parent: Option<SiteId>,
    pub name: &'a str,
    pub address: [&'a str; 7],
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub email: &'a str,
    pub telephone: &'a str,
    pub geographic_area_code: Option<&'a str>,
    pub site_channel_code: Option<&'a str>,
}

/// A note of a site.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub text: String,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub is_warning: bool,
}

/// A stored site.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub id: SiteId,
    pub code: String,
    pub parent_code: Option<String>,
    pub name: String,
    /// Line1, Line2, Line3, Town, County, Country, PostalCode.
    pub address: [String; 7],
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub email: String,
    pub telephone: String,
    pub geographic_area_code: Option<String>,
    pub site_channel_code: Option<String>,
    pub hazards: Vec<String>,
    pub notes: Vec<Note>,
    /// Custom field answers: (name, value).
    pub custom_fields: Vec<(String, String)>,
    pub created_at: Timestamp,
}

/// Inserts; [`StorageError::Conflict`] when the code is taken in the tenant.
pub async fn insert(
    conn: &mut AnyConnection,
    tenant: TenantId,
    site: &NewSite<'_>,
    now: Timestamp,
) -> Result<SiteId, StorageError> {
    let inserted = insert_many(conn, tenant, std::slice::from_ref(site), now).await?;
    inserted.into_iter().next().map(|(_, id)| id).ok_or(StorageError::NotFound)
}

/// Parameters each site binds in [`insert_many`]: code, code key, then [`bind_details`].
const SITE_PARAMETERS: usize = 18;

/// Inserts sites, several to a statement (as many as bind cheaply, see `bulk`); returns
/// the code key and id of each, in no particular order (SQLite does not promise the order
/// of `RETURNING`). [`StorageError::Conflict`] when a code is taken in the tenant (nothing
/// of that statement is written). A site may not have a parent inserted by the same call.
pub async fn insert_many(
    conn: &mut AnyConnection,
    tenant: TenantId,
    sites: &[NewSite<'_>],
    now: Timestamp,
) -> Result<Vec<(String, SiteId)>, StorageError> {
    let mut inserted = Vec::with_capacity(sites.len());
    let per_statement = crate::bulk::items_per_statement(conn, 1, SITE_PARAMETERS);
    for batch in sites.chunks(per_statement) {
        let mut values = String::with_capacity(batch.len() * 160);
        for i in 0..batch.len() {
            let p = 2 + i * SITE_PARAMETERS;
            if i > 0 {
                values.push_str(", ");
            }
            // Code, key, parent, name and address; location; e-mail, telephone, area and
            // channel; the time of the change, both created and updated.
            values.push_str(&format!(
                "($1, {}, CAST(${} AS DOUBLE PRECISION), CAST(${} AS DOUBLE PRECISION), {}, ${changed}, ${changed})",
                crate::bulk::parameters(p, 11),
                p + 11,
                p + 12,
                crate::bulk::parameters(p + 13, 4),
                changed = p + 17,
            ));
        }
        let sql = format!(
            "INSERT INTO sites (tenant_id, code, code_key, parent_id, name, address_line1, address_line2,
                address_line3, town, county, country, postal_code, latitude, longitude, email, telephone,
                geographic_area_code, site_channel_code, created_at, updated_at)
             VALUES {values} RETURNING code_key, id"
        );
        let mut query = sqlx::query(&sql).bind(tenant.0);
        for site in batch {
            let code = site.code.ok_or_else(|| StorageError::Corrupt(String::from("a site without a code")))?;
            query = bind_details(query.bind(code.as_str()).bind(code.key()), site, now);
        }
        for row in conn.fetch_all(query).await? {
            inserted.push((row.try_get(0)?, SiteId(row.try_get(1)?)));
        }
    }
    Ok(inserted)
}

/// Replaces every value of a site but its code, its notes and its details (hazards, hours,
/// answers: see [`clear_details`]); bumps `updated_at`.
pub async fn update(
    conn: &mut AnyConnection,
    site_id: SiteId,
    site: &NewSite<'_>,
    now: Timestamp,
) -> Result<(), StorageError> {
    conn.execute(bind_details(
        sqlx::query(
            "UPDATE sites SET parent_id = $2, name = $3, address_line1 = $4, address_line2 = $5,
                address_line3 = $6, town = $7, county = $8, country = $9, postal_code = $10,
                latitude = CAST($11 AS DOUBLE PRECISION), longitude = CAST($12 AS DOUBLE PRECISION),
                email = $13, telephone = $14, geographic_area_code = $15, site_channel_code = $16,
                updated_at = $17
             WHERE id = $1",
        )
        .bind(site_id.0),
        site,
        now,
    ))
    .await?;
    Ok(())
}

/// Binds, in this order, what insert and update share: parent, name, address, location,
/// e-mail, telephone, area, channel, and the time of the change (16 parameters).
fn bind_details<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    site: &NewSite<'q>,
    now: Timestamp,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let [line1, line2, line3, town, county, country, postal] = site.address;
    query
        .bind(site.parent.map(|p| p.0))
        .bind(site.name)
        .bind(line1)
        .bind(line2)
        .bind(line3)
        .bind(town)
        .bind(county)
        .bind(country)
        .bind(postal)
        .bind(crate::float_text(site.latitude))
        .bind(crate::float_text(site.longitude))
        .bind(site.email)
        .bind(site.telephone)
        .bind(site.geographic_area_code)
        .bind(site.site_channel_code)
        .bind(now.unix_micros())
}

/// Deletes a site's hazards and working hours (before they are written again).
pub async fn clear_details(conn: &mut AnyConnection, site: SiteId) -> Result<(), StorageError> {
    conn.execute(sqlx::query("DELETE FROM site_hazards WHERE site_id = $1").bind(site.0)).await?;
    conn.execute(sqlx::query("DELETE FROM site_working_hours WHERE site_id = $1").bind(site.0)).await?;
    Ok(())
}

/// The parent of a site, if it has one.
pub async fn parent_id<'c, E>(executor: E, site: SiteId) -> Result<Option<SiteId>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor.fetch_optional(sqlx::query("SELECT parent_id FROM sites WHERE id = $1").bind(site.0)).await?;
    match row {
        Some(row) => Ok(row.try_get::<Option<i64>, _>(0)?.map(SiteId)),
        None => Ok(None),
    }
}

/// When a site was last changed.
pub async fn updated_at<'c, E>(executor: E, site: SiteId) -> Result<Option<Timestamp>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let row = executor.fetch_optional(sqlx::query("SELECT updated_at FROM sites WHERE id = $1").bind(site.0)).await?;
    row.map(|row| Ok(Timestamp::from_unix_micros(row.try_get(0)?))).transpose()
}

/// Adds hazards to sites, several to a statement; one already there is kept.
pub async fn add_hazards(conn: &mut AnyConnection, hazards: &[(SiteId, &str)]) -> Result<(), StorageError> {
    let per_statement = crate::bulk::items_per_statement(conn, 0, 2);
    for batch in hazards.chunks(per_statement) {
        let values: Vec<String> = (0..batch.len()).map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2)).collect();
        let sql = format!(
            "INSERT INTO site_hazards (site_id, hazard) VALUES {} ON CONFLICT (site_id, hazard) DO NOTHING",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (site, hazard) in batch {
            query = query.bind(site.0).bind(*hazard);
        }
        conn.execute(query).await?;
    }
    Ok(())
}

pub async fn add_note(conn: &mut AnyConnection, site: SiteId, note: &Note) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query(
            "INSERT INTO site_notes (site_id, text, start_date, end_date, is_warning) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(site.0)
        .bind(&note.text)
        .bind(note.start_date.as_deref())
        .bind(note.end_date.as_deref())
        .bind(flag(note.is_warning)),
    )
    .await?;
    Ok(())
}

pub async fn set_hours(
    conn: &mut AnyConnection,
    site: SiteId,
    day: u8,
    opens: &str,
    closes: &str,
) -> Result<(), StorageError> {
    conn.execute(
        sqlx::query("INSERT INTO site_working_hours (site_id, day_of_week, opens, closes) VALUES ($1, $2, $3, $4)")
            .bind(site.0)
            .bind(i64::from(day))
            .bind(opens)
            .bind(closes),
    )
    .await?;
    Ok(())
}

/// The tenant's site with that code (any case).
pub async fn id_by_code<'r>(
    reader: impl Into<Reader<'r>>,
    tenant: TenantId,
    code: &str,
) -> Result<Option<SiteId>, StorageError> {
    let sql = Sql::new("SELECT id FROM sites WHERE tenant_id = $1 AND code_key = $2")
        .bind(Bind::Int(tenant.0))
        .bind(Bind::Text(code.trim().to_ascii_lowercase()));
    reader.into().first(&sql, |row| Ok(SiteId(row.int(0)?))).await
}

const SELECT: &str = "SELECT s.id, s.code, p.code AS parent_code, s.name, s.address_line1, s.address_line2,
        s.address_line3, s.town, s.county, s.country, s.postal_code, s.latitude, s.longitude, s.email,
        s.telephone, s.geographic_area_code, s.site_channel_code, s.created_at, s.code_key
    FROM sites s LEFT JOIN sites p ON p.id = s.parent_id";

fn from_row(row: &AnyRow) -> Result<Site, StorageError> {
    let text = |c: &str| row.try_get::<String, _>(c);
    Ok(Site {
        id: SiteId(row.try_get("id")?),
        code: text("code")?,
        parent_code: row.try_get("parent_code")?,
        name: text("name")?,
        address: [
            text("address_line1")?,
            text("address_line2")?,
            text("address_line3")?,
            text("town")?,
            text("county")?,
            text("country")?,
            text("postal_code")?,
        ],
        latitude: row.try_get("latitude")?,
        longitude: row.try_get("longitude")?,
        email: text("email")?,
        telephone: text("telephone")?,
        geographic_area_code: row.try_get("geographic_area_code")?,
        site_channel_code: row.try_get("site_channel_code")?,
        hazards: Vec::new(),
        notes: Vec::new(),
        custom_fields: Vec::new(),
        created_at: Timestamp::from_unix_micros(row.try_get("created_at")?),
    })
}

/// Hazards, notes and custom field answers of `sites` (one, or a page): three statements
/// per few hundred sites, not three per site.
async fn add_details(conn: &mut AnyConnection, sites: &mut [Site]) -> Result<(), StorageError> {
    let ids: Vec<i64> = sites.iter().map(|s| s.id.0).collect();
    let mut at: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut answers = crate::custom_fields::answers_of(conn, "site", &ids).await?;
    for chunk in ids.chunks(crate::bulk::items_per_statement(conn, 0, 1)) {
        let list = crate::bulk::parameters(1, chunk.len());
        let hazards =
            format!("SELECT site_id, hazard FROM site_hazards WHERE site_id IN ({list}) ORDER BY site_id, hazard");
        let notes = format!(
            "SELECT site_id, text, start_date, end_date, is_warning FROM site_notes WHERE site_id IN ({list})
             ORDER BY site_id, id"
        );
        let bound = |sql| chunk.iter().fold(sqlx::query(sql), |q, id| q.bind(*id));
        for row in &conn.fetch_all(bound(&hazards)).await? {
            if let Some(site) = at.get(&row.try_get(0)?).and_then(|i| sites.get_mut(*i)) {
                site.hazards.push(row.try_get(1)?);
            }
        }
        let notes = conn.fetch_all(bound(&notes)).await?;
        for row in &notes {
            if let Some(site) = at.get(&row.try_get(0)?).and_then(|i| sites.get_mut(*i)) {
                site.notes.push(Note {
                    text: row.try_get(1)?,
                    start_date: row.try_get(2)?,
                    end_date: row.try_get(3)?,
                    is_warning: row.try_get::<i64, _>(4)? != 0,
                });
            }
        }
    }
    for (id, answers) in answers.drain() {
        if let Some(site) = at.remove(&id).and_then(|i| sites.get_mut(i)) {
            site.custom_fields = answers;
        }
    }
    Ok(())
}

/// One site, with hazards and notes.
pub async fn get(conn: &mut AnyConnection, tenant: TenantId, code: &str) -> Result<Option<Site>, StorageError> {
    let row = conn
        .fetch_optional(
            sqlx::query(&format!("{SELECT} WHERE s.tenant_id = $1 AND s.code_key = $2"))
                .bind(tenant.0)
                .bind(code.trim().to_ascii_lowercase()),
        )
        .await?;
    match row {
        Some(row) => {
            let mut site = [from_row(&row)?];
            add_details(conn, &mut site).await?;
            let [site] = site;
            Ok(Some(site))
        }
        None => Ok(None),
    }
}

/// A page's statement: the cursor is a bound of the index range (`$n IS NULL OR code_key >
/// $n` would make every page read the tenant's index from its start).
fn page_sql(tenant: TenantId, after: Option<&str>, limit: i64) -> Sql {
    let mut sql = Sql::default();
    let tenant = sql.arg(Bind::Int(tenant.0));
    let after = match after {
        Some(after) => format!(" AND s.code_key > {}", sql.arg(Bind::Text(after.to_owned()))),
        None => String::new(),
    };
    let limit = sql.arg(Bind::Int(limit));
    sql.text = format!("{SELECT} WHERE s.tenant_id = {tenant}{after} ORDER BY s.code_key LIMIT {limit}").into();
    sql
}

/// A page of the tenant's sites by code, after `after` (a code key), `limit` at most; the
/// second value is the last code key when there may be more.
pub async fn page(
    conn: &mut AnyConnection,
    tenant: TenantId,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<Site>, Option<String>), StorageError> {
    let rows = conn.fetch_all(page_sql(tenant, after, limit + 1).query()).await?;
    let more = rows.len() as i64 > limit;
    let mut sites = Vec::with_capacity(rows.len());
    let mut last_key = None;
    for row in rows.iter().take(usize::try_from(limit).unwrap_or(0)) {
        last_key = Some(row.try_get::<String, _>("code_key")?);
        sites.push(from_row(row)?);
    }
    add_details(conn, &mut sites).await?;
    Ok((sites, if more { last_key } else { None }))
}

/// Working hours of the tenant's sites: (site code, day, opens, closes), by code and day.
pub async fn working_hours<'c, E>(
    executor: E,
    tenant: TenantId,
) -> Result<Vec<(String, u8, String, String)>, StorageError>
where
    E: Executor<'c, Database = sqlx::Any>,
{
    let rows = executor
        .fetch_all(
            sqlx::query(
                "SELECT s.code, h.day_of_week, h.opens, h.closes FROM site_working_hours h
                 JOIN sites s ON s.id = h.site_id WHERE s.tenant_id = $1 ORDER BY s.code_key, h.day_of_week",
            )
            .bind(tenant.0),
        )
        .await?;
    rows.iter()
        .map(|r| {
            let day: i64 = r.try_get(1)?;
            Ok((r.try_get(0)?, u8::try_from(day).unwrap_or(0), r.try_get(2)?, r.try_get(3)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::query_plan;
    use crate::testing::TestDb;

    /// A deep page costs what the first does: the cursor bounds the index range.
    #[tokio::test]
    async fn a_page_after_a_cursor_starts_its_index_range_there() {
        let t = TestDb::sqlite().await;
        let plan = query_plan(&t.db, &page_sql(TenantId(1), Some("k-0500"), 100)).await;
        assert!(plan.contains("(tenant_id=? AND code_key>?)"), "{plan}");
        let first = query_plan(&t.db, &page_sql(TenantId(1), None, 100)).await;
        assert!(first.contains("(tenant_id=?)") && !first.contains("TEMP B-TREE"), "{first}");
    }
}
