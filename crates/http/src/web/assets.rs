//! Manage > Assets: the list (of every site or one), Operations > Create with the Create
//! Asset window, and an asset's page.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::assets::{self, AssetInput, LIFE_SPAN_UNITS};
use caretaker_app::{companies, custom_fields, reference_data};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Holder, Permission, can};
use caretaker_domain::matrix::{CustomFieldTarget, MatrixType, ReferenceGroup};
use caretaker_storage::companies::Company;
use caretaker_storage::custom_fields::CustomField;
use caretaker_storage::reference_data::MatrixItem;
use maud::{Markup, html};

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::{DoneQuery, Fields};
use crate::web::inputs::{self, custom_field_inputs, decimal, matrix_label, matrix_options, text, whole};
use crate::web::page::{Page, PageError, PageResult, done_notice, frame, operations, refused, rules_box, segment};
use crate::web::sites::load_window;

/// Assets per list page.
const PAGE: i64 = 200;

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    site: String,
    #[serde(default)]
    after: String,
}

/// The sites to choose from, (code, name), and whether that is all of them (`None` when the
/// user does not read sites).
async fn site_choices(state: &AppState, web: &Web) -> Result<Option<SiteChoices>, PageError> {
    match web.principal().authorize::<can::SitesRead>() {
        Some(proof) => {
            let (sites, more) = load_window(state, &proof, None).await?;
            Ok(Some(SiteChoices {
                sites: sites.into_iter().map(|s| (s.code, s.name)).collect(),
                complete: more.is_none(),
            }))
        }
        None => Ok(None),
    }
}

/// The sites a select offers.
struct SiteChoices {
    sites: Vec<(String, String)>,
    /// Every site is among them (else the site is typed, with these as suggestions).
    complete: bool,
}

/// The Asset matrix, for showing codes with their names (empty without reference_data.read).
async fn asset_matrix(state: &AppState, web: &Web) -> Result<Vec<MatrixItem>, PageError> {
    match web.principal().authorize::<can::ReferenceDataRead>() {
        Some(proof) => Ok(reference_data::matrix(&state.app, &proof, MatrixType::Asset).await?),
        None => Ok(Vec::new()),
    }
}

/// A site select; a text input (with suggestions) when the sites are too many to list or
/// cannot be read.
fn site_input(id: &str, choices: Option<&SiteChoices>, chosen: &str, empty: &str) -> Markup {
    let list = format!("{id}-choices");
    html! {
        @match choices {
            Some(SiteChoices { sites, complete: true }) => {
                select #(id) name=(id) {
                    option value="" { (empty) }
                    @for (code, name) in sites {
                        option value=(code) selected[code.eq_ignore_ascii_case(chosen.trim())] { (code) " " (name) }
                    }
                    @if !chosen.trim().is_empty() && !sites.iter().any(|(c, _)| c.eq_ignore_ascii_case(chosen.trim())) {
                        option value=(chosen) selected { (chosen) }
                    }
                }
            }
            Some(SiteChoices { sites, complete: false }) => {
                input #(id) name=(id) value=(chosen) placeholder="Site code" maxlength="50" list=(list);
                datalist #(list) { @for (code, name) in sites { option value=(code) { (name) } } }
            }
            None => { input #(id) name=(id) value=(chosen) placeholder="Site code" maxlength="50"; }
        }
    }
}

