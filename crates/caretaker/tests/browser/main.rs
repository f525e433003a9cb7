//! The web pages in a real headless Chromium, against the real binary: an Administrator
//! signs in, creates an integration user from System > Users and a Contractor user from
//! Manage > Contractors > AFS > Users, moving role packages across the two-column picker
//! with the buttons, the keyboard and the mouse. Screenshots of the key steps go to
//! `<workspace>/target/test-artifacts/browser/NN-step.png`.
//!
//! Needs /usr/bin/chromedriver and /usr/bin/chromium: without them the test fails when
//! `CI` is set, and otherwise says so loudly and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use support::{
    CHROMEDRIVER, CHROMIUM, Chromedriver, Server, artifacts_dir, caretaker, fill, find, menu, options, run_ok,
    screenshot, wait_for_path, wait_for_title,
};

const TENANT: &str = "Acme";
const ADMIN_EMAIL: &str = "admin@acme.example";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
const INTEGRATION_EMAIL: &str = "api.integration@acme.example";
const CONTRACTOR_EMAIL: &str = "afs.dispatch@acme.example";

/// Every built-in role package, as the Security tab lists them.
const ALL_PACKAGES: [&str; 7] =
    ["Administrator", "Contractor User", "Invoicing", "Management User", "Read Only", "REST API", "Site User"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_walks_users_and_contractors_in_chromium() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    set_up(dir.path());
    let server = Server::start(dir.path());
    let artifacts = artifacts_dir();
    let driver = Chromedriver::start(&artifacts.join("chromedriver.log")).await;
    let profile = tempfile::tempdir().unwrap();
    let client = driver.browser(profile.path()).await;

    let walked = tokio::spawn(walk(client.clone(), server.base.clone(), artifacts.clone())).await;
    if let Err(err) = walked {
        // Leave a picture of where it stopped, and the server's log, before failing.
        if let Ok(png) = client.screenshot().await {
            let path = artifacts.join("99-failure.png");
            if std::fs::write(&path, png).is_ok() {
                println!("screenshot of the failure: {}", path.display());
            }
        }
        let _ = client.close().await;
        println!("server log:\n{}", server.stderr());
        match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(err) => panic!("the walk did not finish: {err}"),
        }
    }
    client.close().await.unwrap();
    drop(driver);
}

/// Whether chromedriver and Chromium are installed; a missing one fails the test on CI.
fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMEDRIVER, CHROMIUM].into_iter().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    let message =
        format!("the browser test needs {} (Debian: apt-get install chromium chromium-driver)", missing.join(" and "));
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    // The real stderr: the test harness captures eprintln!.
    let notice = format!(
        "\n\
         ************************************************************\n\
         *  SKIPPED the browser test: {message}\n\
         ************************************************************\n\n"
    );
    let _ = std::io::stderr().write_all(notice.as_bytes());
    false
}

/// A tenant with its first Administrator and the AFS contractor, through the command line.
fn set_up(dir: &Path) {
    let password = dir.join("admin-password");
    std::fs::write(&password, format!("{ADMIN_PASSWORD}\n")).unwrap();
    run_ok(
        caretaker(dir)
            .args(["tenant", "create", TENANT, "--admin-email", ADMIN_EMAIL, "--admin-password-file"])
            .arg(&password),
    );
    run_ok(caretaker(dir).args(["contractor", "create", "--tenant", TENANT, "Acme Fuel Services", "--code", "AFS"]));
}

async fn walk(client: Client, base: String, artifacts: PathBuf) {
    sign_in(&client, &base, &artifacts).await;
    create_integration_user(&client, &artifacts).await;
    create_contractor_user(&client, &artifacts).await;
    picker_works_with_keyboard_and_mouse(&client, &base, &artifacts).await;
    sign_out(&client).await;
}

