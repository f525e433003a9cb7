//! Storage tests, each run on SQLite and on PostgreSQL (see `caretaker_storage::testing`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use caretaker_domain::tenant::TenantName;
use caretaker_domain::user::{Email, UserStatus, UserType};
use caretaker_storage::testing::TestDb;
use caretaker_storage::{Backend, Db, DbOptions, MIGRATIONS, StorageError, both_backends, tenants, users};

fn name(s: &str) -> TenantName {
    TenantName::parse(s).unwrap()
}

both_backends!(
    tenant_names_are_unique_case_insensitively,
    concurrent_creates_of_one_name_have_exactly_one_winner,
    migrations_are_idempotent,
    concurrent_migrations_apply_each_migration_once,
    user_emails_are_unique_per_tenant_case_insensitively,
    ping_answers_while_the_database_does,
    a_nullable_float_binds_after_a_null_on_the_same_statement,
    sites_insert_many_at_once_and_bulk_lookups_find_exactly_what_exists,
    reads_on_the_read_side_see_every_commit_at_once_and_bind_nullable_parameters,
    a_read_session_sees_one_state_on_sqlite_and_each_commit_on_postgres,
    concurrent_hot_writes_keep_exactly_what_was_committed,
    hot_writes_reach_the_database_file_without_the_writer_checkpointing,
    a_bursts_wal_is_cut_back_once_writes_pause,
);

async fn tenant_names_are_unique_case_insensitively(t: TestDb) {
    let now = caretaker_storage::testing::TEST_EPOCH;
    let mut tx = t.db.begin().await.unwrap();
    let acme = tenants::insert(&mut tx, &name("Acme Fuel"), now).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(acme.name.as_str(), "Acme Fuel");
    assert_eq!(acme.clock_skew_seconds, 300);
    assert!(!acme.require_strict_signing);

    for clash in ["acme fuel", "ACME FUEL", "Acme Fuel"] {
        let mut tx = t.db.begin().await.unwrap();
        let err = tenants::insert(&mut tx, &name(clash), now).await.unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{clash}: {err:?}");
        tx.rollback().await.unwrap();
    }
    let all = tenants::list(&t.db).await.unwrap();
    assert_eq!(all.len(), 1, "no second tenant may have been written");
    assert_eq!(tenants::find_by_name(t.db.read(), "ACME fuel").await.unwrap(), Some(acme));
    assert_eq!(tenants::find_by_name(t.db.read(), "acme").await.unwrap(), None);
}

async fn concurrent_creates_of_one_name_have_exactly_one_winner(t: TestDb) {
    let now = caretaker_storage::testing::TEST_EPOCH;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let db = t.db.clone();
        let spelled = if i % 2 == 0 { "Race Co" } else { "RACE co" };
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await?;
            let tenant = tenants::insert(&mut tx, &name(spelled), now).await?;
            tx.commit().await?;
            Ok::<_, StorageError>(tenant)
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => winners += 1,
            Err(StorageError::Conflict(_)) => {}
            Err(other) => panic!("a loser must see a conflict, not {other:?}"),
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(tenants::list(&t.db).await.unwrap().len(), 1);
}

async fn migrations_are_idempotent(t: TestDb) {
    assert_eq!(t.db.migrate(&t.clock).await.unwrap(), 0, "TestDb is already migrated");
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(t.db.read())
        .await
        .unwrap();
    assert_eq!(versions, MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>());
}

