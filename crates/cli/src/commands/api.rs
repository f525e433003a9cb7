//! `caretaker api`: a signing HTTP client for integrators (and a reference
//! implementation of the client half of TCN).

use std::io::Write;
use std::time::Duration;

use caretaker_domain::clock::{Clock, SystemClock};
use caretaker_domain::{credential, tcn};

use crate::Failure;
use crate::args::ApiArgs;
use crate::config::read_secret_file;

pub async fn run(args: ApiArgs) -> Result<(), Failure> {
    let secret = read_secret_file(&args.secret_file, "secret file").map_err(|err| Failure::usage(err.0))?;
    if secret.starts_with(credential::SECRET_PREFIX) && !credential::is_well_formed_secret(&secret) {
        return Err(Failure::usage("the API Secret Key fails its checksum: it was probably mistyped or cut short"));
    }
    let method = args.method.to_ascii_uppercase();
    if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "DELETE" | "PATCH") {
        return Err(Failure::usage(format!("unsupported method {method}")));
    }
    if !args.path.starts_with('/') {
        return Err(Failure::usage("the path must start with / (e.g. /rest/users/acme/me)"));
    }
    let base = args.base_url.unwrap_or_else(|| String::from("http://127.0.0.1:8080"));
    let base = base.trim_end_matches('/');
    let parsed = url::Url::parse(base).map_err(|_| Failure::usage(format!("{base:?} is not a URL")))?;
    // Behind a proxy the base URL's path is part of what the server expects signed.
    let signed_path = format!("{}{}", parsed.path().trim_end_matches('/'), args.path.split('?').next().unwrap_or(""));
    let timestamp = tcn::format_timestamp(SystemClock.now());
    let authorization = tcn::sign(&method, &signed_path, &timestamp, &args.token, secret.as_bytes(), None);
    if args.print_headers {
        println!("Authorization: {authorization}");
        println!("X-Timestamp: {timestamp}");
        return Ok(());
    }
    let body = match args.data.as_deref() {
        Some(data) if data.starts_with('@') => Some(
            std::fs::read(&data[1..]).map_err(|err| Failure::usage(format!("cannot read {}: {err}", &data[1..])))?,
        ),
        Some(data) => Some(data.as_bytes().to_vec()),
        None => None,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|err| Failure::refused(format!("HTTP client: {err}")))?;
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| Failure::usage("bad method"))?;
    let mut request = client
        .request(method, format!("{base}{}", args.path))
        .header("Authorization", authorization)
        .header("X-Timestamp", timestamp);
    if let Some(body) = body {
        request = request.header("Content-Type", "application/json").body(body);
    }
    let response = request.send().await.map_err(|err| Failure::refused(format!("request failed: {err}")))?;
    let status = response.status();
    let text = response.text().await.map_err(|err| Failure::refused(format!("reading the answer: {err}")))?;
    // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
    if !text.is_empty() {
        let _ = writeln!(out, "{text}");
    }
    if status.is_success() { Ok(()) } else { Err(Failure::refused(format!("the server answered {}", status.as_u16()))) }
}
