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