/// Step 1: sign in and land on the home page.
async fn sign_in(client: &Client, base: &str, artifacts: &Path) {
    client.goto(&format!("{base}/t/{TENANT}/sign-in")).await.unwrap();
    wait_for_title(client, "Sign in").await;
    assert_eq!(find(client, "h1").await.text().await.unwrap(), format!("Sign in to {TENANT}"));
    fill(client, "#email", ADMIN_EMAIL).await;
    fill(client, "#password", ADMIN_PASSWORD).await;
    find(client, "form.card button[type=submit]").await.click().await.unwrap();

    wait_for_title(client, "Home").await;
    wait_for_path(client, &format!("/t/{TENANT}/")).await;
    let body = find(client, "main").await.text().await.unwrap();
    assert!(body.contains(&format!("Signed in as {ADMIN_EMAIL}")), "{body}");
    assert!(body.contains("Administrator"), "{body}");
    screenshot(client, artifacts, "01-signed-in").await;
}

/// Steps 2-4: System > Users > Operations > Create: an integration account with REST API and
/// Management User, moved one at a time.
async fn create_integration_user(client: &Client, artifacts: &Path) {
    menu(client, "details#menu-system", "Users").await;
    wait_for_title(client, "Users").await;
    wait_for_path(client, &format!("/t/{TENANT}/system/users")).await;
    find(client, &format!("tr[data-email=\"{ADMIN_EMAIL}\"]")).await;
    open_operations_create(client).await;
    wait_for_title(client, "Create User").await;

    // Details.
    assert_tab_shown(client, "details").await;
    fill(client, "#name", "Integration (ERP)").await;
    fill(client, "#email", INTEGRATION_EMAIL).await;
    let user_type = find(client, "#user_type").await;
    let contractor_field = find(client, "#contractor-field").await;
    user_type.select_by_value("Contractor").await.unwrap();
    assert!(contractor_field.is_displayed().await.unwrap(), "the contractor field shows for Contractor users");
    user_type.select_by_value("Management").await.unwrap();
    assert_eq!(user_type.prop("value").await.unwrap().as_deref(), Some("Management"));
    assert!(!contractor_field.is_displayed().await.unwrap(), "the contractor field hides for Management users");
    let integration = find(client, "#is_integration").await;
    integration.click().await.unwrap();
    assert!(integration.is_selected().await.unwrap(), "the integration box is checked");
    screenshot(client, artifacts, "02-create-user-details").await;

    // Security: REST API and Management User, each with the move-one arrow.
    find(client, "#tab-security").await.click().await.unwrap();
    assert_tab_shown(client, "security").await;
    let mut available = options(client, "#available").await;
    available.sort_by_key(|name| name.to_lowercase());
    assert_eq!(available, sorted(&ALL_PACKAGES), "every package starts in Available");
    assert!(options(client, "#selected").await.is_empty(), "nothing starts in Selected");
    screenshot(client, artifacts, "03-security-before").await;

    for package in ["REST API", "Management User"] {
        find(client, "#available").await.select_by_label(package).await.unwrap();
        find(client, "#move-add").await.click().await.unwrap();
    }
    let selected = options(client, "#selected").await;
    let available = options(client, "#available").await;
    assert_eq!(selected, ["Management User", "REST API"], "Selected holds the two, in name order");
    for package in ["REST API", "Management User"] {
        assert!(!available.iter().any(|a| a == package), "{package} left Available: {available:?}");
    }
    assert_eq!(available.len(), ALL_PACKAGES.len() - 2, "{available:?}");
    screenshot(client, artifacts, "04-security-after").await;

    find(client, "#save").await.click().await.unwrap();
    wait_for_title(client, "User created").await;
    let created = find(client, "#created").await.text().await.unwrap();
    assert!(created.starts_with(INTEGRATION_EMAIL), "{created}");
    assert!(created.contains("REST API") && created.contains("Management User"), "{created}");
    let link = find(client, "#set-password-link").await.text().await.unwrap();
    assert!(link.contains(&format!("/t/{TENANT}/set-password/")), "{link}");
    screenshot(client, artifacts, "05-user-created").await;

    find(client, "#back-to-users").await.click().await.unwrap();
    wait_for_title(client, "Users").await;
    let row = find(client, &format!("tr[data-email=\"{INTEGRATION_EMAIL}\"]")).await;
    let packages = row.find(Locator::Css("td.packages")).await.unwrap().text().await.unwrap();
    assert!(packages.contains("REST API") && packages.contains("Management User"), "{packages}");
    let badge = row.find(Locator::Css("span.badge")).await.unwrap();
    assert_eq!(badge.text().await.unwrap(), "API");
    let cells = row_texts(&row).await;
    assert!(cells.iter().any(|c| c == "Integration (ERP)"), "{cells:?}");
    assert!(cells.iter().any(|c| c == "Management"), "{cells:?}");
    assert!(cells.iter().any(|c| c == "Invited"), "{cells:?}");
    screenshot(client, artifacts, "06-users-list").await;
}

