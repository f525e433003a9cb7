//! Bulk import: the rules of Create Site / Create Asset for every row, every refused row
//! reported with its number, nothing written unless every row holds. The files span several
//! chunks of the import (500 rows) so that parents, duplicates and errors cross them. Each
//! test runs on SQLite and PostgreSQL.

use caretaker_app::assets::{self, AssetInput};
use caretaker_app::companies::{self, CompanyInput};
use caretaker_app::import::{self, Outcome, RowError};
use caretaker_app::sites::{self, SiteInput};
use caretaker_app::tenants::{self, NewTenant};
use caretaker_app::{App, Principal};
use caretaker_domain::access::{Holder, can};
use caretaker_storage::audit::Actor;
use caretaker_storage::testing::TestDb;
use caretaker_storage::{Backend, both_backends};

both_backends!(
    imported_sites_are_stored_as_create_site_stores_them,
    a_refused_site_file_reports_every_row_and_writes_nothing,
    text_the_database_cannot_store_refuses_its_row_and_the_rows_below_it,
    imported_assets_are_checked_like_create_asset_and_written_all_or_nothing,
);

async fn operator(t: &TestDb) -> (App, Principal) {
    let app = super::app(t);
    let created = tenants::create(
        &app,
        NewTenant { name: "Acme".into(), admin_email: "admin@acme.example".into(), admin_password: None },
        Actor::Operator,
    )
    .await
    .unwrap();
    (app, Principal::operator(created.tenant.id, "Acme"))
}

/// A rich row: area, channel, two hazards, and a parent when `parent` is not empty.
fn site(code: &str, parent: &str) -> SiteInput {
    SiteInput {
        site_code: code.into(),
        parent_code: Some(parent.to_owned()).filter(|p| !p.is_empty()),
        name: format!("Station {code}"),
        geographic_area: Some("01-01".into()),
        site_channel: Some("01".into()),
        hazards: vec!["Asbestos".into(), "Working at height".into()],
        ..SiteInput::default()
    }
}

async fn import_sites(app: &App, by: &Principal, rows: Vec<Result<SiteInput, String>>) -> (Outcome, Vec<usize>) {
    let proof = by.authorize::<can::SitesWrite>().unwrap();
    let mut progress = Vec::new();
    let outcome = import::sites(app, &proof, rows, |done| progress.push(done)).await.unwrap();
    (outcome, progress)
}

/// Each refused row as (row, the rule keys of its messages).
fn keys(outcome: &Outcome) -> Vec<(usize, Vec<String>)> {
    let Outcome::Refused(errors) = outcome else { panic!("expected a refused file, got {outcome:?}") };
    errors
        .iter()
        .map(|e| (e.row, e.messages.iter().map(|m| m.split(':').next().unwrap_or("").to_owned()).collect()))
        .collect()
}