async fn concurrent_migrations_apply_each_migration_once(t: TestDb) {
    // A second, unmigrated database on the same backend, migrated by four "servers" at once.
    let fresh = match t.backend() {
        Backend::Sqlite => {
            let dir = tempfile_dir();
            let url = Db::sqlite_url(&dir.join("race.db"));
            (url, Some(dir))
        }
        Backend::Postgres => {
            let Some(other) = TestDb::postgres_unmigrated().await else {
                return;
            };
            let url = other.url.clone();
            // Keep the database alive for the test by leaking the guard's drop into the end.
            let result = race_migrations(&url, &t).await;
            drop(other);
            assert_eq!(result, MIGRATIONS.len());
            return;
        }
    };
    let applied = race_migrations(&fresh.0, &t).await;
    assert_eq!(applied, MIGRATIONS.len());
    if let Some(dir) = fresh.1 {
        std::fs::remove_dir_all(dir).ok();
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("caretaker-race-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Migrates `url` from four pools at once; returns the total of migrations applied.
async fn race_migrations(url: &str, t: &TestDb) -> usize {
    let mut servers = Vec::new();
    for _ in 0..4 {
        let url = url.to_owned();
        let clock = t.clock.clone();
        servers.push(tokio::spawn(async move {
            let db = Db::connect(&url, &DbOptions::default()).await.unwrap();
            let applied = db.migrate(&clock).await.unwrap();
            db.close().await;
            applied
        }));
    }
    let mut total = 0;
    for server in servers {
        total += server.await.unwrap();
    }
    let db = Db::connect(url, &DbOptions::default()).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations").fetch_one(db.read()).await.unwrap();
    assert_eq!(rows as usize, MIGRATIONS.len());
    db.close().await;
    total
}

async fn user_emails_are_unique_per_tenant_case_insensitively(t: TestDb) {
    let now = caretaker_storage::testing::TEST_EPOCH;
    let mut tx = t.db.begin().await.unwrap();
    let a = tenants::insert(&mut tx, &name("A"), now).await.unwrap();
    let b = tenants::insert(&mut tx, &name("B"), now).await.unwrap();
    let email = Email::parse("Api.Integration@Company.com").unwrap();
    let new = |tenant| users::NewUser {
        tenant,
        email: &email,
        name: "API",
        user_type: UserType::Management,
        status: UserStatus::Active,
        is_integration: true,
        password_hash: None,
        must_change_password: false,
        contractor: None,
        site_access: "none",
    };
    users::insert(&mut tx, &new(a.id), now).await.unwrap();
    users::insert(&mut tx, &new(b.id), now).await.unwrap();
    tx.commit().await.unwrap();

    let shouting = Email::parse("API.INTEGRATION@COMPANY.COM").unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let err = users::insert(&mut tx, &users::NewUser { email: &shouting, ..new(a.id) }, now).await.unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    tx.rollback().await.unwrap();

    let found = users::find_by_email(&mut *t.conn().await, a.id, &shouting).await.unwrap().unwrap();
    assert_eq!(found.email, "Api.Integration@Company.com");
    assert!(found.is_integration);
    assert_eq!(found.tenant, a.id);
}

async fn ping_answers_while_the_database_does(t: TestDb) {
    t.db.ping().await.unwrap();
    t.db.close().await;
    assert!(matches!(t.db.ping().await, Err(StorageError::Unavailable(_))));
}

/// sqlx 0.8's `Any` declares a NULL double as float4 on PostgreSQL: a statement cached after
/// a NULL would refuse the next value. Floats are bound as text and cast in SQL; this keeps
/// that honest (same connection, same statement, NULL first).
async fn a_nullable_float_binds_after_a_null_on_the_same_statement(t: TestDb) {
    use caretaker_domain::site::SiteCode;
    use caretaker_storage::sites::{self, NewSite};
    let now = caretaker_storage::testing::TEST_EPOCH;
    let mut tx = t.db.begin().await.unwrap();
    let tenant = tenants::insert(&mut tx, &name("Floats"), now).await.unwrap();
    for (code, latitude) in [("A", None), ("B", Some(53.8)), ("C", None), ("D", Some(-1.5e-7))] {
        let code = SiteCode::parse(code).unwrap();
        let site = NewSite { code: Some(&code), name: "x", latitude, longitude: latitude, ..NewSite::default() };
        sites::insert(&mut tx, tenant.id, &site, now).await.unwrap();
    }
    let stored = sites::get(&mut tx, tenant.id, "d").await.unwrap().unwrap();
    assert_eq!(stored.latitude, Some(-1.5e-7));
    assert_eq!(sites::get(&mut tx, tenant.id, "a").await.unwrap().unwrap().latitude, None);
    tx.commit().await.unwrap();
}

/// The import's set-at-a-time statements: more rows than one statement takes (SQLite binds
/// few parameters a statement), NULL and non-NULL floats in one statement, every id
/// returned, a taken code refusing its statement, lookups of stored and missing keys.
async fn sites_insert_many_at_once_and_bulk_lookups_find_exactly_what_exists(t: TestDb) {
    use caretaker_domain::matrix::{MatrixType, ReferenceGroup};
    use caretaker_domain::site::SiteCode;
    use caretaker_storage::sites::{self, NewSite};
    use caretaker_storage::{bulk, reference_data};
    let now = caretaker_storage::testing::TEST_EPOCH;
    let mut tx = t.db.begin().await.unwrap();
    let tenant = tenants::insert(&mut tx, &name("Bulk"), now).await.unwrap();
    let root_code = SiteCode::parse("Root").unwrap();
    let root =
        sites::insert(&mut tx, tenant.id, &NewSite { code: Some(&root_code), name: "r", ..NewSite::default() }, now)
            .await
            .unwrap();
    let codes: Vec<SiteCode> = (0..700).map(|i| SiteCode::parse(&format!("Site-{i}")).unwrap()).collect();
    let batch: Vec<NewSite<'_>> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| NewSite {
            code: Some(code),
            parent: Some(root),
            name: "x",
            latitude: (i % 2 == 0).then_some(i as f64 / 100.0),
            longitude: (i % 2 == 0).then_some(-1.5),
            ..NewSite::default()
        })
        .collect();
    let inserted = sites::insert_many(&mut tx, tenant.id, &batch, now).await.unwrap();
    assert_eq!(inserted.len(), 700);
    for (key, id) in &inserted {
        assert_eq!(sites::id_by_code(&mut *tx, tenant.id, key).await.unwrap(), Some(*id), "{key}");
    }
    let stored = sites::get(&mut tx, tenant.id, "site-698").await.unwrap().unwrap();
    assert_eq!((stored.latitude, stored.parent_code.as_deref()), (Some(6.98), Some("Root")));
    assert_eq!(sites::get(&mut tx, tenant.id, "SITE-699").await.unwrap().unwrap().latitude, None);
    sites::add_hazards(&mut tx, &[(root, "Asbestos"), (root, "Asbestos"), (inserted[0].1, "Asbestos")]).await.unwrap();

    let mut keys: Vec<String> = (0..1200).map(|i| format!("site-{i}")).collect();
    keys.push(String::from("root"));
    let found = bulk::site_ids(&mut tx, tenant.id, &keys).await.unwrap();
    assert_eq!(found.len(), 701);
    assert_eq!(found.get("root"), Some(&root));
    assert!(!found.contains_key("site-700"));

    reference_data::insert_matrix_item(&mut tx, tenant.id, MatrixType::Asset, "01", "Fuel", None).await.unwrap();
    reference_data::insert_reference_value(&mut tx, tenant.id, ReferenceGroup::HealthAndSafety, "Asbestos", 0)
        .await
        .unwrap();
    let asked = [String::from("01"), String::from("02")];
    let active = bulk::active_matrix_codes(&mut tx, tenant.id, MatrixType::Asset, &asked).await.unwrap();
    assert_eq!(active.into_iter().collect::<Vec<_>>(), ["01"]);
    let asked = [String::from("asbestos"), String::from("Asbestos"), String::from("lead")];
    let active =
        bulk::active_reference_keys(&mut tx, tenant.id, ReferenceGroup::HealthAndSafety, &asked).await.unwrap();
    assert_eq!(active.into_iter().collect::<Vec<_>>(), ["asbestos"]);
    tx.commit().await.unwrap();
    assert_eq!(t.count("site_hazards").await, 2, "a hazard given twice is stored once");

    // A taken code refuses its statement: none of its rows is written.
    let mut tx = t.db.begin().await.unwrap();
    let fresh = SiteCode::parse("Fresh").unwrap();
    let taken = SiteCode::parse("SITE-5").unwrap();
    let clash = [
        NewSite { code: Some(&fresh), name: "x", ..NewSite::default() },
        NewSite { code: Some(&taken), name: "x", ..NewSite::default() },
    ];
    let err = sites::insert_many(&mut tx, tenant.id, &clash, now).await.unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    tx.rollback().await.unwrap();
    assert_eq!(t.count("sites").await, 701);
}

async fn reads_on_the_read_side_see_every_commit_at_once_and_bind_nullable_parameters(t: TestDb) {
    use caretaker_domain::task::{Status, StatusFlags, StatusType, WorkflowType};
    use caretaker_storage::workflows::{self, NewStatus, NewWorkflow};
    // SQLite reads the hot paths on its own read-only connections; PostgreSQL on the pool.
    assert_eq!(t.db.fast_reads(), t.backend() == Backend::Sqlite);
    let now = caretaker_storage::testing::TEST_EPOCH;
    let mut tx = t.db.begin().await.unwrap();
    let tenant = tenants::insert(&mut tx, &name("Read Side"), now).await.unwrap();
    let other = tenants::insert(&mut tx, &name("Other Side"), now).await.unwrap();
    tx.commit().await.unwrap();
    assert!(workflows::list(&t.db, tenant.id, None, None).await.unwrap().is_empty());

    let statuses = [
        NewStatus { name: "Logged", status_type: StatusType::New, flags: StatusFlags::default() },
        NewStatus { name: "Dispatched", status_type: StatusType::Open, flags: StatusFlags::default() },
        NewStatus {
            name: "Done",
            status_type: StatusType::Closed,
            flags: StatusFlags { manual_date_enabled: true, resolution_cause_enabled: true, ..StatusFlags::default() },
        },
    ];
    let workflow = NewWorkflow {
        name: "Quick Fix",
        workflow_type: WorkflowType::Reactive,
        is_default: true,
        statuses: &statuses,
        destinations: &[("Logged", "Dispatched"), ("Logged", "Done"), ("Dispatched", "Done")],
    };
    let mut tx = t.db.begin().await.unwrap();
    let id = workflows::insert(&mut tx, tenant.id, &workflow, now).await.unwrap();
    // Not committed: the read side does not see it.
    assert!(workflows::list(&t.db, tenant.id, None, None).await.unwrap().is_empty());
    tx.commit().await.unwrap();

    // Committed: seen by the very next read, whichever filter (NULL or not) is bound.
    let all = workflows::list(&t.db, tenant.id, None, None).await.unwrap();
    assert_eq!(all.len(), 1);
    let read = &all[0];
    assert_eq!((read.id, read.name.as_str(), read.workflow_type), (id, "Quick Fix", WorkflowType::Reactive));
    let names: Vec<_> = read.statuses.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Logged", "Dispatched", "Done"]);
    // Each status with its own destinations, two, one or none (read in one statement).
    let ids: Vec<i64> = read.statuses.iter().map(|s| s.id).collect();
    let destinations: Vec<&[i64]> = read.statuses.iter().map(|s| s.destinations.as_slice()).collect();
    assert_eq!(destinations, [&[ids[1], ids[2]][..], &[ids[2]][..], &[][..]]);
    let by_name = workflows::list(&t.db, tenant.id, Some(WorkflowType::Reactive), Some(" quick FIX ")).await.unwrap();
    assert_eq!(by_name, all);
    assert!(workflows::list(&t.db, tenant.id, Some(WorkflowType::Invoice), None).await.unwrap().is_empty());
    assert!(workflows::list(&t.db, tenant.id, None, Some("Slow Fix")).await.unwrap().is_empty());
    assert_eq!(workflows::get(&t.db, tenant.id, id).await.unwrap().as_ref(), Some(read));
    // The same read inside a transaction, and never across tenants.
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(workflows::get(&mut tx, tenant.id, id).await.unwrap().as_ref(), Some(read));
    tx.rollback().await.unwrap();
    assert_eq!(workflows::get(&t.db, other.id, id).await.unwrap(), None);
    // Where a status leads, read alone: its destinations in order, with their flags (not
    // their own destinations); none through another tenant.
    let mut offered = Vec::new();
    for status in &read.statuses {
        let expected: Vec<Status> =
            read.destinations_of(status).map(|s| Status { destinations: Vec::new(), ..s.clone() }).collect();
        let alone = workflows::destinations_of(&t.db, tenant.id, id, status.id).await.unwrap();
        assert_eq!(alone, expected, "{}", status.name);
        offered.push(alone.iter().map(|s| s.name.clone()).collect::<Vec<_>>().join(","));
    }
    assert_eq!(offered, ["Dispatched,Done", "Done", ""]);
    assert!(workflows::destinations_of(&t.db, tenant.id, id, ids[0]).await.unwrap()[1].flags.resolution_cause_enabled);
    assert!(workflows::destinations_of(&t.db, other.id, id, ids[0]).await.unwrap().is_empty());

    // Several workflows in one statement: by type, then name; each keeps its own statuses,
    // and one without any statuses is still there.
    let two = [
        NewStatus { name: "Planned", status_type: StatusType::New, flags: StatusFlags::default() },
        NewStatus { name: "Serviced", status_type: StatusType::Closed, flags: StatusFlags::default() },
    ];
    let mut tx = t.db.begin().await.unwrap();
    let annual = NewWorkflow {
        name: "Annual Service",
        workflow_type: WorkflowType::Scheduled,
        is_default: false,
        statuses: &two,
        destinations: &[("Planned", "Serviced")],
    };
    let annual = workflows::insert(&mut tx, tenant.id, &annual, now).await.unwrap();
    let bare = NewWorkflow { name: "Bare", statuses: &[], destinations: &[], is_default: false, ..workflow };
    let bare = workflows::insert(&mut tx, tenant.id, &bare, now).await.unwrap();
    tx.commit().await.unwrap();
    let all = workflows::list(&t.db, tenant.id, None, None).await.unwrap();
    let shape: Vec<(i64, Vec<&str>)> =
        all.iter().map(|w| (w.id, w.statuses.iter().map(|s| s.name.as_str()).collect())).collect();
    assert_eq!(
        shape,
        [(bare, vec![]), (id, vec!["Logged", "Dispatched", "Done"]), (annual, vec!["Planned", "Serviced"])]
    );
    assert_eq!(all[1], *read);
    let serviced = all[2].statuses[1].id;
    assert_eq!(all[2].statuses[0].destinations, [serviced]);
    assert!(workflows::get(&t.db, tenant.id, bare).await.unwrap().is_some_and(|w| w.statuses.is_empty()));
    // A status of one workflow leads nowhere in another.
    assert!(workflows::destinations_of(&t.db, tenant.id, annual, ids[0]).await.unwrap().is_empty());
}

/// Many writers at once through the hot-write transactions (on SQLite: savepoints of one
/// group-committed transaction), mixed with ordinary transactions, failures and rollbacks:
/// exactly the committed increments remain, each number handed out once.
async fn concurrent_hot_writes_keep_exactly_what_was_committed(t: TestDb) {
    use caretaker_domain::tenant::TenantId;
    use caretaker_storage::tasks;
    use sqlx::{Executor, Row};
    let now = caretaker_storage::testing::TEST_EPOCH;
    let mut tx = t.db.begin().await.unwrap();
    let tenant = tenants::insert(&mut tx, &name("Busy Writers"), now).await.unwrap().id;
    tx.commit().await.unwrap();

    let mut writers = Vec::new();
    for i in 0..120 {
        let db = t.db.clone();
        writers.push(tokio::spawn(async move {
            match i % 6 {
                // Commits through sqlx's writer.
                0 => {
                    let mut tx = db.begin().await.unwrap();
                    let number = tasks::next_number(&mut tx, tenant).await.unwrap();
                    tx.commit().await.unwrap();
                    Some(number)
                }
                // Rolls back (dropped uncommitted).
                1 => {
                    let mut tx = db.begin_write().await.unwrap();
                    tasks::next_number(&mut tx, tenant).await.unwrap();
                    drop(tx);
                    None
                }
                // Fails on a constraint (no such tenant) and is dropped.
                2 => {
                    let mut tx = db.begin_write().await.unwrap();
                    let err = tasks::next_number(&mut tx, TenantId(i64::MAX)).await.unwrap_err();
                    assert!(matches!(err, StorageError::Constraint(_)), "{err:?}");
                    None
                }
                // Commits through the hot-write transaction.
                _ => {
                    let mut tx = db.begin_write().await.unwrap();
                    let number = tasks::next_number(&mut tx, tenant).await.unwrap();
                    tokio::task::yield_now().await;
                    tx.commit().await.unwrap();
                    Some(number)
                }
            }
        }));
    }
    let mut committed = Vec::new();
    for writer in writers {
        committed.extend(writer.await.unwrap());
    }
    committed.sort_unstable();
    // 20 through sqlx, 60 hot: each committed increment is there once, nothing else.
    assert_eq!(committed, (1..=80).collect::<Vec<i64>>());
    let stored: i64 = t
        .conn()
        .await
        .fetch_one(sqlx::query("SELECT last_number FROM task_counters WHERE tenant_id = $1").bind(tenant.0))
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 80);
    // And a fresh connection (another process would see the same) agrees.
    let again = Db::connect(&t.url, &DbOptions::default()).await.unwrap();
    let reread: i64 = again
        .read()
        .fetch_one(sqlx::query("SELECT last_number FROM task_counters WHERE tenant_id = $1").bind(tenant.0))
        .await
        .unwrap()
        .get(0);
    assert_eq!(reread, 80);
    again.close().await;
}

