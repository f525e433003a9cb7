//! Pieces every REST module uses: the permission refusal, the create envelope, pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use caretaker_app::AppError;
use caretaker_domain::BrokenRule;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// 403: the caller's role packages lack `permission`.
pub fn missing(permission: &str) -> ApiError {
    ApiError(AppError::forbidden(BrokenRule::new(
        "Authorization",
        "MissingPermission",
        format!("Your role packages do not allow this (it needs {permission})"),
    )))
}

/// A created resource with `"Messages": null`, as Urgent answers creates.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Created<T> {
    #[serde(flatten)]
    pub item: T,
    pub messages: Option<()>,
}

/// `Limit` and `Cursor` of list calls.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    #[serde(rename = "Limit", alias = "limit")]
    pub limit: Option<i64>,
    #[serde(rename = "Cursor", alias = "cursor")]
    pub cursor: Option<String>,
    #[serde(rename = "SiteCode", alias = "siteCode")]
    pub site_code: Option<String>,
}

/// `{"Items": [...], "NextCursor": ...}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub fn bad_query(message: &str) -> ApiError {
    ApiError(AppError::invalid(BrokenRule::new("Request", "InvalidQuery", message.to_owned())))
}

/// The limit (1-200, default 50) and the decoded cursor of a list call.
pub fn paging(query: &ListQuery) -> Result<(i64, Option<String>), ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad_query("Limit must be 1 to 200"));
    }
    let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(cursor) => Some(
            URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| bad_query("Cursor is not one this server gave out"))?,
        ),
        None => None,
    };
    Ok((limit, after))
}

/// The opaque cursor for a key.
pub fn cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// A custom field answer in a create body: `{"Name": "...", "Value": ...}` (a string, number
/// or boolean).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CustomFieldIn {
    pub name: Option<String>,
    pub value: Option<serde_json::Value>,
}

/// The answers as (name, text).
pub fn answers(given: Option<Vec<CustomFieldIn>>) -> Vec<(String, String)> {
    given
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            let value = match f.value {
                Some(serde_json::Value::String(text)) => text,
                Some(serde_json::Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (f.name.unwrap_or_default(), value)
        })
        .collect()
}

/// A custom field answer as shown.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomFieldOut {
    pub name: String,
    pub value: String,
}

pub fn answers_out(answers: Vec<(String, String)>) -> Vec<CustomFieldOut> {
    answers.into_iter().map(|(name, value)| CustomFieldOut { name, value }).collect()
}
