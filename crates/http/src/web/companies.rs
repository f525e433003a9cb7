//! Manage > Companies: the list (with a small Add model form on each manufacturer's row),
//! Operations > Create with the Create Company window, and a company's page.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::companies::{self, COMPANY_TYPES, CompanyInput};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Permission, can};
use maud::{Markup, html};

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::{DoneQuery, Fields};
use crate::web::page::{Page, PageError, PageResult, done_notice, frame, operations, refused, rules_box};

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    done: String,
}

/// A company type as people read it (`AssetManufacturer`: Manufacturer).
fn type_label(company_type: &str) -> &str {
    match company_type {
        "AssetManufacturer" => "Manufacturer",
        "AssetSeller" => "Seller",
        "AssetServiceFirm" => "Service firm",
        other => other,
    }
}

/// A refused Add model: the rules, and the company and model name typed.
struct Refusal<'a> {
    status: StatusCode,
    rules: &'a [BrokenRule],
    company: &'a str,
    model: &'a str,
}

async fn list_page(state: &AppState, web: &Web, query: &ListQuery, refusal: Option<&Refusal<'_>>) -> PageResult {
    let proof = web.authorize::<can::CompaniesRead>()?;
    let mut rows = companies::list(&state.app, &proof).await?;
    let search = query.q.trim().to_lowercase();
    if !search.is_empty() {
        rows.retain(|c| c.name.to_lowercase().contains(&search) || c.email.to_lowercase().contains(&search));
    }
    let can_write = web.principal().permissions.contains(Permission::CompaniesWrite);
    let base = &web.base;
    let body = html! {
        div.titlebar {
            h1 { "Companies" }
            @if can_write {
                (operations(html! { li { a #op-create href={ (base) "/manage/companies/new" } { "Create" } } }))
            }
        }
        (done_notice(&query.done))
        @if let Some(refusal) = refusal { (rules_box(refusal.rules)) }
        form.filters method="get" action={ (base) "/manage/companies" } role="search" {
            input name="q" value=(query.q) placeholder="Search name or e-mail" aria-label="Search";
            button type="submit" { "Search" }
        }
        table.list #companies {
            thead { tr {
                th { "Name" } th { "Types" } th { "E-mail" } th { "Telephone" } th { "Town" } th { "Country" } th { "Models" }
            } }
            tbody {
                @for c in &rows {
                    tr data-company=(c.identifier) {
                        td { a href={ (base) "/manage/companies/" (c.identifier) } { (c.name) } }
                        td { (c.company_types.iter().map(|t| type_label(t)).collect::<Vec<_>>().join(", ")) }
                        td { (c.email) }
                        td { (c.telephone) }
                        td { (c.address[3]) }
                        td { (c.address[6]) }
                        td.models {
                            @if c.is_manufacturer() {
                                span.model-names { (c.models.join(", ")) }
                                @if can_write {
                                    @let typed = refusal.filter(|r| r.company == c.identifier).map_or("", |r| r.model);
                                    form.add-model method="post" action={ (base) "/manage/companies/" (c.identifier) "/models" } {
                                        input type="hidden" name="csrf" value=(web.csrf());
                                        input name="model" value=(typed) required maxlength="200" placeholder="New model"
                                            aria-label={ "New model of " (c.name) };
                                        button type="submit" { "Add model" }
                                    }
                                }
                            }
                        }
                    }
                }
                @if rows.is_empty() {
                    tr { td colspan="7" { @if search.is_empty() { "No companies yet." } @else { "No companies match." } } }
                }
            }
        }
    };
    let status = refusal.map_or(StatusCode::OK, |r| r.status);
    Ok(Page { status, markup: frame(web.principal(), web.csrf(), "Companies", body) })
}

pub async fn list(State(state): State<AppState>, web: Web, Query(query): Query<ListQuery>) -> PageResult {
    list_page(&state, &web, &query, None).await
}

fn window(web: &Web, f: &Fields, rules: &[BrokenRule]) -> Markup {
    let chosen = f.all("company_type");
    let input = |id: &str, label: &str, kind: &str, required: bool| {
        html! {
            label for=(id) { (label) }
            input #(id) type=(kind) name=(id) value=(f.get(id)) maxlength="200" required[required];
        }
    };
    let body = html! {
        div.window role="dialog" aria-labelledby="window-title" {
            h1 #window-title { "Create Company" }
            (rules_box(rules))
            form.card #company-window method="post" action={ (web.base) "/manage/companies/new" } {
                input type="hidden" name="csrf" value=(web.csrf());
                (input("name", "Name", "text", true))
                fieldset #company-types {
                    legend { "Company types" }
                    @for t in COMPANY_TYPES {
                        label.inline {
                            input type="checkbox" name="company_type" value=(t) checked[chosen.iter().any(|c| c == t)];
                            " " (type_label(t))
                        }
                    }
                }
                (input("email_address", "E-mail", "email", true))
                (input("telephone_number", "Telephone", "text", true))
                (input("address_line1", "Address line 1", "text", true))
                (input("address_line2", "Address line 2", "text", false))
                (input("address_line3", "Address line 3", "text", false))
                (input("town", "Town", "text", false))
                (input("county", "County", "text", false))
                (input("postcode", "Postcode", "text", false))
                (input("country", "Country", "text", true))
                div.actions { button #save type="submit" { "Save" } a href={ (web.base) "/manage/companies" } { "Cancel" } }
            }
        }
    };
    frame(web.principal(), web.csrf(), "Create Company", body)
}

pub async fn new_page(web: Web) -> PageResult {
    web.authorize::<can::CompaniesWrite>()?;
    Ok(Page::ok(window(&web, &Fields::default(), &[])))
}

pub async fn create(State(state): State<AppState>, web: Web, f: Fields) -> Result<Response, PageError> {
    web.check_csrf(&f)?;
    let can_write = web.authorize::<can::CompaniesWrite>()?;
    let input = CompanyInput {
        name: f.get("name").to_owned(),
        email_address: f.get("email_address").to_owned(),
        telephone_number: f.get("telephone_number").to_owned(),
        address_line1: f.get("address_line1").to_owned(),
        address_line2: f.get("address_line2").to_owned(),
        address_line3: f.get("address_line3").to_owned(),
        town: f.get("town").to_owned(),
        county: f.get("county").to_owned(),
        postcode: f.get("postcode").to_owned(),
        country: f.get("country").to_owned(),
        company_types: f.all("company_type"),
    };
    match companies::create(&state.app, &can_write, input).await {
        Ok(identifier) => {
            Ok(Redirect::to(&format!("{}/manage/companies/{identifier}?done=created", web.base)).into_response())
        }
        Err(err) => {
            let (status, rules) = refused(err)?;
            Ok(Page { status, markup: window(&web, &f, &rules) }.into_response())
        }
    }
}

/// Add model, from a manufacturer's row.
pub async fn add_model(
    State(state): State<AppState>,
    web: Web,
    Path((_, identifier)): Path<(String, String)>,
    f: Fields,
) -> Result<Response, PageError> {
    web.check_csrf(&f)?;
    let can_write = web.authorize::<can::CompaniesWrite>()?;
    let company = companies::get(&state.app, &web.authorize::<can::CompaniesRead>()?, &identifier).await?;
    let model = f.get("model");
    match companies::create_model(&state.app, &can_write, &company.name, model).await {
        Ok(()) => Ok(Redirect::to(&format!("{}/manage/companies?done=model+added", web.base)).into_response()),
        Err(err) => {
            let (status, rules) = refused(err)?;
            let refusal = Refusal { status, rules: &rules, company: &company.identifier, model };
            Ok(list_page(&state, &web, &ListQuery::default(), Some(&refusal)).await.into_response())
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    web: Web,
    Path((_, identifier)): Path<(String, String)>,
    Query(query): Query<DoneQuery>,
) -> PageResult {
    let company = companies::get(&state.app, &web.authorize::<can::CompaniesRead>()?, &identifier).await?;
    let [line1, line2, line3, town, county, postcode, country] = &company.address;
    let lines: Vec<&str> = [line1, line2, line3].iter().map(|l| l.as_str()).filter(|l| !l.is_empty()).collect();
    let body = html! {
        h1 { (company.name) }
        (done_notice(&query.done))
        dl.details #company-details {
            dt { "Identifier" } dd #company-identifier { code { (company.identifier) } }
            dt { "Types" } dd #company-types { (company.company_types.iter().map(|t| type_label(t)).collect::<Vec<_>>().join(", ")) }
            dt { "E-mail" } dd { (company.email) }
            dt { "Telephone" } dd { (company.telephone) }
            dt { "Address" } dd { (lines.join(", ")) }
            dt { "Town" } dd { (town) }
            dt { "County" } dd { (county) }
            dt { "Postcode" } dd { (postcode) }
            dt { "Country" } dd { (country) }
            dt { "Created" } dd { (company.created_at) }
        }
        @if company.is_manufacturer() {
            section.card #company-models {
                h2 { "Models" }
                @if company.models.is_empty() {
                    p.muted { "No models yet: add them on the Companies list." }
                } @else {
                    ul { @for model in &company.models { li { (model) } } }
                }
            }
        }
        p { a href={ (web.base) "/manage/companies" } { "Back to Companies" } }
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), &company.name, body)))
}