/// SQLite: the checkpointer thread copies committed WAL pages into the database file (the
/// fast writer no longer checkpoints inside its COMMIT). The file is read with
/// `immutable=1`, which ignores the WAL: what it shows was checkpointed.
async fn hot_writes_reach_the_database_file_without_the_writer_checkpointing(t: TestDb) {
    use caretaker_storage::tasks;
    if t.backend() != Backend::Sqlite {
        return;
    }
    let now = caretaker_storage::testing::TEST_EPOCH;
    let mut tx = t.db.begin().await.unwrap();
    let tenant = tenants::insert(&mut tx, &name("Checkpointed"), now).await.unwrap().id;
    tx.commit().await.unwrap();
    for _ in 0..30 {
        let mut tx = t.db.begin_write().await.unwrap();
        tasks::next_number(&mut tx, tenant).await.unwrap();
        tx.commit().await.unwrap();
    }
    let path = t.url.strip_prefix("sqlite://").unwrap().to_owned();
    let in_file = || {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let conn = rusqlite::Connection::open_with_flags(format!("file:{path}?immutable=1"), flags).unwrap();
        conn.query_row("SELECT last_number FROM task_counters WHERE tenant_id = ?1", [tenant.0], |row| row.get(0))
            .unwrap_or(0_i64)
    };
    let mut seen = in_file();
    for _ in 0..50 {
        if seen == 30 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        seen = in_file();
    }
    assert_eq!(seen, 30, "the WAL was copied into the database file");
}