async fn imported_sites_are_stored_as_create_site_stores_them(t: TestDb) {
    let (app, by) = operator(&t).await;
    let mut rows = Vec::new();
    for i in 1..=1200 {
        let code = format!("S{i:04}");
        // Roots, then parents ten rows up (within a chunk and across the chunk boundary at
        // 500), then a chain where each row is the parent of the next.
        let parent = match i {
            ..=10 => String::new(),
            11..=600 => format!("s{:04}", i - 10),
            _ => format!("S{:04}", i - 1),
        };
        let mut row = site(&code, &parent);
        if i % 3 == 0 {
            row.latitude = Some(53.0 + f64::from(i) / 10_000.0);
            row.longitude = Some(-1.5);
        }
        if i % 4 == 0 {
            row.custom_fields = vec![("Custom_Store_Manager".into(), format!("Manager {i}"))];
        }
        rows.push(Ok(row));
    }
    // The same hazard twice (after trimming) is stored once, as Create Site stores it.
    if let Ok(row) = &mut rows[4] {
        row.hazards = vec!["asbestos".into(), "Asbestos".into(), " asbestos ".into()];
    }
    let (outcome, progress) = import_sites(&app, &by, rows).await;
    assert_eq!(outcome, Outcome::Imported(1200));
    assert_eq!(progress, vec![500, 1000, 1200]);

    assert_eq!(t.count("sites").await, 1200);
    assert_eq!(t.count("sites WHERE parent_id IS NOT NULL").await, 1190);
    assert_eq!(t.count("site_hazards").await, 1199 * 2 + 2);
    assert_eq!(t.count("custom_answers WHERE target = 'site'").await, 300);
    assert_eq!(t.count("audit_log WHERE action = 'sites.imported' AND detail = '1200 rows'").await, 1);
    let read = by.authorize::<can::SitesRead>().unwrap();
    for (code, parent) in [("S0011", "S0001"), ("S0505", "S0495"), ("S0600", "S0590"), ("S0601", "S0600")] {
        let stored = sites::get(&app, &read, code).await.unwrap();
        assert_eq!(stored.parent_code.as_deref(), Some(parent), "{code}");
    }
    let chained = sites::get(&app, &read, "S1200").await.unwrap();
    assert_eq!(chained.parent_code.as_deref(), Some("S1199"));
    let five = sites::get(&app, &read, "S0005").await.unwrap();
    assert_eq!(five.hazards, vec!["Asbestos", "asbestos"]);

    // An imported site reads back exactly as the same site made by Create Site.
    let write = by.authorize::<can::SitesWrite>().unwrap();
    let mut same = site("COPY", "S0002");
    same.latitude = Some(53.0012);
    same.longitude = Some(-1.5);
    same.custom_fields = vec![("Custom_Store_Manager".into(), "Manager 12".into())];
    let created = sites::create(&app, &write, same).await.unwrap();
    let imported = sites::get(&app, &read, "S0012").await.unwrap();
    assert_eq!(
        (imported.parent_code, imported.latitude, imported.longitude, imported.hazards, imported.custom_fields),
        (created.parent_code, created.latitude, created.longitude, created.hazards, created.custom_fields)
    );
    assert_eq!((imported.geographic_area_code, imported.site_channel_code), (Some("01-01".into()), Some("01".into())));
}

