//! Assets over REST: `POST /rest/assets/{tenant}` (Create Asset, returns the GUID),
//! `GET /rest/assets/{tenant}` and `GET /rest/assets/{tenant}/{assetId}`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use caretaker_app::assets::{self, AssetInput};
use caretaker_domain::access::{Holder, can};
use caretaker_storage::assets::Asset;
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
pub struct LifeSpanIn {
    value: Option<i64>,
    unit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateAsset {
    custom_fields: Option<Vec<CustomFieldIn>>,
    parent_asset_identifier: Option<String>,
    site_code: Option<String>,
    matrix_code: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    serial_number: Option<String>,
    asset_tag: Option<String>,
    description: Option<String>,
    quantity: Option<i64>,
    installation_date: Option<String>,
    purchase_date: Option<String>,
    purchase_value: Option<f64>,
    current_value: Option<f64>,
    year_of_manufacture: Option<i64>,
    life_span: Option<LifeSpanIn>,
    category: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifeSpanOut {
    value: i64,
    unit: String,
}

/// An asset as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssetOut {
    custom_fields: Vec<CustomFieldOut>,
    asset_identifier: String,
    parent_asset_identifier: Option<String>,
    site_code: String,
    matrix_code: String,
    manufacturer: Option<String>,
    model: Option<String>,
    serial_number: String,
    asset_tag: String,
    description: String,
    quantity: i64,
    installation_date: Option<String>,
    purchase_date: Option<String>,
    purchase_value: Option<f64>,
    current_value: Option<f64>,
    year_of_manufacture: Option<i64>,
    life_span: Option<LifeSpanOut>,
    category: Option<String>,
}

impl From<Asset> for AssetOut {
    fn from(a: Asset) -> Self {
        AssetOut {
            custom_fields: answers_out(a.custom_fields),
            asset_identifier: a.identifier,
            parent_asset_identifier: a.parent_identifier,
            site_code: a.site_code,
            matrix_code: a.matrix_code,
            manufacturer: a.manufacturer,
            model: a.model,
            serial_number: a.serial_number,
            asset_tag: a.asset_tag,
            description: a.description,
            quantity: a.quantity,
            installation_date: a.installation_date,
            purchase_date: a.purchase_date,
            purchase_value: a.purchase_value,
            current_value: a.current_value,
            year_of_manufacture: a.year_of_manufacture,
            life_span: a.life_span.map(|(value, unit)| LifeSpanOut { value, unit }),
            category: a.category,
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateAsset>,
) -> Response {
    let input = AssetInput {
        parent_asset_identifier: body.parent_asset_identifier,
        site_code: body.site_code.unwrap_or_default(),
        matrix_code: body.matrix_code.unwrap_or_default(),
        manufacturer: body.manufacturer,
        model: body.model,
        serial_number: body.serial_number,
        asset_tag: body.asset_tag,
        description: body.description,
        quantity: body.quantity,
        installation_date: body.installation_date,
        purchase_date: body.purchase_date,
        purchase_value: body.purchase_value,
        current_value: body.current_value,
        year_of_manufacture: body.year_of_manufacture,
        life_span: body.life_span.map(|l| (l.value, l.unit)),
        category: body.category,
        custom_fields: answers(body.custom_fields),
    };
    let outcome = async {
        let proof = caller.principal.authorize::<can::AssetsWrite>().ok_or_else(|| missing("assets.write"))?;
        Ok::<_, ApiError>(assets::create(&state.app, &proof, input).await?)
    }
    .await;
    match outcome {
        Ok(asset) => {
            (StatusCode::CREATED, Json(Created { item: AssetOut::from(asset), messages: None })).into_response()
        }
        Err(err) => err.into_response(),
    }
}

pub async fn read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((_, identifier)): Path<(String, String)>,
) -> Result<Json<AssetOut>, ApiError> {
    let proof = caller.principal.authorize::<can::AssetsRead>().ok_or_else(|| missing("assets.read"))?;
    Ok(Json(assets::get(&state.app, &proof, &identifier).await?.into()))
}

pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<AssetOut>>, ApiError> {
    let proof = caller.principal.authorize::<can::AssetsRead>().ok_or_else(|| missing("assets.read"))?;
    let Query(query) = query.map_err(|_| bad_query("Limit must be a whole number; Cursor the NextCursor of a page"))?;
    let (limit, after) = paging(&query)?;
    let site = query.site_code.as_deref().filter(|s| !s.trim().is_empty());
    let (assets, last) = assets::list(&state.app, &proof, site, after.as_deref(), limit).await?;
    Ok(Json(Page { items: assets.into_iter().map(AssetOut::from).collect(), next_cursor: last.as_deref().map(cursor) }))
}