pub async fn list(State(state): State<AppState>, web: Web, Query(query): Query<ListQuery>) -> PageResult {
    let proof = web.authorize::<can::AssetsRead>()?;
    let site = Some(query.site.trim()).filter(|s| !s.is_empty());
    let after = Some(query.after.trim()).filter(|a| !a.is_empty());
    let (rows, next) = assets::list(&state.app, &proof, site, after, PAGE).await?;
    let sites = site_choices(&state, &web).await?;
    let matrix = asset_matrix(&state, &web).await?;
    let base = &web.base;
    let site_query = segment(site.unwrap_or(""));
    let body = html! {
        div.titlebar {
            h1 { "Assets" }
            @if web.principal().permissions.contains(Permission::AssetsWrite) {
                (operations(html! { li { a #op-create href={ (base) "/manage/assets/new?site=" (site_query) } { "Create" } } }))
            }
        }
        form.filters method="get" action={ (base) "/manage/assets" } role="search" {
            label.inline for="site" { "Site" }
            (site_input("site", sites.as_ref(), site.unwrap_or(""), "All sites"))
            button type="submit" { "Show" }
        }
        table.list #assets {
            thead { tr {
                th { "Asset" } th { "Site" } th { "Matrix code" } th { "Manufacturer" } th { "Model" }
                th { "Serial number" } th { "Tag" } th { "Category" }
            } }
            tbody {
                @for asset in &rows {
                    tr data-identifier=(asset.identifier) {
                        td { a href={ (base) "/manage/assets/" (asset.identifier) } {
                            @if asset.description.is_empty() { (asset.identifier) } @else { (asset.description) }
                        } }
                        td { a href={ (base) "/manage/sites/" (segment(&asset.site_code)) } { (asset.site_code) } }
                        td { (matrix_label(&matrix, &asset.matrix_code)) }
                        td { (asset.manufacturer.as_deref().unwrap_or("")) }
                        td { (asset.model.as_deref().unwrap_or("")) }
                        td { (asset.serial_number) }
                        td { (asset.asset_tag) }
                        td { (asset.category.as_deref().unwrap_or("")) }
                    }
                }
                @if rows.is_empty() { tr { td colspan="8" { "No assets." } } }
            }
        }
        @if let Some(next) = &next {
            nav.pager aria-label="More assets" {
                a #next-page href={ (base) "/manage/assets?site=" (site_query) "&after=" (segment(next)) } { "Next " (PAGE) " assets" }
            }
        }
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), "Assets", body)))
}

/// What the Create Asset window offers.
#[derive(Default)]
struct Choices {
    sites: Option<SiteChoices>,
    readable: bool,
    matrix: Vec<MatrixItem>,
    categories: Vec<String>,
    fields: Vec<CustomField>,
    /// Manufacturers with their models, when the user reads companies.
    manufacturers: Option<Vec<Company>>,
}

async fn choices(state: &AppState, web: &Web) -> Result<Choices, PageError> {
    let app = &state.app;
    let mut c = Choices { sites: site_choices(state, web).await?, ..Choices::default() };
    if let Some(proof) = web.principal().authorize::<can::CompaniesRead>() {
        c.manufacturers =
            Some(companies::list(app, &proof).await?.into_iter().filter(Company::is_manufacturer).collect());
    }
    if let Some(proof) = web.principal().authorize::<can::ReferenceDataRead>() {
        c.readable = true;
        c.matrix = reference_data::matrix(app, &proof, MatrixType::Asset).await?;
        c.categories = reference_data::reference_list(app, &proof, ReferenceGroup::AssetCategory)
            .await?
            .into_iter()
            .filter(|v| v.is_active)
            .map(|v| v.value)
            .collect();
        c.fields = custom_fields::all(app, &proof)
            .await?
            .into_iter()
            .filter(|(target, _)| *target == CustomFieldTarget::Asset)
            .map(|(_, field)| field)
            .collect();
    }
    Ok(c)
}

