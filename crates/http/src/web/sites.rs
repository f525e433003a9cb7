//! Manage > Sites: the list (a tree of parents and children when not searching) with its
//! search box, Operations > Create with the Create Site window, and a site's page.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use caretaker_app::sites::{self, HoursInput, NoteInput, SiteInput};
use caretaker_app::{Principal, custom_fields, reference_data};
use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, Holder, Permission, can};
use caretaker_domain::matrix::{CustomFieldTarget, MatrixType, ReferenceGroup};
use caretaker_domain::site::DAYS;
use caretaker_storage::custom_fields::CustomField;
use caretaker_storage::reference_data::MatrixItem;
use caretaker_storage::sites::Site;
use maud::{Markup, html};

use crate::AppState;
use crate::web::context::Web;
use crate::web::form::{DoneQuery, Fields};
use crate::web::inputs::{self, custom_field_inputs, decimal, matrix_label, matrix_options, text};
use crate::web::page::{
    Page, PageError, PageResult, depth_class, done_notice, frame, operations, refused, rules_box, segment,
};

/// How many sites a list page loads at most (three pages of the use case's largest, 200).
pub(crate) const WINDOW: usize = 600;
const PAGE: i64 = 200;

/// Up to [`WINDOW`] sites by code after the cursor `after`, and the cursor of the rest.
pub(crate) async fn load_window(
    state: &AppState,
    proof: &Authorized<'_, can::SitesRead, Principal>,
    after: Option<&str>,
) -> Result<(Vec<Site>, Option<String>), PageError> {
    let mut rows = Vec::new();
    let mut cursor = after.map(str::to_owned);
    loop {
        let (page, more) = sites::list(&state.app, proof, cursor.as_deref(), PAGE).await?;
        rows.extend(page);
        match more {
            Some(next) if rows.len() < WINDOW => cursor = Some(next),
            more => return Ok((rows, more)),
        }
    }
}

