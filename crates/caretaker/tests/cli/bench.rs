//! `caretaker bench --quick` through the real binary: the scenarios complete without a
//! single failed request and the JSON says so. No timing is asserted (CI machines vary).

use crate::support::caretaker;

#[test]
fn a_quick_bench_of_the_first_three_scenarios_completes_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = caretaker(Some(dir.path()))
        .args(["bench", "--quick", "--scenarios", "1,2,3", "--seconds", "1", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("req/s"), "a table on stdout: {stdout}");

    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["Backend"], "sqlite");
    assert_eq!(report["Tasks"], 2000);
    let scenarios = report["Scenarios"].as_array().unwrap();
    let numbers: Vec<u64> = scenarios.iter().map(|s| s["Number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3]);
    for scenario in scenarios {
        assert!(scenario["Requests"].as_u64().unwrap() > 0, "{scenario}");
        assert_eq!(scenario["Errors"], serde_json::json!({}), "{scenario}");
        assert!(scenario["P99Ms"].as_f64().unwrap() > 0.0, "{scenario}");
    }
    assert!(report["ServerPeakRssBytes"].as_u64().unwrap() > 0, "the server's memory is read from /proc");

    // The temporary data folder is gone, and nothing was left in the working folder.
    assert!(!dir.path().join("caretaker-data").exists());
}

#[test]
fn bench_refuses_an_unknown_scenario_before_doing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = caretaker(Some(dir.path())).args(["bench", "--scenarios", "1,9"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("there is no scenario 9"), "{stderr}");
}
