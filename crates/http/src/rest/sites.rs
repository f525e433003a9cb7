//! Sites over REST: `POST /rest/sites/{tenant}` (Create Site, the Urgent fields),
//! `GET /rest/sites/{tenant}` (keyset-paginated), `GET /rest/sites/{tenant}/{siteCode}`,
//! `GET /rest/sites/workinghours/{tenant}`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use caretaker_app::sites::{self, HoursInput, NoteInput, SiteInput};
use caretaker_domain::access::{Holder, can};
use caretaker_domain::site::DAYS;
use caretaker_storage::sites::Site;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;
use crate::rest::Caller;
use crate::rest::common::{
    Created, CustomFieldIn, CustomFieldOut, ListQuery, Page, answers, answers_out, bad_query, cursor, missing, paging,
};
use crate::rest::json::ApiJson;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddressIn {
    line1: Option<String>,
    line2: Option<String>,
    line3: Option<String>,
    town: Option<String>,
    county: Option<String>,
    country: Option<String>,
    postal_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LocationIn {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NoteIn {
    start_date: Option<String>,
    end_date: Option<String>,
    is_warning_note: Option<bool>,
    #[serde(alias = "Note")]
    text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HoursIn {
    day: Option<String>,
    opens: Option<String>,
    closes: Option<String>,
}

/// Create Site as the Urgent API defines it (plus `WorkingHours`, ours).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateSite {
    custom_fields: Option<Vec<CustomFieldIn>>,
    site_code: Option<String>,
    parent_code: Option<String>,
    name: Option<String>,
    address: Option<AddressIn>,
    location: Option<LocationIn>,
    email: Option<String>,
    telephone: Option<String>,
    geographic_area_matrix_item_code: Option<String>,
    site_channel_matrix_item_code: Option<String>,
    hazards: Option<Vec<String>>,
    notes: Option<Vec<NoteIn>>,
    working_hours: Option<Vec<HoursIn>>,
}

impl From<CreateSite> for SiteInput {
    fn from(body: CreateSite) -> Self {
        let address = body.address.unwrap_or_default();
        let location = body.location.unwrap_or_default();
        let text = |v: Option<String>| v.unwrap_or_default();
        SiteInput {
            site_code: text(body.site_code),
            parent_code: body.parent_code,
            name: text(body.name),
            address: [
                text(address.line1),
                text(address.line2),
                text(address.line3),
                text(address.town),
                text(address.county),
                text(address.country),
                text(address.postal_code),
            ],
            latitude: location.latitude,
            longitude: location.longitude,
            email: body.email,
            telephone: body.telephone,
            geographic_area: body.geographic_area_matrix_item_code,
            site_channel: body.site_channel_matrix_item_code,
            hazards: body.hazards.unwrap_or_default(),
            notes: body
                .notes
                .unwrap_or_default()
                .into_iter()
                .map(|n| NoteInput {
                    text: text(n.text),
                    start_date: n.start_date,
                    end_date: n.end_date,
                    is_warning: n.is_warning_note.unwrap_or(false),
                })
                .collect(),
            custom_fields: answers(body.custom_fields),
            working_hours: body
                .working_hours
                .unwrap_or_default()
                .into_iter()
                .map(|h| HoursInput { day: text(h.day), opens: text(h.opens), closes: text(h.closes) })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddressOut {
    line1: String,
    line2: String,
    line3: String,
    town: String,
    county: String,
    country: String,
    postal_code: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LocationOut {
    latitude: f64,
    longitude: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NoteOut {
    start_date: Option<String>,
    end_date: Option<String>,
    is_warning_note: bool,
    text: String,
}

/// A site as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SiteOut {
    custom_fields: Vec<CustomFieldOut>,
    site_code: String,
    parent_code: Option<String>,
    name: String,
    address: AddressOut,
    location: Option<LocationOut>,
    email: String,
    telephone: String,
    geographic_area_matrix_item_code: Option<String>,
    site_channel_matrix_item_code: Option<String>,
    hazards: Vec<String>,
    notes: Vec<NoteOut>,
    created_at_utc: String,
}

impl From<Site> for SiteOut {
    fn from(site: Site) -> Self {
        let [line1, line2, line3, town, county, country, postal_code] = site.address;
        SiteOut {
            custom_fields: answers_out(site.custom_fields),
            site_code: site.code,
            parent_code: site.parent_code,
            name: site.name,
            address: AddressOut { line1, line2, line3, town, county, country, postal_code },
            location: match (site.latitude, site.longitude) {
                (Some(latitude), Some(longitude)) => Some(LocationOut { latitude, longitude }),
                _ => None,
            },
            email: site.email,
            telephone: site.telephone,
            geographic_area_matrix_item_code: site.geographic_area_code,
            site_channel_matrix_item_code: site.site_channel_code,
            hazards: site.hazards,
            notes: site
                .notes
                .into_iter()
                .map(|n| NoteOut {
                    start_date: n.start_date,
                    end_date: n.end_date,
                    is_warning_note: n.is_warning,
                    text: n.text,
                })
                .collect(),
            created_at_utc: site.created_at.to_rfc3339(),
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateSite>,
) -> Response {
    let outcome = async {
        let proof = caller.principal.authorize::<can::SitesWrite>().ok_or_else(|| missing("sites.write"))?;
        let site = sites::create(&state.app, &proof, body.into()).await?;
        Ok::<_, ApiError>(site)
    }
    .await;
    match outcome {
        Ok(site) => (StatusCode::CREATED, Json(Created { item: SiteOut::from(site), messages: None })).into_response(),
        Err(err) => err.into_response(),
    }
}

pub async fn read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((_, code)): Path<(String, String)>,
) -> Result<Json<SiteOut>, ApiError> {
    let proof = caller.principal.authorize::<can::SitesRead>().ok_or_else(|| missing("sites.read"))?;
    Ok(Json(sites::get(&state.app, &proof, &code).await?.into()))
}

pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<SiteOut>>, ApiError> {
    let proof = caller.principal.authorize::<can::SitesRead>().ok_or_else(|| missing("sites.read"))?;
    let Query(query) = query.map_err(|_| bad_query("Limit must be a whole number; Cursor the NextCursor of a page"))?;
    let (limit, after) = paging(&query)?;
    let (sites, last) = sites::list(&state.app, &proof, after.as_deref(), limit).await?;
    Ok(Json(Page { items: sites.into_iter().map(SiteOut::from).collect(), next_cursor: last.as_deref().map(cursor) }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DayHours {
    day: &'static str,
    opens: String,
    closes: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SiteHours {
    site_code: String,
    working_hours: Vec<DayHours>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkingHours {
    sites: Vec<SiteHours>,
}

pub async fn working_hours(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<WorkingHours>, ApiError> {
    let proof = caller.principal.authorize::<can::SitesRead>().ok_or_else(|| missing("sites.read"))?;
    let mut out: Vec<SiteHours> = Vec::new();
    for (code, day, opens, closes) in sites::working_hours(&state.app, &proof).await? {
        let entry =
            DayHours { day: DAYS.get(usize::from(day).saturating_sub(1)).copied().unwrap_or(""), opens, closes };
        match out.last_mut() {
            Some(last) if last.site_code == code => last.working_hours.push(entry),
            _ => out.push(SiteHours { site_code: code, working_hours: vec![entry] }),
        }
    }
    Ok(Json(WorkingHours { sites: out }))
}