/// The Geographic Area and Site Channel matrices, for showing codes with their names (empty
/// without `reference_data.read`).
async fn area_and_channel(state: &AppState, web: &Web) -> Result<(Vec<MatrixItem>, Vec<MatrixItem>), PageError> {
    match web.principal().authorize::<can::ReferenceDataRead>() {
        Some(proof) => Ok((
            reference_data::matrix(&state.app, &proof, MatrixType::GeographicArea).await?,
            reference_data::matrix(&state.app, &proof, MatrixType::SiteChannel).await?,
        )),
        None => Ok((Vec::new(), Vec::new())),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
}

/// The order of a tree walk: each site with its depth, children (by code) under their
/// parent. Sites whose parent is not among `sites` are roots.
fn tree_order(sites: &[Site]) -> Vec<(&Site, usize)> {
    let key = |code: &str| code.to_ascii_lowercase();
    let present: HashSet<String> = sites.iter().map(|s| key(&s.code)).collect();
    let mut children: HashMap<String, Vec<&Site>> = HashMap::new();
    let mut roots = Vec::new();
    for site in sites {
        match site.parent_code.as_deref().map(key).filter(|p| present.contains(p)) {
            Some(parent) => children.entry(parent).or_default().push(site),
            None => roots.push(site),
        }
    }
    let mut order = Vec::with_capacity(sites.len());
    let mut seen = HashSet::new();
    let mut stack: Vec<(&Site, usize)> = roots.into_iter().rev().map(|s| (s, 0)).collect();
    while let Some((site, depth)) = stack.pop() {
        if !seen.insert(key(&site.code)) {
            continue;
        }
        order.push((site, depth));
        if let Some(kids) = children.get(&key(&site.code)) {
            stack.extend(kids.iter().rev().map(|s| (*s, depth + 1)));
        }
    }
    order
}

fn matches(site: &Site, q: &str) -> bool {
    let q = q.to_lowercase();
    [&site.code, &site.name, &site.address[3], &site.address[6]].iter().any(|v| v.to_lowercase().contains(&q))
}

pub async fn list(State(state): State<AppState>, web: Web, Query(query): Query<ListQuery>) -> PageResult {
    let proof = web.authorize::<can::SitesRead>()?;
    let after = Some(query.after.trim()).filter(|a| !a.is_empty());
    let (window, next) = load_window(&state, &proof, after).await?;
    let (areas, channels) = area_and_channel(&state, &web).await?;
    let search = query.q.trim();
    let rows: Vec<(&Site, usize)> = if search.is_empty() {
        tree_order(&window)
    } else {
        window.iter().filter(|s| matches(s, search)).map(|s| (s, 0)).collect()
    };
    let base = &web.base;
    let site_link = |code: &str| format!("{base}/manage/sites/{}", segment(code));
    let body = html! {
        div.titlebar {
            h1 { "Sites" }
            @if web.principal().permissions.contains(Permission::SitesWrite) {
                (operations(html! { li { a #op-create href={ (base) "/manage/sites/new" } { "Create" } } }))
            }
        }
        (done_notice(&query.done))
        form.filters method="get" action={ (base) "/manage/sites" } role="search" {
            input name="q" value=(query.q) placeholder="Search code, name, town or postal code" aria-label="Search";
            button type="submit" { "Search" }
            @if !search.is_empty() { a href={ (base) "/manage/sites" } { "Show the tree" } }
        }
        table.list.tree #sites {
            thead { tr { th { "Code" } th { "Name" } th { "Parent" } th { "Town" } th { "Geographic area" } th { "Site channel" } } }
            tbody {
                @for (site, depth) in &rows {
                    tr class=(depth_class(*depth)) data-code=(site.code) data-depth=(depth) {
                        td.code { a href=(site_link(&site.code)) { (site.code) } }
                        td { a href=(site_link(&site.code)) { (site.name) } }
                        td { @if let Some(parent) = &site.parent_code { a href=(site_link(parent)) { (parent) } } }
                        td { (site.address[3]) }
                        td { (site.geographic_area_code.as_deref().map(|c| matrix_label(&areas, c)).unwrap_or_default()) }
                        td { (site.site_channel_code.as_deref().map(|c| matrix_label(&channels, c)).unwrap_or_default()) }
                    }
                }
                @if rows.is_empty() {
                    tr { td colspan="6" { @if search.is_empty() { "No sites yet." } @else { "No sites match." } } }
                }
            }
        }
        @if after.is_some() || next.is_some() {
            nav.pager aria-label="More sites" {
                @if after.is_some() { a #first-page href={ (base) "/manage/sites?q=" (segment(&query.q)) } { "First sites" } }
                @if let Some(next) = &next {
                    a #next-page href={ (base) "/manage/sites?q=" (segment(&query.q)) "&after=" (segment(next)) } {
                        "Next " (WINDOW) " sites"
                    }
                }
            }
            @if !search.is_empty() { p.muted { "The search looks through " (WINDOW) " sites at a time." } }
        }
    };
    Ok(Page::ok(frame(web.principal(), web.csrf(), "Sites", body)))
}

/// What the Create Site window offers: the matrices' items, the hazards and the site custom
/// fields (all empty without `reference_data.read`, when codes and hazards are typed).
#[derive(Default)]
struct Choices {
    readable: bool,
    areas: Vec<MatrixItem>,
    channels: Vec<MatrixItem>,
    hazards: Vec<String>,
    fields: Vec<CustomField>,
    /// Existing site codes, suggested for the parent.
    codes: Vec<String>,
}

async fn choices(state: &AppState, web: &Web) -> Result<Choices, PageError> {
    let codes = match web.principal().authorize::<can::SitesRead>() {
        Some(proof) => load_window(state, &proof, None).await?.0.into_iter().map(|s| s.code).collect(),
        None => Vec::new(),
    };
    let Some(proof) = web.principal().authorize::<can::ReferenceDataRead>() else {
        return Ok(Choices { codes, ..Choices::default() });
    };
    let app = &state.app;
    Ok(Choices {
        readable: true,
        areas: reference_data::matrix(app, &proof, MatrixType::GeographicArea).await?,
        channels: reference_data::matrix(app, &proof, MatrixType::SiteChannel).await?,
        hazards: reference_data::reference_list(app, &proof, ReferenceGroup::HealthAndSafety)
            .await?
            .into_iter()
            .filter(|v| v.is_active)
            .map(|v| v.value)
            .collect(),
        fields: custom_fields::all(app, &proof)
            .await?
            .into_iter()
            .filter(|(target, _)| *target == CustomFieldTarget::Site)
            .map(|(_, field)| field)
            .collect(),
        codes,
    })
}

/// A select of matrix items, or a text input without `reference_data.read`.
fn matrix_input(id: &str, items: &[MatrixItem], readable: bool, typed: &str) -> Markup {
    html! {
        @if readable {
            select #(id) name=(id) { (matrix_options(items, typed, Some("(none)"))) }
        } @else {
            input #(id) name=(id) value=(typed) placeholder="Matrix code such as 01-02" maxlength="20";
        }
    }
}

/// The Create Site window; with `editing` (the site's code) it edits that site instead: the
/// code is read-only, there is no note (notes are added on the site's page) and it posts to
/// the site's `/edit`.
fn window(web: &Web, f: &Fields, c: &Choices, rules: &[BrokenRule], editing: Option<&str>) -> Markup {
    let (title, action, cancel) = match editing {
        Some(code) => (
            "Edit Site",
            format!("{}/manage/sites/{}/edit", web.base, segment(code)),
            format!("{}/manage/sites/{}", web.base, segment(code)),
        ),
        None => ("Create Site", format!("{}/manage/sites/new", web.base), format!("{}/manage/sites", web.base)),
    };
    let chosen = f.all("hazard");
    let text_input = |id: &str, label: &str, max: u32| {
        html! {
            label for=(id) { (label) }
            input #(id) name=(id) value=(f.get(id)) maxlength=(max);
        }
    };
    let body = html! {
        div.window role="dialog" aria-labelledby="window-title" {
            h1 #window-title { (title) }
            (rules_box(rules))
            form #site-window method="post" action=(action) {
                input type="hidden" name="csrf" value=(web.csrf());
                div.tablist role="tablist" aria-label="Site" {
                    button.tab #tab-details type="button" role="tab" aria-controls="panel-details" aria-selected="true" { "Details" }
                    button.tab #tab-address type="button" role="tab" aria-controls="panel-address" aria-selected="false" { "Address" }
                    button.tab #tab-notes type="button" role="tab" aria-controls="panel-notes" aria-selected="false" { "Hazards and Notes" }
                    button.tab #tab-hours type="button" role="tab" aria-controls="panel-hours" aria-selected="false" { "Working Hours" }
                    button.tab #tab-custom type="button" role="tab" aria-controls="panel-custom" aria-selected="false" { "Custom Fields" }
                }
                section.panel #panel-details role="tabpanel" aria-labelledby="tab-details" {
                    label for="site_code" { "Site code" }
                    input #site_code name="site_code" value=(f.get("site_code")) required maxlength="50" readonly[editing.is_some()];
                    label for="parent_code" { "Parent site's code (optional)" }
                    input #parent_code name="parent_code" value=(f.get("parent_code")) maxlength="50" list="site-codes";
                    datalist #site-codes { @for code in &c.codes { option value=(code) {} } }
                    label for="name" { "Name" }
                    input #name name="name" value=(f.get("name")) required maxlength="200";
                    label for="email" { "E-mail" }
                    input #email type="email" name="email" value=(f.get("email")) maxlength="254";
                    (text_input("telephone", "Telephone", 50))
                    label for="geographic_area" { "Geographic area" }
                    (matrix_input("geographic_area", &c.areas, c.readable, f.get("geographic_area")))
                    label for="site_channel" { "Site channel" }
                    (matrix_input("site_channel", &c.channels, c.readable, f.get("site_channel")))
                }
                section.panel #panel-address role="tabpanel" aria-labelledby="tab-address" {
                    (text_input("line1", "Address line 1", 200))
                    (text_input("line2", "Address line 2", 200))
                    (text_input("line3", "Address line 3", 200))
                    (text_input("town", "Town", 200))
                    (text_input("county", "County", 200))
                    (text_input("country", "Country", 200))
                    (text_input("postal_code", "Postal code", 200))
                    label for="latitude" { "Latitude (-90 to 90)" }
                    input #latitude name="latitude" value=(f.get("latitude")) inputmode="decimal";
                    label for="longitude" { "Longitude (-180 to 180)" }
                    input #longitude name="longitude" value=(f.get("longitude")) inputmode="decimal";
                }
                section.panel #panel-notes role="tabpanel" aria-labelledby="tab-notes" {
                    fieldset #hazards {
                        legend { "Hazards (Health and Safety)" }
                        @if c.readable {
                            @for hazard in &c.hazards {
                                label.inline {
                                    input type="checkbox" name="hazard" value=(hazard) checked[chosen.iter().any(|h| h == hazard)];
                                    " " (hazard)
                                }
                            }
                            @if c.hazards.is_empty() { p.muted { "The Health and Safety list is empty." } }
                        } @else {
                            label for="hazards" { "Hazards, comma-separated" }
                            input #hazards-text name="hazards" value=(f.get("hazards"));
                        }
                    }
                    @if editing.is_none() { fieldset #note {
                        legend { "Note" }
                        label for="note_text" { "Text" }
                        textarea #note_text name="note_text" rows="3" maxlength="4000" { (f.get("note_text")) }
                        label for="note_start" { "Shown from (optional)" }
                        input #note_start type="date" name="note_start" value=(f.get("note_start"));
                        label for="note_end" { "Shown until" }
                        input #note_end type="date" name="note_end" value=(f.get("note_end"));
                        label.inline {
                            input #note_warning type="checkbox" name="note_warning" checked[f.checked("note_warning")];
                            " Warning note (shown to everyone working at the site)"
                        }
                    } }
                }
                section.panel #panel-hours role="tabpanel" aria-labelledby="tab-hours" {
                    table.list #hours {
                        thead { tr { th { "Day" } th { "Opens" } th { "Closes" } } }
                        tbody {
                            @for day in DAYS {
                                @let (opens, closes) = (format!("opens_{day}"), format!("closes_{day}"));
                                tr {
                                    th scope="row" { (day) }
                                    td { input type="time" name=(opens) value=(f.get(&opens)) aria-label={ (day) " opens" }; }
                                    td { input type="time" name=(closes) value=(f.get(&closes)) aria-label={ (day) " closes" }; }
                                }
                            }
                        }
                    }
                    p.muted { "Leave a day empty when the site is closed." }
                }
                section.panel #panel-custom role="tabpanel" aria-labelledby="tab-custom" {
                    (custom_field_inputs(&c.fields, f, "site channel"))
                }
                div.actions {
                    button #save type="submit" { "Save" }
                    a href=(cancel) { "Cancel" }
                }
            }
        }
    };
    frame(web.principal(), web.csrf(), title, body)
}

