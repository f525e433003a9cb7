//! `caretaker import sites|assets --tenant T FILE.csv`: onboarding in bulk, all or nothing.

use std::collections::HashMap;
use std::io::IsTerminal;

use caretaker_app::assets::AssetInput;
use caretaker_app::import::{self, Outcome};
use caretaker_app::sites::SiteInput;
use caretaker_domain::access::{Holder, can};
use indicatif::{ProgressBar, ProgressStyle};

use super::operator_in;
use crate::Failure;
use crate::args::{ImportArgs, ImportKind};
use crate::config::Settings;
use crate::startup;

const SITE_COLUMNS: &[&str] = &[
    "SiteCode",
    "ParentCode",
    "Name",
    "Line1",
    "Line2",
    "Line3",
    "Town",
    "County",
    "Country",
    "PostalCode",
    "Latitude",
    "Longitude",
    "Email",
    "Telephone",
    "GeographicAreaMatrixItemCode",
    "SiteChannelMatrixItemCode",
    "Hazards",
];

const ASSET_COLUMNS: &[&str] = &[
    "SiteCode",
    "MatrixCode",
    "ParentAssetIdentifier",
    "Manufacturer",
    "Model",
    "SerialNumber",
    "AssetTag",
    "Description",
    "Quantity",
    "InstallationDate",
    "PurchaseDate",
    "PurchaseValue",
    "CurrentValue",
    "YearOfManufacture",
    "LifeSpanValue",
    "LifeSpanUnit",
    "Category",
];

/// One CSV record by column name.
struct Record<'a> {
    columns: &'a HashMap<String, usize>,
    record: &'a csv::StringRecord,
}

impl Record<'_> {
    fn text(&self, column: &str) -> String {
        self.columns.get(&column.to_ascii_lowercase()).and_then(|i| self.record.get(*i)).unwrap_or("").trim().to_owned()
    }

    fn optional(&self, column: &str) -> Option<String> {
        Some(self.text(column)).filter(|t| !t.is_empty())
    }

    fn number<T: std::str::FromStr>(&self, column: &str) -> Result<Option<T>, String> {
        match self.optional(column) {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| format!("{column}: {text:?} is not a number")),
        }
    }
}

fn site(r: &Record<'_>) -> Result<SiteInput, String> {
    Ok(SiteInput {
        site_code: r.text("SiteCode"),
        parent_code: r.optional("ParentCode"),
        name: r.text("Name"),
        address: [
            r.text("Line1"),
            r.text("Line2"),
            r.text("Line3"),
            r.text("Town"),
            r.text("County"),
            r.text("Country"),
            r.text("PostalCode"),
        ],
        latitude: r.number("Latitude")?,
        longitude: r.number("Longitude")?,
        email: r.optional("Email"),
        telephone: r.optional("Telephone"),
        geographic_area: r.optional("GeographicAreaMatrixItemCode"),
        site_channel: r.optional("SiteChannelMatrixItemCode"),
        hazards: r.text("Hazards").split(';').map(str::trim).filter(|h| !h.is_empty()).map(String::from).collect(),
        ..SiteInput::default()
    })
}

fn asset(r: &Record<'_>) -> Result<AssetInput, String> {
    let span_value: Option<i64> = r.number("LifeSpanValue")?;
    let span_unit = r.optional("LifeSpanUnit");
    Ok(AssetInput {
        parent_asset_identifier: r.optional("ParentAssetIdentifier"),
        site_code: r.text("SiteCode"),
        matrix_code: r.text("MatrixCode"),
        manufacturer: r.optional("Manufacturer"),
        model: r.optional("Model"),
        serial_number: r.optional("SerialNumber"),
        asset_tag: r.optional("AssetTag"),
        description: r.optional("Description"),
        quantity: r.number("Quantity")?,
        installation_date: r.optional("InstallationDate"),
        purchase_date: r.optional("PurchaseDate"),
        purchase_value: r.number("PurchaseValue")?,
        current_value: r.number("CurrentValue")?,
        year_of_manufacture: r.number("YearOfManufacture")?,
        life_span: (span_value.is_some() || span_unit.is_some()).then_some((span_value, span_unit)),
        category: r.optional("Category"),
        custom_fields: Vec::new(),
    })
}

/// Reads the whole file into rows (a row that cannot be read is an error of that row).
fn read<T>(
    path: &std::path::Path,
    known: &[&str],
    parse: impl Fn(&Record<'_>) -> Result<T, String>,
) -> Result<Vec<Result<T, String>>, Failure> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::None)
        .from_path(path)
        .map_err(|err| Failure::usage(format!("cannot read {}: {err}", path.display())))?;
    let headers =
        reader.headers().map_err(|err| Failure::usage(format!("{}: no header row: {err}", path.display())))?.clone();
    let mut columns = HashMap::new();
    for (i, name) in headers.iter().enumerate() {
        let name = name.trim();
        if !known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
            return Err(Failure::usage(format!(
                "{}: unknown column {name:?} (known: {})",
                path.display(),
                known.join(", ")
            )));
        }
        columns.insert(name.to_ascii_lowercase(), i);
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        rows.push(match record {
            Ok(record) => parse(&Record { columns: &columns, record: &record }),
            Err(err) => Err(format!("not a CSV row: {err}")),
        });
    }
    Ok(rows)
}

pub async fn run(args: ImportArgs, settings: &Settings) -> Result<(), Failure> {
    let app = startup::open_app(settings).await?;
    let outcome = async {
        let operator = operator_in(&app, &args.tenant).await?;
        let started = std::time::Instant::now();
        let (rows_total, bar_of): (usize, ProgressBar);
        let result = match args.kind {
            ImportKind::Sites => {
                let rows = read(&args.file, SITE_COLUMNS, site)?;
                rows_total = rows.len();
                bar_of = progress_bar(rows_total);
                let proof = operator.authorize::<can::SitesWrite>().ok_or_else(|| Failure::refused("not allowed"))?;
                import::sites(&app, &proof, rows, |done| bar_of.set_position(done as u64)).await?
            }
            ImportKind::Assets => {
                let rows = read(&args.file, ASSET_COLUMNS, asset)?;
                rows_total = rows.len();
                bar_of = progress_bar(rows_total);
                let proof = operator.authorize::<can::AssetsWrite>().ok_or_else(|| Failure::refused("not allowed"))?;
                import::assets(&app, &proof, rows, |done| bar_of.set_position(done as u64)).await?
            }
        };
        bar_of.finish_and_clear();
        match result {
            Outcome::Imported(count) => {
                println!("Imported {count} rows in {:.1} s.", started.elapsed().as_secs_f64());
                Ok(())
            }
            Outcome::Refused(errors) => {
                for error in errors.iter().take(100) {
                    // +1: the header is line 1 of the file.
                    eprintln!("line {}: {}", error.row + 1, error.messages.join("; "));
                }
                if errors.len() > 100 {
                    eprintln!("... and {} more refused rows", errors.len() - 100);
                }
                Err(Failure::refused(format!(
                    "nothing was imported: {} of {rows_total} rows break rules (listed above)",
                    errors.len()
                )))
            }
        }
    }
    .await;
    app.db.close().await;
    outcome
}

fn progress_bar(total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} rows ({per_sec}, {eta} left)") {
        bar.set_style(style);
    }
    bar
}
