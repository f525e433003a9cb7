//! Matrices: hierarchical category codes (`01-01-01`) per matrix type, and reference lists
//! (tenant-defined values by group). Also the default configuration a new tenant gets.

use std::fmt;

use crate::BrokenRule;

macro_rules! matrix_types {
    ($($variant:ident = $name:literal, $use:literal;)+) => {
        /// The matrix types of the Urgent API (its `Matrix` page lists thirteen).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum MatrixType { $($variant),+ }

        impl MatrixType {
            pub const ALL: &'static [MatrixType] = &[$(MatrixType::$variant),+];

            /// The name as the API and the pages show it (`Geographic Area`).
            pub fn name(self) -> &'static str {
                match self { $(MatrixType::$variant => $name),+ }
            }

            /// What the type categorises.
            pub fn used_for(self) -> &'static str {
                match self { $(MatrixType::$variant => $use),+ }
            }
        }
    };
}

matrix_types! {
    Asset = "Asset", "Asset categories";
    Event = "Event", "Logging non-maintenance activities";
    GeographicArea = "Geographic Area", "Geographic grouping of sites";
    LicensesAndPermits = "Licenses and Permits", "A site's operating permits";
    Reactive = "Reactive", "Reactive maintenance issues (the task category)";
    Safety = "Safety", "Safety audits";
    Scheduled = "Scheduled", "Scheduled works";
    ScheduledTaskCategory = "Scheduled Task Category", "Kind of scheduled task";
    SiteChannel = "Site Channel", "Business-unit grouping of sites";
    Survey = "Survey", "Site surveys";
    TaskPermit = "Task Permit", "Task permits";
    TaskResolutionCause = "Task Resolution Cause", "Answers to the resolution-cause question of a status change";
    TaskResolutionRemedy = "Task Resolution Remedy", "Answers to the resolution-remedy question of a status change";
}

impl MatrixType {
    /// Accepts the name in any case, with spaces, hyphens, underscores or nothing between
    /// words (`Geographic Area`, `geographic-area`, `geographicarea`).
    pub fn parse(text: &str) -> Option<MatrixType> {
        let squash = |s: &str| s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        let wanted = squash(text);
        MatrixType::ALL.iter().copied().find(|t| squash(t.name()) == wanted)
    }
}

impl fmt::Display for MatrixType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A matrix code: two-digit groups joined by `-` (`01`, `01-02`, `01-02-03`), at most six
/// levels. Its parent is the code without the last group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MatrixCode(String);