/// A note from the fields `note_text`, `note_start`, `note_end` and `note_warning`.
fn note_input(f: &Fields) -> NoteInput {
    NoteInput {
        text: f.get("note_text").to_owned(),
        start_date: text(f, "note_start"),
        end_date: text(f, "note_end"),
        is_warning: f.checked("note_warning"),
    }
}

/// The window's fields holding a stored site's values (for Edit Site).
fn site_fields(site: &Site, hours: &[(String, u8, String, String)]) -> Fields {
    let mut f: Vec<(String, String)> = vec![
        ("site_code".into(), site.code.clone()),
        ("parent_code".into(), site.parent_code.clone().unwrap_or_default()),
        ("name".into(), site.name.clone()),
        ("email".into(), site.email.clone()),
        ("telephone".into(), site.telephone.clone()),
        ("geographic_area".into(), site.geographic_area_code.clone().unwrap_or_default()),
        ("site_channel".into(), site.site_channel_code.clone().unwrap_or_default()),
        ("latitude".into(), site.latitude.map(|v| v.to_string()).unwrap_or_default()),
        ("longitude".into(), site.longitude.map(|v| v.to_string()).unwrap_or_default()),
    ];
    for (key, value) in
        ["line1", "line2", "line3", "town", "county", "country", "postal_code"].iter().zip(&site.address)
    {
        f.push(((*key).into(), value.clone()));
    }
    f.extend(site.hazards.iter().map(|h| ("hazard".to_owned(), h.clone())));
    f.push(("hazards".into(), site.hazards.join(", ")));
    for (_, day, opens, closes) in hours.iter().filter(|h| h.0 == site.code) {
        if let Some(name) = DAYS.get(usize::from(*day).wrapping_sub(1)) {
            f.push((format!("opens_{name}"), opens.clone()));
            f.push((format!("closes_{name}"), closes.clone()));
        }
    }
    f.extend(site.custom_fields.iter().map(|(name, value)| (format!("cf:{name}"), value.clone())));
    Fields(f)
}

