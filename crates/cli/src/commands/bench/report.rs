//! The results: one row per scenario, the targets of the performance issue, a table for
//! people and JSON for scripts.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use super::SCENARIOS;
use super::load::Outcome;
use crate::Failure;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScenarioResult {
    pub number: u8,
    pub name: &'static str,
    pub request: &'static str,
    pub connections: usize,
    pub seconds: f64,
    /// Answered requests (any status).
    pub requests: u64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Errors by status code (or `io`, `timeout`, `connect`).
    pub errors: BTreeMap<String, u64>,
    pub first_error: Option<String>,
    /// The server's user + system CPU time over the measured run, per answered request.
    pub server_cpu_us_per_request: f64,
    /// The load generator's (this process's) CPU time, per answered request.
    pub client_cpu_us_per_request: f64,
    pub note: String,
}

impl ScenarioResult {
    pub fn new(
        number: u8,
        connections: usize,
        mut outcome: Outcome,
        server_cpu: Duration,
        client_cpu: Duration,
        note: String,
    ) -> Self {
        let (_, name, request) = SCENARIOS[usize::from(number.clamp(1, 8) - 1)];
        outcome.latencies_us.sort_unstable();
        let latencies = &outcome.latencies_us;
        let at = |q: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
            f64::from(latencies[rank - 1]) / 1000.0
        };
        let requests = latencies.len() as u64;
        let seconds = outcome.elapsed.as_secs_f64();
        let per_request = |cpu: Duration| if requests == 0 { 0.0 } else { cpu.as_secs_f64() * 1e6 / requests as f64 };
        ScenarioResult {
            number,
            name,
            request,
            connections,
            seconds,
            requests,
            requests_per_second: if seconds > 0.0 { requests as f64 / seconds } else { 0.0 },
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: latencies.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
            errors: outcome.errors,
            first_error: outcome.first_error,
            server_cpu_us_per_request: per_request(server_cpu),
            client_cpu_us_per_request: per_request(client_cpu),
            note,
        }
    }
}

/// One target of the performance issue, judged.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    pub backend: &'static str,
    pub date: String,
    pub tasks: u64,
    pub seed_seconds: f64,
    pub connections: usize,
    pub seconds_per_scenario: f64,
    pub server_log: String,
    /// `/proc/loadavg` (1, 5, 15 minutes) before the first scenario and after the last:
    /// other work on the machine shares its cores with the server and the load generator.
    pub load_average_before: String,
    pub load_average_after: String,
    pub server_peak_rss_bytes: u64,
    pub scenarios: Vec<ScenarioResult>,
    pub targets: Vec<Target>,
}

impl Report {
    fn scenario(&self, number: u8) -> Option<&ScenarioResult> {
        self.scenarios.iter().find(|s| s.number == number)
    }

    /// Judges the issue's targets that this run measured.
    pub fn with_targets(mut self) -> Self {
        let mut targets = Vec::new();
        let rate = |n: u8| self.scenario(n).map(|s| s.requests_per_second);
        let mut at_least = |what: String, value: Option<f64>, floor: f64, unit: &str| {
            if let Some(value) = value {
                let measured =
                    if unit == "%" { format!("{:.0}%", value * 100.0) } else { format!("{value:.0} {unit}") };
                targets.push(Target { target: what, measured, met: value >= floor });
            }
        };
        at_least("scenario 3 >= 20,000 requests/s".into(), rate(3), 20_000.0, "req/s");
        let ratio = |n: u8, of: u8| Some(rate(n)? / rate(of).filter(|r| *r > 0.0)?);
        at_least("scenario 3 >= 12% of scenario 1".into(), ratio(3, 1), 0.12, "%");
        at_least("scenario 2 >= 50% of scenario 1".into(), ratio(2, 1), 0.50, "%");
        for n in [4, 5, 8] {
            at_least(format!("scenario {n} >= 80% of scenario 3"), ratio(n, 3), 0.80, "%");
        }
        let creates = if self.backend == "sqlite" {
            "scenario 6 >= 5,000 creates/s (SQLite)"
        } else {
            "scenario 6 >= 5,000 creates/s (the SQLite target)"
        };
        at_least(creates.into(), rate(6), 5_000.0, "req/s");
        at_least("scenario 7 >= 5,000 status changes/s".into(), rate(7), 5_000.0, "req/s");
        if let Some(s) = self.scenario(3) {
            targets.push(Target {
                target: "scenario 3 p99 <= 10 ms".into(),
                measured: format!("{:.2} ms", s.p99_ms),
                met: s.p99_ms <= 10.0,
            });
        }
        if self.tasks >= 100_000 {
            let mib = self.server_peak_rss_bytes as f64 / 1_048_576.0;
            targets.push(Target {
                target: "server peak RSS <= 64 MiB with 100,000 tasks".into(),
                measured: format!("{mib:.1} MiB"),
                met: mib <= 64.0,
            });
        }
        self.targets = targets;
        self
    }

    pub fn print_table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out)?;
        writeln!(
            out,
            "caretaker bench: {}, {} tasks (seeded in {:.1} s), {} connections, {} s per scenario, server log {}",
            self.backend, self.tasks, self.seed_seconds, self.connections, self.seconds_per_scenario, self.server_log
        )?;
        writeln!(
            out,
            "{:<2} {:<16} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11} {:>11}  errors",
            "#", "scenario", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "requests", "server us/r", "client us/r"
        )?;
        for s in &self.scenarios {
            let errors = if s.errors.is_empty() {
                String::from("0")
            } else {
                s.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
            };
            let note = if s.note.is_empty() { String::new() } else { format!("  ({})", s.note) };
            writeln!(
                out,
                "{:<2} {:<16} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>11.0} {:>11.0}  {errors}{note}",
                s.number,
                s.name,
                s.requests_per_second,
                s.p50_ms,
                s.p90_ms,
                s.p99_ms,
                s.max_ms,
                s.requests,
                s.server_cpu_us_per_request,
                s.client_cpu_us_per_request,
            )?;
        }
        writeln!(out, "server peak RSS: {:.1} MiB", self.server_peak_rss_bytes as f64 / 1_048_576.0)?;
        writeln!(out, "load average before: {}, after: {}", self.load_average_before, self.load_average_after)?;
        if !self.targets.is_empty() {
            writeln!(out, "targets:")?;
            for t in &self.targets {
                writeln!(out, "  [{}] {} (measured {})", if t.met { "met" } else { "MISSED" }, t.target, t.measured)?;
            }
        }
        out.flush()
    }

    pub fn to_json(&self) -> Result<String, Failure> {
        serde_json::to_string_pretty(self).map_err(|err| Failure::refused(format!("cannot write JSON: {err}")))
    }
}

/// The first three fields of `/proc/loadavg`; empty where there is none.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
