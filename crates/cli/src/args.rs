//! The command line as `CLI.md` describes it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "caretaker",
    version,
    about = "Caretaker: open-source maintenance management (CMMS) with a Titan/Urgent-compatible REST API",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command understands. Each flag beats its `CARETAKER_*` variable, which
/// beats the configuration file, which beats the default.
#[derive(Debug, Default, Args)]
pub struct GlobalArgs {
    /// Data folder: SQLite file, generated master key, document files [env: CARETAKER_DATA_DIR] [default: ./caretaker-data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database: sqlite://FILE or postgres://... [env: CARETAKER_DATABASE_URL] [default: the SQLite file in the data folder]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Read the database URL from a file (it may hold a password) [env: CARETAKER_DATABASE_URL_FILE]
    #[arg(long, global = true, value_name = "FILE")]
    pub database_url_file: Option<PathBuf>,
    /// Master key file (base64 of 32 bytes) [env: CARETAKER_MASTER_KEY_FILE] [default: generated in the data folder, SQLite only]
    #[arg(long, global = true, value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// How clients reach the server; its path is part of the signed path behind a proxy [env: CARETAKER_PUBLIC_BASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub public_base_url: Option<String>,
    /// TOML configuration file [env: CARETAKER_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format [env: CARETAKER_LOG_FORMAT] [default: human]
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. info or caretaker_http=debug [env: CARETAKER_LOG] [default: info]
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,
    /// Allow outbound callbacks over plain http and to private or loopback addresses (development, tests) [env: CARETAKER_OUTBOUND_ALLOW_INSECURE]
    #[arg(long, global = true)]
    pub outbound_allow_insecure: bool,
    /// First retry interval of outbound callbacks, in milliseconds [env: CARETAKER_OUTBOUND_RETRY_INITIAL_MS] [default: 30000]
    #[arg(long, global = true, value_name = "N")]
    pub outbound_retry_initial_ms: Option<u64>,
    /// Delivery attempts before an outbound callback is a terminal failure [env: CARETAKER_OUTBOUND_MAX_ATTEMPTS] [default: 10]
    #[arg(long, global = true, value_name = "N")]
    pub outbound_max_attempts: Option<u32>,
    /// SMTP relay for e-mail, e.g. smtps://user:pass@mail.example.com [env: CARETAKER_SMTP_URL] [default: no e-mail]
    #[arg(long, global = true, value_name = "URL")]
    pub smtp_url: Option<String>,
    /// Read the SMTP URL from a file (it may hold a password) [env: CARETAKER_SMTP_URL_FILE]
    #[arg(long, global = true, value_name = "FILE")]
    pub smtp_url_file: Option<PathBuf>,
    /// The sender of e-mail [env: CARETAKER_SMTP_FROM] [default: caretaker@localhost]
    #[arg(long, global = true, value_name = "ADDRESS")]
    pub smtp_from: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies pending migrations first)
    Serve(ServeArgs),
    /// Create (once) a demo tenant, print how to sign in, and serve
    Demo(ServeArgs),
    /// Manage tenants
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage contractors
    #[command(subcommand)]
    Contractor(ContractorCommand),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Generate or revoke a user's API Token and API Secret Key
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Send one TCN-signed request to a Caretaker (or Titan/Urgent) REST API
    Api(ApiArgs),
    /// Import sites or assets from a CSV file (all or nothing)
    Import(ImportArgs),
    /// Apply pending database migrations and exit
    Migrate,
    /// Measure the server under load
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [env: CARETAKER_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with the default configuration and its first Administrator
    Create {
        /// 1-64 letters, digits, spaces, '-', '_' or '.'; unique ignoring case
        name: String,
        /// E-mail address of the first Administrator
        #[arg(long, value_name = "EMAIL")]
        admin_email: String,
        /// Read the Administrator's password from this file (otherwise one is generated and printed once)
        #[arg(long, value_name = "FILE")]
        admin_password_file: Option<PathBuf>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// List tenants
    List {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContractorCommand {
    /// Create a contractor
    Create {
        #[arg(long, value_name = "TENANT")]
        tenant: String,
        /// The contractor's name
        name: String,
        /// Unique per tenant [default: the name in capitals with spaces as dashes]
        #[arg(long, value_name = "CODE")]
        code: Option<String>,
        /// Code of the parent contractor
        #[arg(long, value_name = "CODE")]
        parent: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum UserTypeArg {
    Management,
    Contractor,
    Site,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user with role packages and site access
    Create {
        #[arg(long, value_name = "TENANT")]
        tenant: String,
        #[arg(long, value_name = "EMAIL")]
        email: String,
        #[arg(long = "type", value_enum, value_name = "TYPE")]
        user_type: UserTypeArg,
        /// Code of the user's contractor (Contractor users)
        #[arg(long, value_name = "CODE")]
        contractor: Option<String>,
        /// A role package to grant (repeat for several)
        #[arg(long = "role-package", value_name = "NAME")]
        role_packages: Vec<String>,
        /// all, none, or a comma-separated list of site codes [default: none]
        #[arg(long, value_name = "ACCESS")]
        site_access: Option<String>,
        /// Read the password from this file (otherwise a one-time set-password link is printed)
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Generate (or rotate) the user's API Token and API Secret Key; prints them once as JSON
    Generate {
        #[arg(long, value_name = "TENANT")]
        tenant: String,
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// The credential stops working after this many days (1 to 3650) [default: no expiry]
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<i64>,
    },
    /// Revoke the user's credentials
    Revoke {
        #[arg(long, value_name = "TENANT")]
        tenant: String,
        #[arg(long, value_name = "EMAIL")]
        email: String,
    },
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Server base URL [default: http://127.0.0.1:8080]
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// API Token
    #[arg(long, value_name = "TOKEN")]
    pub token: String,
    /// File holding the API Secret Key
    #[arg(long, value_name = "FILE")]
    pub secret_file: PathBuf,
    /// Only print the Authorization and X-Timestamp headers (for curl)
    #[arg(long)]
    pub print_headers: bool,
    /// JSON body, or @FILE to read it from a file
    #[arg(long, value_name = "JSON|@FILE")]
    pub data: Option<String>,
    /// GET, POST, PUT or DELETE
    pub method: String,
    /// Path from the host root, e.g. /rest/users/acme/me
    pub path: String,
}

/// `caretaker bench`: seeds a fresh tenant in a temporary database (or a fresh tenant in the
/// PostgreSQL database given with --database-url), starts the real server and drives it over
/// loopback with TCN-signed requests, one scenario after another.
///
/// Scenarios: 1 GET /healthz; 2 GET /rest/users/{tenant}/me; 3 list 50 tasks (Management
/// user, all sites); 4 list 50 tasks (Contractor user); 5 read one task; 6 create a task;
/// 7 change a task's status; 8 list 50 tasks 200 pages deep (cursor).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  caretaker bench --quick\n  caretaker bench --scenarios 1,3,8 --json bench.json\n  \
                  caretaker bench --database-url postgres://postgres@127.0.0.1/bench --master-key-file key"
)]
pub struct BenchArgs {
    /// Tasks to seed [default: 100000; 2000 with --quick]
    #[arg(long, value_name = "N")]
    pub tasks: Option<u64>,
    /// Concurrent keep-alive connections [default: 32; 8 with --quick]
    #[arg(long, value_name = "N")]
    pub connections: Option<u32>,
    /// Seconds per scenario [default: 10; 2 with --quick]
    #[arg(long, value_name = "N")]
    pub seconds: Option<f64>,
    /// A short run (well under a minute) for smoke tests: fewer tasks, seconds and connections
    #[arg(long)]
    pub quick: bool,
    /// Scenarios to run, comma-separated (1 to 8) [default: all]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub scenarios: Vec<u8>,
    /// Write the results as JSON: to FILE, or to stdout when no FILE is given (the table then goes to stderr)
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub json: Option<Option<PathBuf>>,
    /// The server's log filter; its log goes to a file in the temporary folder [default: info, as `serve`]
    #[arg(long, value_name = "FILTER")]
    pub server_log: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ImportKind {
    Sites,
    Assets,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What the file holds
    #[arg(value_enum)]
    pub kind: ImportKind,
    #[arg(long, value_name = "TENANT")]
    pub tenant: String,
    /// CSV with a header row. Sites: SiteCode, ParentCode, Name, Line1, Line2, Line3, Town, County,
    /// Country, PostalCode, Latitude, Longitude, Email, Telephone, GeographicAreaMatrixItemCode,
    /// SiteChannelMatrixItemCode, Hazards (separated by ';'). Assets: SiteCode, MatrixCode,
    /// ParentAssetIdentifier, Manufacturer, Model, SerialNumber, AssetTag, Description, Quantity,
    /// InstallationDate, PurchaseDate, PurchaseValue, CurrentValue, YearOfManufacture,
    /// LifeSpanValue, LifeSpanUnit, Category. Unknown columns are refused; missing ones are empty.
    pub file: PathBuf,
}
