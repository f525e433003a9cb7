//! Manage > Tasks (the list narrowed to what each user may see, Raise Task, a task's status
//! buttons, notes, chase and dispatch), System > Workflows, Service Levels and Dispatch
//! Rules, and the Site Access tab of the user window, driven through the real router on
//! both backends. Every write is checked in the database; every refusal to change nothing.

use axum::http::StatusCode;
use caretaker_app::Principal;
use caretaker_app::sites::{self as app_sites, SiteInput};
use caretaker_app::tasks::{self as app_tasks, Dispatch, Raised, TaskInput};
use caretaker_app::users::{self as app_users, UserInput};
use caretaker_domain::access::{Holder, can};
use caretaker_domain::clock::Clock;
use caretaker_domain::task::{StatusType, Workflow, WorkflowType};
use caretaker_domain::user::{Email, SiteGrants, UserType};
use caretaker_storage::tasks::{self, Task};
use caretaker_storage::testing::TestDb;
use caretaker_storage::visibility::{self, Scope};
use caretaker_storage::{both_backends, users, workflows};
use secrecy::SecretString;

use crate::web::{ADMIN_EMAIL, BASE, Client, PASSWORD, World, data_keys};

both_backends!(
    the_task_list_shows_each_user_only_the_tasks_they_may_see,
    raising_a_task_through_the_form_stores_it_and_refusals_write_nothing,
    status_buttons_move_the_task_and_an_invalid_move_shows_the_broken_rule,
    notes_chases_and_the_dispatch_form,
    workflow_edits_persist_and_refusals_change_nothing,
    service_levels_are_added_and_edited,
    dispatch_rules_are_added_decide_new_tasks_and_are_removed,
    the_site_access_tab_saves_and_shows_chosen_sites_areas_and_channels,
    posts_without_the_sessions_csrf_token_change_nothing,
);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn operator(w: &World) -> Principal {
    Principal::operator(w.tenant.id, w.tenant.name.as_str())
}

async fn site(w: &World, code: &str, area: Option<&str>, channel: Option<&str>) {
    let input = SiteInput {
        site_code: code.into(),
        name: format!("Site {code}"),
        address: ["1 High Street", "", "", "Leeds", "", "UK", "LS1"].map(String::from),
        geographic_area: area.map(Into::into),
        site_channel: channel.map(Into::into),
        ..SiteInput::default()
    };
    app_sites::create(w.app(), &operator(w).authorize::<can::SitesWrite>().unwrap(), input).await.unwrap();
}

/// A task raised by the operator at `site` (category 01-02, no custom questions).
async fn raise(w: &World, site: &str, description: &str) -> String {
    let input = TaskInput {
        initiator_name: "Operator".into(),
        site_code: site.into(),
        description: description.into(),
        matrix_item_code: "01-02".into(),
        ..TaskInput::default()
    };
    match app_tasks::raise(w.app(), &operator(w).authorize::<can::TasksCreate>().unwrap(), input).await.unwrap() {
        Raised::Created(task) => task.reference,
        Raised::Existing(_) => panic!("a new task"),
    }
}

async fn dispatch(w: &World, reference: &str, supplier: &str, level: Option<&str>) {
    let request = Dispatch { supplier: supplier.into(), service_level: level.map(Into::into) };
    app_tasks::dispatch(w.app(), &operator(w).authorize::<can::TasksDispatch>().unwrap(), reference, request)
        .await
        .unwrap();
}

async fn stored(w: &World, reference: &str) -> Task {
    tasks::get(&mut *w.t.conn().await, w.tenant.id, Scope::All, reference).await.unwrap().expect("a stored task")
}

/// A user with `packages` and the given site access text (password [`PASSWORD`]).
async fn user_with_access(
    w: &World,
    email: &str,
    user_type: UserType,
    contractor: Option<&str>,
    packages: &[&str],
    site_access: &str,
) {
    let input = UserInput {
        email: email.into(),
        name: email.split('@').next().unwrap().into(),
        user_type: user_type.as_str().into(),
        contractor: contractor.map(Into::into),
        role_packages: packages.iter().map(|p| (*p).to_owned()).collect(),
        site_access: site_access.into(),
        is_integration: false,
        password: Some(SecretString::from(PASSWORD)),
    };
    app_users::create(w.app(), &operator(w).authorize::<can::UsersWrite>().unwrap(), input).await.unwrap();
}

