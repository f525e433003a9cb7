//! Settings: defaults < TOML file < `CARETAKER_*` variables < flags.
//!
//! Every source is read into the same [`Layer`]; layers are merged field by field; the
//! result is checked once into [`Settings`]. Anything unknown or malformed stops start-up
//! with one line naming the source and the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::args::{GlobalArgs, LogFormat};

/// The prefix of every variable; `CARETAKER_TEST_*` is reserved for the test suite.
const ENV_PREFIX: &str = "CARETAKER_";
const TEST_PREFIX: &str = "CARETAKER_TEST_";

/// A start-up error: one readable line.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn error(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

/// One source's settings; `None` where the source is silent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub database_url_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub master_key_file: Option<PathBuf>,
    /// Only from the environment (`CARETAKER_MASTER_KEY`): never in a file others may read.
    #[serde(skip)]
    pub master_key: Option<String>,
    pub public_base_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub log: Option<String>,
    pub outbound_allow_insecure: Option<bool>,
    pub outbound_retry_initial_ms: Option<u64>,
    pub outbound_max_attempts: Option<u32>,
    pub smtp_url: Option<String>,
    pub smtp_url_file: Option<PathBuf>,
    pub smtp_from: Option<String>,
}

impl Layer {
    /// `self` where it speaks, `lower` where it is silent.
    fn over(self, lower: Layer) -> Layer {
        Layer {
            data_dir: self.data_dir.or(lower.data_dir),
            database_url: self.database_url.or(lower.database_url),
            database_url_file: self.database_url_file.or(lower.database_url_file),
            listen: self.listen.or(lower.listen),
            master_key_file: self.master_key_file.or(lower.master_key_file),
            master_key: self.master_key.or(lower.master_key),
            public_base_url: self.public_base_url.or(lower.public_base_url),
            log_format: self.log_format.or(lower.log_format),
            log: self.log.or(lower.log),
            outbound_allow_insecure: self.outbound_allow_insecure.or(lower.outbound_allow_insecure),
            outbound_retry_initial_ms: self.outbound_retry_initial_ms.or(lower.outbound_retry_initial_ms),
            outbound_max_attempts: self.outbound_max_attempts.or(lower.outbound_max_attempts),
            smtp_url: self.smtp_url.or(lower.smtp_url),
            smtp_url_file: self.smtp_url_file.or(lower.smtp_url_file),
            smtp_from: self.smtp_from.or(lower.smtp_from),
        }
    }

    /// The flags' layer (`listen` comes from the serve/demo subcommand).
    pub fn from_flags(args: &GlobalArgs, listen: Option<String>) -> Layer {
        Layer {
            data_dir: args.data_dir.clone(),
            database_url: args.database_url.clone(),
            database_url_file: args.database_url_file.clone(),
            listen,
            master_key_file: args.master_key_file.clone(),
            master_key: None,
            public_base_url: args.public_base_url.clone(),
            log_format: args.log_format,
            log: args.log.clone(),
            outbound_allow_insecure: args.outbound_allow_insecure.then_some(true),
            outbound_retry_initial_ms: args.outbound_retry_initial_ms,
            outbound_max_attempts: args.outbound_max_attempts,
            smtp_url: args.smtp_url.clone(),
            smtp_url_file: args.smtp_url_file.clone(),
            smtp_from: args.smtp_from.clone(),
        }
    }

    /// The TOML file's layer.
    pub fn from_toml(path: &Path, text: &str) -> Result<Layer, ConfigError> {
        toml::from_str(text).map_err(|err| {
            let line = err.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = err.message().replace('\n', " ");
            match line {
                Some(line) => error(format!("config file {}: line {line}: {message}", path.display())),
                None => error(format!("config file {}: {message}", path.display())),
            }
        })
    }

    /// The environment's layer, from `(name, value)` pairs; unknown `CARETAKER_*` names are
    /// errors.
    pub fn from_env<I>(vars: I) -> Result<Layer, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut layer = Layer::default();
        for (name, value) in vars {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if name.starts_with(TEST_PREFIX) || key == "CONFIG" {
                continue;
            }
            match key {
                "DATA_DIR" => layer.data_dir = Some(PathBuf::from(value)),
                "DATABASE_URL" => layer.database_url = Some(value),
                "DATABASE_URL_FILE" => layer.database_url_file = Some(PathBuf::from(value)),
                "LISTEN" => layer.listen = Some(value),
                "MASTER_KEY_FILE" => layer.master_key_file = Some(PathBuf::from(value)),
                "MASTER_KEY" => layer.master_key = Some(value),
                "PUBLIC_BASE_URL" => layer.public_base_url = Some(value),
                "LOG_FORMAT" => layer.log_format = Some(parse_log_format(&value).map_err(|e| env_error(&name, e))?),
                "LOG" => layer.log = Some(value),
                "OUTBOUND_ALLOW_INSECURE" => {
                    layer.outbound_allow_insecure = Some(parse_bool(&value).map_err(|e| env_error(&name, e))?);
                }
                "OUTBOUND_RETRY_INITIAL_MS" => {
                    layer.outbound_retry_initial_ms = Some(parse_number(&value).map_err(|e| env_error(&name, e))?);
                }
                "OUTBOUND_MAX_ATTEMPTS" => {
                    layer.outbound_max_attempts = Some(parse_number(&value).map_err(|e| env_error(&name, e))?);
                }
                "SMTP_URL" => layer.smtp_url = Some(value),
                "SMTP_URL_FILE" => layer.smtp_url_file = Some(PathBuf::from(value)),
                "SMTP_FROM" => layer.smtp_from = Some(value),
                _ => return Err(error(format!("unknown setting {name} in the environment"))),
            }
        }
        Ok(layer)
    }
}

