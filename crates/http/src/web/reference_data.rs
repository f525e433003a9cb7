//! System > Matrices (the thirteen types, each a tree of codes) and System > Reference
//! Lists (the four groups and their values), each with a form to add to them.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::reference_data::{self, MatrixItemInput};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Permission, can};
use caretaker_domain::matrix::{MatrixType, ReferenceGroup};
use maud::html;

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::Fields;
use crate::web::inputs::code_depth;
use crate::web::page::{Page, PageError, PageResult, depth_class, done_notice, frame, refused, rules_box, segment};

#[derive(Debug, Default, serde::Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

/// The `id` of a matrix type's or group's section (`type-geographic-area`).
fn anchor(prefix: &str, name: &str) -> String {
    let slug: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    format!("{prefix}-{slug}")
}

async fn matrices_page(
    state: &AppState,
    web: &Web,
    done: &str,
    typed: &Fields,
    refusal: Option<(StatusCode, &[BrokenRule])>,
) -> PageResult {
    let proof = web.authorize::<can::ReferenceDataRead>()?;
    let matrices = reference_data::matrices(&state.app, &proof).await?;
    let base = &web.base;
    let chosen = typed.get("matrix_type");
    let body = html! {
        div.titlebar { h1 { "Matrices" } }
        (done_notice(done))
        @if web.principal().permissions.contains(Permission::ReferenceDataWrite) {
            section.card #add-matrix-item {
                h2 { "Add an item" }
                (rules_box(refusal.map_or(&[][..], |(_, rules)| rules)))
                form.inline-form method="post" action={ (base) "/system/matrices" } {
                    input type="hidden" name="csrf" value=(web.csrf());
                    label for="matrix_type" { "Type" }
                    select #matrix_type name="matrix_type" {
                        @for t in MatrixType::ALL { option value=(t.name()) selected[t.name() == chosen] { (t.name()) } }
                    }
                    label for="code" { "Code" }
                    input #code name="code" value=(typed.get("code")) required maxlength="17" placeholder="01-02-03";
                    label for="name" { "Name" }
                    input #name name="name" value=(typed.get("name")) required maxlength="200";
                    button #save type="submit" { "Add" }
                }
                p.muted { "The parent is the code without its last group (01-02 for 01-02-03) and must exist." }
            }
        }
        nav.toc aria-label="Matrix types" {
            @for (t, items) in &matrices { a href={ "#" (anchor("type", t.name())) } { (t.name()) " (" (items.len()) ")" } }
        }
        @for (t, items) in &matrices {
            section.card.matrix #(anchor("type", t.name())) data-type=(t.name()) {
                h2 { (t.name()) }
                p.muted { (t.used_for()) }
                @if items.is_empty() {
                    p.muted { "No items." }
                } @else {
                    table.list.tree {
                        thead { tr { th { "Code" } th { "Name" } th { "Active" } } }
                        tbody {
                            @for item in items {
                                @let depth = code_depth(&item.code);
                                tr class=(depth_class(depth)) data-code=(item.code) data-depth=(depth) {
                                    td.code { (item.code) }
                                    td { (item.name) }
                                    td { @if item.is_active { "Yes" } @else { "No" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let status = refusal.map_or(StatusCode::OK, |(status, _)| status);
    Ok(Page { status, markup: frame(web.principal(), web.csrf(), "Matrices", body) })
}

pub async fn matrices(State(state): State<AppState>, web: Web, Query(query): Query<DoneQuery>) -> PageResult {
    matrices_page(&state, &web, &query.done, &Fields::default(), None).await
}

pub async fn add_matrix_item(State(state): State<AppState>, web: Web, f: Fields) -> Result<Response, PageError> {
    web.check_csrf(&f)?;
    let can_write = web.authorize::<can::ReferenceDataWrite>()?;
    let input = MatrixItemInput {
        matrix_type: f.get("matrix_type").to_owned(),
        code: f.get("code").to_owned(),
        name: f.get("name").to_owned(),
    };
    match reference_data::add_matrix_item(&state.app, &can_write, &input).await {
        Ok(()) => {
            let matrix_type = MatrixType::parse(&input.matrix_type).map_or("", MatrixType::name);
            let done = format!("added {} {}", matrix_type, input.code.trim());
            Ok(Redirect::to(&format!(
                "{}/system/matrices?done={}#{}",
                web.base,
                segment(&done),
                anchor("type", matrix_type)
            ))
            .into_response())
        }
        Err(err) => {
            let (status, rules) = refused(err)?;
            Ok(matrices_page(&state, &web, "", &f, Some((status, &rules))).await.into_response())
        }
    }
}

async fn lists_page(
    state: &AppState,
    web: &Web,
    done: &str,
    typed: &Fields,
    refusal: Option<(StatusCode, &[BrokenRule])>,
) -> PageResult {
    let proof = web.authorize::<can::ReferenceDataRead>()?;
    let lists = reference_data::reference_lists(&state.app, &proof).await?;
    let base = &web.base;
    let chosen = typed.get("group");
    let body = html! {
        div.titlebar { h1 { "Reference Lists" } }
        (done_notice(done))
        @if web.principal().permissions.contains(Permission::ReferenceDataWrite) {
            section.card #add-reference-value {
                h2 { "Add a value" }
                (rules_box(refusal.map_or(&[][..], |(_, rules)| rules)))
                form.inline-form method="post" action={ (base) "/system/reference-lists" } {
                    input type="hidden" name="csrf" value=(web.csrf());
                    label for="group" { "List" }
                    select #group name="group" {
                        @for g in ReferenceGroup::ALL { option value=(g.name()) selected[g.name() == chosen] { (group_title(g)) } }
                    }
                    label for="value" { "Value" }
                    input #value name="value" value=(typed.get("value")) required maxlength="200";
                    button #save type="submit" { "Add" }
                }
            }
        }
        @for (group, values) in &lists {
            section.card.reference-list #(anchor("group", group.name())) data-group=(group.name()) {
                h2 { (group_title(*group)) }
                @if values.is_empty() {
                    p.muted { "No values." }
                } @else {
                    ul {
                        @for v in values {
                            li data-value=(v.value) { (v.value) @if !v.is_active { " " span.muted { "(inactive)" } } }
                        }
                    }
                }
            }
        }
    };
    let status = refusal.map_or(StatusCode::OK, |(status, _)| status);
    Ok(Page { status, markup: frame(web.principal(), web.csrf(), "Reference Lists", body) })
}

/// A group's heading.
fn group_title(group: ReferenceGroup) -> &'static str {
    match group {
        ReferenceGroup::TaskDefectSource => "Task defect sources",
        ReferenceGroup::DocumentCategory => "Document categories",
        ReferenceGroup::HealthAndSafety => "Health and Safety (site hazards)",
        ReferenceGroup::AssetCategory => "Asset categories",
    }
}

pub async fn reference_lists(State(state): State<AppState>, web: Web, Query(query): Query<DoneQuery>) -> PageResult {
    lists_page(&state, &web, &query.done, &Fields::default(), None).await
}

pub async fn add_reference_value(State(state): State<AppState>, web: Web, f: Fields) -> Result<Response, PageError> {
    web.check_csrf(&f)?;
    let can_write = web.authorize::<can::ReferenceDataWrite>()?;
    match reference_data::add_reference_value(&state.app, &can_write, f.get("group"), f.get("value")).await {
        Ok(()) => {
            let group = ReferenceGroup::parse(f.get("group")).map_or("", ReferenceGroup::name);
            let done = format!("added {}", f.get("value").trim());
            Ok(Redirect::to(&format!(
                "{}/system/reference-lists?done={}#{}",
                web.base,
                segment(&done),
                anchor("group", group)
            ))
            .into_response())
        }
        Err(err) => {
            let (status, rules) = refused(err)?;
            Ok(lists_page(&state, &web, "", &f, Some((status, &rules))).await.into_response())
        }
    }
}