/// The references of the rows of the tasks table, top to bottom.
fn listed(body: &str) -> Vec<String> {
    let table = &body[body.find(r#"id="tasks""#).unwrap_or_else(|| panic!("no task table: {body}"))..];
    table
        .match_indices(r#"data-reference=""#)
        .map(|(i, m)| {
            let start = i + m.len();
            table[start..start + table[start..].find('"').unwrap()].to_owned()
        })
        .collect()
}

#[track_caller]
fn assert_keys(body: &str, expected: &[&str]) {
    let mut keys = data_keys(body);
    keys.sort();
    let mut expected: Vec<String> = expected.iter().map(|k| format!("BrokenRule_{k}")).collect();
    expected.sort();
    assert_eq!(keys, expected, "{body}");
}

async fn reactive(w: &World) -> Workflow {
    workflows::list(&mut *w.t.conn().await, w.tenant.id, Some(WorkflowType::Reactive), Some("Reactive"))
        .await
        .unwrap()
        .remove(0)
}

/// Row counts of everything the task and configuration pages write.
async fn snapshot(w: &World) -> String {
    let mut out = String::new();
    for table in [
        "tasks",
        "task_notes",
        "task_history",
        "workflows",
        "workflow_statuses",
        "workflow_destinations",
        "service_levels",
        "dispatch_rules",
        "user_site_access",
    ] {
        out.push_str(&format!("{table}: {}\n", w.t.count(table).await));
    }
    let conn = &mut *w.t.conn().await;
    for workflow in workflows::list(&mut *conn, w.tenant.id, None, None).await.unwrap() {
        out.push_str(&format!("{workflow:?}\n"));
    }
    for level in workflows::service_levels(&mut *conn, w.tenant.id).await.unwrap() {
        out.push_str(&format!("{level:?}\n"));
    }
    out + &w.snapshot().await
}

/// Two contractors, three sites and three tasks: T1 at S1 with AFS, T2 at S2 with BFS,
/// T3 at S3 (area 02) not dispatched.
async fn three_tasks(w: &World) -> (String, String, String) {
    w.contractor(&w.tenant, "Acme Facilities", "AFS").await;
    w.contractor(&w.tenant, "Brite Fuel Services", "BFS").await;
    site(w, "S1", Some("01-01"), Some("01")).await;
    site(w, "S2", Some("01-02"), Some("02")).await;
    site(w, "S3", Some("02"), None).await;
    let t1 = raise(w, "S1", "Roof leaks at S1").await;
    let t2 = raise(w, "S2", "Door stuck at S2").await;
    let t3 = raise(w, "S3", "Lights out at S3").await;
    dispatch(w, &t1, "AFS", Some("Emergency")).await;
    dispatch(w, &t2, "BFS", None).await;
    (t1, t2, t3)
}

// ---------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------

async fn the_task_list_shows_each_user_only_the_tasks_they_may_see(t: TestDb) {
    let w = World::new(t).await;
    let (t1, t2, t3) = three_tasks(&w).await;
    w.user(&w.tenant, "pat@afs.example", UserType::Contractor, Some("AFS"), &["Contractor User"]).await;
    user_with_access(&w, "sam@acme.example", UserType::Site, None, &["Site User"], "S2, area:02").await;

    // The Administrator sees every task, newest change first, and the Raise Task operation.
    let mut admin = w.admin_client().await;
    let page = admin.get(&w.path("/manage/tasks")).await;
    page.assert_status(StatusCode::OK);
    let mut all = listed(&page.body);
    all.sort();
    assert_eq!(all, [t1.clone(), t2.clone(), t3.clone()]);
    assert!(page.body.contains(&format!(r#"id="op-raise" href="{BASE}/manage/tasks/new""#)), "{}", page.body);
    assert!(page.body.contains(&format!(r#"<a href="{BASE}/manage/tasks">Tasks</a>"#)), "the Manage menu lists Tasks");
    for menu in ["Workflows", "Service Levels", "Dispatch Rules"] {
        assert!(page.body.contains(&format!(">{menu}</a>")), "System > {menu}");
    }

    // Filters: by status type, status, site and supplier.
    let open = admin.get(&w.path("/manage/tasks?status_type=Open")).await;
    let mut open_refs = listed(&open.body);
    open_refs.sort();
    assert_eq!(open_refs, [t1.clone(), t2.clone()]);
    assert_eq!(listed(&admin.get(&w.path("/manage/tasks?status=Logged")).await.body), [t3.as_str()]);
    assert_eq!(listed(&admin.get(&w.path("/manage/tasks?site=s2")).await.body), [t2.as_str()]);
    assert_eq!(listed(&admin.get(&w.path("/manage/tasks?supplier=AFS")).await.body), [t1.as_str()]);
    let bad = admin.get(&w.path("/manage/tasks?status_type=Sleeping")).await;
    bad.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&bad.body, &["Task_InvalidStatusType"]);

    // Nothing is overdue until T1's Emergency complete-by (4 hours) has passed.
    assert!(!page.body.contains("Overdue"));
    w.t.clock.advance_seconds(5 * 3600);
    // (The session has timed out meanwhile: sign in again.)
    let later = w.admin_client().await.get(&w.path("/manage/tasks")).await;
    assert!(
        later.body.contains(&format!(r#"class="overdue" data-reference="{t1}" data-overdue="true""#)),
        "{}",
        later.body
    );
    assert!(later.body.contains(&format!(r#"data-reference="{t2}" data-overdue="false""#)));
    assert_eq!(later.body.matches(">Overdue</span>").count(), 1);

    // The Contractor user: Manage > Tasks with AFS's task only, no Raise Task, no System.
    let mut pat = w.signed_in("pat@afs.example", PASSWORD).await;
    let page = pat.get(&w.path("/manage/tasks")).await;
    page.assert_status(StatusCode::OK);
    assert_eq!(listed(&page.body), [t1.as_str()]);
    assert!(page.body.contains(&format!(r#"<a href="{BASE}/manage/tasks">Tasks</a>"#)));
    assert!(!page.body.contains("op-raise") && !page.body.contains(r#"id="menu-system""#));
    let task = pat.get(&w.path(&format!("/tasks/{t1}"))).await;
    task.assert_status(StatusCode::OK);
    assert!(task.body.contains(r#"id="add-note""#), "contractors add notes");
    assert!(!task.body.contains(r#"id="chase""#) && !task.body.contains(r#"id="dispatch""#), "{}", task.body);
    pat.get(&w.path(&format!("/tasks/{t2}"))).await.assert_status(StatusCode::NOT_FOUND);
    pat.get(&w.path("/manage/tasks/new")).await.assert_status(StatusCode::FORBIDDEN);

    // The Site user with S2 and area 02 sees T2 and T3, not T1.
    let mut sam = w.signed_in("sam@acme.example", PASSWORD).await;
    let mut seen = listed(&sam.get(&w.path("/manage/tasks")).await.body);
    seen.sort();
    assert_eq!(seen, [t2.clone(), t3.clone()]);
    sam.get(&w.path(&format!("/tasks/{t1}"))).await.assert_status(StatusCode::NOT_FOUND);
    sam.get(&w.path(&format!("/tasks/{}", t1.to_lowercase()))).await.assert_status(StatusCode::NOT_FOUND);
    sam.get(&w.path("/tasks/not-a-task")).await.assert_status(StatusCode::NOT_FOUND);
    sam.get(&w.path(&format!("/tasks/{t2}"))).await.assert_status(StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// Raise Task
// ---------------------------------------------------------------------------------------

async fn raising_a_task_through_the_form_stores_it_and_refusals_write_nothing(t: TestDb) {
    let w = World::new(t).await;
    w.contractor(&w.tenant, "Acme Facilities", "AFS").await;
    site(&w, "S1", None, None).await;
    let mut c = w.admin_client().await;
    let admin = users::find_by_email(&mut *w.t.conn().await, w.tenant.id, &Email::parse(ADMIN_EMAIL).unwrap())
        .await
        .unwrap()
        .unwrap();
    let initiator = if admin.name.is_empty() { admin.email.clone() } else { admin.name.clone() };

    let form = c.get(&w.path("/manage/tasks/new")).await;
    form.assert_status(StatusCode::OK);
    for needle in [
        format!(r#"name="initiator_name" value="{initiator}""#),
        String::from(r#"<option value="02-01">"#),
        String::from(r#"<option value="Wear and Tear">Wear and Tear</option>"#),
        String::from(r#"name="cf:Custom_Pump_Number""#),
        String::from(r#"<option value="AFS">Acme Facilities (AFS)</option>"#),
        String::from(r#"<option value="Urgent">Urgent</option>"#),
        String::from(r#"id="workflow""#),
    ] {
        assert!(form.body.contains(&needle), "{needle}: {}", form.body);
    }

    // Refused: unknown site, no description, a mandatory custom question unanswered.
    let before = snapshot(&w).await;
    let refused = c
        .submit(
            &w.path("/manage/tasks/new"),
            &[
                ("site_code", "NOWHERE"),
                ("description", ""),
                ("initiator_name", "Pat"),
                ("matrix_item_code", "02-01"),
                ("cf:Custom_Is_Leaking", "false"),
            ],
        )
        .await;
    refused.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&refused.body, &["Task_UnknownSite", "Task_MissingDescription", "Task_MissingCustomField"]);
    assert!(refused.body.contains(r#"value="NOWHERE""#), "what was typed is shown again");
    assert_eq!(snapshot(&w).await, before);

    let raised = c
        .submit(
            &w.path("/manage/tasks/new"),
            &[
                ("site_code", "s1"),
                ("description", "Pump 4 shows an error"),
                ("initiator_name", "Pat Smith"),
                ("matrix_item_code", "02-01"),
                ("defect_source", "Wear and Tear"),
                ("cf:Custom_Pump_Number", "4"),
                ("cf:Custom_Is_Leaking", "false"),
                ("workflow", ""),
                ("service_level", "Urgent"),
                ("supplier", "AFS"),
                ("chargeability", "Chargeable"),
                ("is_asset_available", "true"),
            ],
        )
        .await;
    raised.assert_see_other(&w.path("/tasks/T000001?done=raised"));
    let task = stored(&w, "T000001").await;
    assert_eq!(
        (task.site_code.as_str(), task.description.as_str(), task.initiator_name.as_str(), task.matrix_code.as_str()),
        ("S1", "Pump 4 shows an error", "Pat Smith", "02-01")
    );
    assert_eq!(task.defect_source.as_deref(), Some("Wear and Tear"));
    assert_eq!(task.chargeability.as_deref(), Some("Chargeable"));
    assert_eq!((task.workflow.as_str(), task.status.as_str()), ("Reactive", "Dispatched"));
    assert_eq!((task.supplier.as_deref(), task.service_level.as_deref()), (Some("AFS"), Some("Urgent")));
    assert_eq!(task.is_asset_available, Some(true));
    let mut answers = task.custom_fields.clone();
    answers.sort();
    assert_eq!(
        answers,
        [("Custom_Is_Leaking".to_owned(), "false".to_owned()), ("Custom_Pump_Number".to_owned(), "4".to_owned())]
    );
    let now = w.t.clock.now();
    assert_eq!(task.respond_by, Some(now.plus_seconds(4 * 3600)));
    assert_eq!(task.complete_by, Some(now.plus_seconds(24 * 3600)));
    let page = c.get(raised.location()).await;
    for needle in ["Pump 4 shows an error", r#"id="done""#, r#"data-field="Custom_Pump_Number">4<"#, "Raised by"] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }

    // A Site user is not offered the restricted fields, and posting one is refused by name.
    user_with_access(&w, "sam@acme.example", UserType::Site, None, &["Site User"], "S1").await;
    let mut sam = w.signed_in("sam@acme.example", PASSWORD).await;
    let form = sam.get(&w.path("/manage/tasks/new")).await;
    form.assert_status(StatusCode::OK);
    assert!(form.body.contains(r#"name="initiator_name" value="sam""#), "{}", form.body);
    assert!(!form.body.contains(r#"id="supplier""#) && !form.body.contains(r#"id="workflow""#));
    let before = snapshot(&w).await;
    let sneaky = sam
        .submit(
            &w.path("/manage/tasks/new"),
            &[
                ("site_code", "S1"),
                ("description", "Light out"),
                ("initiator_name", "sam"),
                ("matrix_item_code", "01-03"),
                ("supplier", "AFS"),
            ],
        )
        .await;
    sneaky.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&sneaky.body, &["Task_SupplierNotAllowed"]);
    assert_eq!(snapshot(&w).await, before);
    sam.submit(
        &w.path("/manage/tasks/new"),
        &[("site_code", "S1"), ("description", "Light out"), ("initiator_name", "sam"), ("matrix_item_code", "01-03")],
    )
    .await
    .assert_see_other(&w.path("/tasks/T000002?done=raised"));
    let own = stored(&w, "T000002").await;
    assert_eq!((own.status.as_str(), own.supplier.as_deref()), ("Logged", None));
}

// ---------------------------------------------------------------------------------------
// A task's page
// ---------------------------------------------------------------------------------------

/// The `data-status` of each status form on a task page.
fn buttons(body: &str) -> Vec<String> {
    body.match_indices(r#"data-status=""#)
        .map(|(i, m)| {
            let start = i + m.len();
            body[start..start + body[start..].find('"').unwrap()].to_owned()
        })
        .collect()
}

async fn status_buttons_move_the_task_and_an_invalid_move_shows_the_broken_rule(t: TestDb) {
    let w = World::new(t).await;
    let (t1, _, t3) = three_tasks(&w).await;
    let mut c = w.admin_client().await;
    let here = w.path(&format!("/tasks/{t1}"));

    let page = c.get(&here).await;
    page.assert_status(StatusCode::OK);
    assert_eq!(buttons(&page.body), ["Accepted", "Rejected", "Cancelled"], "in the workflow's order");
    assert!(!page.body.contains(r#"name="resolution_cause""#), "no target of Dispatched asks for a cause");

    // A status that is not a destination: the rule is shown, nothing changes.
    let before = snapshot(&w).await;
    let version = stored(&w, &t1).await.version.to_string();
    let refused = c.submit(&format!("{here}/status"), &[("status", "Closed"), ("version", &version)]).await;
    refused.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&refused.body, &["Task_InvalidStatusChange"]);
    assert!(refused.body.contains(r#"id="task-rules""#));
    assert_eq!(snapshot(&w).await, before);
    // Moving an undispatched task to an Open status is refused too.
    let refused = c.submit(&w.path(&format!("/tasks/{t3}/status")), &[("status", "Dispatched")]).await;
    assert_keys(&refused.body, &["Task_NotDispatched"]);
    assert_eq!(snapshot(&w).await, before);

    w.t.clock.advance_seconds(600);
    c.submit(&format!("{here}/status"), &[("status", "Accepted"), ("version", &version), ("note", "On our way")])
        .await
        .assert_see_other(&format!("{here}?done=status%20changed"));
    let task = stored(&w, &t1).await;
    assert_eq!((task.status.as_str(), task.status_type), ("Accepted", StatusType::Open));
    let notes = tasks::notes(&w.t.db, task.id).await.unwrap();
    assert_eq!(notes.iter().map(|n| (n.kind.as_str(), n.text.as_str())).collect::<Vec<_>>(), [("note", "On our way")]);

    // A stale form (the old version) is refused as a conflict.
    let stale = c.submit(&format!("{here}/status"), &[("status", "On Site"), ("version", &version)]).await;
    stale.assert_status(StatusCode::CONFLICT);
    assert_keys(&stale.body, &["Task_Changed"]);

    // On Site takes a manual date (the form's datetime-local, taken as UTC).
    let page = c.get(&here).await;
    assert!(page.body.contains(r#"id="date-on-site" type="datetime-local" name="status_date""#), "{}", page.body);
    let arrived = w.t.clock.now().plus_seconds(-30);
    let typed = arrived.to_rfc3339()[..16].to_owned();
    c.submit(&format!("{here}/status"), &[("status", "On Site"), ("status_date", &typed)])
        .await
        .assert_see_other(&format!("{here}?done=status%20changed"));
    let history = tasks::history(&w.t.db, task.id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!((last.from_status.as_deref(), last.to_status.as_deref()), (Some("Accepted"), Some("On Site")));
    assert_eq!(last.status_date.map(|d| d.to_rfc3339()[..16].to_owned()), Some(typed));

    // Completed needs a resolution cause and remedy: the form asks for both.
    let page = c.get(&here).await;
    assert_eq!(buttons(&page.body), ["Completed"]);
    assert!(page.body.contains(r#"name="resolution_cause""#) && page.body.contains(r#"name="resolution_remedy""#));
    let missing = c.submit(&format!("{here}/status"), &[("status", "Completed"), ("resolution_cause", "01")]).await;
    missing.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&missing.body, &["Task_MissingResolutionRemedy"]);
    assert_eq!(stored(&w, &t1).await.status, "On Site");
    c.submit(
        &format!("{here}/status"),
        &[("status", "Completed"), ("resolution_cause", "01"), ("resolution_remedy", "02"), ("status_date", "")],
    )
    .await
    .assert_see_other(&format!("{here}?done=status%20changed"));
    assert_eq!(stored(&w, &t1).await.status, "Completed");
    let history = tasks::history(&w.t.db, task.id).await.unwrap();
    assert_eq!(history.last().unwrap().detail, "cause 01; remedy 02");
    let page = c.get(&here).await;
    assert!(page.body.contains("cause 01; remedy 02") && page.body.contains("On our way"), "{}", page.body);

    // Reading only: no status forms.
    w.user(&w.tenant, "ro@acme.example", UserType::Management, None, &["Read Only"]).await;
    let mut ro = w.signed_in("ro@acme.example", PASSWORD).await;
    let page = ro.get(&here).await;
    page.assert_status(StatusCode::OK);
    assert!(buttons(&page.body).is_empty() && !page.body.contains(r#"id="add-note""#));
    let before = snapshot(&w).await;
    ro.submit(&format!("{here}/status"), &[("status", "Closed")]).await.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(snapshot(&w).await, before);
}

async fn notes_chases_and_the_dispatch_form(t: TestDb) {
    let w = World::new(t).await;
    let (t1, t2, t3) = three_tasks(&w).await;
    w.user(&w.tenant, "pat@afs.example", UserType::Contractor, Some("AFS"), &["Contractor User"]).await;
    let mut c = w.admin_client().await;

    // The dispatch form: contractors and service levels to choose from.
    let here = w.path(&format!("/tasks/{t3}"));
    let page = c.get(&here).await;
    assert!(page.body.contains(r#"id="dispatch""#), "{}", page.body);
    assert!(page.body.contains(r#"<option value="BFS">Brite Fuel Services (BFS)</option>"#));
    assert!(!page.body.contains(r#"id="chase""#), "nothing to chase before dispatching");
    let before = snapshot(&w).await;
    let unknown = c.submit(&format!("{here}/dispatch"), &[("supplier", "ZZZ"), ("service_level", "Nope")]).await;
    unknown.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&unknown.body, &["Task_UnknownSupplier", "Task_UnknownServiceLevel"]);
    assert_eq!(snapshot(&w).await, before);

    w.t.clock.advance_seconds(120);
    c.submit(&format!("{here}/dispatch"), &[("supplier", "BFS"), ("service_level", "Urgent")])
        .await
        .assert_see_other(&format!("{here}?done=dispatched"));
    let task = stored(&w, &t3).await;
    assert_eq!((task.status.as_str(), task.supplier.as_deref()), ("Dispatched", Some("BFS")));
    assert_eq!(task.service_level.as_deref(), Some("Urgent"));
    assert_eq!(task.respond_by, Some(w.t.clock.now().plus_seconds(4 * 3600)));
    let history = tasks::history(&w.t.db, task.id).await.unwrap();
    assert_eq!(history.last().unwrap().detail, "Dispatched to BFS with service level Urgent");

    // Notes and chases.
    let refused = c.submit(&format!("{here}/notes"), &[("text", "   ")]).await;
    refused.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&refused.body, &["Task_MissingText"]);
    c.submit(&format!("{here}/notes"), &[("text", "Keys at the kiosk")])
        .await
        .assert_see_other(&format!("{here}?done=note%20added"));
    c.submit(&format!("{here}/chase"), &[("text", "")]).await.assert_see_other(&format!("{here}?done=chased"));
    let notes = tasks::notes(&w.t.db, task.id).await.unwrap();
    assert_eq!(
        notes.iter().map(|n| (n.kind.as_str(), n.text.as_str())).collect::<Vec<_>>(),
        [("note", "Keys at the kiosk"), ("chase", "Chased")]
    );
    assert!(!notes[0].author.is_empty() && notes.iter().all(|n| n.author == notes[0].author));
    let page = c.get(&here).await;
    assert!(page.body.contains(r#"data-kind="chase""#) && page.body.contains("Keys at the kiosk"));
    assert!(page.body.contains(r#"data-event="chased""#));

    // The Contractor user adds notes but neither chases nor dispatches.
    let mut pat = w.signed_in("pat@afs.example", PASSWORD).await;
    let theirs = w.path(&format!("/tasks/{t1}"));
    pat.submit(&format!("{theirs}/notes"), &[("text", "Parts ordered")])
        .await
        .assert_see_other(&format!("{theirs}?done=note%20added"));
    let before = snapshot(&w).await;
    let chase = pat.submit(&format!("{theirs}/chase"), &[("text", "")]).await;
    chase.assert_status(StatusCode::FORBIDDEN);
    assert_keys(&chase.body, &["Task_ChaseNotAllowed"]);
    pat.submit(&format!("{theirs}/dispatch"), &[("supplier", "AFS")]).await.assert_status(StatusCode::FORBIDDEN);
    // Another contractor's task is not found, whatever the form.
    pat.submit(&w.path(&format!("/tasks/{t2}/notes")), &[("text", "Hello")]).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(snapshot(&w).await, before);
}

// ---------------------------------------------------------------------------------------
// System > Workflows, Service Levels, Dispatch Rules
// ---------------------------------------------------------------------------------------

async fn workflow_edits_persist_and_refusals_change_nothing(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.admin_client().await;
    let list = c.get(&w.path("/system/workflows")).await;
    list.assert_status(StatusCode::OK);
    for needle in
        [r#"id="workflows-reactive""#, r#"data-workflow="Planned Maintenance""#, r#"data-workflow="Invoice Approval""#]
    {
        assert!(list.body.contains(needle), "{needle}: {}", list.body);
    }
    let workflow = reactive(&w).await;
    let here = w.path(&format!("/system/workflows/{}", workflow.id));
    let page = c.get(&here).await;
    page.assert_status(StatusCode::OK);
    let logged = workflow.status_named("Logged").unwrap().clone();
    let dispatched = workflow.status_named("Dispatched").unwrap().clone();
    assert!(page.body.contains(&format!(r#"name="dest:{}" value="Dispatched" checked"#, logged.id)), "{}", page.body);
    assert!(!page.body.contains(&format!(r#"name="dest:{}" value="Logged""#, logged.id)), "never to itself");

    // Refused: a status moving to itself, an unknown type; nothing changes.
    let before = snapshot(&w).await;
    let (type_field, dest_field, flags_field) =
        (format!("type:{}", logged.id), format!("dest:{}", logged.id), format!("flags:{}", logged.id));
    let refused = c
        .submit(
            &here,
            &[
                ("type_form", "1"),
                ("is_active", "on"),
                ("is_default", "on"),
                (&type_field, "New"),
                (&dest_field, "Logged"),
                (&format!("type:{}", dispatched.id), "Sleeping"),
            ],
        )
        .await;
    refused.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&refused.body, &["Workflow_DestinationIsItself", "Workflow_InvalidStatusType"]);
    assert_eq!(snapshot(&w).await, before);

    // Logged: manual date on, only Dispatched as destination; the rest is left alone.
    c.submit(
        &here,
        &[
            ("type_form", "1"),
            ("is_active", "on"),
            ("is_default", "on"),
            (&type_field, "New"),
            (&flags_field, "manual_date"),
            (&dest_field, "Dispatched"),
        ],
    )
    .await
    .assert_see_other(&format!("{here}?done=saved"));
    let changed = reactive(&w).await;
    let stored_logged = changed.status_named("Logged").unwrap();
    assert_eq!(stored_logged.destinations, [dispatched.id]);
    assert!(stored_logged.flags.manual_date_enabled && !stored_logged.flags.quotation_enabled);
    assert_eq!(changed.statuses[1..], workflow.statuses[1..], "statuses not posted are unchanged");
    assert!(changed.is_active && changed.is_default);
    assert_eq!(w.audit_of("workflow.changed").await.len(), 1);

    // Add a status; a duplicate is a conflict.
    c.submit(&format!("{here}/statuses"), &[("name", "Awaiting Parts"), ("status_type", "Open")])
        .await
        .assert_see_other(&format!("{here}?done=status%20added"));
    let added = reactive(&w).await;
    let parts = added.status_named("Awaiting Parts").unwrap();
    assert_eq!((parts.status_type, parts.destinations.len()), (StatusType::Open, 0));
    let duplicate = c.submit(&format!("{here}/statuses"), &[("name", "awaiting parts"), ("status_type", "Open")]).await;
    duplicate.assert_status(StatusCode::CONFLICT);
    assert_keys(&duplicate.body, &["Workflow_DuplicateStatus"]);
    assert_eq!(reactive(&w).await.statuses.len(), workflow.statuses.len() + 1);

    // A reader sees the workflow but no form, and cannot post.
    w.user(&w.tenant, "mu@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut mu = w.signed_in("mu@acme.example", PASSWORD).await;
    let page = mu.get(&here).await;
    page.assert_status(StatusCode::OK);
    assert!(!page.body.contains(r#"id="workflow-edit""#) && page.body.contains(r#"data-status="Awaiting Parts""#));
    let before = snapshot(&w).await;
    mu.submit(&here, &[("type_form", "1"), (&type_field, "Open")]).await.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(snapshot(&w).await, before);
}

async fn service_levels_are_added_and_edited(t: TestDb) {
    let w = World::new(t).await;
    let mut c = w.admin_client().await;
    let path = w.path("/system/service-levels");
    let page = c.get(&path).await;
    page.assert_status(StatusCode::OK);
    assert!(page.body.contains(r#"data-level="Emergency""#) && page.body.contains("240 min (4 h)"), "{}", page.body);

    let before = snapshot(&w).await;
    let backwards =
        c.submit(&path, &[("name", "Backwards"), ("respond_minutes", "600"), ("complete_minutes", "60")]).await;
    backwards.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&backwards.body, &["ServiceLevel_CompleteBeforeRespond"]);
    assert!(backwards.body.contains(r#"value="Backwards""#));
    let words = c.submit(&path, &[("name", "Soon"), ("respond_minutes", "soon"), ("complete_minutes", "60")]).await;
    assert_keys(&words.body, &["ServiceLevel_InvalidTime"]);
    let duplicate = c.submit(&path, &[("name", "urgent"), ("respond_minutes", "10"), ("complete_minutes", "60")]).await;
    duplicate.assert_status(StatusCode::CONFLICT);
    assert_keys(&duplicate.body, &["ServiceLevel_DuplicateName"]);
    assert_eq!(snapshot(&w).await, before);

    c.submit(&path, &[("name", "Same Day"), ("respond_minutes", "120"), ("complete_minutes", "480")])
        .await
        .assert_see_other(&format!("{path}?done=added"));
    let levels = workflows::service_levels(w.t.db.read(), w.tenant.id).await.unwrap();
    let same_day = levels.iter().find(|l| l.name == "Same Day").unwrap();
    assert_eq!((same_day.respond_minutes, same_day.complete_minutes, same_day.is_active), (120, 480, true));

    let urgent = levels.iter().find(|l| l.name == "Urgent").unwrap().clone();
    let edit = format!("{path}/{}", urgent.id);
    let refused = c.submit(&edit, &[("respond_minutes", "0"), ("complete_minutes", "60"), ("is_active", "on")]).await;
    assert_keys(&refused.body, &["ServiceLevel_InvalidTime"]);
    c.submit(&edit, &[("respond_minutes", "30"), ("complete_minutes", "90")])
        .await
        .assert_see_other(&format!("{path}?done=saved"));
    let changed = workflows::service_level(&w.t.db, w.tenant.id, Some(urgent.id), None).await.unwrap().unwrap();
    assert_eq!((changed.respond_minutes, changed.complete_minutes, changed.is_active), (30, 90, false));
    assert_eq!(w.audit_of("service_level.changed").await.len(), 1);

    // An inactive level is not offered for dispatching.
    site(&w, "S1", None, None).await;
    let reference = raise(&w, "S1", "Anything").await;
    let page = c.get(&w.path(&format!("/tasks/{reference}"))).await;
    assert!(page.body.contains(r#"<option value="Same Day">"#) && !page.body.contains(r#"<option value="Urgent">"#));
}

async fn dispatch_rules_are_added_decide_new_tasks_and_are_removed(t: TestDb) {
    let w = World::new(t).await;
    w.contractor(&w.tenant, "Acme Facilities", "AFS").await;
    site(&w, "S1", Some("01-01"), None).await;
    let mut c = w.admin_client().await;
    let path = w.path("/system/dispatch-rules");
    c.get(&path).await.assert_status(StatusCode::OK);

    let before = snapshot(&w).await;
    let nothing = c.submit(&path, &[("site_code", "S1"), ("supplier", "")]).await;
    nothing.assert_status(StatusCode::BAD_REQUEST);
    assert_keys(&nothing.body, &["DispatchRule_DecidesNothing"]);
    let unknown = c.submit(&path, &[("site_code", "NOPE"), ("supplier", "ZZZ")]).await;
    assert_keys(&unknown.body, &["DispatchRule_UnknownSite", "DispatchRule_UnknownSupplier"]);
    assert_eq!(snapshot(&w).await, before);

    c.submit(
        &path,
        &[
            ("site_code", "S1"),
            ("geographic_area", ""),
            ("site_channel", ""),
            ("matrix_code", "02"),
            ("supplier", "AFS"),
            ("service_level", "Urgent"),
            ("workflow", ""),
            ("chargeability", ""),
        ],
    )
    .await
    .assert_see_other(&format!("{path}?done=added"));
    let rules = workflows::rules(&w.t.db, w.tenant.id).await.unwrap();
    assert_eq!(rules.len(), 1);
    let rule = &rules[0];
    assert_eq!(
        (rule.site_code.as_deref(), rule.rule.matrix_code.as_deref(), rule.contractor_code.as_deref()),
        (Some("S1"), Some("02"), Some("AFS"))
    );
    assert_eq!((rule.service_level.as_deref(), rule.workflow.as_deref()), (Some("Urgent"), None));
    assert_eq!((rule.rule.geographic_area.as_deref(), rule.rule.chargeability.as_deref()), (None, None));
    let page = c.get(&path).await;
    assert!(page.body.contains("site S1, category 02 Fuel equipment"), "{}", page.body);
    assert!(page.body.contains("contractor AFS, service level Urgent"));

    // A task raised through the form in category 02-01 at S1 goes to AFS.
    c.submit(
        &w.path("/manage/tasks/new"),
        &[
            ("site_code", "S1"),
            ("description", "Dispenser dead"),
            ("initiator_name", "Pat"),
            ("matrix_item_code", "02-01"),
            ("cf:Custom_Pump_Number", "2"),
            ("cf:Custom_Is_Leaking", "false"),
        ],
    )
    .await
    .assert_see_other(&w.path("/tasks/T000001?done=raised"));
    let task = stored(&w, "T000001").await;
    assert_eq!((task.supplier.as_deref(), task.service_level.as_deref()), (Some("AFS"), Some("Urgent")));

    c.submit(&format!("{path}/{}/remove", rule.rule.id), &[]).await.assert_see_other(&format!("{path}?done=removed"));
    assert!(workflows::rules(&w.t.db, w.tenant.id).await.unwrap().is_empty());
    c.submit(&format!("{path}/{}/remove", rule.rule.id), &[]).await.assert_status(StatusCode::NOT_FOUND);
    assert_eq!(w.audit_of("dispatch_rule.removed").await.len(), 1);

    // Management users read the rules but change nothing.
    w.user(&w.tenant, "mu@acme.example", UserType::Management, None, &["Management User"]).await;
    let mut mu = w.signed_in("mu@acme.example", PASSWORD).await;
    let page = mu.get(&path).await;
    page.assert_status(StatusCode::OK);
    assert!(!page.body.contains(r#"id="add-rule""#));
    mu.submit(&path, &[("supplier", "AFS")]).await.assert_status(StatusCode::FORBIDDEN);
    assert!(workflows::rules(&w.t.db, w.tenant.id).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// The Site Access tab
// ---------------------------------------------------------------------------------------

async fn grants_of(w: &World, email: &str) -> (String, SiteGrants) {
    let user = users::find_by_email(&mut *w.t.conn().await, w.tenant.id, &Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap();
    (user.site_access.clone(), visibility::grants(w.t.db.read(), user.id).await.unwrap())
}

async fn the_site_access_tab_saves_and_shows_chosen_sites_areas_and_channels(t: TestDb) {
    let w = World::new(t).await;
    site(&w, "S1", None, None).await;
    site(&w, "S2", None, None).await;
    let mut c = w.admin_client().await;
    let form = |access: &'static str, sites: &'static str, areas: &'static str, channels: &'static str| {
        vec![
            ("name", "Sam Site"),
            ("email", "sam@acme.example"),
            ("user_type", "Site"),
            ("contractor", ""),
            ("site_access", access),
            ("site_codes", sites),
            ("area_codes", areas),
            ("channel_codes", channels),
            ("role_packages", "Site User"),
        ]
    };

    // Unknown codes are refused and nothing is written.
    let before = snapshot(&w).await;
    let refused = c.submit(&w.path("/system/users/new"), &form("some", "S1, NOPE", "01", "")).await;
    refused.assert_status(StatusCode::BAD_REQUEST);
    assert!(data_keys(&refused.body).iter().any(|k| k.contains("Site")), "{}", refused.body);
    assert!(
        refused.body.contains(r#"value="S1, NOPE""#)
            && refused.body.contains(r#"id="site_access_some" type="radio" name="site_access" value="some" checked"#)
    );
    assert_eq!(snapshot(&w).await, before);

    c.submit(&w.path("/system/users/new"), &form("some", "s1, S2", "01", "02"))
        .await
        .assert_status(StatusCode::CREATED);
    let (access, grants) = grants_of(&w, "sam@acme.example").await;
    assert_eq!(access, "some");
    assert_eq!(
        grants,
        SiteGrants { sites: vec!["S1".into(), "S2".into()], areas: vec!["01".into()], channels: vec!["02".into()] }
    );

    // The Edit User window shows them again, and saving it unchanged keeps them.
    let id = users::find_by_email(&mut *w.t.conn().await, w.tenant.id, &Email::parse("sam@acme.example").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let edit = w.path(&format!("/system/users/{}", id.0));
    let page = c.get(&edit).await;
    page.assert_status(StatusCode::OK);
    for needle in [
        r#"id="site_access_some" type="radio" name="site_access" value="some" checked"#,
        r#"name="site_codes" value="S1, S2""#,
        r#"name="area_codes" value="01""#,
        r#"name="channel_codes" value="02""#,
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    c.submit(&edit, &form("some", "S1, S2", "01", "02")).await.assert_see_other(&w.path("/system/users?done=saved"));
    assert_eq!(grants_of(&w, "sam@acme.example").await.1.sites, ["S1", "S2"]);

    // Only a channel now; then All sites, which drops the grants.
    c.submit(&edit, &form("some", "", "", "02")).await.assert_see_other(&w.path("/system/users?done=saved"));
    assert_eq!(
        grants_of(&w, "sam@acme.example").await,
        ("some".to_owned(), SiteGrants { channels: vec!["02".into()], ..SiteGrants::default() })
    );
    c.submit(&edit, &form("all", "S1", "01", "")).await.assert_see_other(&w.path("/system/users?done=saved"));
    assert_eq!(grants_of(&w, "sam@acme.example").await, ("all".to_owned(), SiteGrants::default()));
    let page = c.get(&edit).await;
    assert!(page.body.contains(r#"value="all" checked"#) && page.body.contains(r#"name="site_codes" value="""#));
}

// ---------------------------------------------------------------------------------------
// CSRF
// ---------------------------------------------------------------------------------------

async fn posts_without_the_sessions_csrf_token_change_nothing(t: TestDb) {
    let w = World::new(t).await;
    let (t1, _, _) = three_tasks(&w).await;
    let mut c: Client = w.admin_client().await;
    let workflow = reactive(&w).await;
    let level = workflows::service_levels(w.t.db.read(), w.tenant.id).await.unwrap().remove(0);
    let task = format!("/tasks/{t1}");
    let before = snapshot(&w).await;
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            w.path("/manage/tasks/new"),
            vec![("site_code", "S1"), ("description", "x"), ("initiator_name", "x"), ("matrix_item_code", "01-02")],
        ),
        (w.path(&format!("{task}/status")), vec![("status", "Accepted")]),
        (w.path(&format!("{task}/notes")), vec![("text", "x")]),
        (w.path(&format!("{task}/chase")), vec![("text", "x")]),
        (w.path(&format!("{task}/dispatch")), vec![("supplier", "BFS")]),
        (w.path(&format!("/system/workflows/{}", workflow.id)), vec![("type_form", "1")]),
        (
            w.path(&format!("/system/workflows/{}/statuses", workflow.id)),
            vec![("name", "New One"), ("status_type", "Open")],
        ),
        (w.path("/system/service-levels"), vec![("name", "X"), ("respond_minutes", "1"), ("complete_minutes", "2")]),
        (
            w.path(&format!("/system/service-levels/{}", level.id)),
            vec![("respond_minutes", "1"), ("complete_minutes", "2")],
        ),
        (w.path("/system/dispatch-rules"), vec![("supplier", "AFS")]),
    ];
    for (path, fields) in &posts {
        c.post(path, fields).await.assert_status(StatusCode::FORBIDDEN);
        let mut wrong = vec![("csrf", "not-the-token")];
        wrong.extend_from_slice(fields);
        c.post(path, &wrong).await.assert_status(StatusCode::FORBIDDEN);
    }
    assert_eq!(snapshot(&w).await, before);
}
