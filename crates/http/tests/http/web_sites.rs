//! The Manage > Sites, Assets and Companies pages and System > Matrices, Reference Lists and
//! Custom Fields, driven through the real router: what each stores, every kind of refusal
//! (broken rules shown again with what was typed, 403 without the permission or the CSRF
//! token, 404 for another tenant's things), and that a refusal writes nothing.

use axum::http::StatusCode;
use caretaker_app::Principal;
use caretaker_app::assets::{self as app_assets, AssetInput};
use caretaker_app::companies::{self as app_companies, CompanyInput};
use caretaker_app::sites::{self as app_sites, SiteInput};
use caretaker_domain::access::{Holder, can};
use caretaker_domain::matrix::{MatrixType, ReferenceGroup};
use caretaker_domain::user::UserType;
use caretaker_storage::tenants::Tenant;
use caretaker_storage::testing::TestDb;
use caretaker_storage::{both_backends, companies, custom_fields, reference_data, sites};

use crate::web::{ADMIN_EMAIL, BASE, Client, PASSWORD, World, data_keys};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn operator(tenant: &Tenant) -> Principal {
    Principal::operator(tenant.id, tenant.name.as_str())
}

/// A site made through the use case.
async fn site(w: &World, tenant: &Tenant, code: &str, parent: Option<&str>) {
    let op = operator(tenant);
    let input = SiteInput {
        site_code: code.into(),
        parent_code: parent.map(Into::into),
        name: format!("Site {code}"),
        address: ["1 High Street", "", "", "Leeds", "", "UK", "LS1"].map(String::from),
        ..SiteInput::default()
    };
    app_sites::create(w.app(), &op.authorize::<can::SitesWrite>().unwrap(), input)
        .await
        .unwrap_or_else(|err| panic!("site {code}: {err:?}"));
}

/// A company made through the use case; returns its identifier.
async fn company(w: &World, tenant: &Tenant, name: &str, types: &[&str], models: &[&str]) -> String {
    let op = operator(tenant);
    let proof = op.authorize::<can::CompaniesWrite>().unwrap();
    let input = CompanyInput {
        name: name.into(),
        email_address: "sales@example.com".into(),
        telephone_number: "0113 000 0000".into(),
        address_line1: "1 Works Road".into(),
        country: "UK".into(),
        company_types: types.iter().map(|t| (*t).to_owned()).collect(),
        ..CompanyInput::default()
    };
    let identifier = app_companies::create(w.app(), &proof, input).await.unwrap();
    for model in models {
        app_companies::create_model(w.app(), &proof, name, model).await.unwrap();
    }
    identifier
}

/// Row counts of everything these pages write, and the people snapshot.
async fn snapshot(w: &World) -> String {
    let mut out = String::new();
    for table in [
        "sites",
        "site_hazards",
        "site_notes",
        "site_working_hours",
        "custom_answers",
        "assets",
        "companies",
        "manufacturer_models",
        "matrix_items",
        "reference_values",
        "custom_fields",
    ] {
        out.push_str(&format!("{table}: {}\n", w.t.count(table).await));
    }
    out + &w.snapshot().await
}

