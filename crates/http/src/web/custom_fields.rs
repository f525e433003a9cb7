//! System > Custom Fields: the questions of tasks, assets, sites and compliance by matrix
//! code, and Operations > Create with the Create Custom Field window.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::custom_fields::{self, CustomFieldInput};
use caretaker_app::reference_data;
use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Permission, can};
use caretaker_domain::matrix::{CUSTOM_FIELD_TYPES, CustomFieldTarget, MatrixType};
use caretaker_storage::custom_fields::CustomField;
use caretaker_storage::reference_data::MatrixItem;
use maud::{Markup, html};

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::Fields;
use crate::web::inputs::{matrix_label, matrix_options};
use crate::web::page::{Page, PageError, PageResult, done_notice, frame, operations, refused, rules_box, segment};

const TARGETS: [CustomFieldTarget; 4] =
    [CustomFieldTarget::Task, CustomFieldTarget::Asset, CustomFieldTarget::Site, CustomFieldTarget::Compliance];

fn target_title(target: CustomFieldTarget) -> &'static str {
    match target {
        CustomFieldTarget::Task => "Tasks (by Reactive code)",
        CustomFieldTarget::Asset => "Assets (by Asset code)",
        CustomFieldTarget::Site => "Sites (by Site Channel code)",
        CustomFieldTarget::Compliance => "Compliance (by Reactive code)",
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    done: String,
}

type Matrices = Vec<(MatrixType, Vec<MatrixItem>)>;

fn items_of(matrices: &Matrices, matrix_type: MatrixType) -> &[MatrixItem] {
    matrices.iter().find(|(t, _)| *t == matrix_type).map_or(&[], |(_, items)| items.as_slice())
}