/// Step 5: Manage > Contractors > AFS > Users > Operations > Create: a Contractor user with
/// Contractor User and REST API, moved all across and then back one at a time.
async fn create_contractor_user(client: &Client, artifacts: &Path) {
    menu(client, "details#menu-manage", "Contractors").await;
    wait_for_title(client, "Contractors").await;
    find(client, "table#contractors").await.find(Locator::LinkText("AFS")).await.unwrap().click().await.unwrap();
    wait_for_title(client, "Acme Fuel Services").await;
    find(client, "#tab-users").await.click().await.unwrap();
    find(client, "#tab-users[aria-current=page]").await;
    let contractor_page = client.current_url().await.unwrap();
    assert_eq!(contractor_page.query(), Some("tab=users"));
    find(client, "table#users").await;
    open_operations_create(client).await;
    wait_for_title(client, "Create User").await;
    wait_for_path(client, &format!("{}/users/new", contractor_page.path())).await;

    // Details: type and contractor are fixed.
    assert_eq!(find(client, "#fixed-type").await.text().await.unwrap(), "Contractor");
    assert_eq!(find(client, "#fixed-contractor").await.text().await.unwrap(), "Acme Fuel Services (AFS)");
    fill(client, "#name", "AFS Dispatch").await;
    fill(client, "#email", CONTRACTOR_EMAIL).await;
    find(client, "#is_integration").await.click().await.unwrap();

    // Security: all across, then every package but the two back, one at a time.
    find(client, "#tab-security").await.click().await.unwrap();
    assert_tab_shown(client, "security").await;
    find(client, "#move-add-all").await.click().await.unwrap();
    assert!(options(client, "#available").await.is_empty(), "move-all empties Available");
    assert_eq!(options(client, "#selected").await, sorted(&ALL_PACKAGES), "move-all fills Selected");
    for package in ALL_PACKAGES.iter().filter(|p| !["Contractor User", "REST API"].contains(p)) {
        find(client, "#selected").await.select_by_label(package).await.unwrap();
        find(client, "#move-remove").await.click().await.unwrap();
        assert!(options(client, "#available").await.iter().any(|a| a == package), "{package} went back");
    }
    assert_eq!(options(client, "#selected").await, ["Contractor User", "REST API"]);
    assert_eq!(options(client, "#available").await.len(), ALL_PACKAGES.len() - 2);
    screenshot(client, artifacts, "07-contractor-user-security").await;

    find(client, "#save").await.click().await.unwrap();
    wait_for_title(client, "User created").await;
    let created = find(client, "#created").await.text().await.unwrap();
    assert!(created.starts_with(CONTRACTOR_EMAIL), "{created}");
    assert!(created.contains("Contractor User") && created.contains("REST API"), "{created}");
    assert!(!created.contains("Administrator"), "only the two were granted: {created}");
    find(client, "#back-to-contractor").await.click().await.unwrap();
    find(client, "#tab-users[aria-current=page]").await;
    wait_for_title(client, "Acme Fuel Services").await;

    let row = find(client, &format!("table#users tr[data-email=\"{CONTRACTOR_EMAIL}\"]")).await;
    let packages = row.find(Locator::Css("td.packages")).await.unwrap().text().await.unwrap();
    assert!(packages.contains("Contractor User") && packages.contains("REST API"), "{packages}");
    assert!(!packages.contains("Administrator"), "{packages}");
    assert_eq!(row.find(Locator::Css("span.badge")).await.unwrap().text().await.unwrap(), "API");
    let listed = client.find_all(Locator::Css("table#users tbody tr[data-email]")).await.unwrap();
    assert_eq!(listed.len(), 1, "only AFS's own users are on its Users tab");
    screenshot(client, artifacts, "08-contractor-users-tab").await;

    // System > Users lists them too, with the contractor's code.
    menu(client, "details#menu-system", "Users").await;
    wait_for_title(client, "Users").await;
    let row = find(client, &format!("tr[data-email=\"{CONTRACTOR_EMAIL}\"]")).await;
    let cells = row_texts(&row).await;
    assert!(cells.iter().any(|c| c == "Contractor"), "{cells:?}");
    assert!(cells.iter().any(|c| c == "AFS"), "{cells:?}");
}