async fn a_refused_site_file_reports_every_row_and_writes_nothing(t: TestDb) {
    let (app, by) = operator(&t).await;
    let write = by.authorize::<can::SitesWrite>().unwrap();
    sites::create(&app, &write, site("OLD-1", "")).await.unwrap();

    let mut rows: Vec<Result<SiteInput, String>> = vec![
        Ok(site("A1", "")),
        Ok(site("a1", "")),                                // 2: taken earlier in the file (any case)
        Ok(site("old-1", "")),                             // 3: taken before the import
        Ok(site("B1", "C1")),                              // 4: its parent comes later in the file
        Ok(site("C1", "")),                                // 5
        Err("Latitude: \"north\" is not a number".into()), // 6: a row the file could not give
        Ok(SiteInput { name: String::new(), ..site("A1", "") }), // 7: broken rules hide the taken code
        Ok(site("D1", "B1")),                              // 8: its parent was refused
        Ok(site("E1", "A1")),                              // 9: its parent was accepted
        Ok(SiteInput {
            geographic_area: Some("09".into()),
            hazards: vec!["Asbestos".into(), "Nope".into()],
            custom_fields: vec![("Colour".into(), "Red".into())],
            ..site("X1", "")
        }), // 10: every broken rule at once
    ];
    // A refused row does not take its code: a later row may use it.
    rows.push(Ok(SiteInput { latitude: Some(99.0), longitude: Some(0.0), ..site("F1", "") })); // 11
    rows.push(Ok(site("F1", "E1"))); // 12
    for i in 13..=1010 {
        rows.push(Ok(site(&format!("G{i}"), "")));
    }
    rows[776] = Ok(site("bad code", "")); // row 777, in the second chunk
    rows[777] = Ok(site("G600", "A1")); // row 778: taken by row 600, a chunk earlier
    rows[1008] = Ok(site("H1", "G1000")); // row 1009, in the third chunk: its parent in the second

    let (outcome, progress) = import_sites(&app, &by, rows).await;
    assert_eq!(progress, vec![500, 1000, 1010], "the progress still moves while rows are only checked");
    assert_eq!(
        keys(&outcome),
        vec![
            (2, vec!["BrokenRule_Site_DuplicateSiteCode".to_owned()]),
            (3, vec!["BrokenRule_Site_DuplicateSiteCode".to_owned()]),
            (4, vec!["BrokenRule_Site_UnknownParent".to_owned()]),
            (6, vec!["Latitude".to_owned()]),
            (7, vec!["BrokenRule_Site_MissingName".to_owned()]),
            (8, vec!["BrokenRule_Site_UnknownParent".to_owned()]),
            (
                10,
                vec![
                    "BrokenRule_Site_UnknownGeographicArea".to_owned(),
                    "BrokenRule_Site_UnknownCustomField".to_owned(),
                    "BrokenRule_Site_UnknownHazard".to_owned(),
                ]
            ),
            (11, vec!["BrokenRule_Site_InvalidLatitude".to_owned()]),
            (777, vec!["BrokenRule_Site_InvalidSiteCode".to_owned()]),
            (778, vec!["BrokenRule_Site_DuplicateSiteCode".to_owned()]),
        ]
    );
    let Outcome::Refused(errors) = &outcome else { unreachable!() };
    assert_eq!(
        errors[0],
        RowError {
            row: 2,
            messages: vec!["BrokenRule_Site_DuplicateSiteCode: A site with the code a1 already exists".into()]
        }
    );
    assert_eq!(errors[1].messages, ["BrokenRule_Site_DuplicateSiteCode: A site with the code old-1 already exists"]);
    assert_eq!(errors[2].messages, ["BrokenRule_Site_UnknownParent: No site has the code \"C1\""]);
    assert_eq!(errors[3].messages, ["Latitude: \"north\" is not a number"]);
    assert_eq!(errors[8].row, 777);

    assert_eq!(t.count("sites").await, 1, "only the site made before the import");
    assert_eq!(t.count("site_hazards").await, 2);
    assert_eq!(t.count("audit_log WHERE action = 'sites.imported'").await, 0);
}

async fn text_the_database_cannot_store_refuses_its_row_and_the_rows_below_it(t: TestDb) {
    let (app, by) = operator(&t).await;
    let mut parent = site("P1", "");
    parent.address[0] = String::from("1 High\0Street");
    let rows = vec![Ok(site("OK1", "")), Ok(parent), Ok(site("C1", "P1")), Ok(site("OK2", "OK1"))];
    let (outcome, _) = import_sites(&app, &by, rows).await;
    match t.backend() {
        // SQLite stores the NUL.
        Backend::Sqlite => {
            assert_eq!(outcome, Outcome::Imported(4));
            assert_eq!(t.count("sites").await, 4);
        }
        // PostgreSQL refuses it; the chunk is written again a row at a time to tell which
        // row, and the row below it loses its parent, as when each row was its own insert.
        Backend::Postgres => {
            assert_eq!(
                keys(&outcome),
                vec![
                    (2, vec!["BrokenRule_Request_InvalidText".to_owned()]),
                    (3, vec!["BrokenRule_Site_UnknownParent".to_owned()])
                ]
            );
            assert_eq!(t.count("sites").await, 0);
            assert_eq!(t.count("site_hazards").await, 0);
        }
    }
}