pub async fn list(State(state): State<AppState>, web: Web, Query(query): Query<ListQuery>) -> PageResult {
    let proof = web.authorize::<can::ReferenceDataRead>()?;
    let fields = custom_fields::all(&state.app, &proof).await?;
    let matrices = reference_data::matrices(&state.app, &proof).await?;
    let base = &web.base;
    let body = html! {
        div.titlebar {
            h1 { "Custom Fields" }
            @if web.principal().permissions.contains(Permission::ReferenceDataWrite) {
                (operations(html! { li { a #op-create href={ (base) "/system/custom-fields/new" } { "Create" } } }))
            }
        }
        (done_notice(&query.done))
        p.muted { "A field is asked for its matrix code and every code under it." }
        @for target in TARGETS {
            @let rows: Vec<&CustomField> = fields.iter().filter(|(t, _)| *t == target).map(|(_, f)| f).collect();
            @let items = items_of(&matrices, target.matrix_type());
            section.card #(format!("target-{}", target.name())) data-target=(target.name()) {
                h2 { (target_title(target)) }
                @if rows.is_empty() {
                    p.muted { "No custom fields." }
                } @else {
                    table.list {
                        thead { tr {
                            th { "Matrix code" } th { "Name" } th { "Question" } th { "Mandatory" } th { "Data type" }
                            th { "Answers" } th { "Asked when" }
                        } }
                        tbody {
                            @for f in rows {
                                tr data-field=(f.name) {
                                    td { (matrix_label(items, &f.matrix_code)) }
                                    td { code { (f.name) } }
                                    td { (f.question) }
                                    td { @if f.is_mandatory { "Yes" } @else { "No" } }
                                    td { (f.data_type) }
                                    td { (f.answers.join(", ")) }
                                    td { @if let Some((parent, trigger)) = &f.parent { (parent) " is " (trigger) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), "Custom Fields", body)))
}

async fn window(state: &AppState, web: &Web, f: &Fields, rules: &[BrokenRule]) -> Result<Markup, PageError> {
    let proof = web.authorize::<can::ReferenceDataRead>()?;
    let matrices = reference_data::matrices(&state.app, &proof).await?;
    let fields = custom_fields::all(&state.app, &proof).await?;
    let target = f.get("target");
    let chosen_type = CustomFieldTarget::parse(target).map(CustomFieldTarget::matrix_type);
    let body = html! {
        div.window role="dialog" aria-labelledby="window-title" {
            h1 #window-title { "Create Custom Field" }
            (rules_box(rules))
            form.card #custom-field-window method="post" action={ (web.base) "/system/custom-fields/new" } {
                input type="hidden" name="csrf" value=(web.csrf());
                label for="target" { "For" }
                select #target name="target" {
                    @for t in TARGETS { option value=(t.name()) selected[t.name() == target] { (target_title(t)) } }
                }
                label for="matrix_code" { "Matrix code (of the chosen target's matrix)" }
                select #matrix_code name="matrix_code" {
                    option value="" { "(choose a code)" }
                    @for matrix_type in [MatrixType::Reactive, MatrixType::Asset, MatrixType::SiteChannel] {
                        optgroup label=(matrix_type.name()) {
                            // The same code exists in several matrices: the target decides which.
                            @let chosen = if chosen_type == Some(matrix_type) { f.get("matrix_code") } else { "" };
                            (matrix_options(items_of(&matrices, matrix_type), chosen, None))
                        }
                    }
                }
                label for="name" { "Name (letters, digits and _, such as Custom_Pump_Number)" }
                input #name name="name" value=(f.get("name")) required maxlength="100" pattern="[A-Za-z0-9_]+";
                label for="question" { "Question" }
                input #question name="question" value=(f.get("question")) required maxlength="500";
                label.inline { input #is_mandatory type="checkbox" name="is_mandatory" checked[f.checked("is_mandatory")]; " Mandatory" }
                label for="data_type" { "Data type" }
                select #data_type name="data_type" {
                    @for t in CUSTOM_FIELD_TYPES { option value=(t) selected[t == f.get("data_type")] { (t) } }
                }
                label for="answers" { "Answers of a List field (one per line)" }
                textarea #answers name="answers" rows="4" { (f.get("answers")) }
                fieldset #parent-field {
                    legend { "Asked only when another field has an answer (optional)" }
                    label for="parent" { "Parent field" }
                    select #parent name="parent" {
                        option value="" { "(none)" }
                        @for t in TARGETS {
                            optgroup label=(target_title(t)) {
                                @for (_, field) in fields.iter().filter(|(ft, _)| *ft == t) {
                                    option value=(field.name) selected[field.name == f.get("parent")] {
                                        (field.name) " (" (field.matrix_code) ")"
                                    }
                                }
                            }
                        }
                    }
                    label for="trigger_value" { "Trigger answer" }
                    input #trigger_value name="trigger_value" value=(f.get("trigger_value")) maxlength="200";
                }
                div.actions { button #save type="submit" { "Save" } a href={ (web.base) "/system/custom-fields" } { "Cancel" } }
            }
        }
    };
    Ok(frame(web.principal(), web.csrf(), "Create Custom Field", body))
}

pub async fn new_page(State(state): State<AppState>, web: Web) -> PageResult {
    web.authorize::<can::ReferenceDataWrite>()?;
    Ok(Page::ok(window(&state, &web, &Fields::default(), &[]).await?))
}

pub async fn create(State(state): State<AppState>, web: Web, f: Fields) -> Result<Response, PageError> {
    web.check_csrf(&f)?;
    let can_write = web.authorize::<can::ReferenceDataWrite>()?;
    let input = CustomFieldInput {
        target: f.get("target").to_owned(),
        matrix_code: f.get("matrix_code").to_owned(),
        name: f.get("name").to_owned(),
        question: f.get("question").to_owned(),
        is_mandatory: f.checked("is_mandatory"),
        data_type: f.get("data_type").to_owned(),
        answers: f.get("answers").lines().map(str::to_owned).collect(),
        parent: Some(f.get("parent").to_owned()),
        trigger_value: Some(f.get("trigger_value").to_owned()),
    };
    match custom_fields::add(&state.app, &can_write, &input).await {
        Ok(()) => {
            let done = format!("created {}", input.name.trim());
            Ok(Redirect::to(&format!(
                "{}/system/custom-fields?done={}#target-{}",
                web.base,
                segment(&done),
                input.target.trim().to_ascii_lowercase()
            ))
            .into_response())
        }
        Err(err) => {
            let (status, rules) = refused(err)?;
            Ok(Page { status, markup: window(&state, &web, &f, &rules).await? }.into_response())
        }
    }
}
