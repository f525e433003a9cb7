//! Companies over REST: `POST /rest/companies/{tenant}` exactly as Urgent documents it, and
//! manufacturer models (`POST /rest/models/{tenant}`, ours).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use caretaker_app::companies::{self, CompanyInput};
use caretaker_domain::access::{Holder, can};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;
use crate::rest::Caller;
use crate::rest::common::{Created, missing};
use crate::rest::json::ApiJson;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateCompany {
    name: Option<String>,
    email_address: Option<String>,
    telephone_number: Option<String>,
    address_line1: Option<String>,
    address_line2: Option<String>,
    address_line3: Option<String>,
    town: Option<String>,
    county: Option<String>,
    postcode: Option<String>,
    country: Option<String>,
    company_types: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompanyCreated {
    company_identifier: String,
}

pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateCompany>,
) -> Response {
    let text = |v: Option<String>| v.unwrap_or_default();
    let input = CompanyInput {
        name: text(body.name),
        email_address: text(body.email_address),
        telephone_number: text(body.telephone_number),
        address_line1: text(body.address_line1),
        address_line2: text(body.address_line2),
        address_line3: text(body.address_line3),
        town: text(body.town),
        county: text(body.county),
        postcode: text(body.postcode),
        country: text(body.country),
        company_types: body.company_types.unwrap_or_default(),
    };
    let outcome = async {
        let proof = caller.principal.authorize::<can::CompaniesWrite>().ok_or_else(|| missing("companies.write"))?;
        Ok::<_, ApiError>(companies::create(&state.app, &proof, input).await?)
    }
    .await;
    match outcome {
        Ok(identifier) => (
            StatusCode::CREATED,
            Json(Created { item: CompanyCreated { company_identifier: identifier }, messages: None }),
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateModel {
    manufacturer: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModelCreated {
    manufacturer: String,
    name: String,
}

pub async fn create_model(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateModel>,
) -> Response {
    let manufacturer = body.manufacturer.unwrap_or_default();
    let name = body.name.unwrap_or_default();
    let outcome = async {
        let proof = caller.principal.authorize::<can::CompaniesWrite>().ok_or_else(|| missing("companies.write"))?;
        companies::create_model(&state.app, &proof, &manufacturer, &name).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match outcome {
        Ok(()) => (
            StatusCode::CREATED,
            Json(Created {
                item: ModelCreated { manufacturer: manufacturer.trim().to_owned(), name: name.trim().to_owned() },
                messages: None,
            }),
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}
