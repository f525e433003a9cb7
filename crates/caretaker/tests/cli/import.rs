//! `caretaker import sites|assets`: all or nothing, every refused row reported.

use std::path::Path;

use caretaker_storage::{Db, DbOptions};

use crate::support::caretaker;

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    caretaker(Some(dir)).args(args).output().unwrap()
}

async fn count(dir: &Path, what: &str) -> i64 {
    use sqlx::Row;
    let db =
        Db::connect(&Db::sqlite_url(&dir.join("caretaker-data/caretaker.db")), &DbOptions::default()).await.unwrap();
    let row = sqlx::Executor::fetch_one(db.read(), sqlx::query(&format!("SELECT COUNT(*) FROM {what}"))).await.unwrap();
    let n: i64 = row.try_get(0).unwrap();
    db.close().await;
    n
}

#[tokio::test]
async fn sites_then_assets_are_imported_and_a_bad_file_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    assert!(run(dir, &["tenant", "create", "Acme", "--admin-email", "a@acme.example"]).status.success());

    let mut sites =
        String::from("SiteCode,ParentCode,Name,Town,GeographicAreaMatrixItemCode,SiteChannelMatrixItemCode,Hazards\n");
    for i in 1..=300 {
        let parent = if i > 100 { format!("S{:03}", i - 100) } else { String::new() };
        sites.push_str(&format!("S{i:03},{parent},Station {i},Leeds,01-01,01,Asbestos;Working at height\n"));
    }
    std::fs::write(dir.join("sites.csv"), &sites).unwrap();
    let out = run(dir, &["import", "sites", "--tenant", "acme", "sites.csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Imported 300 rows"));
    assert_eq!(count(dir, "sites").await, 300);
    assert_eq!(count(dir, "sites WHERE parent_id IS NOT NULL").await, 200);
    assert_eq!(count(dir, "site_hazards").await, 600);
    assert_eq!(count(dir, "audit_log WHERE action = 'sites.imported'").await, 1, "one audit line per import");

    let assets = "SiteCode,MatrixCode,SerialNumber,Quantity,InstallationDate,LifeSpanValue,LifeSpanUnit,Category\n\
                  S001,01-01,SN1,2,2024-01-31T10:00:00Z,20,Years,Fuel dispenser\n\
                  S002,02,SN2,,,,,\n";
    std::fs::write(dir.join("assets.csv"), assets).unwrap();
    let out = run(dir, &["import", "assets", "--tenant", "Acme", "assets.csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count(dir, "assets").await, 2);

    // A file with bad rows: each is reported with its line, and nothing is written.
    let bad = "SiteCode,Name,GeographicAreaMatrixItemCode,Latitude\nT1,Fine,01,\nS001,Taken,01,\nbad code,,09,\nT2,Fine,01,north\n";
    std::fs::write(dir.join("bad.csv"), bad).unwrap();
    let out = run(dir, &["import", "sites", "--tenant", "Acme", "bad.csv"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("line 3: BrokenRule_Site_DuplicateSiteCode"), "{stderr}");
    assert!(stderr.contains("line 4: BrokenRule_Site_InvalidSiteCode"), "{stderr}");
    assert!(stderr.contains("BrokenRule_Site_MissingName"), "{stderr}");
    assert!(stderr.contains("line 5: Latitude: \"north\" is not a number"), "{stderr}");
    assert!(stderr.contains("nothing was imported: 3 of 4 rows"), "{stderr}");
    assert_eq!(count(dir, "sites").await, 300, "the good rows of a refused file are not written either");

    // Unknown columns stop before anything is read.
    std::fs::write(dir.join("odd.csv"), "SiteCode,Colour\nX,Red\n").unwrap();
    let out = run(dir, &["import", "sites", "--tenant", "Acme", "odd.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("unknown column \"Colour\""));
    let out = run(dir, &["import", "sites", "--tenant", "Nobody", "sites.csv"]);
    assert_eq!(out.status.code(), Some(1));
}

/// Where an import runs: the SQLite file in the data folder, or a fresh PostgreSQL database.
struct Target {
    dir: tempfile::TempDir,
    postgres: Option<caretaker_storage::testing::TestDb>,
    options: Vec<String>,
}

impl Target {
    async fn sqlite() -> Target {
        Target { dir: tempfile::tempdir().unwrap(), postgres: None, options: Vec::new() }
    }

    async fn postgres() -> Option<Target> {
        let db = caretaker_storage::testing::TestDb::postgres().await?;
        let dir = tempfile::tempdir().unwrap();
        let key = crate::support::master_key_file(dir.path());
        let options = vec![
            "--database-url".to_owned(),
            db.url.clone(),
            "--master-key-file".to_owned(),
            key.display().to_string(),
        ];
        Some(Target { dir, postgres: Some(db), options })
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        caretaker(Some(self.dir.path())).args(args).args(&self.options).output().unwrap()
    }

    async fn count(&self, what: &str) -> i64 {
        match &self.postgres {
            Some(db) => db.count(what).await,
            None => count(self.dir.path(), what).await,
        }
    }
}

#[tokio::test]
async fn files_spanning_several_chunks_are_all_or_nothing_on_sqlite() {
    files_spanning_several_chunks_are_all_or_nothing(Target::sqlite().await).await;
}

#[tokio::test]
async fn files_spanning_several_chunks_are_all_or_nothing_on_postgres() {
    if let Some(target) = Target::postgres().await {
        files_spanning_several_chunks_are_all_or_nothing(target).await;
    }
}

/// Files longer than one chunk of the import (500 rows): parents in the chunk before, a
/// chain of parents inside a chunk, and refused rows reported by their line of the file.
async fn files_spanning_several_chunks_are_all_or_nothing(target: Target) {
    let out = target.run(&["tenant", "create", "Acme", "--admin-email", "a@acme.example"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut sites = String::from(
        "SiteCode,ParentCode,Name,Latitude,Longitude,GeographicAreaMatrixItemCode,SiteChannelMatrixItemCode,Hazards\n",
    );
    for i in 1..=1200 {
        let parent = match i {
            ..=100 => String::new(),
            101..=700 => format!("S{:04}", i - 100),
            _ => format!("S{:04}", i - 1),
        };
        let location = if i % 2 == 0 { format!("53.{i:04},-1.5") } else { String::from(",") };
        sites.push_str(&format!("S{i:04},{parent},Station {i},{location},01-01,01,Asbestos;Working at height\n"));
    }
    std::fs::write(target.dir.path().join("sites.csv"), &sites).unwrap();
    let out = target.run(&["import", "sites", "--tenant", "Acme", "sites.csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Imported 1200 rows"));
    assert_eq!(target.count("sites").await, 1200);
    assert_eq!(target.count("sites WHERE parent_id IS NOT NULL").await, 1100);
    assert_eq!(
        target.count("sites s JOIN sites p ON p.id = s.parent_id WHERE s.code = 'S1200' AND p.code = 'S1199'").await,
        1
    );
    assert_eq!(target.count("sites WHERE latitude IS NOT NULL AND longitude = -1.5").await, 600);
    assert_eq!(target.count("site_hazards").await, 2400);
    assert_eq!(target.count("audit_log WHERE action = 'sites.imported'").await, 1);

    // Refused: a code twice in the file, a code taken before, a parent defined later in the
    // file than its child (refused, as when each row was its own Create Site), and errors
    // in later chunks; nothing of the file is written.
    let mut bad = String::from("SiteCode,ParentCode,Name,Latitude\n");
    bad.push_str("N1,,First,\nn1,,Twice,\nS0005,,Taken,\nK1,K2,Child first,\nK2,,Parent later,\n");
    for i in 6..=1100 {
        match i {
            702 => bad.push_str("bad code,,Spaces,\n"),
            1001 => bad.push_str("N1001,,North,north\n"),
            _ => bad.push_str(&format!("N{i},N1,Fine {i},\n")),
        }
    }
    std::fs::write(target.dir.path().join("bad.csv"), &bad).unwrap();
    let out = target.run(&["import", "sites", "--tenant", "Acme", "bad.csv"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "line 3: BrokenRule_Site_DuplicateSiteCode: A site with the code n1 already exists",
            "line 4: BrokenRule_Site_DuplicateSiteCode: A site with the code S0005 already exists",
            "line 5: BrokenRule_Site_UnknownParent: No site has the code \"K2\"",
            "line 703: BrokenRule_Site_InvalidSiteCode: SiteCode \"bad code\" must be 1-50 letters, digits, '-', '_', '.' or '/'",
            "line 1002: Latitude: \"north\" is not a number",
        ],
        "{stderr}"
    );
    assert!(stderr.contains("nothing was imported: 5 of 1100 rows"), "{stderr}");
    assert_eq!(target.count("sites").await, 1200);
    assert_eq!(target.count("site_hazards").await, 2400);
    assert_eq!(target.count("audit_log WHERE action = 'sites.imported'").await, 1);

    let mut assets = String::from("SiteCode,MatrixCode,SerialNumber,PurchaseValue,Category\n");
    for i in 1..=1100 {
        let value = if i % 3 == 0 { format!("{i}.5") } else { String::new() };
        assets.push_str(&format!("S{:04},01-02,SN{i},{value},Storage tank\n", i % 1200 + 1));
    }
    std::fs::write(target.dir.path().join("assets.csv"), &assets).unwrap();
    let out = target.run(&["import", "assets", "--tenant", "Acme", "assets.csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(target.count("assets").await, 1100);
    assert_eq!(target.count("assets WHERE purchase_value IS NOT NULL").await, 366);

    assets.push_str("S9999,01-02,SN,,Storage tank\n");
    std::fs::write(target.dir.path().join("assets.csv"), &assets).unwrap();
    let out = target.run(&["import", "assets", "--tenant", "Acme", "assets.csv"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("line 1102: BrokenRule_Asset_UnknownSite: No site has the code \"S9999\"\n"),
        "{stderr}"
    );
    assert_eq!(target.count("assets").await, 1100);
}