/// Step 6: the picker without the arrow buttons: Tab into the Available list, choose with the
/// arrow keys, Enter moves; Enter in Selected moves back; a double-click moves too.
async fn picker_works_with_keyboard_and_mouse(client: &Client, base: &str, artifacts: &Path) {
    client.goto(&format!("{base}/t/{TENANT}/system/users/new")).await.unwrap();
    wait_for_title(client, "Create User").await;

    // The tabs follow the arrow keys, and Tab leaves the tab list for the panel.
    client.execute("document.getElementById('tab-details').focus();", vec![]).await.unwrap();
    press(client, &[Key::Right]).await;
    assert_tab_shown(client, "security").await;
    assert_eq!(active_id(client).await, "tab-security", "ArrowRight moves the focus to the Security tab");
    press(client, &[Key::Tab]).await;
    assert_eq!(active_id(client).await, "available", "Tab from the Security tab reaches Available");

    let before = options(client, "#available").await;
    press(client, &[Key::Down]).await;
    let chosen = chosen_options(client, "#available").await;
    assert_eq!(chosen.len(), 1, "ArrowDown chooses one package: {chosen:?}");
    let package = chosen[0].clone();
    press(client, &[Key::Enter]).await;
    assert_eq!(options(client, "#selected").await, std::slice::from_ref(&package), "Enter moved {package} to Selected");
    assert!(!options(client, "#available").await.contains(&package), "{package} left Available");
    assert_eq!(options(client, "#available").await.len(), before.len() - 1);
    assert_eq!(active_id(client).await, "available", "the focus stays in Available");
    assert_eq!(find(client, "#user-window").await.prop("isConnected").await.unwrap().as_deref(), Some("true"));
    assert_eq!(client.title().await.unwrap(), "Create User · Caretaker", "Enter did not submit the form");
    screenshot(client, artifacts, "09-keyboard-moved").await;
    // The keyboard can go on choosing in Available.
    press(client, &[Key::Down]).await;
    assert_eq!(chosen_options(client, "#available").await.len(), 1, "ArrowDown chooses again after a move");

    // Enter in Selected moves it back.
    client.execute("document.getElementById('selected').focus();", vec![]).await.unwrap();
    press(client, &[Key::Down]).await;
    assert_eq!(chosen_options(client, "#selected").await, std::slice::from_ref(&package));
    press(client, &[Key::Enter]).await;
    assert!(options(client, "#selected").await.is_empty(), "Enter in Selected moved {package} back");
    assert!(options(client, "#available").await.contains(&package));

    // A double-click moves one across and back.
    double_click(client, &format!("#available option[value=\"{}\"]", "Read Only")).await;
    assert_eq!(options(client, "#selected").await, ["Read Only"], "a double-click moved Read Only");
    double_click(client, &format!("#selected option[value=\"{}\"]", "Read Only")).await;
    assert!(options(client, "#selected").await.is_empty(), "a double-click moved Read Only back");
    assert_eq!(options(client, "#available").await.len(), ALL_PACKAGES.len());
}