async fn a_bursts_wal_is_cut_back_once_writes_pause(t: TestDb) {
    use caretaker_storage::tasks;
    use sqlx::Executor;
    if t.backend() != Backend::Sqlite {
        return;
    }
    let dir = tempfile_dir();
    let file = dir.join("burst.db");
    let options = DbOptions { wal_kept_bytes: 256 * 1024, ..DbOptions::default() };
    let db = Db::connect(&Db::sqlite_url(&file), &options).await.unwrap();
    db.migrate(&t.clock).await.unwrap();
    let wal_len = || std::fs::metadata(format!("{}-wal", file.display())).map_or(0, |meta| meta.len());

    // A burst of about 2 MB, then a hot commit (which wakes the checkpointer), then nothing.
    let mut tx = db.begin().await.unwrap();
    let tenant = tenants::insert(&mut tx, &name("Bursty"), caretaker_storage::testing::TEST_EPOCH).await.unwrap().id;
    tx.execute("CREATE TABLE filler (t TEXT)").await.unwrap();
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 512)
         INSERT INTO filler SELECT hex(randomblob(2000)) FROM n",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = db.begin_write().await.unwrap();
    tasks::next_number(&mut tx, tenant).await.unwrap();
    tx.commit().await.unwrap();
    let burst = wal_len();
    assert!(burst > 1024 * 1024, "the burst is in the WAL ({burst} bytes)");

    let cut_back = || async {
        let mut left = wal_len();
        for _ in 0..60 {
            if left <= 256 * 1024 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            left = wal_len();
        }
        left
    };
    let left = cut_back().await;
    assert!(left <= 256 * 1024, "the WAL was cut back after the pause ({left} of {burst} bytes left)");
    // Nothing of the burst was lost on the way.
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM filler").fetch_one(db.read()).await.unwrap();
    assert_eq!(rows, 512);
    let mut tx = db.begin_write().await.unwrap();
    assert_eq!(tasks::next_number(&mut tx, tenant).await.unwrap(), 2, "the writer goes on after the cut");
    tx.commit().await.unwrap();

    // A burst through sqlx's writer alone (an import, say), after a pause that ends the
    // checkpointer's watch over the hot commit above, is cut back too.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut tx = db.begin().await.unwrap();
    tx.execute("INSERT INTO filler SELECT hex(randomblob(2000)) FROM filler").await.unwrap();
    tx.commit().await.unwrap();
    // (The pause is counted from the transaction's start: on a slow machine, where this
    // insert takes longer than the pause, the WAL may be cut back already.)
    let burst = wal_len();
    let left = cut_back().await;
    assert!(left <= 256 * 1024, "the WAL was cut back after sqlx's burst ({left} of {burst} bytes left)");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM filler").fetch_one(db.read()).await.unwrap();
    assert_eq!(rows, 1024);
    drop(db);
    std::fs::remove_dir_all(dir).ok();
}

