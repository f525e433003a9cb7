//! The real binary, a local chromedriver and a headless Chromium, and small helpers for
//! walking pages through WebDriver.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long a page may take to show what a step waits for.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// `caretaker` with a clean environment (no `CARETAKER_*` from the caller), in `dir`.
pub fn caretaker(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caretaker"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CARETAKER_") {
            command.env_remove(name);
        }
    }
    command.current_dir(dir);
    command
}

/// Runs a set-up command to success, or fails the test with its output.
pub fn run_ok(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `caretaker serve` on an ephemeral port.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(dir: &Path) -> Server {
        let mut child = caretaker(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("Caretaker listening on ") {
                    let _ = tx.send(rest.trim().trim_end_matches('/').to_owned());
                }
            }
        });
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
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the server did not start: {}", stderr.lock().unwrap()));
        Server { child, base, stderr }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A chromedriver on a free loopback port, in a process group of its own so that the
/// browsers it starts end with it.
pub struct Chromedriver {
    child: Child,
    pub url: String,
}

impl Chromedriver {
    pub async fn start(log: &Path) -> Chromedriver {
        let mut last_error = String::new();
        // A port found free may be taken before chromedriver binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let log_file = File::create(log).unwrap();
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .process_group(0)
                .spawn()
                .unwrap();
            let url = format!("http://127.0.0.1:{port}");
            let http = reqwest::Client::new();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait().unwrap() {
                    last_error = format!("chromedriver exited with {status}: {}", read_lossy(log));
                    break;
                }
                if let Ok(response) = http.get(format!("{url}/status")).send().await {
                    let ready = response
                        .json::<serde_json::Value>()
                        .await
                        .ok()
                        .and_then(|v| v["value"]["ready"].as_bool())
                        .unwrap_or(false);
                    if ready {
                        return Chromedriver { child, url };
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if child.try_wait().unwrap().is_none() {
                last_error = format!("chromedriver did not get ready on port {port}: {}", read_lossy(log));
                kill_group(&mut child);
            }
        }
        panic!("{last_error}");
    }

    /// A new headless Chromium session with a fresh profile in `profile`.
    pub async fn browser(&self, profile: &Path) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            // Belt and braces: nothing but the loopback server resolves.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|err| panic!("could not start Chromium through chromedriver: {err}"))
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Ends the process group that `child` leads (it was spawned with `process_group(0)`).
fn kill_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
    let _ = child.kill();
    let _ = child.wait();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// `<workspace>/target/test-artifacts/browser`, emptied of earlier screenshots.
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/browser");
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    for entry in std::fs::read_dir(&dir).unwrap().map_while(Result::ok) {
        if entry.path().extension().is_some_and(|e| e == "png") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    dir
}

/// Saves a screenshot of the whole window as `dir/name.png` and prints its path.
pub async fn screenshot(client: &Client, dir: &Path, name: &str) -> PathBuf {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot {name} is not a PNG");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
    path
}

/// Waits until the page's title is `title · Caretaker` (the page the step leads to).
pub async fn wait_for_title(client: &Client, title: &str) {
    let want = format!("{title} · Caretaker");
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let now = client.title().await.unwrap_or_default();
        if now == want {
            return;
        }
        if Instant::now() > deadline {
            let url = client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let source = client.source().await.unwrap_or_default();
            panic!("expected the page {want:?}, still on {now:?} at {url}:\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the URL's path and query are `path_and_query`.
pub async fn wait_for_path(client: &Client, path_and_query: &str) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let url = client.current_url().await.unwrap();
        let now = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        if now == path_and_query {
            return;
        }
        assert!(Instant::now() < deadline, "expected to be at {path_and_query}, still at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The element matching `css`, waiting for it to appear.
pub async fn find(client: &Client, css: &str) -> Element {
    client
        .wait()
        .at_most(STEP_TIMEOUT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("no element {css:?} appeared: {err}"))
}

/// The texts of the options of the `select` matching `css`, in their order.
pub async fn options(client: &Client, css: &str) -> Vec<String> {
    let texts = client
        .execute(
            "return Array.from(document.querySelector(arguments[0]).options).map((o) => o.text);",
            vec![serde_json::Value::from(css)],
        )
        .await
        .unwrap();
    serde_json::from_value(texts).unwrap()
}

/// Opens a `details` menu by its summary and clicks the link `text` inside it.
pub async fn menu(client: &Client, menu_css: &str, text: &str) {
    find(client, &format!("{menu_css} > summary")).await.click().await.unwrap();
    let menu = find(client, menu_css).await;
    assert_eq!(menu.prop("open").await.unwrap().as_deref(), Some("true"), "{menu_css} did not open");
    let link =
        menu.find(Locator::LinkText(text)).await.unwrap_or_else(|err| panic!("no {text:?} in {menu_css}: {err}"));
    assert!(link.is_displayed().await.unwrap(), "{text:?} in {menu_css} is not shown");
    link.click().await.unwrap();
}

/// Clears the input `css` and types `text` into it.
pub async fn fill(client: &Client, css: &str, text: &str) {
    let input = find(client, css).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
    assert_eq!(input.prop("value").await.unwrap().as_deref(), Some(text), "{css} did not take {text:?}");
}
