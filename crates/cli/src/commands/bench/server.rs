//! The server under test: this very binary running `serve` as a child process on a port
//! the system picks, and what `/proc` says about its CPU time and memory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::Failure;
use crate::config::{MasterKeySource, Settings};

pub struct ServerProcess {
    child: Child,
    pid: u32,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts `caretaker serve` on the same database and master key, with a clean
    /// environment (no `CARETAKER_*` of ours), its log in `log`; returns once it listens.
    pub async fn start(settings: &Settings, data_dir: &Path, log_filter: &str, log: PathBuf) -> Result<Self, Failure> {
        let exe = std::env::current_exe().map_err(|err| Failure::refused(format!("cannot find this binary: {err}")))?;
        let log_file = std::fs::File::create(&log)
            .map_err(|err| Failure::refused(format!("cannot create {}: {err}", log.display())))?;
        let mut command = Command::new(exe);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CARETAKER_") {
                command.env_remove(name);
            }
        }
        command.args(["serve", "--listen", "127.0.0.1:0", "--log", log_filter, "--data-dir"]).arg(data_dir);
        if let Some(url) = &settings.database_url {
            // Through the environment: a URL may hold a password, and argv is public.
            command.env("CARETAKER_DATABASE_URL", url.expose_secret());
        }
        match &settings.master_key {
            MasterKeySource::File(path) => {
                command.arg("--master-key-file").arg(path);
            }
            MasterKeySource::Inline(key) => {
                command.env("CARETAKER_MASTER_KEY", key.expose_secret());
            }
            MasterKeySource::DataDir => {}
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| Failure::refused(format!("cannot start the server: {err}")))?;
        let pid = child.id().ok_or_else(|| Failure::refused("the server exited at once"))?;
        let stdout = child.stdout.take().ok_or_else(|| Failure::refused("no server stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let listening = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("Caretaker listening on http://") {
                    return rest.trim_end_matches('/').parse::<SocketAddr>().ok();
                }
            }
            None
        };
        let addr = match tokio::time::timeout(Duration::from_secs(60), listening).await {
            Ok(Some(addr)) => addr,
            _ => {
                let _ = child.start_kill();
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let tail = tail.lines().last().unwrap_or("(no log)");
                return Err(Failure::refused(format!("the server did not start: {tail}")));
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, pid, addr, log })
    }

    /// CPU time (user + system) the server has used so far.
    pub fn cpu_time(&self) -> Duration {
        cpu_time_of(&self.pid.to_string())
    }

    /// The most resident memory the server has held (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        memory_of(&self.pid.to_string(), "VmHWM:")
    }

    /// Resident memory now (VmRSS), in bytes.
    pub fn rss(&self) -> u64 {
        memory_of(&self.pid.to_string(), "VmRSS:")
    }

    /// SIGTERM (graceful), then SIGKILL after five seconds.
    pub async fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status().await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await.is_err() {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

/// Clock ticks per second of `/proc/*/stat` times (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|ticks| *ticks > 0)
            .unwrap_or(100)
    })
}

/// utime + stime of `/proc/{pid}/stat` (`pid` may be `self`); zero where there is no `/proc`.
pub fn cpu_time_of(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // Fields 14 (utime) and 15 (stime), counted from 1; `rest` starts at field 3.
    let total = ticks(11) + ticks(12);
    Duration::from_micros(total * 1_000_000 / clock_ticks())
}

fn memory_of(pid: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let kib = line.strip_prefix(key)?.trim().strip_suffix("kB")?.trim();
                kib.parse::<u64>().ok()
            })
        })
        .map_or(0, |kib| kib * 1024)
}