/// PostgreSQL: the pool does not ping a connection before every use (sqlx already pings it
/// on its way back), only one that sat idle for a second; so connections cut while the
/// server was quiet (a database restart, a proxy's timeout) are replaced before use, and
/// the first statements after the pause do not fail.
#[tokio::test]
async fn postgres_connections_cut_while_idle_are_replaced_before_use() {
    use std::time::Duration;
    use tokio::net::{TcpListener, TcpStream};

    let Some(t) = TestDb::postgres().await else { return };
    // A proxy in front of the test database whose connections can be cut.
    let (scheme, rest) = t.url.split_once("://").unwrap();
    let (credentials, rest) = rest.rsplit_once('@').map_or(("", rest), |(c, r)| (c, r));
    let (address, database) = rest.split_once('/').unwrap();
    let target = if address.contains(':') { address.to_owned() } else { format!("{address}:5432") };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::<tokio::task::JoinHandle<()>>::new()));
    let accept = {
        let links = links.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                links.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        })
    };
    let at = if credentials.is_empty() { String::new() } else { format!("{credentials}@") };
    let url = format!("{scheme}://{at}127.0.0.1:{port}/{database}");
    let db = Db::connect(&url, &DbOptions::default()).await.unwrap();

    // Four connections in the pool, then idle.
    let held = four_connections(&db).await;
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cut = links.lock().unwrap().drain(..).collect::<Vec<_>>();
    assert!(cut.len() >= 4, "{} connections", cut.len());
    for link in cut {
        link.abort();
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for i in 0..4 {
        db.ping().await.unwrap_or_else(|err| panic!("statement {i} after the pause failed: {err}"));
    }
    accept.abort();
}