/// The person menu's Sign out leads back to the sign-in page.
async fn sign_out(client: &Client) {
    find(client, "details#person-menu > summary").await.click().await.unwrap();
    find(client, "details#person-menu form button[type=submit]").await.click().await.unwrap();
    wait_for_title(client, "Sign in").await;
    wait_for_path(client, &format!("/t/{TENANT}/sign-in")).await;
}

/// Opens the page's Operations menu and clicks Create.
async fn open_operations_create(client: &Client) {
    find(client, "details#operations > summary").await.click().await.unwrap();
    let create = find(client, "#op-create").await;
    assert!(create.is_displayed().await.unwrap(), "Create shows once Operations is open");
    create.click().await.unwrap();
}

/// Only the tab `name`'s panel shows, and only that tab is selected.
async fn assert_tab_shown(client: &Client, name: &str) {
    for tab in ["details", "security", "site-access"] {
        let shown = find(client, &format!("#panel-{tab}")).await.is_displayed().await.unwrap();
        let selected = find(client, &format!("#tab-{tab}")).await.attr("aria-selected").await.unwrap();
        let on = tab == name;
        assert_eq!(shown, on, "panel {tab} shown: {shown}, expected {on}");
        assert_eq!(selected.as_deref(), Some(if on { "true" } else { "false" }), "tab {tab} aria-selected");
    }
}

/// Key presses to whatever has the focus.
async fn press(client: &Client, keys: &[Key]) {
    let mut actions = KeyActions::new("keyboard".to_owned());
    for key in keys {
        let value = char::from(*key);
        actions = actions.then(KeyAction::Down { value }).then(KeyAction::Up { value });
    }
    client.perform_actions(actions).await.unwrap();
    client.release_actions().await.unwrap();
}

async fn double_click(client: &Client, css: &str) {
    let element = find(client, css).await;
    let click = |mouse: MouseActions| {
        mouse
            .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
            .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT })
    };
    let mouse = MouseActions::new("mouse".to_owned()).then(PointerAction::MoveToElement {
        element,
        duration: Some(Duration::ZERO),
        x: 0.0,
        y: 0.0,
    });
    client.perform_actions(click(click(mouse))).await.unwrap();
    client.release_actions().await.unwrap();
}

async fn active_id(client: &Client) -> String {
    let id = client.execute("return document.activeElement ? document.activeElement.id : '';", vec![]).await.unwrap();
    id.as_str().unwrap_or_default().to_owned()
}

/// The texts of the highlighted options of the `select` matching `css`.
async fn chosen_options(client: &Client, css: &str) -> Vec<String> {
    let texts = client
        .execute(
            "return Array.from(document.querySelector(arguments[0]).selectedOptions).map((o) => o.text);",
            vec![serde_json::Value::from(css)],
        )
        .await
        .unwrap();
    serde_json::from_value(texts).unwrap()
}

async fn row_texts(row: &fantoccini::elements::Element) -> Vec<String> {
    let mut texts = Vec::new();
    for cell in row.find_all(Locator::Css("td")).await.unwrap() {
        texts.push(cell.text().await.unwrap().trim().to_owned());
    }
    texts
}

/// The names in the picker's order (case-insensitive by name, as `localeCompare` sorts).
fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    names.sort_by_key(|n| n.to_lowercase());
    names
}