/// Create Site from the window's fields.
fn to_input(f: &Fields) -> SiteInput {
    let mut hazards = f.all("hazard");
    hazards.extend(f.get("hazards").split(',').map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned));
    let note = note_input(f);
    let has_note =
        !note.text.trim().is_empty() || note.start_date.is_some() || note.end_date.is_some() || note.is_warning;
    let working_hours = DAYS
        .iter()
        .filter_map(|day| {
            let opens = f.get(&format!("opens_{day}")).trim().to_owned();
            let closes = f.get(&format!("closes_{day}")).trim().to_owned();
            (!opens.is_empty() || !closes.is_empty()).then(|| HoursInput { day: (*day).to_owned(), opens, closes })
        })
        .collect();
    SiteInput {
        site_code: f.get("site_code").to_owned(),
        parent_code: text(f, "parent_code"),
        name: f.get("name").to_owned(),
        address: ["line1", "line2", "line3", "town", "county", "country", "postal_code"].map(|k| f.get(k).to_owned()),
        latitude: decimal(f, "latitude"),
        longitude: decimal(f, "longitude"),
        email: text(f, "email"),
        telephone: text(f, "telephone"),
        geographic_area: text(f, "geographic_area"),
        site_channel: text(f, "site_channel"),
        hazards,
        notes: if has_note { vec![note] } else { Vec::new() },
        working_hours,
        custom_fields: inputs::answers(f),
    }
}