/// Four connections of `db`'s pool at once.
async fn four_connections(db: &Db) -> Vec<sqlx::pool::PoolConnection<sqlx::Any>> {
    let (a, b, c, d) = tokio::join!(db.read().acquire(), db.read().acquire(), db.read().acquire(), db.read().acquire());
    vec![a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()]
}

/// A read session's reads: on SQLite one state of the database (one read transaction, from
/// its first read to its drop or its first use of a pooled connection), on PostgreSQL what
/// each statement finds committed; a session's end leaves nothing behind (the next sessions
/// read, and writers commit).
async fn a_read_session_sees_one_state_on_sqlite_and_each_commit_on_postgres(t: TestDb) {
    use caretaker_domain::task::{StatusFlags, StatusType, WorkflowType};
    use caretaker_storage::ReadSession;
    use caretaker_storage::workflows::{self, NewStatus, NewWorkflow};
    let now = caretaker_storage::testing::TEST_EPOCH;
    let mut tx = t.db.begin().await.unwrap();
    let tenant = tenants::insert(&mut tx, &name("Sessions"), now).await.unwrap();
    tx.commit().await.unwrap();
    let statuses = [NewStatus { name: "Logged", status_type: StatusType::New, flags: StatusFlags::default() }];
    let add = |name: &'static str| {
        let db = &t.db;
        let statuses = &statuses;
        async move {
            let workflow = NewWorkflow {
                name,
                workflow_type: WorkflowType::Reactive,
                is_default: false,
                statuses,
                destinations: &[],
            };
            let mut tx = db.begin().await.unwrap();
            workflows::insert(&mut tx, tenant.id, &workflow, now).await.unwrap();
            tx.commit().await.unwrap();
        }
    };
    let names =
        |found: Vec<caretaker_domain::task::Workflow>| -> Vec<String> { found.into_iter().map(|w| w.name).collect() };
    add("First").await;
    for round in 0..3 {
        let mut reads = ReadSession::new(&t.db);
        let before = names(workflows::list(reads.reader().await.unwrap(), tenant.id, None, None).await.unwrap());
        // A commit while the session lives (on SQLite the writer is not blocked by it).
        add(["Second", "Third", "Fourth"][round]).await;
        let during = names(workflows::list(reads.reader().await.unwrap(), tenant.id, None, None).await.unwrap());
        // A connection from the pool ends the SQLite read transaction first (it is not held
        // while the pool is waited for): the session's next read sees the commit.
        reads.conn().await.unwrap();
        let later = names(workflows::list(reads.reader().await.unwrap(), tenant.id, None, None).await.unwrap());
        drop(reads);
        let after = names(workflows::list(&t.db, tenant.id, None, None).await.unwrap());
        assert_eq!(later, after, "round {round}");
        assert_eq!(after.len(), before.len() + 1, "round {round}");
        match t.backend() {
            Backend::Sqlite => assert_eq!(during, before, "round {round}: one state"),
            Backend::Postgres => assert_eq!(during, after, "round {round}: each commit"),
        }
    }
}