fn env_error(name: &str, problem: String) -> ConfigError {
    error(format!("environment variable {name}: {problem}"))
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("{value:?} is not true or false")),
    }
}

fn parse_number<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value.trim().parse().map_err(|_| format!("{value:?} is not a whole number in range"))
}

fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "human" => Ok(LogFormat::Human),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("{value:?} is not human or json")),
    }
}

/// Where the master key comes from.
#[derive(Debug)]
pub enum MasterKeySource {
    File(PathBuf),
    /// `CARETAKER_MASTER_KEY`.
    Inline(SecretString),
    /// Generated in the data folder on first start (SQLite only).
    DataDir,
}

/// The checked settings a command runs with.
#[derive(Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// `None`: the SQLite file in the data folder.
    pub database_url: Option<SecretString>,
    pub uses_postgres: bool,
    pub listen: SocketAddr,
    pub master_key: MasterKeySource,
    pub public_base_url: Option<url::Url>,
    pub log_format: LogFormat,
    /// `None`: the command's default (`info` for servers, `warn` for one-shot commands).
    pub log: Option<String>,
    pub outbound_allow_insecure: bool,
    pub outbound_retry_initial_ms: u64,
    pub outbound_max_attempts: u32,
    /// `None`: no e-mail is sent.
    pub smtp_url: Option<SecretString>,
    pub smtp_from: String,
}

pub const DEFAULT_DATA_DIR: &str = "./caretaker-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Merges the layers (highest first) and checks the result.
pub fn resolve(flags: Layer, env: Layer, file: Layer) -> Result<Settings, ConfigError> {
    let merged = flags.over(env.over(file));

    let database_url = match (merged.database_url, merged.database_url_file) {
        (Some(url), _) => Some(url),
        (None, Some(path)) => Some(read_secret_file(&path, "database URL file")?),
        (None, None) => None,
    };
    let uses_postgres = match &database_url {
        None => false,
        Some(url) => {
            let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            match scheme.as_deref() {
                Some("postgres" | "postgresql") => true,
                Some("sqlite") => false,
                _ => {
                    return Err(error("database URL must start with sqlite:// or postgres://"));
                }
            }
        }
    };

    let listen_text = merged.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen = listen_text
        .parse::<SocketAddr>()
        .map_err(|_| error(format!("listen address {listen_text:?} is not IP:PORT (e.g. 127.0.0.1:8080)")))?;

    let master_key = match (merged.master_key_file, merged.master_key) {
        (Some(path), _) => MasterKeySource::File(path),
        (None, Some(inline)) => MasterKeySource::Inline(SecretString::from(inline)),
        (None, None) if uses_postgres => {
            return Err(error(
                "PostgreSQL needs a master key shared by every server: give --master-key-file \
                 (or CARETAKER_MASTER_KEY_FILE, or CARETAKER_MASTER_KEY)",
            ));
        }
        (None, None) => MasterKeySource::DataDir,
    };

    let public_base_url = merged
        .public_base_url
        .map(|text| {
            let url = url::Url::parse(&text).map_err(|_| error(format!("public base URL {text:?} is not a URL")))?;
            if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
                return Err(error(format!(
                    "public base URL {text:?} must be http(s)://host[:port][/path] without query or fragment"
                )));
            }
            Ok(url)
        })
        .transpose()?;

    let outbound_retry_initial_ms = merged.outbound_retry_initial_ms.unwrap_or(30_000);
    if outbound_retry_initial_ms == 0 {
        return Err(error("outbound retry interval must be at least 1 ms"));
    }
    let outbound_max_attempts = merged.outbound_max_attempts.unwrap_or(10);
    if !(1..=100).contains(&outbound_max_attempts) {
        return Err(error("outbound max attempts must be between 1 and 100"));
    }

    let smtp_url = match (merged.smtp_url, merged.smtp_url_file) {
        (Some(url), _) => Some(url),
        (None, Some(path)) => Some(read_secret_file(&path, "SMTP URL file")?),
        (None, None) => None,
    };
    if let Some(url) = &smtp_url
        && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
    {
        return Err(error("the SMTP URL must start with smtp:// or smtps://"));
    }
    let smtp_from = merged.smtp_from.unwrap_or_else(|| String::from("caretaker@localhost"));
    if caretaker_domain::user::Email::parse(&smtp_from).is_err() {
        return Err(error(format!("the SMTP sender {smtp_from:?} is not an e-mail address")));
    }

    Ok(Settings {
        smtp_url: smtp_url.map(SecretString::from),
        smtp_from,
        data_dir: merged.data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        database_url: database_url.map(SecretString::from),
        uses_postgres,
        listen,
        master_key,
        public_base_url,
        log_format: merged.log_format.unwrap_or(LogFormat::Human),
        log: merged.log,
        outbound_allow_insecure: merged.outbound_allow_insecure.unwrap_or(false),
        outbound_retry_initial_ms,
        outbound_max_attempts,
    })
}