fn window(web: &Web, f: &Fields, c: &Choices, rules: &[BrokenRule]) -> Markup {
    let text_input = |id: &str, label: &str, max: u32| {
        html! {
            label for=(id) { (label) }
            input #(id) name=(id) value=(f.get(id)) maxlength=(max);
        }
    };
    let manufacturer = f.get("manufacturer").trim();
    let model = f.get("model").trim();
    let body = html! {
        div.window role="dialog" aria-labelledby="window-title" {
            h1 #window-title { "Create Asset" }
            (rules_box(rules))
            form #asset-window method="post" action={ (web.base) "/manage/assets/new" } {
                input type="hidden" name="csrf" value=(web.csrf());
                div.tablist role="tablist" aria-label="Asset" {
                    button.tab #tab-details type="button" role="tab" aria-controls="panel-details" aria-selected="true" { "Details" }
                    button.tab #tab-purchase type="button" role="tab" aria-controls="panel-purchase" aria-selected="false" { "Dates and Values" }
                    button.tab #tab-custom type="button" role="tab" aria-controls="panel-custom" aria-selected="false" { "Custom Fields" }
                }
                section.panel #panel-details role="tabpanel" aria-labelledby="tab-details" {
                    label for="site_code" { "Site" }
                    (site_input("site_code", c.sites.as_ref(), f.get("site_code"), "(choose a site)"))
                    label for="matrix_code" { "Asset matrix code" }
                    @if c.readable {
                        select #matrix_code name="matrix_code" { (matrix_options(&c.matrix, f.get("matrix_code"), Some("(choose a code)"))) }
                    } @else {
                        input #matrix_code name="matrix_code" value=(f.get("matrix_code")) placeholder="Matrix code such as 01-02" maxlength="20";
                    }
                    label for="manufacturer" { "Manufacturer" }
                    @match &c.manufacturers {
                        Some(list) => {
                            select #manufacturer name="manufacturer" {
                                option value="" { "(none)" }
                                @for m in list { option value=(m.name) selected[m.name.eq_ignore_ascii_case(manufacturer)] { (m.name) } }
                            }
                            label for="model" { "Model" }
                            select #model name="model" {
                                option value="" { "(none)" }
                                @for m in list {
                                    optgroup label=(m.name) data-manufacturer=(m.name) {
                                        @for name in &m.models {
                                            option value=(name)
                                                selected[m.name.eq_ignore_ascii_case(manufacturer) && name.eq_ignore_ascii_case(model)] { (name) }
                                        }
                                    }
                                }
                            }
                        }
                        None => {
                            input #manufacturer name="manufacturer" value=(f.get("manufacturer")) maxlength="200";
                            (text_input("model", "Model", 200))
                        }
                    }
                    (text_input("serial_number", "Serial number", 100))
                    (text_input("asset_tag", "Asset tag", 100))
                    label for="description" { "Description" }
                    textarea #description name="description" rows="3" maxlength="4000" { (f.get("description")) }
                    label for="quantity" { "Quantity" }
                    input #quantity name="quantity" value=(f.get("quantity")) inputmode="numeric" placeholder="1";
                    label for="category" { "Category" }
                    @if c.readable {
                        select #category name="category" {
                            option value="" { "(none)" }
                            @for cat in &c.categories { option value=(cat) selected[cat.eq_ignore_ascii_case(f.get("category").trim())] { (cat) } }
                        }
                    } @else {
                        input #category name="category" value=(f.get("category")) maxlength="200";
                    }
                    (text_input("parent_asset", "Parent asset's identifier (optional)", 36))
                }
                section.panel #panel-purchase role="tabpanel" aria-labelledby="tab-purchase" {
                    label for="installation_date" { "Installation date" }
                    input #installation_date type="date" name="installation_date" value=(f.get("installation_date"));
                    label for="purchase_date" { "Purchase date" }
                    input #purchase_date type="date" name="purchase_date" value=(f.get("purchase_date"));
                    label for="purchase_value" { "Purchase value" }
                    input #purchase_value name="purchase_value" value=(f.get("purchase_value")) inputmode="decimal";
                    label for="current_value" { "Current value" }
                    input #current_value name="current_value" value=(f.get("current_value")) inputmode="decimal";
                    label for="year_of_manufacture" { "Year of manufacture" }
                    input #year_of_manufacture name="year_of_manufacture" value=(f.get("year_of_manufacture")) inputmode="numeric";
                    label for="life_span_value" { "Life span" }
                    div.inline-fields {
                        input #life_span_value name="life_span_value" value=(f.get("life_span_value")) inputmode="numeric" aria-label="Life span";
                        select #life_span_unit name="life_span_unit" aria-label="Life span unit" {
                            option value="" { "(unit)" }
                            @for unit in LIFE_SPAN_UNITS { option value=(unit) selected[unit.eq_ignore_ascii_case(f.get("life_span_unit"))] { (unit) } }
                        }
                    }
                }
                section.panel #panel-custom role="tabpanel" aria-labelledby="tab-custom" {
                    (custom_field_inputs(&c.fields, f, "asset matrix code"))
                }
                div.actions {
                    button #save type="submit" { "Save" }
                    a href={ (web.base) "/manage/assets" } { "Cancel" }
                }
            }
        }
    };
    frame(web.principal(), web.csrf(), "Create Asset", body)
}

