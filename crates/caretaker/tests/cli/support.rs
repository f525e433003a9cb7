//! Running the binary, and a TCP proxy that can make PostgreSQL "stop".

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// `caretaker` with a clean environment (no `CARETAKER_*` from the caller), in `dir`.
pub fn caretaker(dir: Option<&Path>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caretaker"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CARETAKER_") {
            command.env_remove(name);
        }
    }
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command
}

pub fn master_key_file(dir: &Path) -> PathBuf {
    let path = dir.join("master.key");
    // 32 bytes of 0x2a, base64.
    std::fs::write(&path, "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=\n").unwrap();
    path
}

/// A running server, on an ephemeral port unless `args` name a `--listen` address.
pub struct Server {
    child: Child,
    pub base: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    pub async fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = caretaker(Some(dir));
        command.args(args);
        if !args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let out = child.stdout.take().unwrap();
            let stdout = stdout.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(rest) = line.strip_prefix("Caretaker listening on ") {
                        let _ = tx.send(rest.trim_end_matches('/').to_owned());
                    }
                    let mut all = stdout.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
            });
        }
        {
            let mut err = child.stderr.take().unwrap();
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = err.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    stderr.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            });
        }
        let base = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
            .await
            .unwrap()
            .unwrap_or_else(|_| panic!("the server did not start: {}", stderr.lock().unwrap()));
        Server { child, base, stdout, stderr }
    }

    pub fn stdout_so_far(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGTERM, then the exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not stop within 5 s of SIGTERM");
    }
}

impl Server {
    /// SIGKILL: the server dies at once, mid-whatever it was doing.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP forwarder to `target`; while "down" it cuts every connection and refuses new ones.
pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let target = target.to_owned();
        let accept = {
            let up = up.clone();
            let connections = connections.clone();
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let target = target.clone();
                    let handle = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(&target).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    connections.lock().unwrap().push(handle);
                }
            })
        };
        Proxy { port, up, connections, accept }
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            for connection in self.connections.lock().unwrap().drain(..) {
                connection.abort();
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.set_up(false);
    }
}

/// A port nothing listens on right now (for a server whose banner must show its real port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