/// Reads a file holding one secret line (a trailing newline is not part of it).
pub fn read_secret_file(path: &Path, what: &str) -> Result<String, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|err| error(format!("cannot read {what} {}: {err}", path.display())))?;
    let value = text.strip_suffix('\n').map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
    if value.is_empty() {
        return Err(error(format!("{what} {} is empty", path.display())));
    }
    Ok(value.to_owned())
}

/// Reads the process's sources and resolves them with `flags` on top.
pub fn load(flags: Layer, config_flag: Option<&Path>) -> Result<Settings, ConfigError> {
    let env_pairs: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let name = k.into_string().ok()?;
            name.starts_with(ENV_PREFIX).then(|| (name, v.to_string_lossy().into_owned()))
        })
        .collect();
    let env = Layer::from_env(env_pairs)?;
    let config_path =
        config_flag.map(Path::to_path_buf).or_else(|| std::env::var_os("CARETAKER_CONFIG").map(PathBuf::from));
    let file = match config_path {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|err| error(format!("cannot read config file {}: {err}", path.display())))?;
            Layer::from_toml(&path, &text)?
        }
        None => Layer::default(),
    };
    resolve(flags, env, file)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<Layer, ConfigError> {
        Layer::from_env(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn toml(text: &str) -> Result<Layer, ConfigError> {
        Layer::from_toml(Path::new("caretaker.toml"), text)
    }

    #[test]
    fn defaults_when_every_source_is_silent() {
        let s = resolve(Layer::default(), Layer::default(), Layer::default()).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("./caretaker-data"));
        assert!(s.database_url.is_none());
        assert!(!s.uses_postgres);
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert!(matches!(s.master_key, MasterKeySource::DataDir));
        assert_eq!(s.log_format, LogFormat::Human);
        assert!(!s.outbound_allow_insecure);
        assert_eq!((s.outbound_retry_initial_ms, s.outbound_max_attempts), (30_000, 10));
    }

    #[test]
    fn flags_beat_environment_beat_file_beat_defaults() {
        let file = toml("listen = \"127.0.0.1:1001\"\ndata_dir = \"/from/file\"\noutbound_max_attempts = 3\nlog_format = \"json\"\n").unwrap();
        let environment = env(&[("CARETAKER_LISTEN", "127.0.0.1:1002"), ("CARETAKER_DATA_DIR", "/from/env")]).unwrap();
        let flags = Layer { listen: Some("127.0.0.1:1003".into()), ..Layer::default() };

        let s = resolve(flags, environment, file).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:1003", "flag wins");
        assert_eq!(s.data_dir, PathBuf::from("/from/env"), "environment beats file");
        assert_eq!(s.outbound_max_attempts, 3, "file beats default");
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.outbound_retry_initial_ms, 30_000, "default where all are silent");
    }

    #[test]
    fn unknown_keys_and_variables_are_reported_with_where() {
        let err = toml("listen = \"127.0.0.1:1\"\nlisten_port = 8080\n").unwrap_err();
        assert!(err.0.starts_with("config file caretaker.toml: line 2: unknown field `listen_port`"), "{err}");
        assert!(!err.0.contains('\n'));

        let err = env(&[("CARETAKER_LISTN", "x")]).unwrap_err();
        assert_eq!(err.0, "unknown setting CARETAKER_LISTN in the environment");

        // The test suite's own variables and unrelated ones are not settings.
        assert!(env(&[("CARETAKER_TEST_POSTGRES_URL", "x"), ("HOME", "/root")]).is_ok());
    }

    #[test]
    fn malformed_values_name_the_setting() {
        let err = env(&[("CARETAKER_OUTBOUND_MAX_ATTEMPTS", "ten")]).unwrap_err();
        assert_eq!(
            err.0,
            "environment variable CARETAKER_OUTBOUND_MAX_ATTEMPTS: \"ten\" is not a whole number in range"
        );
        let err = env(&[("CARETAKER_OUTBOUND_ALLOW_INSECURE", "maybe")]).unwrap_err();
        assert!(err.0.contains("CARETAKER_OUTBOUND_ALLOW_INSECURE"));
        let err = toml("outbound_max_attempts = \"ten\"").unwrap_err();
        assert!(err.0.starts_with("config file caretaker.toml: line 1:"), "{err}");
        let err = toml("this is not toml").unwrap_err();
        assert!(err.0.starts_with("config file caretaker.toml: line 1:"), "{err}");

        let bad_listen = Layer { listen: Some("localhost".into()), ..Layer::default() };
        let err = resolve(bad_listen, Layer::default(), Layer::default()).unwrap_err();
        assert!(err.0.contains("\"localhost\" is not IP:PORT"), "{err}");

        let bad_url = Layer { database_url: Some("mysql://x".into()), ..Layer::default() };
        assert!(resolve(bad_url, Layer::default(), Layer::default()).is_err());

        let bad_base = Layer { public_base_url: Some("ftp://x".into()), ..Layer::default() };
        assert!(resolve(bad_base, Layer::default(), Layer::default()).is_err());
        let with_query = Layer { public_base_url: Some("https://x/api?a=b".into()), ..Layer::default() };
        assert!(resolve(with_query, Layer::default(), Layer::default()).is_err());
        let zero = Layer { outbound_max_attempts: Some(0), ..Layer::default() };
        assert!(resolve(zero, Layer::default(), Layer::default()).is_err());
    }

    #[test]
    fn postgres_requires_a_master_key() {
        let pg = || Layer { database_url: Some("postgres://db/caretaker".into()), ..Layer::default() };
        let err = resolve(pg(), Layer::default(), Layer::default()).unwrap_err();
        assert!(err.0.contains("PostgreSQL needs a master key"), "{err}");

        let with_file = resolve(pg(), env(&[("CARETAKER_MASTER_KEY_FILE", "/k")]).unwrap(), Layer::default()).unwrap();
        assert!(matches!(with_file.master_key, MasterKeySource::File(path) if path == Path::new("/k")));
        let inline = resolve(pg(), env(&[("CARETAKER_MASTER_KEY", "abc")]).unwrap(), Layer::default()).unwrap();
        assert!(matches!(inline.master_key, MasterKeySource::Inline(_)));
        assert!(inline.uses_postgres);
    }

    #[test]
    fn the_master_key_cannot_be_written_into_the_file() {
        let err = toml("master_key = \"c2VjcmV0\"").unwrap_err();
        assert!(err.0.contains("unknown field `master_key`"), "{err}");
    }

    #[test]
    fn database_url_from_a_file_without_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db-url");
        std::fs::write(&path, "postgres://u:secret@db/caretaker\n").unwrap();
        let layer = Layer { database_url_file: Some(path), master_key_file: Some("/k".into()), ..Layer::default() };
        let s = resolve(layer, Layer::default(), Layer::default()).unwrap();
        assert_eq!(s.database_url.unwrap().expose_secret(), "postgres://u:secret@db/caretaker");
        assert!(s.uses_postgres);
    }

    #[test]
    fn smtp_settings() {
        let s = resolve(Layer::default(), Layer::default(), Layer::default()).unwrap();
        assert!(s.smtp_url.is_none());
        let environment =
            env(&[("CARETAKER_SMTP_URL", "smtp://127.0.0.1:2525"), ("CARETAKER_SMTP_FROM", "ops@example.com")])
                .unwrap();
        let s = resolve(Layer::default(), environment, Layer::default()).unwrap();
        assert_eq!(s.smtp_url.unwrap().expose_secret(), "smtp://127.0.0.1:2525");
        assert_eq!(s.smtp_from, "ops@example.com");
        let bad = Layer { smtp_url: Some("http://x".into()), ..Layer::default() };
        assert!(resolve(bad, Layer::default(), Layer::default()).is_err());
        let bad_from = Layer { smtp_from: Some("nobody".into()), ..Layer::default() };
        assert!(resolve(bad_from, Layer::default(), Layer::default()).is_err());
    }

    #[test]
    fn settings_debug_does_not_show_secrets() {
        let layer = Layer {
            database_url: Some("postgres://u:hunter2hunter2@db/x".into()),
            master_key: Some("c2VjcmV0a2V5".into()),
            ..Layer::default()
        };
        let s = resolve(layer, Layer::default(), Layer::default()).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("c2VjcmV0a2V5"));
    }
}