/// Create Asset from the window's fields. Numbers that do not parse become values the use
/// case refuses under its own keys.
fn to_input(f: &Fields) -> AssetInput {
    let span_value = whole(f, "life_span_value", 0);
    let span_unit = text(f, "life_span_unit");
    AssetInput {
        parent_asset_identifier: text(f, "parent_asset"),
        site_code: f.get("site_code").to_owned(),
        matrix_code: f.get("matrix_code").to_owned(),
        manufacturer: text(f, "manufacturer"),
        model: text(f, "model"),
        serial_number: text(f, "serial_number"),
        asset_tag: text(f, "asset_tag"),
        description: text(f, "description"),
        quantity: whole(f, "quantity", 0),
        installation_date: text(f, "installation_date"),
        purchase_date: text(f, "purchase_date"),
        purchase_value: decimal(f, "purchase_value"),
        current_value: decimal(f, "current_value"),
        year_of_manufacture: whole(f, "year_of_manufacture", 0),
        life_span: (span_value.is_some() || span_unit.is_some()).then_some((span_value, span_unit)),
        category: text(f, "category"),
        custom_fields: inputs::answers(f),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct NewQuery {
    #[serde(default)]
    site: String,
}

pub async fn new_page(State(state): State<AppState>, web: Web, Query(query): Query<NewQuery>) -> PageResult {
    web.authorize::<can::AssetsWrite>()?;
    let choices = choices(&state, &web).await?;
    let fields = Fields(vec![(String::from("site_code"), query.site)]);
    Ok(Page::ok(window(&web, &fields, &choices, &[])))
}

pub async fn create(State(state): State<AppState>, web: Web, fields: Fields) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let can_write = web.authorize::<can::AssetsWrite>()?;
    match assets::create(&state.app, &can_write, to_input(&fields)).await {
        Ok(asset) => {
            Ok(Redirect::to(&format!("{}/manage/assets/{}?done=created", web.base, asset.identifier)).into_response())
        }
        Err(err) => {
            let (status, rules) = refused(err)?;
            let choices = choices(&state, &web).await?;
            Ok(Page { status, markup: window(&web, &fields, &choices, &rules) }.into_response())
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    web: Web,
    Path((_, identifier)): Path<(String, String)>,
    Query(query): Query<DoneQuery>,
) -> PageResult {
    let proof = web.authorize::<can::AssetsRead>()?;
    let asset = assets::get(&state.app, &proof, &identifier).await?;
    let matrix = asset_matrix(&state, &web).await?;
    let base = &web.base;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let title = if asset.description.is_empty() { asset.identifier.clone() } else { asset.description.clone() };
    let body = html! {
        h1 { (title) }
        (done_notice(&query.done))
        dl.details #asset-details {
            dt { "Identifier" } dd #asset-identifier { code { (asset.identifier) } }
            dt { "Site" } dd #asset-site { a href={ (base) "/manage/sites/" (segment(&asset.site_code)) } { (asset.site_code) } }
            dt { "Parent asset" } dd {
                @match &asset.parent_identifier {
                    Some(parent) => { a href={ (base) "/manage/assets/" (parent) } { (parent) } }
                    None => { "(none)" }
                }
            }
            dt { "Matrix code" } dd #asset-matrix { (matrix_label(&matrix, &asset.matrix_code)) }
            dt { "Manufacturer" } dd #asset-manufacturer { (opt(&asset.manufacturer)) }
            dt { "Model" } dd #asset-model { (opt(&asset.model)) }
            dt { "Serial number" } dd { (asset.serial_number) }
            dt { "Asset tag" } dd { (asset.asset_tag) }
            dt { "Description" } dd { (asset.description) }
            dt { "Quantity" } dd #asset-quantity { (asset.quantity) }
            dt { "Installation date" } dd { (opt(&asset.installation_date)) }
            dt { "Purchase date" } dd { (opt(&asset.purchase_date)) }
            dt { "Purchase value" } dd { (num(asset.purchase_value)) }
            dt { "Current value" } dd { (num(asset.current_value)) }
            dt { "Year of manufacture" } dd { (asset.year_of_manufacture.map(|y| y.to_string()).unwrap_or_default()) }
            dt { "Life span" } dd #asset-life-span {
                @if let Some((value, unit)) = &asset.life_span { (value) " " (unit) }
            }
            dt { "Category" } dd { (opt(&asset.category)) }
        }
        section.card #asset-custom-fields {
            h2 { "Custom fields" }
            @if asset.custom_fields.is_empty() {
                p.muted { "No answers." }
            } @else {
                dl.details { @for (name, value) in &asset.custom_fields { dt { (name) } dd data-field=(name) { (value) } } }
            }
        }
        p { a href={ (base) "/manage/assets?site=" (segment(&asset.site_code)) } { "Back to Assets" } }
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), &title, body)))
}