impl MatrixCode {
    pub fn parse(text: &str) -> Result<Self, BrokenRule> {
        let text = text.trim();
        let groups: Vec<&str> = text.split('-').collect();
        let valid = !text.is_empty()
            && groups.len() <= 6
            && groups.iter().all(|g| g.len() == 2 && g.bytes().all(|b| b.is_ascii_digit()));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(BrokenRule::new("Matrix", "InvalidCode", format!("{text:?} is not a matrix code such as 01-02-03")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn parent(&self) -> Option<MatrixCode> {
        self.0.rsplit_once('-').map(|(parent, _)| MatrixCode(parent.to_owned()))
    }
}

impl fmt::Display for MatrixCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The reference list groups the API names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReferenceGroup {
    /// Task defect sources (the `task` group).
    TaskDefectSource,
    /// Document categories (the `document` group).
    DocumentCategory,
    /// Health-and-safety hazards of sites.
    HealthAndSafety,
    AssetCategory,
}

impl ReferenceGroup {
    pub const ALL: [ReferenceGroup; 4] = [
        ReferenceGroup::TaskDefectSource,
        ReferenceGroup::DocumentCategory,
        ReferenceGroup::HealthAndSafety,
        ReferenceGroup::AssetCategory,
    ];

    /// The stored and shown name (`task`, `document`, `Health and Safety`, `Asset Category`).
    pub fn name(self) -> &'static str {
        match self {
            ReferenceGroup::TaskDefectSource => "task",
            ReferenceGroup::DocumentCategory => "document",
            ReferenceGroup::HealthAndSafety => "Health and Safety",
            ReferenceGroup::AssetCategory => "Asset Category",
        }
    }

    /// Any case, any separators; `hazards`, `defectsource` and `documentcategory` too.
    pub fn parse(text: &str) -> Option<ReferenceGroup> {
        let squashed: String =
            text.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        match squashed.as_str() {
            "task" | "taskdefectsource" | "defectsource" | "defectsources" => Some(ReferenceGroup::TaskDefectSource),
            "document" | "documentcategory" | "documentcategories" => Some(ReferenceGroup::DocumentCategory),
            "healthandsafety" | "hazards" | "hazard" | "healthandsafetyv35" => Some(ReferenceGroup::HealthAndSafety),
            "assetcategory" | "assetcategories" | "asset" => Some(ReferenceGroup::AssetCategory),
            _ => None,
        }
    }
}

/// The matrix items a new tenant starts with: `(type, code, name)`.
pub const DEFAULT_MATRIX_ITEMS: &[(MatrixType, &str, &str)] = &[
    (MatrixType::Reactive, "01", "Building"),
    (MatrixType::Reactive, "01-01", "Roof and gutters"),
    (MatrixType::Reactive, "01-02", "Doors and windows"),
    (MatrixType::Reactive, "01-03", "Lighting"),
    (MatrixType::Reactive, "02", "Fuel equipment"),
    (MatrixType::Reactive, "02-01", "Dispenser fault"),
    (MatrixType::Reactive, "02-02", "Tank alarm"),
    (MatrixType::Reactive, "02-02-01", "High level alarm"),
    (MatrixType::Reactive, "02-02-02", "Leak detection alarm"),
    (MatrixType::Reactive, "03", "Refrigeration"),
    (MatrixType::Reactive, "03-01", "Chiller not cooling"),
    (MatrixType::Asset, "01", "Fuel system"),
    (MatrixType::Asset, "01-01", "Dispenser"),
    (MatrixType::Asset, "01-02", "Underground tank"),
    (MatrixType::Asset, "02", "HVAC"),
    (MatrixType::Asset, "02-01", "Air conditioning unit"),
    (MatrixType::GeographicArea, "01", "North"),
    (MatrixType::GeographicArea, "01-01", "North East"),
    (MatrixType::GeographicArea, "01-02", "North West"),
    (MatrixType::GeographicArea, "02", "South"),
    (MatrixType::SiteChannel, "01", "Retail"),
    (MatrixType::SiteChannel, "01-01", "Forecourt"),
    (MatrixType::SiteChannel, "02", "Commercial"),
    (MatrixType::Scheduled, "01", "Statutory"),
    (MatrixType::Scheduled, "02", "Recommended"),
    (MatrixType::ScheduledTaskCategory, "01", "Planned"),
    (MatrixType::ScheduledTaskCategory, "02", "Inspection"),
    (MatrixType::TaskResolutionCause, "01", "Wear and tear"),
    (MatrixType::TaskResolutionCause, "02", "Accidental damage"),
    (MatrixType::TaskResolutionCause, "03", "No fault found"),
    (MatrixType::TaskResolutionRemedy, "01", "Repaired"),
    (MatrixType::TaskResolutionRemedy, "02", "Replaced"),
    (MatrixType::TaskResolutionRemedy, "03", "No action needed"),
];

/// The reference list values a new tenant starts with.
pub const DEFAULT_REFERENCE_VALUES: &[(ReferenceGroup, &str)] = &[
    (ReferenceGroup::TaskDefectSource, "Damage - Known Source"),
    (ReferenceGroup::TaskDefectSource, "Damage - Unknown Source"),
    (ReferenceGroup::TaskDefectSource, "Wear and Tear"),
    (ReferenceGroup::TaskDefectSource, "Unknown"),
    (ReferenceGroup::DocumentCategory, "Photo"),
    (ReferenceGroup::DocumentCategory, "Certificate"),
    (ReferenceGroup::DocumentCategory, "Invoice"),
    (ReferenceGroup::DocumentCategory, "Quote"),
    (ReferenceGroup::DocumentCategory, "Report"),
    (ReferenceGroup::HealthAndSafety, "Asbestos"),
    (ReferenceGroup::HealthAndSafety, "Confined space"),
    (ReferenceGroup::HealthAndSafety, "Working at height"),
    (ReferenceGroup::HealthAndSafety, "Live electrics"),
    (ReferenceGroup::HealthAndSafety, "Flammable vapours"),
    (ReferenceGroup::AssetCategory, "Fuel dispenser"),
    (ReferenceGroup::AssetCategory, "Storage tank"),
    (ReferenceGroup::AssetCategory, "HVAC"),
    (ReferenceGroup::AssetCategory, "Refrigeration"),
    (ReferenceGroup::AssetCategory, "Lighting"),
];

/// What a custom field applies to, and which matrix names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CustomFieldTarget {
    /// By Reactive matrix code.
    Task,
    /// By Asset matrix code.
    Asset,
    /// By Site Channel matrix code.
    Site,
    /// Compliance questions of a task's lifecycle, by Reactive matrix code.
    Compliance,
}

impl CustomFieldTarget {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "task" => Some(Self::Task),
            "asset" => Some(Self::Asset),
            "site" => Some(Self::Site),
            "compliance" => Some(Self::Compliance),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Task => "task",
            Self::Asset => "asset",
            Self::Site => "site",
            Self::Compliance => "compliance",
        }
    }

    pub fn matrix_type(self) -> MatrixType {
        match self {
            Self::Task | Self::Compliance => MatrixType::Reactive,
            Self::Asset => MatrixType::Asset,
            Self::Site => MatrixType::SiteChannel,
        }
    }
}

/// The kinds of answer a custom field takes.
pub const CUSTOM_FIELD_TYPES: [&str; 5] = ["Boolean", "Text", "Number", "Date", "List"];

/// A custom field of the default configuration:
/// `(target, matrix code, name, question, mandatory, data type, answers, parent and trigger)`.
pub type DefaultCustomField = (
    CustomFieldTarget,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static str,
    &'static [&'static str],
    Option<(&'static str, &'static str)>,
);