/// `(data-code, data-depth)` of each tree row, top to bottom, in the element `id`.
fn tree_rows(body: &str, id: &str) -> Vec<(String, usize)> {
    let start = body.find(&format!(r#"id="{id}""#)).unwrap_or_else(|| panic!("no #{id}: {body}"));
    let end = start + body[start..].find("</table>").unwrap();
    let table = &body[start..end];
    let attr = |from: &str, name: &str| {
        let at = from.find(&format!(r#"{name}=""#)).unwrap() + name.len() + 2;
        from[at..at + from[at..].find('"').unwrap()].to_owned()
    };
    table
        .match_indices(r#" data-code=""#)
        .map(|(i, _)| {
            let rest = &table[i..];
            (attr(rest, "data-code"), attr(rest, "data-depth").parse().unwrap())
        })
        .collect()
}

fn keys(body: &str) -> Vec<String> {
    let mut keys = data_keys(body);
    keys.sort();
    keys
}

#[track_caller]
fn assert_keys(body: &str, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|k| format!("BrokenRule_{k}")).collect();
    expected.sort();
    assert_eq!(keys(body), expected, "{body}");
}

/// A full Create Site form.
fn site_form<'a>(code: &'a str, parent: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("site_code", code),
        ("parent_code", parent),
        ("name", "Leeds Forecourt"),
        ("line1", "12 Kirkstall Road"),
        ("line2", "Unit 4"),
        ("line3", ""),
        ("town", "Leeds"),
        ("county", "West Yorkshire"),
        ("country", "United Kingdom"),
        ("postal_code", "LS3 1LH"),
        ("latitude", "53.8"),
        ("longitude", "-1.57"),
        ("email", "leeds@acme.example"),
        ("telephone", "0113 496 0000"),
        ("geographic_area", "01-01"),
        ("site_channel", "01-01"),
        ("hazard", "Asbestos"),
        ("hazard", "Live electrics"),
        ("note_text", "Gate code 4321"),
        ("note_start", "2024-01-01"),
        ("note_end", "2024-12-31"),
        ("note_warning", "on"),
        ("opens_Monday", "07:00"),
        ("closes_Monday", "22:00"),
        ("opens_Sunday", "09:00"),
        ("closes_Sunday", "17:00"),
        ("opens_Tuesday", ""),
        ("closes_Tuesday", ""),
        ("cf:Custom_Store_Manager", "Pat Smith"),
    ]
}

both_backends!(
    creating_a_site_stores_every_field_and_shows_it,
    the_site_list_is_a_tree_until_searched,
    refused_sites_show_every_rule_with_what_was_typed_and_write_nothing,
    editing_a_site_replaces_its_values_keeps_its_notes_and_is_audited,
    refused_edits_show_every_rule_and_change_nothing,
    notes_are_added_on_a_sites_page,
    creating_an_asset_stores_every_field_and_lists_it_by_site,
    refused_assets_show_every_rule_and_write_nothing,
    companies_are_created_and_manufacturers_get_models,
    matrices_take_items_under_existing_parents,
    reference_lists_take_new_values,
    custom_fields_are_defined_and_asked_on_create_site,
    who_may_see_and_change_sites_assets_companies_and_reference_data,
    another_tenants_sites_assets_and_companies_are_not_found,
    posts_without_the_sessions_csrf_token_change_nothing,
);

// ---------------------------------------------------------------------------------------
// Sites
// ---------------------------------------------------------------------------------------

async fn stored_site(w: &World, code: &str) -> sites::Site {
    sites::get(&mut *w.t.conn().await, w.tenant.id, code).await.unwrap().unwrap()
}

async fn hours_of(w: &World, code: &str) -> Vec<(String, u8, String, String)> {
    sites::working_hours(w.t.db.read(), w.tenant.id).await.unwrap().into_iter().filter(|h| h.0 == code).collect()
}

async fn editing_a_site_replaces_its_values_keeps_its_notes_and_is_audited(t: TestDb) {
    let w = World::new(t).await;
    site(&w, &w.tenant, "LEEDS", None).await;
    site(&w, &w.tenant, "YORK", None).await;
    let mut c = w.admin_client().await;
    c.submit(&w.path("/manage/sites/new"), &site_form("LEEDS-01", "LEEDS"))
        .await
        .assert_see_other(&w.path("/manage/sites/LEEDS-01?done=created"));
    let created = stored_site(&w, "LEEDS-01").await;
    let created_at = sites::updated_at(w.t.db.read(), created.id).await.unwrap().unwrap();

    // The site's page offers Edit; the window holds the stored values, the code read-only.
    let page = c.get(&w.path("/manage/sites/LEEDS-01")).await;
    assert!(page.body.contains(&format!(r#"id="op-edit" href="{BASE}/manage/sites/LEEDS-01/edit""#)), "{}", page.body);
    let form = c.get(&w.path("/manage/sites/LEEDS-01/edit")).await;
    form.assert_status(StatusCode::OK);
    for needle in [
        "Edit Site",
        &format!(r#"action="{BASE}/manage/sites/LEEDS-01/edit""#),
        r#"name="site_code" value="LEEDS-01" required maxlength="50" readonly"#,
        r#"name="parent_code" value="LEEDS""#,
        r#"value="Leeds Forecourt""#,
        r#"value="12 Kirkstall Road""#,
        r#"value="53.8""#,
        r#"name="hazard" value="Asbestos" checked"#,
        r#"name="opens_Monday" value="07:00""#,
        r#"name="closes_Sunday" value="17:00""#,
        r#"value="Pat Smith""#,
    ] {
        assert!(form.body.contains(needle), "{needle}: {}", form.body);
    }
    assert!(!form.body.contains(r#"id="note_text""#), "notes are added on the site's page");

    w.t.clock.advance_seconds(60);
    let edit = [
        ("site_code", "leeds-01"),
        ("parent_code", "york"),
        ("name", "Leeds Forecourt East"),
        ("line1", "14 Kirkstall Road"),
        ("town", "Leeds"),
        ("country", "United Kingdom"),
        ("email", "east@acme.example"),
        ("geographic_area", "01-01"),
        ("site_channel", "01-01"),
        ("hazard", "Live electrics"),
        ("opens_Tuesday", "08:00"),
        ("closes_Tuesday", "18:00"),
        ("cf:Custom_Store_Manager", "Sam Jones"),
    ];
    let reply = c.submit(&w.path("/manage/sites/LEEDS-01/edit"), &edit).await;
    reply.assert_see_other(&w.path("/manage/sites/LEEDS-01?done=changed"));

    let stored = stored_site(&w, "LEEDS-01").await;
    assert_eq!(stored.code, "LEEDS-01", "the code keeps its case");
    assert_eq!(stored.parent_code.as_deref(), Some("YORK"));
    assert_eq!(stored.name, "Leeds Forecourt East");
    assert_eq!(stored.address, ["14 Kirkstall Road", "", "", "Leeds", "", "United Kingdom", ""]);
    assert_eq!((stored.latitude, stored.longitude), (None, None));
    assert_eq!((stored.email.as_str(), stored.telephone.as_str()), ("east@acme.example", ""));
    assert_eq!(stored.hazards, ["Live electrics"]);
    assert_eq!(stored.notes, created.notes, "notes are kept");
    assert_eq!(stored.custom_fields, [("Custom_Store_Manager".to_owned(), "Sam Jones".to_owned())]);
    assert_eq!(stored.created_at, created.created_at);
    assert_eq!(hours_of(&w, "LEEDS-01").await, [("LEEDS-01".to_owned(), 2, "08:00".to_owned(), "18:00".to_owned())]);
    let updated_at = sites::updated_at(w.t.db.read(), stored.id).await.unwrap().unwrap();
    assert!(updated_at > created_at, "updated_at is bumped");
    let audit = w.audit_of("site.changed").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target.as_deref(), Some("LEEDS-01"));
    assert_eq!(audit[0].actor_email.as_deref(), Some(ADMIN_EMAIL));
    let page = c.get(reply.location()).await;
    assert!(page.body.contains("Leeds Forecourt East") && page.body.contains(r#"id="done""#));

    // The use case: an unknown code is not found.
    let op = operator(&w.tenant);
    let proof = op.authorize::<can::SitesWrite>().unwrap();
    let input = SiteInput { site_code: "NOPE".into(), name: "Nope".into(), ..SiteInput::default() };
    assert!(matches!(app_sites::update(w.app(), &proof, "NOPE", input).await, Err(caretaker_app::AppError::NotFound)));
}

async fn refused_edits_show_every_rule_and_change_nothing(t: TestDb) {
    let w = World::new(t).await;
    site(&w, &w.tenant, "LEEDS", None).await;
    site(&w, &w.tenant, "LEEDS-01", Some("LEEDS")).await;
    site(&w, &w.tenant, "LEEDS-01-A", Some("LEEDS-01")).await;
    let mut c = w.admin_client().await;
    let before = snapshot(&w).await;
    let stored = stored_site(&w, "LEEDS").await;
    let updated_at = sites::updated_at(w.t.db.read(), stored.id).await.unwrap();

    let reply = c
        .submit(
            &w.path("/manage/sites/LEEDS/edit"),
            &[
                ("site_code", "LEEDS-2"),
                ("parent_code", "leeds-01-a"),
                ("name", "Leeds"),
                ("email", "not-an-email"),
                ("latitude", "100"),
                ("longitude", "0"),
                ("hazard", "Sharks"),
                ("opens_Monday", "09:00"),
                ("closes_Monday", "08:00"),
            ],
        )
        .await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(
        &reply.body,
        &[
            "Site_SiteCodeCannotChange",
            "Site_ParentCycle",
            "Site_InvalidEmail",
            "Site_InvalidLatitude",
            "Site_UnknownHazard",
            "Site_InvalidWorkingHours",
        ],
    );
    for needle in ["Edit Site", r#"value="LEEDS-2""#, r#"value="not-an-email""#, r#"value="leeds-01-a""#] {
        assert!(reply.body.contains(needle), "{needle}: {}", reply.body);
    }
    // Its own parent is a cycle too; an unknown channel and a blank name are refused as on create.
    let reply = c
        .submit(
            &w.path("/manage/sites/LEEDS/edit"),
            &[("site_code", "leeds"), ("parent_code", "LEEDS"), ("name", " "), ("site_channel", "99")],
        )
        .await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&reply.body, &["Site_ParentCycle", "Site_MissingName", "Site_UnknownSiteChannel"]);

    assert_eq!(snapshot(&w).await, before, "refused edits wrote nothing");
    assert_eq!(stored_site(&w, "LEEDS").await, stored);
    assert_eq!(sites::updated_at(w.t.db.read(), stored.id).await.unwrap(), updated_at);
    assert!(w.audit_of("site.changed").await.is_empty());

    // Unknown codes are not found.
    c.get(&w.path("/manage/sites/NOPE/edit")).await.assert_status(StatusCode::NOT_FOUND);
    c.submit(&w.path("/manage/sites/NOPE/edit"), &[("site_code", "NOPE"), ("name", "X")])
        .await
        .assert_status(StatusCode::NOT_FOUND);
    c.submit(&w.path("/manage/sites/NOPE/notes"), &[("note_text", "X")]).await.assert_status(StatusCode::NOT_FOUND);
}

async fn notes_are_added_on_a_sites_page(t: TestDb) {
    let w = World::new(t).await;
    site(&w, &w.tenant, "LEEDS", None).await;
    let mut c = w.admin_client().await;
    let page = c.get(&w.path("/manage/sites/LEEDS")).await;
    assert!(page.body.contains(&format!(r#"id="add-note" method="post" action="{BASE}/manage/sites/LEEDS/notes""#)));

    let reply = c
        .submit(
            &w.path("/manage/sites/leeds/notes"),
            &[
                ("note_text", " Gate code 4321 "),
                ("note_start", "2024-01-01"),
                ("note_end", "2024-12-31"),
                ("note_warning", "on"),
            ],
        )
        .await;
    reply.assert_see_other(&w.path("/manage/sites/LEEDS?done=note%20added"));
    c.submit(&w.path("/manage/sites/LEEDS/notes"), &[("note_text", "Ring the bell")])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let stored = stored_site(&w, "LEEDS").await;
    assert_eq!(
        stored.notes,
        [
            sites::Note {
                text: "Gate code 4321".into(),
                start_date: Some("2024-01-01".into()),
                end_date: Some("2024-12-31".into()),
                is_warning: true
            },
            sites::Note { text: "Ring the bell".into(), start_date: None, end_date: None, is_warning: false },
        ]
    );
    let audit = w.audit_of("site.note_added").await;
    assert_eq!(audit.len(), 2);
    assert!(audit.iter().all(|e| e.target.as_deref() == Some("LEEDS")));
    let page = c.get(reply.location()).await;
    assert!(page.body.contains("Gate code 4321") && page.body.contains("Ring the bell"));

    // Refused: the page comes back with the rules and what was typed; nothing is written.
    let before = snapshot(&w).await;
    let reply = c
        .submit(
            &w.path("/manage/sites/LEEDS/notes"),
            &[("note_text", "  "), ("note_start", "2024-06-01"), ("note_end", "2024-01-01")],
        )
        .await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&reply.body, &["Site_InvalidNoteText", "Site_NoteEndsBeforeItStarts"]);
    assert!(reply.body.contains(r#"id="add-note""#) && reply.body.contains(r#"value="2024-06-01""#), "{}", reply.body);
    let reply = c.submit(&w.path("/manage/sites/LEEDS/notes"), &[("note_text", "x"), ("note_end", "2024-01-01")]).await;
    assert_keys(&reply.body, &["Site_NoteDatesTogether"]);
    assert_eq!(snapshot(&w).await, before);
    assert_eq!(w.audit_of("site.note_added").await.len(), 2);
}

async fn creating_a_site_stores_every_field_and_shows_it(t: TestDb) {
    let w = World::new(t).await;
    site(&w, &w.tenant, "LEEDS", None).await;
    let mut c = w.admin_client().await;

    let form = c.get(&w.path("/manage/sites/new")).await;
    form.assert_status(StatusCode::OK);
    for needle in [
        r#"id="site-window""#,
        r#"<option value="01-01">"#,
        r#"name="hazard" value="Asbestos""#,
        r#"name="opens_Sunday""#,
        r#"name="cf:Custom_Store_Manager""#,
        r#"<option value="LEEDS">"#,
    ] {
        assert!(form.body.contains(needle), "{needle}");
    }

    let reply = c.submit(&w.path("/manage/sites/new"), &site_form("LEEDS-01", "leeds")).await;
    reply.assert_see_other(&w.path("/manage/sites/LEEDS-01?done=created"));

    let stored = sites::get(&mut *w.t.conn().await, w.tenant.id, "LEEDS-01").await.unwrap().unwrap();
    assert_eq!(stored.parent_code.as_deref(), Some("LEEDS"));
    assert_eq!(stored.name, "Leeds Forecourt");
    assert_eq!(
        stored.address,
        ["12 Kirkstall Road", "Unit 4", "", "Leeds", "West Yorkshire", "United Kingdom", "LS3 1LH"]
    );
    assert_eq!((stored.latitude, stored.longitude), (Some(53.8), Some(-1.57)));
    assert_eq!((stored.email.as_str(), stored.telephone.as_str()), ("leeds@acme.example", "0113 496 0000"));
    assert_eq!(stored.geographic_area_code.as_deref(), Some("01-01"));
    assert_eq!(stored.site_channel_code.as_deref(), Some("01-01"));
    assert_eq!(stored.hazards, ["Asbestos", "Live electrics"]);
    assert_eq!(stored.notes.len(), 1);
    let note = &stored.notes[0];
    assert_eq!(
        (note.text.as_str(), note.start_date.as_deref(), note.end_date.as_deref(), note.is_warning),
        ("Gate code 4321", Some("2024-01-01"), Some("2024-12-31"), true)
    );
    assert_eq!(stored.custom_fields, [("Custom_Store_Manager".to_owned(), "Pat Smith".to_owned())]);
    let hours = sites::working_hours(w.t.db.read(), w.tenant.id).await.unwrap();
    let ours: Vec<_> = hours.into_iter().filter(|h| h.0 == "LEEDS-01").collect();
    assert_eq!(
        ours,
        [
            ("LEEDS-01".to_owned(), 1, "07:00".to_owned(), "22:00".to_owned()),
            ("LEEDS-01".to_owned(), 7, "09:00".to_owned(), "17:00".to_owned())
        ]
    );
    let audit = w.audit_of("site.created").await;
    assert_eq!(audit[0].target.as_deref(), Some("LEEDS-01"));
    assert_eq!(audit[0].actor_email.as_deref(), Some(ADMIN_EMAIL));

    let page = c.get(reply.location()).await;
    page.assert_status(StatusCode::OK);
    for needle in [
        r#"id="done""#,
        r#"<dd id="site-code">LEEDS-01</dd>"#,
        &format!(r#"href="{BASE}/manage/sites/LEEDS">LEEDS</a>"#),
        "01-01 North East",
        "01-01 Forecourt",
        "53.8, -1.57",
        r#"class="warning" data-warning="true""#,
        r#"title="Warning note">Warning</span>"#,
        "Gate code 4321",
        "<li>Asbestos</li>",
        "<li>Live electrics</li>",
        r#"<dd data-field="Custom_Store_Manager">Pat Smith</dd>"#,
        &format!(r#"href="{BASE}/manage/assets?site=LEEDS-01""#),
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }

    // Any case reaches it; a code with a slash travels percent-encoded; unknown codes are 404.
    c.get(&w.path("/manage/sites/leeds-01")).await.assert_status(StatusCode::OK);
    let reply = c.submit(&w.path("/manage/sites/new"), &[("site_code", "ROOM/1.2"), ("name", "Plant room")]).await;
    reply.assert_see_other(&w.path("/manage/sites/ROOM%2F1.2?done=created"));
    let page = c.get(reply.location()).await;
    page.assert_status(StatusCode::OK);
    assert!(page.body.contains(r#"<dd id="site-code">ROOM/1.2</dd>"#));
    // Nothing but the code and name: no note, hazards or hours are invented.
    let bare = sites::get(&mut *w.t.conn().await, w.tenant.id, "ROOM/1.2").await.unwrap().unwrap();
    assert!(bare.notes.is_empty() && bare.hazards.is_empty() && bare.latitude.is_none());
    c.get(&w.path("/manage/sites/NOPE")).await.assert_status(StatusCode::NOT_FOUND);
    // A site coded "new" is linked so that its page, not the form, opens.
    c.submit(&w.path("/manage/sites/new"), &[("site_code", "new"), ("name", "Newtown")])
        .await
        .assert_see_other(&w.path("/manage/sites/%6Eew?done=created"));
    let page = c.get(&w.path("/manage/sites/%6Eew")).await;
    assert!(page.body.contains(r#"<dd id="site-code">new</dd>"#));
}

async fn the_site_list_is_a_tree_until_searched(t: TestDb) {
    let w = World::new(t).await;
    site(&w, &w.tenant, "SOUTH", None).await;
    site(&w, &w.tenant, "AAA", Some("SOUTH")).await;
    site(&w, &w.tenant, "NORTH", None).await;
    site(&w, &w.tenant, "NORTH-01", Some("NORTH")).await;
    site(&w, &w.tenant, "NORTH-01-A", Some("NORTH-01")).await;
    let mut c = w.admin_client().await;

    let list = c.get(&w.path("/manage/sites")).await;
    list.assert_status(StatusCode::OK);
    assert!(list.body.contains(r#"id="op-create""#));
    let rows = tree_rows(&list.body, "sites");
    let expected = [("NORTH", 0), ("NORTH-01", 1), ("NORTH-01-A", 2), ("SOUTH", 0), ("AAA", 1)];
    assert_eq!(rows, expected.map(|(c, d)| (c.to_owned(), d)));
    assert!(list.body.contains(r#"<tr class="depth-2" data-code="NORTH-01-A""#), "{}", list.body);
    assert!(list.body.contains(&format!(r#"<td><a href="{BASE}/manage/sites/NORTH">NORTH</a></td>"#)));
    assert!(!list.body.contains(r#"id="next-page""#), "everything fits one window");

    // Searching lists the matches flat, by code (name and town count too).
    let found = c.get(&w.path("/manage/sites?q=north-01")).await;
    let rows = tree_rows(&found.body, "sites");
    assert_eq!(rows, [("NORTH-01".to_owned(), 0), ("NORTH-01-A".to_owned(), 0)]);
    let found = c.get(&w.path("/manage/sites?q=site%20aaa")).await;
    assert_eq!(tree_rows(&found.body, "sites"), [("AAA".to_owned(), 0)]);
    let none = c.get(&w.path("/manage/sites?q=nowhere")).await;
    assert!(none.body.contains("No sites match."));
    // The cursor continues after a code.
    let later = c.get(&w.path("/manage/sites?after=north-01")).await;
    let codes: Vec<String> = tree_rows(&later.body, "sites").into_iter().map(|r| r.0).collect();
    assert_eq!(codes, ["NORTH-01-A", "SOUTH"]);
    assert!(later.body.contains(r#"id="first-page""#));
}

async fn refused_sites_show_every_rule_with_what_was_typed_and_write_nothing(t: TestDb) {
    let w = World::new(t).await;
    site(&w, &w.tenant, "LEEDS", None).await;
    let mut c = w.admin_client().await;
    let before = snapshot(&w).await;

    let mut form = site_form("", "NOWHERE");
    let mut first_hazard = true;
    for (k, v) in form.iter_mut() {
        match *k {
            "hazard" if first_hazard => {
                first_hazard = false;
                *v = "Sharks";
            }
            "email" => *v = "not-an-email",
            "latitude" => *v = "north-ish",
            "note_end" => *v = "2023-01-01",
            "closes_Monday" => *v = "06:00",
            "geographic_area" => *v = "09",
            "cf:Custom_Store_Manager" => *v = "",
            _ => {}
        }
    }
    let reply = c.submit(&w.path("/manage/sites/new"), &form).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(
        &reply.body,
        &[
            "Site_MissingSiteCode",
            "Site_InvalidLatitude",
            "Site_InvalidEmail",
            "Site_NoteEndsBeforeItStarts",
            "Site_InvalidWorkingHours",
            "Site_UnknownParent",
            "Site_UnknownGeographicArea",
            "Site_UnknownHazard",
        ],
    );
    // The window comes back with what was typed.
    for needle in [
        r#"id="site-window""#,
        r#"value="NOWHERE""#,
        r#"value="Leeds Forecourt""#,
        r#"value="north-ish""#,
        r#"value="not-an-email""#,
        r#"value="2023-01-01""#,
        ">Gate code 4321</textarea>",
        r#"name="note_warning" checked"#,
        r#"name="hazard" value="Live electrics" checked"#,
        r#"name="closes_Monday" value="06:00""#,
    ] {
        assert!(reply.body.contains(needle), "{needle}: {}", reply.body);
    }

    // A custom field answer outside the chosen channel, and a latitude without longitude.
    let reply = c
        .submit(
            &w.path("/manage/sites/new"),
            &[
                ("site_code", "X1"),
                ("name", "X"),
                ("latitude", "10"),
                ("site_channel", "02"),
                ("cf:Custom_Store_Manager", "Pat"),
            ],
        )
        .await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&reply.body, &["Site_IncompleteLocation", "Site_UnknownCustomField"]);

    // A taken code (any case) is a conflict.
    let reply = c.submit(&w.path("/manage/sites/new"), &[("site_code", "leeds"), ("name", "Again")]).await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_keys(&reply.body, &["Site_DuplicateSiteCode"]);
    assert!(reply.body.contains(r#"value="Again""#));
    assert_eq!(snapshot(&w).await, before, "refused creates wrote nothing");
}

// ---------------------------------------------------------------------------------------
// Assets
// ---------------------------------------------------------------------------------------

async fn creating_an_asset_stores_every_field_and_lists_it_by_site(t: TestDb) {
    let w = World::new(t).await;
    site(&w, &w.tenant, "LEEDS", None).await;
    site(&w, &w.tenant, "YORK", None).await;
    company(&w, &w.tenant, "Gilbarco", &["AssetManufacturer"], &["Encore 700", "Frontier"]).await;
    company(&w, &w.tenant, "Pump Sellers", &["AssetSeller"], &[]).await;
    company(&w, &w.tenant, "Wayne", &["AssetManufacturer"], &["Helix"]).await;
    // Each company listed with its own models.
    let listed = companies::list(&mut *w.t.conn().await, w.tenant.id).await.unwrap();
    let models: Vec<(&str, &[String])> = listed.iter().map(|c| (c.name.as_str(), c.models.as_slice())).collect();
    let (encore, helix) = (["Encore 700".to_owned(), "Frontier".to_owned()], ["Helix".to_owned()]);
    assert_eq!(models, [("Gilbarco", &encore[..]), ("Pump Sellers", &[][..]), ("Wayne", &helix[..])]);
    let mut c = w.admin_client().await;

    let list = c.get(&w.path("/manage/assets")).await;
    list.assert_status(StatusCode::OK);
    assert!(list.body.contains("No assets.") && list.body.contains(r#"id="op-create""#));
    let form = c.get(&w.path("/manage/assets/new?site=YORK")).await;
    form.assert_status(StatusCode::OK);
    for needle in [
        r#"<option value="YORK" selected>"#,
        r#"<option value="Gilbarco">Gilbarco</option>"#,
        r#"<optgroup label="Gilbarco" data-manufacturer="Gilbarco"><option value="Encore 700">"#,
        r#"<option value="Fuel dispenser">"#,
        r#"name="cf:Custom_Hose_Count""#,
        r#"<option value="Months">"#,
    ] {
        assert!(form.body.contains(needle), "{needle}: {}", form.body);
    }
    assert!(!form.body.contains(r#"<option value="Pump Sellers">"#), "only manufacturers");

    let fields = [
        ("site_code", "LEEDS"),
        ("matrix_code", "01-01"),
        ("manufacturer", "gilbarco"),
        ("model", "encore 700"),
        ("serial_number", "SN-1"),
        ("asset_tag", "TAG-9"),
        ("description", "Pump 3"),
        ("quantity", "2"),
        ("installation_date", "2022-05-01"),
        ("purchase_date", "2022-04-01"),
        ("purchase_value", "12500.50"),
        ("current_value", "9000"),
        ("year_of_manufacture", "2021"),
        ("life_span_value", "15"),
        ("life_span_unit", "Years"),
        ("category", "Fuel dispenser"),
        ("parent_asset", ""),
        ("cf:Custom_Hose_Count", "4"),
        ("cf:Custom_Fuel_Grade", "Diesel"),
    ];
    let reply = c.submit(&w.path("/manage/assets/new"), &fields).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let location = reply.location().to_owned();
    let identifier = location.strip_prefix(&w.path("/manage/assets/")).unwrap().strip_suffix("?done=created").unwrap();

    let op = operator(&w.tenant);
    let stored = app_assets::get(w.app(), &op.authorize::<can::AssetsRead>().unwrap(), identifier).await.unwrap();
    assert_eq!(stored.site_code, "LEEDS");
    assert_eq!(stored.matrix_code, "01-01");
    assert_eq!((stored.manufacturer.as_deref(), stored.model.as_deref()), (Some("Gilbarco"), Some("Encore 700")));
    assert_eq!((stored.serial_number.as_str(), stored.asset_tag.as_str()), ("SN-1", "TAG-9"));
    assert_eq!((stored.description.as_str(), stored.quantity), ("Pump 3", 2));
    assert_eq!(stored.installation_date.as_deref(), Some("2022-05-01"));
    assert_eq!(stored.purchase_date.as_deref(), Some("2022-04-01"));
    assert_eq!((stored.purchase_value, stored.current_value), (Some(12500.5), Some(9000.0)));
    assert_eq!(stored.year_of_manufacture, Some(2021));
    assert_eq!(stored.life_span, Some((15, "Years".to_owned())));
    assert_eq!(stored.category.as_deref(), Some("Fuel dispenser"));
    assert_eq!(
        stored.custom_fields,
        [("Custom_Fuel_Grade".to_owned(), "Diesel".to_owned()), ("Custom_Hose_Count".to_owned(), "4".to_owned())]
    );
    assert_eq!(w.audit_of("asset.created").await[0].target.as_deref(), Some(identifier));

    let page = c.get(&location).await;
    page.assert_status(StatusCode::OK);
    for needle in [
        &format!("<code>{identifier}</code>"),
        "01-01 Dispenser",
        r#"<dd id="asset-model">Encore 700</dd>"#,
        r#"<dd id="asset-quantity">2</dd>"#,
        r#"<dd id="asset-life-span">15 Years</dd>"#,
        r#"<dd data-field="Custom_Hose_Count">4</dd>"#,
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }

    // A parent asset must be at the same site.
    let child = [("site_code", "YORK"), ("matrix_code", "02"), ("parent_asset", identifier)];
    let reply = c.submit(&w.path("/manage/assets/new"), &child).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&reply.body, &["Asset_ParentAtAnotherSite"]);
    let child = [("site_code", "LEEDS"), ("matrix_code", "02"), ("parent_asset", identifier)];
    assert_eq!(c.submit(&w.path("/manage/assets/new"), &child).await.status, StatusCode::SEE_OTHER);
    c.submit(&w.path("/manage/assets/new"), &[("site_code", "YORK"), ("matrix_code", "02-01")])
        .await
        .assert_status(StatusCode::SEE_OTHER);

    let all = c.get(&w.path("/manage/assets")).await;
    assert_eq!(all.body.matches("data-identifier=").count(), 3);
    let leeds = c.get(&w.path("/manage/assets?site=leeds")).await;
    assert_eq!(leeds.body.matches("data-identifier=").count(), 2);
    assert!(leeds.body.contains(&format!(r#"data-identifier="{identifier}""#)));
    let york = c.get(&w.path("/manage/assets?site=YORK")).await;
    assert_eq!(york.body.matches("data-identifier=").count(), 1);
    assert!(york.body.contains("02-01 Air conditioning unit"));
    c.get(&w.path("/manage/assets/00000000-0000-4000-8000-000000000000")).await.assert_status(StatusCode::NOT_FOUND);
}

async fn refused_assets_show_every_rule_and_write_nothing(t: TestDb) {
    let w = World::new(t).await;
    site(&w, &w.tenant, "LEEDS", None).await;
    company(&w, &w.tenant, "Gilbarco", &["AssetManufacturer"], &["Encore 700"]).await;
    let mut c = w.admin_client().await;
    let before = snapshot(&w).await;

    let fields = [
        ("site_code", "NOWHERE"),
        ("matrix_code", "07"),
        ("manufacturer", "Gilbarco"),
        ("model", "Frontier"),
        ("serial_number", "SN-typed"),
        ("quantity", "lots"),
        ("installation_date", "yesterday"),
        ("purchase_value", "-5"),
        ("current_value", "cheap"),
        ("year_of_manufacture", "1066"),
        ("life_span_value", "10"),
        ("life_span_unit", ""),
        ("category", "Spaceships"),
    ];
    let reply = c.submit(&w.path("/manage/assets/new"), &fields).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(
        &reply.body,
        &[
            "Asset_UnknownSite",
            "Asset_UnknownMatrixCode",
            "Asset_UnknownModel",
            "Asset_InvalidQuantity",
            "Asset_InvalidDate",
            "Asset_InvalidValue",
            "Asset_InvalidValue",
            "Asset_InvalidYearOfManufacture",
            "Asset_InvalidLifeSpan",
            "Asset_UnknownCategory",
        ],
    );
    for needle in
        [r#"id="asset-window""#, r#"value="SN-typed""#, r#"value="lots""#, r#"value="yesterday""#, r#"value="cheap""#]
    {
        assert!(reply.body.contains(needle), "{needle}");
    }
    let reply = c.submit(&w.path("/manage/assets/new"), &[("model", "Encore 700")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&reply.body, &["Asset_MissingSiteCode", "Asset_MissingMatrixCode", "Asset_MissingManufacturer"]);
    // A custom answer that is not a number, and one of a field of another code.
    let reply = c
        .submit(
            &w.path("/manage/assets/new"),
            &[("site_code", "LEEDS"), ("matrix_code", "01-01"), ("cf:Custom_Hose_Count", "four")],
        )
        .await;
    assert_keys(&reply.body, &["Asset_InvalidCustomField"]);
    let reply = c
        .submit(
            &w.path("/manage/assets/new"),
            &[("site_code", "LEEDS"), ("matrix_code", "02"), ("cf:Custom_Hose_Count", "4")],
        )
        .await;
    assert_keys(&reply.body, &["Asset_UnknownCustomField"]);
    assert_eq!(snapshot(&w).await, before, "refused creates wrote nothing");
}

// ---------------------------------------------------------------------------------------
// Companies
// ---------------------------------------------------------------------------------------

async fn companies_are_created_and_manufacturers_get_models(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.admin_client().await;
    let list = c.get(&w.path("/manage/companies")).await;
    list.assert_status(StatusCode::OK);
    assert!(list.body.contains("No companies yet.") && list.body.contains(r#"id="op-create""#));
    let form = c.get(&w.path("/manage/companies/new")).await;
    assert!(form.body.contains(r#"name="company_type" value="AssetServiceFirm""#));

    let fields = [
        ("name", "Gilbarco Veeder-Root"),
        ("company_type", "AssetManufacturer"),
        ("company_type", "AssetServiceFirm"),
        ("email_address", "uk@gilbarco.example"),
        ("telephone_number", "01234 567890"),
        ("address_line1", "Crompton Close"),
        ("address_line2", "Basildon"),
        ("address_line3", ""),
        ("town", "Basildon"),
        ("county", "Essex"),
        ("postcode", "SS14 3BA"),
        ("country", "United Kingdom"),
    ];
    let reply = c.submit(&w.path("/manage/companies/new"), &fields).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let stored = companies::list(&mut *w.t.conn().await, w.tenant.id).await.unwrap();
    assert_eq!(stored.len(), 1);
    let gilbarco = &stored[0];
    assert_eq!(reply.location(), w.path(&format!("/manage/companies/{}?done=created", gilbarco.identifier)));
    assert_eq!(gilbarco.name, "Gilbarco Veeder-Root");
    assert_eq!(gilbarco.company_types, ["AssetManufacturer", "AssetServiceFirm"]);
    assert_eq!(gilbarco.address, ["Crompton Close", "Basildon", "", "Basildon", "Essex", "SS14 3BA", "United Kingdom"]);
    assert_eq!((gilbarco.email.as_str(), gilbarco.telephone.as_str()), ("uk@gilbarco.example", "01234 567890"));
    assert_eq!(w.audit_of("company.created").await.len(), 1);
    let page = c.get(reply.location()).await;
    assert!(page.body.contains(r#"<dd id="company-types">Manufacturer, Service firm</dd>"#), "{}", page.body);
    let seller = company(&w, &w.tenant, "Pump Sellers", &["AssetSeller"], &[]).await;

    // Add model, on the manufacturer's row only.
    let list = c.get(&w.path("/manage/companies")).await;
    let add = format!("/manage/companies/{}/models", gilbarco.identifier);
    assert!(list.body.contains(&format!(r#"action="{BASE}{add}""#)));
    assert!(!list.body.contains(&format!("/manage/companies/{seller}/models")), "sellers have no models");
    c.submit(&w.path(&add), &[("model", "Encore 700")])
        .await
        .assert_see_other(&w.path("/manage/companies?done=model+added"));
    let models = app_companies::models(
        w.app(),
        &operator(&w.tenant).authorize::<can::CompaniesRead>().unwrap(),
        &gilbarco.identifier,
    )
    .await
    .unwrap();
    assert_eq!(models, ["Encore 700"]);
    assert_eq!(w.audit_of("model.created").await[0].detail, "Encore 700");
    let list = c.get(&w.path("/manage/companies")).await;
    assert!(list.body.contains(r#"<span class="model-names">Encore 700</span>"#));

    // Refusals: the rules above the list, the typed model in its row; nothing written.
    let before = snapshot(&w).await;
    let reply = c.submit(&w.path(&add), &[("model", "ENCORE 700")]).await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_keys(&reply.body, &["Model_DuplicateName"]);
    assert!(reply.body.contains(r#"name="model" value="ENCORE 700""#));
    let reply = c.submit(&w.path(&add), &[("model", "  ")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&reply.body, &["Model_InvalidName"]);
    let reply = c.submit(&w.path(&format!("/manage/companies/{seller}/models")), &[("model", "X")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&reply.body, &["Model_NotAManufacturer"]);
    let reply = c.submit(&w.path("/manage/companies/new"), &[("name", ""), ("email_address", "nope")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(
        &reply.body,
        &[
            "Company_MissingCompanyName",
            "Company_InvalidEmailAddress",
            "Company_MissingTelephoneNumber",
            "Company_MissingAddressLine1",
            "Company_MissingCountry",
            "Company_MissingCompanyType",
        ],
    );
    assert!(reply.body.contains(r#"value="nope""#));
    let mut again = fields.to_vec();
    again[0].1 = "GILBARCO VEEDER-ROOT";
    let reply = c.submit(&w.path("/manage/companies/new"), &again).await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_keys(&reply.body, &["Company_DuplicateName"]);
    assert!(reply.body.contains(r#"name="company_type" value="AssetServiceFirm" checked"#));
    assert_eq!(snapshot(&w).await, before);
    c.get(&w.path("/manage/companies/00000000-0000-4000-8000-000000000000")).await.assert_status(StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// System > Matrices, Reference Lists, Custom Fields
// ---------------------------------------------------------------------------------------

async fn matrices_take_items_under_existing_parents(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.admin_client().await;
    let page = c.get(&w.path("/system/matrices")).await;
    page.assert_status(StatusCode::OK);
    assert_eq!(page.body.matches(r#"<section class="card matrix""#).count(), 13);
    assert!(page.body.contains(r#"id="add-matrix-item""#));
    let reactive = tree_rows(&page.body, "type-reactive");
    assert!(reactive.contains(&("02-02-01".to_owned(), 2)), "{reactive:?}");

    let reply = c
        .submit(&w.path("/system/matrices"), &[("matrix_type", "Reactive"), ("code", "01-04"), ("name", "Drainage")])
        .await;
    reply.assert_see_other(&w.path("/system/matrices?done=added%20Reactive%2001-04#type-reactive"));
    let reply = c
        .submit(
            &w.path("/system/matrices"),
            &[("matrix_type", "reactive"), ("code", "01-04-01"), ("name", "Blocked drain")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let items = reference_data::matrix_items(w.t.db.read(), w.tenant.id, MatrixType::Reactive).await.unwrap();
    let added = items.iter().find(|i| i.code == "01-04-01").unwrap();
    assert_eq!((added.name.as_str(), added.parent_code.as_deref()), ("Blocked drain", Some("01-04")));
    assert_eq!(w.audit_of("matrix_item.created").await[0].target.as_deref(), Some("Reactive 01-04-01"));
    let page = c.get(&w.path("/system/matrices")).await;
    let reactive = tree_rows(&page.body, "type-reactive");
    let at = reactive.iter().position(|r| r.0 == "01-04").unwrap();
    assert_eq!(reactive[at + 1], ("01-04-01".to_owned(), 2));
    // The same code in another type is another item.
    let reply =
        c.submit(&w.path("/system/matrices"), &[("matrix_type", "Survey"), ("code", "01"), ("name", "Annual")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);

    let before = snapshot(&w).await;
    let reply = c
        .submit(&w.path("/system/matrices"), &[("matrix_type", "Reactive"), ("code", "05-01"), ("name", "Orphan")])
        .await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&reply.body, &["Matrix_UnknownParent"]);
    assert!(reply.body.contains(r#"value="05-01""#) && reply.body.contains(r#"value="Orphan""#));
    assert!(reply.body.contains(r#"<option value="Reactive" selected>"#));
    let reply = c
        .submit(&w.path("/system/matrices"), &[("matrix_type", "Reactive"), ("code", "01-04"), ("name", "Again")])
        .await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_keys(&reply.body, &["Matrix_DuplicateCode"]);
    let reply =
        c.submit(&w.path("/system/matrices"), &[("matrix_type", "Weather"), ("code", "1-2"), ("name", "")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&reply.body, &["Matrix_UnknownType", "Matrix_InvalidCode", "Matrix_MissingName"]);
    // A duplicate with another broken rule: every rule at once, as invalid.
    let reply =
        c.submit(&w.path("/system/matrices"), &[("matrix_type", "Reactive"), ("code", "01-04"), ("name", "")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&reply.body, &["Matrix_DuplicateCode", "Matrix_MissingName"]);
    assert_eq!(snapshot(&w).await, before);
}

async fn reference_lists_take_new_values(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.admin_client().await;
    let page = c.get(&w.path("/system/reference-lists")).await;
    page.assert_status(StatusCode::OK);
    assert_eq!(page.body.matches(r#"<section class="card reference-list""#).count(), 4);
    assert!(page.body.contains(r#"<li data-value="Asbestos">Asbestos</li>"#));

    let reply =
        c.submit(&w.path("/system/reference-lists"), &[("group", "Health and Safety"), ("value", " Noise ")]).await;
    reply.assert_see_other(&w.path("/system/reference-lists?done=added%20Noise#group-health-and-safety"));
    let values =
        reference_data::reference_values(w.t.db.read(), w.tenant.id, ReferenceGroup::HealthAndSafety).await.unwrap();
    assert_eq!(values.last().unwrap().value, "Noise", "appended at the end");
    assert_eq!(w.audit_of("reference_value.created").await[0].detail, "Noise");
    // Hazards of the Create Site window come from the list.
    let form = c.get(&w.path("/manage/sites/new")).await;
    assert!(form.body.contains(r#"name="hazard" value="Noise""#));

    let before = snapshot(&w).await;
    let reply =
        c.submit(&w.path("/system/reference-lists"), &[("group", "Health and Safety"), ("value", "ASBESTOS")]).await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_keys(&reply.body, &["ReferenceList_DuplicateValue"]);
    assert!(reply.body.contains(r#"value="ASBESTOS""#));
    let reply = c.submit(&w.path("/system/reference-lists"), &[("group", "Colours"), ("value", "")]).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&reply.body, &["ReferenceList_UnknownGroup", "ReferenceList_MissingValue"]);
    assert_eq!(snapshot(&w).await, before);
}

async fn custom_fields_are_defined_and_asked_on_create_site(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.admin_client().await;
    let page = c.get(&w.path("/system/custom-fields")).await;
    page.assert_status(StatusCode::OK);
    assert!(page.body.contains(r#"<tr data-field="Custom_Leak_Volume">"#));
    assert!(page.body.contains("Custom_Is_Leaking is true"));
    assert!(page.body.contains(r#"id="op-create""#));
    let form = c.get(&w.path("/system/custom-fields/new")).await;
    form.assert_status(StatusCode::OK);
    assert!(form.body.contains(r#"<optgroup label="Site Channel">"#));

    let forecourt = [
        ("target", "site"),
        ("matrix_code", "01-01"),
        ("name", "Custom_Canopy"),
        ("question", "Does the forecourt have a canopy?"),
        ("is_mandatory", "on"),
        ("data_type", "Boolean"),
        ("answers", ""),
        ("parent", ""),
        ("trigger_value", ""),
    ];
    let reply = c.submit(&w.path("/system/custom-fields/new"), &forecourt).await;
    reply.assert_see_other(&w.path("/system/custom-fields?done=created%20Custom_Canopy#target-site"));
    let lights = [
        ("target", "site"),
        ("matrix_code", "01-01"),
        ("name", "Custom_Canopy_Lights"),
        ("question", "Canopy lighting"),
        ("data_type", "List"),
        ("answers", "LED\r\nHalogen\r\n"),
        ("parent", "custom_canopy"),
        ("trigger_value", "true"),
    ];
    assert_eq!(c.submit(&w.path("/system/custom-fields/new"), &lights).await.status, StatusCode::SEE_OTHER);
    let stored = custom_fields::all(w.t.db.read(), w.tenant.id).await.unwrap();
    let (target, lights) = stored.iter().find(|(_, f)| f.name == "Custom_Canopy_Lights").unwrap();
    assert_eq!(target, "site");
    assert_eq!(lights.answers, ["LED", "Halogen"]);
    assert_eq!(lights.parent, Some(("Custom_Canopy".to_owned(), "true".to_owned())));
    assert!(!lights.is_mandatory);
    assert!(stored.iter().any(|(_, f)| f.name == "Custom_Canopy" && f.is_mandatory && f.data_type == "Boolean"));
    assert_eq!(w.audit_of("custom_field.created").await.len(), 2);

    // The window of Create Site asks them; a forecourt must answer the mandatory one.
    let form = c.get(&w.path("/manage/sites/new")).await;
    assert!(form.body.contains(r#"name="cf:Custom_Canopy""#) && form.body.contains(r#"<option value="Halogen">"#));
    let reply = c
        .submit(&w.path("/manage/sites/new"), &[("site_code", "F1"), ("name", "Forecourt"), ("site_channel", "01-01")])
        .await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&reply.body, &["Site_MissingCustomField"]);
    let answered = [
        ("site_code", "F1"),
        ("name", "Forecourt"),
        ("site_channel", "01-01"),
        ("cf:Custom_Canopy", "true"),
        ("cf:Custom_Canopy_Lights", "LED"),
        ("cf:Custom_Store_Manager", ""),
    ];
    c.submit(&w.path("/manage/sites/new"), &answered).await.assert_see_other(&w.path("/manage/sites/F1?done=created"));
    let f1 = sites::get(&mut *w.t.conn().await, w.tenant.id, "F1").await.unwrap().unwrap();
    assert_eq!(
        f1.custom_fields,
        [("Custom_Canopy".to_owned(), "true".to_owned()), ("Custom_Canopy_Lights".to_owned(), "LED".to_owned())]
    );

    let before = snapshot(&w).await;
    let reply = c
        .submit(
            &w.path("/system/custom-fields/new"),
            &[
                ("target", "site"),
                ("matrix_code", "01"),
                ("name", "custom_canopy"),
                ("question", "Again?"),
                ("data_type", "Text"),
            ],
        )
        .await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_keys(&reply.body, &["CustomField_DuplicateName"]);
    assert!(reply.body.contains(r#"value="custom_canopy""#) && reply.body.contains(r#"value="Again?""#));
    let reply = c
        .submit(
            &w.path("/system/custom-fields/new"),
            &[
                ("target", "vehicle"),
                ("matrix_code", "1"),
                ("name", "Bad Name!"),
                ("question", ""),
                ("data_type", "Colour"),
                ("answers", "Red"),
                ("trigger_value", "yes"),
            ],
        )
        .await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(
        &reply.body,
        &[
            "CustomField_UnknownTarget",
            "CustomField_InvalidMatrixCode",
            "CustomField_InvalidName",
            "CustomField_MissingQuestion",
            "CustomField_InvalidDataType",
            "CustomField_TriggerWithoutParent",
        ],
    );
    let list_without_answers = [
        ("target", "asset"),
        ("matrix_code", "09"),
        ("name", "Custom_Colour"),
        ("question", "Colour"),
        ("data_type", "List"),
        ("parent", "Custom_Nothing"),
        ("trigger_value", "x"),
    ];
    let reply = c.submit(&w.path("/system/custom-fields/new"), &list_without_answers).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(
        &reply.body,
        &["CustomField_MissingAnswerList", "CustomField_UnknownMatrixCode", "CustomField_UnknownParent"],
    );
    // A parent asked elsewhere, and a trigger its parent cannot answer.
    let reply = c
        .submit(
            &w.path("/system/custom-fields/new"),
            &[
                ("target", "site"),
                ("matrix_code", "02"),
                ("name", "Custom_Other"),
                ("question", "Other"),
                ("data_type", "Text"),
                ("parent", "Custom_Canopy"),
                ("trigger_value", "true"),
            ],
        )
        .await;
    assert_keys(&reply.body, &["CustomField_ParentNotApplicable"]);
    let reply = c
        .submit(
            &w.path("/system/custom-fields/new"),
            &[
                ("target", "site"),
                ("matrix_code", "01-01"),
                ("name", "Custom_Other"),
                ("question", "Other"),
                ("data_type", "Text"),
                ("parent", "Custom_Canopy"),
                ("trigger_value", "maybe"),
            ],
        )
        .await;
    assert_keys(&reply.body, &["CustomField_InvalidTriggerValue"]);
    assert_eq!(snapshot(&w).await, before);
}

// ---------------------------------------------------------------------------------------
// Who may see and do what
// ---------------------------------------------------------------------------------------

/// Every write of these pages, with fields that would succeed for an administrator.
fn writes(gilbarco: &str) -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    vec![
        ("/manage/sites/new".into(), vec![("site_code", "SNEAKY"), ("name", "Sneaky")]),
        ("/manage/sites/LEEDS/edit".into(), vec![("site_code", "LEEDS"), ("name", "Sneaky")]),
        ("/manage/sites/LEEDS/notes".into(), vec![("note_text", "Sneaky")]),
        ("/manage/assets/new".into(), vec![("site_code", "LEEDS"), ("matrix_code", "01")]),
        (
            "/manage/companies/new".into(),
            vec![
                ("name", "Sneaky Ltd"),
                ("company_type", "AssetSeller"),
                ("email_address", "s@example.com"),
                ("telephone_number", "1"),
                ("address_line1", "1"),
                ("country", "UK"),
            ],
        ),
        (format!("/manage/companies/{gilbarco}/models"), vec![("model", "Sneaky")]),
        ("/system/matrices".into(), vec![("matrix_type", "Reactive"), ("code", "09"), ("name", "Sneaky")]),
        ("/system/reference-lists".into(), vec![("group", "task"), ("value", "Sneaky")]),
        (
            "/system/custom-fields/new".into(),
            vec![
                ("target", "site"),
                ("matrix_code", "01"),
                ("name", "Sneaky"),
                ("question", "?"),
                ("data_type", "Text"),
            ],
        ),
    ]
}

/// Asserts every write answers 403 (with the session's token) and writes nothing.
async fn assert_writes_forbidden(w: &World, c: &mut Client, gilbarco: &str) {
    let before = snapshot(w).await;
    for (path, fields) in writes(gilbarco) {
        let reply = c.submit(&w.path(&path), &fields).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "POST {path}: {}", reply.body);
    }
    for path in [
        "/manage/sites/new",
        "/manage/sites/LEEDS/edit",
        "/manage/assets/new",
        "/manage/companies/new",
        "/system/custom-fields/new",
    ] {
        c.get(&w.path(path)).await.assert_status(StatusCode::FORBIDDEN);
    }
    assert_eq!(snapshot(w).await, before);
}

async fn who_may_see_and_change_sites_assets_companies_and_reference_data(t: TestDb) {
    let w = World::new(t).await;
    site(&w, &w.tenant, "LEEDS", None).await;
    let gilbarco = company(&w, &w.tenant, "Gilbarco", &["AssetManufacturer"], &["Encore 700"]).await;
    let op = operator(&w.tenant);
    let asset = app_assets::create(
        w.app(),
        &op.authorize::<can::AssetsWrite>().unwrap(),
        AssetInput { site_code: "LEEDS".into(), matrix_code: "01".into(), ..AssetInput::default() },
    )
    .await
    .unwrap()
    .identifier;
    w.contractor(&w.tenant, "Pipe Works", "PIPES").await;
    w.user(&w.tenant, "viewer@acme.example", UserType::Management, None, &["Read Only"]).await;
    w.user(&w.tenant, "manager@acme.example", UserType::Management, None, &["Management User"]).await;
    w.user(&w.tenant, "fitter@pipes.example", UserType::Contractor, Some("PIPES"), &["Contractor User"]).await;
    w.user(&w.tenant, "clerk@acme.example", UserType::Management, None, &["Invoicing"]).await;
    let reads = [
        "/manage/sites".to_owned(),
        "/manage/sites/LEEDS".to_owned(),
        "/manage/assets".to_owned(),
        format!("/manage/assets/{asset}"),
        "/manage/companies".to_owned(),
        format!("/manage/companies/{gilbarco}"),
        "/system/matrices".to_owned(),
        "/system/reference-lists".to_owned(),
        "/system/custom-fields".to_owned(),
    ];

    // Read Only: sees everything, offered no Create, no forms; every write is refused.
    let mut viewer = w.signed_in("viewer@acme.example", PASSWORD).await;
    for path in &reads {
        let page = viewer.get(&w.path(path)).await;
        page.assert_status(StatusCode::OK);
        assert!(!page.body.contains(r#"id="op-create""#), "{path}");
        assert!(!page.body.contains(r#"id="op-edit""#) && !page.body.contains(r#"id="add-note""#), "{path}");
        assert!(!page.body.contains(r#"id="add-matrix-item""#) && !page.body.contains(r#"id="add-reference-value""#));
        assert!(!page.body.contains("Add model"), "{path}");
    }
    let home = viewer.get(&w.path("/")).await;
    for link in ["/manage/sites", "/manage/assets", "/manage/companies", "/system/matrices", "/system/custom-fields"] {
        assert!(home.body.contains(&format!(r#"href="{BASE}{link}""#)), "{link}");
    }
    assert_writes_forbidden(&w, &mut viewer, &gilbarco).await;

    // Management User: creates sites, assets and companies, but does not change reference data.
    let mut manager = w.signed_in("manager@acme.example", PASSWORD).await;
    let matrices = manager.get(&w.path("/system/matrices")).await;
    matrices.assert_status(StatusCode::OK);
    assert!(!matrices.body.contains(r#"id="add-matrix-item""#));
    assert!(manager.get(&w.path("/manage/sites")).await.body.contains(r#"id="op-create""#));
    let before = snapshot(&w).await;
    for (path, fields) in writes(&gilbarco).into_iter().filter(|(p, _)| p.starts_with("/system")) {
        manager.submit(&w.path(&path), &fields).await.assert_status(StatusCode::FORBIDDEN);
    }
    manager.get(&w.path("/system/custom-fields/new")).await.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(snapshot(&w).await, before);

    // A Contractor user: no site is visible (they see sites through their tasks), no
    // System menu, and no writes.
    let mut fitter = w.signed_in("fitter@pipes.example", PASSWORD).await;
    let list = fitter.get(&w.path("/manage/sites")).await;
    list.assert_status(StatusCode::OK);
    assert!(list.body.contains("No sites yet.") && !list.body.contains("LEEDS"));
    fitter.get(&w.path("/manage/sites/LEEDS")).await.assert_status(StatusCode::NOT_FOUND);
    fitter.get(&w.path(&format!("/manage/assets/{asset}"))).await.assert_status(StatusCode::NOT_FOUND);
    assert!(!fitter.get(&w.path("/manage/assets")).await.body.contains(&asset));
    assert!(!fitter.get(&w.path("/")).await.body.contains(r#"id="menu-system""#));
    assert_writes_forbidden(&w, &mut fitter, &gilbarco).await;

    // Invoicing holds none of these permissions: its Manage menu lists Tasks alone.
    let mut clerk = w.signed_in("clerk@acme.example", PASSWORD).await;
    for path in &reads {
        clerk.get(&w.path(path)).await.assert_status(StatusCode::FORBIDDEN);
    }
    let home = clerk.get(&w.path("/")).await;
    assert!(home.body.contains(&format!(r#"<a href="{BASE}/manage/tasks">Tasks</a>"#)), "{}", home.body);
    for page in ["sites", "assets", "companies", "contractors"] {
        assert!(!home.body.contains(&format!(r#"href="{BASE}/manage/{page}""#)), "{page}: {}", home.body);
    }
    assert!(!home.body.contains(r#"id="menu-system""#));
    assert_writes_forbidden(&w, &mut clerk, &gilbarco).await;
}

async fn another_tenants_sites_assets_and_companies_are_not_found(t: TestDb) {
    let w = World::new(t).await;
    site(&w, &w.tenant, "LEEDS", None).await;
    let (globex, _) = w.other_tenant("Globex", "boss@globex.example").await;
    site(&w, &globex, "GLOBEX-HQ", None).await;
    let theirs = company(&w, &globex, "Globex Pumps", &["AssetManufacturer"], &["G1"]).await;
    let op = operator(&globex);
    let their_asset = app_assets::create(
        w.app(),
        &op.authorize::<can::AssetsWrite>().unwrap(),
        AssetInput { site_code: "GLOBEX-HQ".into(), matrix_code: "01".into(), ..AssetInput::default() },
    )
    .await
    .unwrap()
    .identifier;
    let mut c = w.admin_client().await;
    let before = snapshot(&w).await;

    for path in [
        "/manage/sites/GLOBEX-HQ".to_owned(),
        format!("/manage/assets/{their_asset}"),
        format!("/manage/companies/{theirs}"),
    ] {
        c.get(&w.path(&path)).await.assert_status(StatusCode::NOT_FOUND);
    }
    for (path, body) in [
        ("/manage/sites", "GLOBEX"),
        ("/manage/assets", their_asset.as_str()),
        ("/manage/assets?site=GLOBEX-HQ", their_asset.as_str()),
        ("/manage/companies", "Globex"),
    ] {
        let page = c.get(&w.path(path)).await;
        page.assert_status(StatusCode::OK);
        assert!(!page.body.contains(body), "{path}");
    }
    c.submit(&w.path(&format!("/manage/companies/{theirs}/models")), &[("model", "Planted")])
        .await
        .assert_status(StatusCode::NOT_FOUND);
    c.get(&w.path("/manage/sites/GLOBEX-HQ/edit")).await.assert_status(StatusCode::NOT_FOUND);
    c.submit(&w.path("/manage/sites/GLOBEX-HQ/edit"), &[("site_code", "GLOBEX-HQ"), ("name", "Taken over")])
        .await
        .assert_status(StatusCode::NOT_FOUND);
    c.submit(&w.path("/manage/sites/GLOBEX-HQ/notes"), &[("note_text", "Planted")])
        .await
        .assert_status(StatusCode::NOT_FOUND);
    // Their codes mean nothing here: as parent, as an asset's site, as a manufacturer.
    let reply = c
        .submit(&w.path("/manage/sites/new"), &[("site_code", "X"), ("name", "X"), ("parent_code", "GLOBEX-HQ")])
        .await;
    assert_keys(&reply.body, &["Site_UnknownParent"]);
    let reply = c
        .submit(
            &w.path("/manage/assets/new"),
            &[("site_code", "GLOBEX-HQ"), ("matrix_code", "01"), ("manufacturer", "Globex Pumps"), ("model", "G1")],
        )
        .await;
    assert_keys(&reply.body, &["Asset_UnknownSite", "Asset_UnknownManufacturer"]);
    let reply = c
        .submit(
            &w.path("/manage/assets/new"),
            &[("site_code", "LEEDS"), ("matrix_code", "01"), ("parent_asset", &their_asset)],
        )
        .await;
    assert_keys(&reply.body, &["Asset_UnknownParent"]);
    assert_eq!(snapshot(&w).await, before, "nothing changed in either tenant");
}

async fn posts_without_the_sessions_csrf_token_change_nothing(t: TestDb) {
    let w = World::new(t).await;
    site(&w, &w.tenant, "LEEDS", None).await;
    let gilbarco = company(&w, &w.tenant, "Gilbarco", &["AssetManufacturer"], &[]).await;
    w.user(&w.tenant, "second@acme.example", UserType::Management, None, &["Administrator"]).await;
    let mut c = w.admin_client().await;
    let other = w.signed_in("second@acme.example", PASSWORD).await;
    let before = snapshot(&w).await;
    let forged = "A".repeat(43);
    for csrf in [None, Some(""), Some(forged.as_str()), Some(other.csrf.as_str())] {
        for (path, fields) in writes(&gilbarco) {
            let mut all: Vec<(&str, &str)> = csrf.map(|c| vec![("csrf", c)]).unwrap_or_default();
            all.extend_from_slice(&fields);
            let reply = c.post(&w.path(&path), &all).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "POST {path} with csrf {csrf:?}: {}", reply.body);
        }
    }
    assert_eq!(snapshot(&w).await, before, "forged posts changed nothing");
    // With the session's own token every one of them goes through.
    for (path, fields) in writes(&gilbarco) {
        let reply = c.submit(&w.path(&path), &fields).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "POST {path}: {}", reply.body);
    }
}