pub async fn new_page(State(state): State<AppState>, web: Web) -> PageResult {
    web.authorize::<can::SitesWrite>()?;
    let choices = choices(&state, &web).await?;
    Ok(Page::ok(window(&web, &Fields::default(), &choices, &[], None)))
}

pub async fn create(State(state): State<AppState>, web: Web, fields: Fields) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let can_write = web.authorize::<can::SitesWrite>()?;
    match sites::create(&state.app, &can_write, to_input(&fields)).await {
        Ok(site) => {
            Ok(Redirect::to(&format!("{}/manage/sites/{}?done=created", web.base, segment(&site.code))).into_response())
        }
        Err(err) => {
            let (status, rules) = refused(err)?;
            let choices = choices(&state, &web).await?;
            Ok(Page { status, markup: window(&web, &fields, &choices, &rules, None) }.into_response())
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    web: Web,
    Path((_, code)): Path<(String, String)>,
    Query(query): Query<DoneQuery>,
) -> PageResult {
    let proof = web.authorize::<can::SitesRead>()?;
    let site = sites::get(&state.app, &proof, &code).await?;
    Ok(Page::ok(site_page(&state, &web, &site, &query.done, &Fields::default(), &[]).await?))
}

/// A site's page; `note` and `rules` are a refused Add note form's fields and broken rules.
async fn site_page(
    state: &AppState,
    web: &Web,
    site: &Site,
    done: &str,
    note: &Fields,
    rules: &[BrokenRule],
) -> Result<Markup, PageError> {
    let (areas, channels) = area_and_channel(state, web).await?;
    let writable = web.principal().permissions.contains(Permission::SitesWrite);
    let base = &web.base;
    let here = format!("{base}/manage/sites/{}", segment(&site.code));
    let [line1, line2, line3, town, county, country, postal] = &site.address;
    let lines: Vec<&str> = [line1, line2, line3].iter().map(|l| l.as_str()).filter(|l| !l.is_empty()).collect();
    let title = format!("{} ({})", site.name, site.code);
    let body = html! {
        div.titlebar {
            h1 { (site.name) " " small { "(" (site.code) ")" } }
            @if writable {
                (operations(html! { li { a #op-edit href={ (here) "/edit" } { "Edit" } } }))
            }
        }
        (done_notice(done))
        dl.details #site-details {
            dt { "Site code" } dd #site-code { (site.code) }
            dt { "Name" } dd { (site.name) }
            dt { "Parent site" } dd #site-parent {
                @match &site.parent_code {
                    Some(parent) => { a href={ (base) "/manage/sites/" (segment(parent)) } { (parent) } }
                    None => { "(none)" }
                }
            }
            dt { "Address" } dd { (lines.join(", ")) }
            dt { "Town" } dd { (town) }
            dt { "County" } dd { (county) }
            dt { "Country" } dd { (country) }
            dt { "Postal code" } dd { (postal) }
            dt { "Location" } dd #site-location {
                @match (site.latitude, site.longitude) {
                    (Some(lat), Some(lon)) => { (lat) ", " (lon) }
                    _ => { "(none)" }
                }
            }
            dt { "E-mail" } dd { (site.email) }
            dt { "Telephone" } dd { (site.telephone) }
            dt { "Geographic area" } dd #site-area {
                (site.geographic_area_code.as_deref().map(|c| matrix_label(&areas, c)).unwrap_or_default())
            }
            dt { "Site channel" } dd #site-channel {
                (site.site_channel_code.as_deref().map(|c| matrix_label(&channels, c)).unwrap_or_default())
            }
            dt { "Created" } dd { (site.created_at) }
        }
        section.card #site-notes {
            h2 { "Notes" }
            @if site.notes.is_empty() {
                p.muted { "No notes." }
            } @else {
                table.list {
                    thead { tr { th { "Note" } th { "From" } th { "Until" } } }
                    tbody {
                        @for note in &site.notes {
                            tr.warning[note.is_warning] data-warning=(note.is_warning) {
                                td {
                                    @if note.is_warning { span.badge.warning title="Warning note" { "Warning" } " " }
                                    (note.text)
                                }
                                td { (note.start_date.as_deref().unwrap_or("")) }
                                td { (note.end_date.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
            @if writable {
                form #add-note method="post" action={ (here) "/notes" } {
                    h3 { "Add note" }
                    (rules_box(rules))
                    input type="hidden" name="csrf" value=(web.csrf());
                    label for="note_text" { "Text" }
                    textarea #note_text name="note_text" rows="3" maxlength="4000" required { (note.get("note_text")) }
                    label for="note_start" { "Shown from (optional)" }
                    input #note_start type="date" name="note_start" value=(note.get("note_start"));
                    label for="note_end" { "Shown until" }
                    input #note_end type="date" name="note_end" value=(note.get("note_end"));
                    label.inline {
                        input #note_warning type="checkbox" name="note_warning" checked[note.checked("note_warning")];
                        " Warning note (shown to everyone working at the site)"
                    }
                    div.actions { button #add-note-save type="submit" { "Add note" } }
                }
            }
        }
        section.card #site-hazards {
            h2 { "Hazards" }
            @if site.hazards.is_empty() {
                p.muted { "No hazards recorded." }
            } @else {
                ul { @for hazard in &site.hazards { li { (hazard) } } }
            }
        }
        section.card #site-custom-fields {
            h2 { "Custom fields" }
            @if site.custom_fields.is_empty() {
                p.muted { "No answers." }
            } @else {
                dl.details { @for (name, value) in &site.custom_fields { dt { (name) } dd data-field=(name) { (value) } } }
            }
        }
        p {
            @if web.principal().permissions.contains(Permission::AssetsRead) {
                a #site-assets href={ (base) "/manage/assets?site=" (segment(&site.code)) } { "Assets at this site" } " · "
            }
            a href={ (base) "/manage/sites" } { "Back to Sites" }
        }
    };
    Ok(frame(web.principal(), web.csrf(), &title, body))
}

/// The site `code` for a page that changes it: 404 when the caller cannot see it.
async fn site_to_change(state: &AppState, web: &Web, code: &str) -> Result<Site, PageError> {
    let proof = web.authorize::<can::SitesRead>()?;
    Ok(sites::get(&state.app, &proof, code).await?)
}

/// Edit Site: the Create Site window filled with the site's values.
pub async fn edit_page(State(state): State<AppState>, web: Web, Path((_, code)): Path<(String, String)>) -> PageResult {
    web.authorize::<can::SitesWrite>()?;
    let site = site_to_change(&state, &web, &code).await?;
    let proof = web.authorize::<can::SitesRead>()?;
    let hours = sites::working_hours(&state.app, &proof).await?;
    let choices = choices(&state, &web).await?;
    Ok(Page::ok(window(&web, &site_fields(&site, &hours), &choices, &[], Some(&site.code))))
}

pub async fn update(
    State(state): State<AppState>,
    web: Web,
    Path((_, code)): Path<(String, String)>,
    fields: Fields,
) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let can_write = web.authorize::<can::SitesWrite>()?;
    match sites::update(&state.app, &can_write, &code, to_input(&fields)).await {
        Ok(site) => {
            Ok(Redirect::to(&format!("{}/manage/sites/{}?done=changed", web.base, segment(&site.code))).into_response())
        }
        Err(err) => {
            let (status, rules) = refused(err)?;
            let site = site_to_change(&state, &web, &code).await?;
            let choices = choices(&state, &web).await?;
            Ok(Page { status, markup: window(&web, &fields, &choices, &rules, Some(&site.code)) }.into_response())
        }
    }
}

pub async fn add_note(
    State(state): State<AppState>,
    web: Web,
    Path((_, code)): Path<(String, String)>,
    fields: Fields,
) -> Result<Response, PageError> {
    web.check_csrf(&fields)?;
    let can_write = web.authorize::<can::SitesWrite>()?;
    match sites::add_note(&state.app, &can_write, &code, note_input(&fields)).await {
        Ok(site) => Ok(Redirect::to(&format!("{}/manage/sites/{}?done=note%20added", web.base, segment(&site.code)))
            .into_response()),
        Err(err) => {
            let (status, rules) = refused(err)?;
            let site = site_to_change(&state, &web, &code).await?;
            Ok(Page { status, markup: site_page(&state, &web, &site, "", &fields, &rules).await? }.into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caretaker_domain::clock::Timestamp;
    use caretaker_domain::site::SiteId;

    fn site(code: &str, parent: Option<&str>) -> Site {
        Site {
            id: SiteId(0),
            code: code.into(),
            parent_code: parent.map(Into::into),
            name: code.into(),
            address: Default::default(),
            latitude: None,
            longitude: None,
            email: String::new(),
            telephone: String::new(),
            geographic_area_code: None,
            site_channel_code: None,
            hazards: Vec::new(),
            notes: Vec::new(),
            custom_fields: Vec::new(),
            created_at: Timestamp::from_unix_micros(0),
        }
    }

    #[test]
    fn children_follow_their_parents_and_orphans_are_roots() {
        let sites = [
            site("A", None),
            site("A-1", Some("a")),
            site("A-1-X", Some("A-1")),
            site("A-2", Some("A")),
            site("B", None),
            site("C-1", Some("C")),
            site("Z", Some("B")),
        ];
        let order: Vec<(&str, usize)> = tree_order(&sites).into_iter().map(|(s, d)| (s.code.as_str(), d)).collect();
        assert_eq!(
            order,
            [("A", 0), ("A-1", 1), ("A-1-X", 2), ("A-2", 1), ("B", 0), ("Z", 1), ("C-1", 0)],
            "C-1's parent is not loaded: it is a root"
        );
    }
}