pub const DEFAULT_CUSTOM_FIELDS: &[DefaultCustomField] = &[
    (CustomFieldTarget::Task, "02", "Custom_Pump_Number", "Which pump or dispenser number?", true, "Number", &[], None),
    (CustomFieldTarget::Task, "02", "Custom_Is_Leaking", "Is fuel leaking?", true, "Boolean", &[], None),
    (
        CustomFieldTarget::Task,
        "02",
        "Custom_Leak_Volume",
        "Roughly how many litres have leaked?",
        true,
        "Number",
        &[],
        Some(("Custom_Is_Leaking", "true")),
    ),
    (CustomFieldTarget::Task, "03", "Custom_Temperature", "Displayed temperature (°C)?", false, "Number", &[], None),
    (CustomFieldTarget::Asset, "01-01", "Custom_Hose_Count", "How many hoses?", false, "Number", &[], None),
    (
        CustomFieldTarget::Asset,
        "01",
        "Custom_Fuel_Grade",
        "Fuel grade",
        false,
        "List",
        &["Unleaded", "Diesel", "Super"],
        None,
    ),
    (CustomFieldTarget::Site, "01", "Custom_Store_Manager", "Store manager's name", false, "Text", &[], None),
];

/// Whether `answer` fits a field of `data_type` (with `answers` for lists).
pub fn answer_fits(data_type: &str, answers: &[String], answer: &str) -> bool {
    let answer = answer.trim();
    match data_type {
        "Boolean" => matches!(answer.to_ascii_lowercase().as_str(), "true" | "false"),
        "Number" => answer.parse::<f64>().is_ok_and(f64::is_finite),
        "Date" => crate::site::parse_date(answer).is_some(),
        "List" => answers.iter().any(|a| a.eq_ignore_ascii_case(answer)),
        _ => !answer.is_empty() && answer.chars().count() <= 4000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn thirteen_types_parsed_loosely() {
        assert_eq!(MatrixType::ALL.len(), 13);
        assert_eq!(MatrixType::parse("Geographic Area"), Some(MatrixType::GeographicArea));
        assert_eq!(MatrixType::parse("geographic-area"), Some(MatrixType::GeographicArea));
        assert_eq!(MatrixType::parse("REACTIVE"), Some(MatrixType::Reactive));
        assert_eq!(MatrixType::parse("taskresolutioncause"), Some(MatrixType::TaskResolutionCause));
        assert_eq!(MatrixType::parse("nope"), None);
    }

    #[test]
    fn codes_and_parents() {
        let code = MatrixCode::parse("01-02-03").unwrap();
        assert_eq!(code.parent().unwrap().as_str(), "01-02");
        assert_eq!(MatrixCode::parse("01").unwrap().parent(), None);
        for bad in ["", "1", "01-", "01-2", "aa", "01-02-03-04-05-06-07", "01 02"] {
            assert!(MatrixCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_defaults_are_a_consistent_tree() {
        for (matrix_type, code, _) in DEFAULT_MATRIX_ITEMS {
            let code = MatrixCode::parse(code).unwrap();
            if let Some(parent) = code.parent() {
                assert!(
                    DEFAULT_MATRIX_ITEMS.iter().any(|(t, c, _)| t == matrix_type && *c == parent.as_str()),
                    "{matrix_type} {code} has no parent"
                );
            }
        }
        for group in ReferenceGroup::ALL {
            assert!(DEFAULT_REFERENCE_VALUES.iter().any(|(g, _)| *g == group));
            assert_eq!(ReferenceGroup::parse(group.name()), Some(group));
        }
    }

    #[test]
    fn answers_fit_their_types() {
        assert!(answer_fits("Boolean", &[], "TRUE"));
        assert!(!answer_fits("Boolean", &[], "yes"));
        assert!(answer_fits("Number", &[], "12.5"));
        assert!(!answer_fits("Number", &[], "NaN"));
        assert!(answer_fits("Date", &[], "2024-02-29"));
        assert!(answer_fits("List", &["Diesel".into()], "diesel"));
        assert!(!answer_fits("List", &["Diesel".into()], "Petrol"));
        assert!(!answer_fits("Text", &[], "  "));
        for (target, code, name, _, _, data_type, _, parent) in DEFAULT_CUSTOM_FIELDS {
            assert!(MatrixCode::parse(code).is_ok(), "{name}");
            assert!(DEFAULT_MATRIX_ITEMS.iter().any(|(t, c, _)| *t == target.matrix_type() && c == code), "{name}");
            assert!(CUSTOM_FIELD_TYPES.contains(data_type));
            if let Some((parent, _)) = parent {
                assert!(DEFAULT_CUSTOM_FIELDS.iter().any(|f| f.2 == *parent));
            }
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC{0,40}") {
            let _ = MatrixCode::parse(&text);
            let _ = MatrixType::parse(&text);
            let _ = ReferenceGroup::parse(&text);
        }
    }
}