async fn imported_assets_are_checked_like_create_asset_and_written_all_or_nothing(t: TestDb) {
    let (app, by) = operator(&t).await;
    let (outcome, _) = import_sites(&app, &by, vec![Ok(site("S1", "")), Ok(site("S2", ""))]).await;
    assert_eq!(outcome, Outcome::Imported(2));
    let companies_write = by.authorize::<can::CompaniesWrite>().unwrap();
    let company = |name: &str, kind: &str| CompanyInput {
        name: name.into(),
        email_address: "office@example.com".into(),
        telephone_number: "0113 000000".into(),
        address_line1: "1 Road".into(),
        country: "UK".into(),
        company_types: vec![kind.into()],
        ..CompanyInput::default()
    };
    companies::create(&app, &companies_write, company("Gilbarco", "AssetManufacturer")).await.unwrap();
    companies::create_model(&app, &companies_write, "Gilbarco", "Encore 700").await.unwrap();
    companies::create(&app, &companies_write, company("Shop", "AssetSeller")).await.unwrap();
    let write = by.authorize::<can::AssetsWrite>().unwrap();
    let asset = |site: &str| AssetInput {
        site_code: site.into(),
        matrix_code: "01-01".into(),
        manufacturer: Some("gilbarco".into()),
        model: Some("ENCORE 700".into()),
        serial_number: Some("SN".into()),
        installation_date: Some("2024-01-31T10:00:00Z".into()),
        purchase_value: Some(1000.5),
        life_span: Some((Some(20), Some("years".into()))),
        category: Some("fuel dispenser".into()),
        ..AssetInput::default()
    };
    let parent = assets::create(&app, &write, asset("S1")).await.unwrap();

    let mut rows = Vec::new();
    for i in 1..=1100 {
        let mut row = asset(if i % 2 == 0 { "s1" } else { "S2" });
        if i % 2 == 0 {
            row.parent_asset_identifier = Some(parent.identifier.to_uppercase());
        }
        if i % 5 == 0 {
            row.custom_fields = vec![("Custom_Hose_Count".into(), "4".into())];
            row.current_value = Some(10.0);
        }
        rows.push(Ok(row));
    }
    let proof = by.authorize::<can::AssetsWrite>().unwrap();
    let outcome = import::assets(&app, &proof, rows, |_| {}).await.unwrap();
    assert_eq!(outcome, Outcome::Imported(1100));
    assert_eq!(t.count("assets").await, 1101);
    assert_eq!(t.count("assets WHERE parent_asset_id IS NOT NULL").await, 550);
    assert_eq!(t.count("assets WHERE model_id IS NOT NULL AND category = 'fuel dispenser'").await, 1101);
    assert_eq!(t.count("custom_answers WHERE target = 'asset'").await, 220);
    assert_eq!(t.count("assets WHERE current_value = 10").await, 220);
    assert_eq!(t.count("audit_log WHERE action = 'assets.imported' AND detail = '1100 rows'").await, 1);

    // A refused file: every row reported, nothing written.
    let mut rows: Vec<Result<AssetInput, String>> = (1..=600).map(|_| Ok(asset("S1"))).collect();
    rows[1] = Ok(asset("S9")); // 2
    rows[2] = Ok(AssetInput { model: Some("Encore 900".into()), ..asset("S1") }); // 3
    rows[3] = Ok(AssetInput { parent_asset_identifier: Some(parent.identifier.clone()), ..asset("S2") }); // 4
    rows[4] = Err("Quantity: \"two\" is not a number".into()); // 5
    rows[5] = Ok(AssetInput { manufacturer: Some("Shop".into()), matrix_code: "09".into(), ..asset("S1") }); // 6
    rows[599] = Ok(AssetInput { category: Some("Nope".into()), ..asset("S1") }); // 600
    let outcome = import::assets(&app, &proof, rows, |_| {}).await.unwrap();
    assert_eq!(
        keys(&outcome),
        vec![
            (2, vec!["BrokenRule_Asset_UnknownSite".to_owned()]),
            (3, vec!["BrokenRule_Asset_UnknownModel".to_owned()]),
            (4, vec!["BrokenRule_Asset_ParentAtAnotherSite".to_owned()]),
            (5, vec!["Quantity".to_owned()]),
            (
                6,
                vec![
                    "BrokenRule_Asset_UnknownMatrixCode".to_owned(),
                    "BrokenRule_Asset_UnknownManufacturer".to_owned()
                ]
            ),
            (600, vec!["BrokenRule_Asset_UnknownCategory".to_owned()]),
        ]
    );
    assert_eq!(t.count("assets").await, 1101, "nothing of a refused file is written");
    assert_eq!(t.count("audit_log WHERE action = 'assets.imported'").await, 1);
}
