//! Sites: create and edit (every field of Create Site, every rule checked at once), notes,
//! read, list, and
//! the tenant's working hours.

use std::collections::{HashMap, HashSet};

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::contractor::display_name;
use caretaker_domain::matrix::{CustomFieldTarget, MatrixCode, MatrixType, ReferenceGroup};
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::site::SiteId;
use caretaker_domain::site::{self, SiteCode};
use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::Email;
use caretaker_storage::audit::{self, Event};
use caretaker_storage::custom_fields::CustomField;
use caretaker_storage::sites::{self, NewSite, Note, Site};
use caretaker_storage::{Conn, StorageError, bulk};

use crate::principal::Principal;
use crate::{App, AppError, import};
use caretaker_storage::visibility::{self, Scope};

/// A note as sent.
#[derive(Debug, Default, Clone)]
pub struct NoteInput {
    pub text: String,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub is_warning: bool,
}

/// Working hours of one day as sent.
#[derive(Debug, Default, Clone)]
pub struct HoursInput {
    pub day: String,
    pub opens: String,
    pub closes: String,
}

/// Create Site, as sent (fields of the Urgent API).
#[derive(Debug, Default, Clone)]
pub struct SiteInput {
    pub site_code: String,
    pub parent_code: Option<String>,
    pub name: String,
    /// Line1, Line2, Line3, Town, County, Country, PostalCode.
    pub address: [String; 7],
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub email: Option<String>,
    pub telephone: Option<String>,
    pub geographic_area: Option<String>,
    pub site_channel: Option<String>,
    pub hazards: Vec<String>,
    pub notes: Vec<NoteInput>,
    pub working_hours: Vec<HoursInput>,
    /// Answers to the custom fields of the site's channel: (name, value).
    pub custom_fields: Vec<(String, String)>,
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn too_long(check: &mut RuleCheck, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        check.push(BrokenRule::new("Site", "FieldTooLong", format!("{field} must be at most {max} characters")));
    }
}

/// Creates a site; nothing is written unless every rule holds.
pub async fn create(
    app: &App,
    by: &Authorized<'_, can::SitesWrite, Principal>,
    input: SiteInput,
) -> Result<Site, AppError> {
    let by = by.principal();
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let mut lookups = SiteLookups::default();
    lookups.load(&mut tx, by.tenant, &[&input], false).await?;
    let checked = check_site(&input, None, false, &lookups)?;
    insert_one(&mut tx, by.tenant, &mut lookups, &input, &checked, now).await?;
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "site.created",
            target: Some(checked.code.as_str()),
            detail: &checked.name,
        },
        now,
    )
    .await?;
    let created = sites::get(&mut tx, by.tenant, checked.code.as_str()).await?.ok_or(AppError::NotFound)?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(created)
}

/// What is known of the site with a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    /// No such site.
    Absent,
    /// Stored, with this id.
    Stored(SiteId),
    /// Accepted earlier in the same import, not written (yet).
    Accepted,
}

/// What the rules of sites refer to, looked up before the rules are checked: sites by code,
/// active Geographic Area and Site Channel codes, the custom fields of each channel, active
/// hazards. Create and edit load what their one site needs; the import loads what the whole
/// file needs before it writes, then adds the sites it accepts.
#[derive(Default)]
struct SiteLookups {
    /// By code key (the code trimmed and lowercased).
    sites: HashMap<String, Known>,
    areas: HashMap<String, bool>,
    channels: HashMap<String, bool>,
    fields: HashMap<String, Vec<CustomField>>,
    /// By value key (trimmed and lowercased): whether it is an active Health and Safety value.
    hazards: HashMap<String, bool>,
}

/// The key a parent code is looked up by (as [`sites::id_by_code`] folds it).
fn parent_key(input: &SiteInput) -> Option<String> {
    present(&input.parent_code).map(str::to_ascii_lowercase)
}

impl SiteLookups {
    /// Looks up what `inputs` refer to and is not known yet; with `own_codes`, also whether
    /// their own codes are taken.
    async fn load(
        &mut self,
        conn: &mut Conn,
        tenant: TenantId,
        inputs: &[&SiteInput],
        own_codes: bool,
    ) -> Result<(), StorageError> {
        let mut site_keys = HashSet::new();
        let (mut areas, mut channels, mut hazards) = (HashSet::new(), HashSet::new(), HashSet::new());
        for input in inputs {
            let own = own_codes.then(|| SiteCode::parse(&input.site_code).ok().map(|c| c.key())).flatten();
            for key in own.into_iter().chain(parent_key(input)) {
                if !self.sites.contains_key(&key) {
                    site_keys.insert(key);
                }
            }
            if let Some(area) = present(&input.geographic_area)
                && MatrixCode::parse(area).is_ok()
                && !self.areas.contains_key(area)
            {
                areas.insert(area.to_owned());
            }
            if let Some(channel) = present(&input.site_channel) {
                if MatrixCode::parse(channel).is_ok() && !self.channels.contains_key(channel) {
                    channels.insert(channel.to_owned());
                }
                if !self.fields.contains_key(channel) {
                    let fields =
                        crate::custom_fields::applicable(&mut *conn, tenant, CustomFieldTarget::Site, channel).await?;
                    self.fields.insert(channel.to_owned(), fields);
                }
            }
            for hazard in &input.hazards {
                let key = hazard.trim().to_lowercase();
                if !self.hazards.contains_key(&key) {
                    hazards.insert(key);
                }
            }
        }
        if !site_keys.is_empty() {
            let keys: Vec<String> = site_keys.into_iter().collect();
            let found = bulk::site_ids(conn, tenant, &keys).await?;
            for key in keys {
                let known = found.get(&key).map_or(Known::Absent, |id| Known::Stored(*id));
                self.sites.insert(key, known);
            }
        }
        for (codes, matrix_type, known) in [
            (areas, MatrixType::GeographicArea, &mut self.areas),
            (channels, MatrixType::SiteChannel, &mut self.channels),
        ] {
            if !codes.is_empty() {
                let codes: Vec<String> = codes.into_iter().collect();
                let active = bulk::active_matrix_codes(conn, tenant, matrix_type, &codes).await?;
                for code in codes {
                    let is_active = active.contains(&code);
                    known.insert(code, is_active);
                }
            }
        }
        if !hazards.is_empty() {
            let keys: Vec<String> = hazards.into_iter().collect();
            let active = bulk::active_reference_keys(conn, tenant, ReferenceGroup::HealthAndSafety, &keys).await?;
            for key in keys {
                let is_active = active.contains(&key);
                self.hazards.insert(key, is_active);
            }
        }
        Ok(())
    }

    fn site(&self, key: &str) -> Known {
        self.sites.get(key).copied().unwrap_or(Known::Absent)
    }
}

/// A site's values once every rule holds.
pub(crate) struct Checked<'a> {
    code: SiteCode,
    name: String,
    /// The parent's code key.
    parent: Option<String>,
    area: Option<&'a str>,
    channel: Option<&'a str>,
    hours: Vec<(u8, String, String)>,
    answers: Vec<(String, String)>,
}

impl Checked<'_> {
    fn new_site<'b>(&'b self, input: &'b SiteInput, parent: Option<SiteId>) -> NewSite<'b> {
        let [l1, l2, l3, town, county, country, postal] = &input.address;
        NewSite {
            code: Some(&self.code),
            parent,
            name: &self.name,
            address: [l1.trim(), l2.trim(), l3.trim(), town.trim(), county.trim(), country.trim(), postal.trim()],
            latitude: input.latitude,
            longitude: input.longitude,
            email: input.email.as_deref().unwrap_or("").trim(),
            telephone: input.telephone.as_deref().unwrap_or("").trim(),
            geographic_area_code: self.area,
            site_channel_code: self.channel,
        }
    }
}

/// The rules of notes (numbered from 1 in the messages).
fn check_notes(check: &mut RuleCheck, notes: &[NoteInput]) {
    for (i, note) in notes.iter().enumerate() {
        let n = i + 1;
        if note.text.trim().is_empty() || note.text.chars().count() > 4000 {
            check.push(BrokenRule::new(
                "Site",
                "InvalidNoteText",
                format!("Note {n}: Text must be 1 to 4,000 characters"),
            ));
        }
        let start = present(&note.start_date);
        let end = present(&note.end_date);
        match (start, end) {
            (Some(_), None) | (None, Some(_)) => check.push(BrokenRule::new(
                "Site",
                "NoteDatesTogether",
                format!("Note {n}: StartDate and EndDate must be given together"),
            )),
            (Some(s), Some(e)) => match (site::parse_date(s), site::parse_date(e)) {
                (Some(s), Some(e)) if e < s => check.push(BrokenRule::new(
                    "Site",
                    "NoteEndsBeforeItStarts",
                    format!("Note {n}: EndDate is before StartDate"),
                )),
                (Some(_), Some(_)) => {}
                _ => check.push(BrokenRule::new(
                    "Site",
                    "InvalidNoteDate",
                    format!("Note {n}: dates must be YYYY-MM-DD"),
                )),
            },
            (None, None) => {}
        }
    }
}

async fn write_note(conn: &mut Conn, id: SiteId, note: &NoteInput) -> Result<(), StorageError> {
    let note = Note {
        text: note.text.trim().to_owned(),
        start_date: present(&note.start_date).and_then(site::parse_date).map(|d| d.to_string()),
        end_date: present(&note.end_date).and_then(site::parse_date).map(|d| d.to_string()),
        is_warning: note.is_warning,
    };
    sites::add_note(conn, id, &note).await
}

/// Hazards (each once), working hours and custom-field answers of checked sites.
async fn write_details(conn: &mut Conn, written: &[(SiteId, &SiteInput, &Checked<'_>)]) -> Result<(), StorageError> {
    let mut hazards: Vec<(SiteId, &str)> = Vec::new();
    for (id, input, _) in written {
        let first = hazards.len();
        for hazard in input.hazards.iter().map(|h| h.trim()) {
            if !hazards[first..].iter().any(|(_, h)| *h == hazard) {
                hazards.push((*id, hazard));
            }
        }
    }
    sites::add_hazards(conn, &hazards).await?;
    for (id, _, checked) in written {
        for (day, opens, closes) in &checked.hours {
            sites::set_hours(conn, *id, *day, opens, closes).await?;
        }
        for (name, value) in &checked.answers {
            caretaker_storage::custom_fields::set_answer(conn, "site", id.0, name, value).await?;
        }
    }
    Ok(())
}

/// Checks every rule of one site, all at once, against what `lookups` found. `editing` is
/// the stored site being changed: its code may not change, and `parent_cycle` says whether
/// the new parent is the site itself or below it.
fn check_site<'a>(
    input: &'a SiteInput,
    editing: Option<&Site>,
    parent_cycle: bool,
    lookups: &SiteLookups,
) -> Result<Checked<'a>, AppError> {
    let mut check = RuleCheck::new();
    // Bounded lists: one request cannot hold the writer for thousands of statements.
    for (field, count, max) in [
        ("Hazards", input.hazards.len(), 100),
        ("Notes", input.notes.len(), 100),
        ("WorkingHours", input.working_hours.len(), 7),
        ("CustomFields", input.custom_fields.len(), 200),
    ] {
        if count > max {
            check.push(BrokenRule::new("Site", "TooManyItems", format!("{field} may have at most {max} entries")));
        }
    }
    let code = check.check(SiteCode::parse(&input.site_code));
    if let (Some(code), Some(stored)) = (&code, editing)
        && code.key() != stored.code.to_ascii_lowercase()
    {
        check.push(BrokenRule::new(
            "Site",
            "SiteCodeCannotChange",
            format!("The SiteCode of {} cannot change", stored.code),
        ));
    }
    let name = check.check(display_name("Site", &input.name, 200));
    for (field, value) in
        ["Line1", "Line2", "Line3", "Town", "County", "Country", "PostalCode"].iter().zip(&input.address)
    {
        too_long(&mut check, &format!("Address.{field}"), value, 200);
    }
    if input.latitude.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
        check.push(BrokenRule::new("Site", "InvalidLatitude", "Location.Latitude must be between -90 and 90"));
    }
    if input.longitude.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
        check.push(BrokenRule::new("Site", "InvalidLongitude", "Location.Longitude must be between -180 and 180"));
    }
    if input.latitude.is_some() != input.longitude.is_some() {
        check.push(BrokenRule::new("Site", "IncompleteLocation", "Location needs both Latitude and Longitude"));
    }
    if let Some(email) = present(&input.email)
        && Email::parse(email).is_err()
    {
        check.push(BrokenRule::new("Site", "InvalidEmail", format!("{email:?} is not a valid e-mail address")));
    }
    too_long(&mut check, "Telephone", input.telephone.as_deref().unwrap_or(""), 50);
    check_notes(&mut check, &input.notes);
    let mut hours = Vec::new();
    for h in &input.working_hours {
        match (site::day_number(&h.day), site::parse_clock_time(&h.opens), site::parse_clock_time(&h.closes)) {
            (Some(day), Some(opens), Some(closes)) if opens < closes => {
                if hours.iter().any(|(d, _, _)| *d == day) {
                    check.push(BrokenRule::new(
                        "Site",
                        "DuplicateWorkingDay",
                        format!("{} appears twice in WorkingHours", h.day),
                    ));
                }
                hours.push((day, h.opens.trim().to_owned(), h.closes.trim().to_owned()));
            }
            _ => check.push(BrokenRule::new(
                "Site",
                "InvalidWorkingHours",
                format!(
                    "WorkingHours: {:?} {:?}-{:?} is not a day (Monday..Sunday) with HH:MM opening before closing",
                    h.day, h.opens, h.closes
                ),
            )),
        }
    }

    let parent = parent_key(input);
    if let Some(key) = &parent
        && lookups.site(key) == Known::Absent
    {
        check.push(unknown_parent(input));
    }
    if parent_cycle && let Some(stored) = editing {
        check.push(BrokenRule::new(
            "Site",
            "ParentCycle",
            format!("{} cannot be placed under itself or a site below it", stored.code),
        ));
    }
    let area = present(&input.geographic_area);
    let channel = present(&input.site_channel);
    for (value, active, matrix_type, problem) in [
        (area, &lookups.areas, MatrixType::GeographicArea, "UnknownGeographicArea"),
        (channel, &lookups.channels, MatrixType::SiteChannel, "UnknownSiteChannel"),
    ] {
        if let Some(value) = value {
            let known = MatrixCode::parse(value).is_ok() && active.get(value).copied().unwrap_or(false);
            if !known {
                check.push(BrokenRule::new("Site", problem, format!("{value:?} is not a {matrix_type} matrix code")));
            }
        }
    }
    // The channel's custom fields (and its parents'); without a channel there are none.
    let fields = channel.and_then(|c| lookups.fields.get(c)).map_or(&[][..], Vec::as_slice);
    let answers = crate::custom_fields::check_answers("Site", fields, &input.custom_fields, &mut check);
    for hazard in input.hazards.iter().map(|h| h.trim()) {
        if !lookups.hazards.get(&hazard.to_lowercase()).copied().unwrap_or(false) {
            check.push(BrokenRule::new(
                "Site",
                "UnknownHazard",
                format!("{hazard:?} is not a Health and Safety value"),
            ));
        }
    }
    check.finish().map_err(AppError::Invalid)?;
    let (Some(code), Some(name)) = (code, name) else { return Err(AppError::internal("checked input missing")) };
    Ok(Checked { code, name, parent, area, channel, hours, answers })
}

fn unknown_parent(input: &SiteInput) -> BrokenRule {
    let parent = present(&input.parent_code).unwrap_or("");
    BrokenRule::new("Site", "UnknownParent", format!("No site has the code {parent:?}"))
}

fn duplicate_code(code: &SiteCode) -> AppError {
    AppError::conflict(BrokenRule::new(
        "Site",
        "DuplicateSiteCode",
        format!("A site with the code {code} already exists"),
    ))
}

/// Whether `site` is `candidate` or one of its ancestors (walking up from `candidate`).
async fn is_ancestor_or_self(conn: &mut Conn, site: SiteId, candidate: SiteId) -> Result<bool, AppError> {
    let mut at = Some(candidate);
    // Bounded: a tree deeper than this is refused as a cycle rather than walked for ever.
    for _ in 0..10_000 {
        match at {
            Some(id) if id == site => return Ok(true),
            Some(id) => at = sites::parent_id(&mut *conn, id).await?,
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// Inserts one checked site with its notes and details, in the caller's transaction and
/// without an audit entry: Create Site, and the import's row-at-a-time fallback. The parent
/// is taken from `lookups` or, when it was not written by this transaction, looked up now;
/// `lookups` learns whether the site was written.
async fn insert_one(
    conn: &mut Conn,
    tenant: TenantId,
    lookups: &mut SiteLookups,
    input: &SiteInput,
    checked: &Checked<'_>,
    now: Timestamp,
) -> Result<SiteId, AppError> {
    let key = checked.code.key();
    let parent = match &checked.parent {
        None => None,
        Some(parent) => match lookups.site(parent) {
            Known::Stored(id) => Some(id),
            Known::Absent | Known::Accepted => match sites::id_by_code(&mut *conn, tenant, parent).await? {
                Some(id) => Some(id),
                None => {
                    lookups.sites.insert(key, Known::Absent);
                    return Err(AppError::invalid(unknown_parent(input)));
                }
            },
        },
    };
    let id = match sites::insert(conn, tenant, &checked.new_site(input, parent), now).await {
        Ok(id) => id,
        Err(StorageError::Conflict(_)) => {
            // Taken by a site stored outside this import: that one exists.
            lookups.sites.insert(key, Known::Accepted);
            return Err(duplicate_code(&checked.code));
        }
        Err(other) => {
            lookups.sites.insert(key, Known::Absent);
            return Err(other.into());
        }
    };
    let details = async {
        for note in &input.notes {
            write_note(conn, id, note).await?;
        }
        write_details(conn, &[(id, input, checked)]).await
    };
    if let Err(err) = details.await {
        lookups.sites.insert(key, Known::Absent);
        return Err(err.into());
    }
    lookups.sites.insert(key, Known::Stored(id));
    Ok(id)
}

/// The import of sites: rows are checked against lookups loaded for the whole file (a row
/// may name as parent a site stored before or accepted earlier in the file), and written
/// several to a statement.
pub(crate) struct SiteImport {
    tenant: TenantId,
    lookups: SiteLookups,
}

impl SiteImport {
    pub(crate) fn new(tenant: TenantId) -> Self {
        SiteImport { tenant, lookups: SiteLookups::default() }
    }
}

impl<'r> import::Importer<'r> for SiteImport {
    type Row = SiteInput;
    type Checked = (&'r SiteInput, Checked<'r>);

    async fn load(&mut self, conn: &mut Conn, rows: &[&'r SiteInput]) -> Result<(), AppError> {
        Ok(self.lookups.load(conn, self.tenant, rows, true).await?)
    }

    fn check(&mut self, input: &'r SiteInput) -> Result<Self::Checked, AppError> {
        let checked = check_site(input, None, false, &self.lookups)?;
        let key = checked.code.key();
        // As Create Site: a taken code is refused only once every other rule holds.
        if self.lookups.site(&key) != Known::Absent {
            return Err(duplicate_code(&checked.code));
        }
        self.lookups.sites.insert(key, Known::Accepted);
        Ok((input, checked))
    }

    async fn write(&mut self, conn: &mut Conn, rows: &[Self::Checked], now: Timestamp) -> Result<(), StorageError> {
        // A row whose parent is in this same chunk waits for the statement that inserts its
        // parent: generation 0 has its parent stored already (or none), generation n+1 has a
        // parent of generation n.
        let mut generation_of: HashMap<String, usize> = HashMap::with_capacity(rows.len());
        let mut generations = Vec::with_capacity(rows.len());
        for (_, checked) in rows {
            let generation = checked.parent.as_ref().and_then(|p| generation_of.get(p)).map_or(0, |g| g + 1);
            generation_of.insert(checked.code.key(), generation);
            generations.push(generation);
        }
        let deepest = generations.iter().copied().max().unwrap_or(0);
        for generation in 0..=deepest {
            let mut batch = Vec::new();
            for ((input, checked), _) in rows.iter().zip(&generations).filter(|(_, g)| **g == generation) {
                let parent = match &checked.parent {
                    None => None,
                    Some(parent) => match self.lookups.site(parent) {
                        Known::Stored(id) => Some(id),
                        _ => return Err(StorageError::Corrupt(format!("the parent {parent} was not written first"))),
                    },
                };
                batch.push(checked.new_site(input, parent));
            }
            for (key, id) in sites::insert_many(conn, self.tenant, &batch, now).await? {
                self.lookups.sites.insert(key, Known::Stored(id));
            }
        }
        let mut written = Vec::with_capacity(rows.len());
        for (input, checked) in rows {
            let Known::Stored(id) = self.lookups.site(&checked.code.key()) else {
                return Err(StorageError::Corrupt(format!("the site {} was not written", checked.code)));
            };
            for note in &input.notes {
                write_note(conn, id, note).await?;
            }
            written.push((id, *input, checked));
        }
        write_details(conn, &written).await
    }

    async fn write_one(&mut self, conn: &mut Conn, row: &Self::Checked, now: Timestamp) -> Result<(), AppError> {
        let (input, checked) = row;
        insert_one(conn, self.tenant, &mut self.lookups, input, checked, now).await.map(|_| ())
    }
}

/// The stored site `code` for a change by `by`, in the caller's transaction; NotFound when
/// unknown or not visible to the caller.
async fn visible_site(conn: &mut Conn, by: &Principal, code: &str) -> Result<Site, AppError> {
    let site = sites::get(conn, by.tenant, code).await?.ok_or(AppError::NotFound)?;
    if visibility::site_visible(conn, by.tenant, by.scope(), site.id.0).await? {
        Ok(site)
    } else {
        Err(AppError::NotFound)
    }
}

/// Edit Site: the same rules as create, but the SiteCode cannot change and the site cannot
/// become its own ancestor. Replaces every value but the notes (which are kept).
pub async fn update(
    app: &App,
    by: &Authorized<'_, can::SitesWrite, Principal>,
    code: &str,
    input: SiteInput,
) -> Result<Site, AppError> {
    let by = by.principal();
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let stored = visible_site(&mut tx, by, code).await?;
    // Notes are added on their own ([`add_note`]); an edit neither checks nor writes any.
    let input = SiteInput { notes: Vec::new(), ..input };
    let mut lookups = SiteLookups::default();
    lookups.load(&mut tx, by.tenant, &[&input], false).await?;
    let parent = match parent_key(&input).map(|key| lookups.site(&key)) {
        Some(Known::Stored(id)) => Some(id),
        _ => None,
    };
    let cycle = match parent {
        Some(parent) => is_ancestor_or_self(&mut tx, stored.id, parent).await?,
        None => false,
    };
    let checked = check_site(&input, Some(&stored), cycle, &lookups)?;
    sites::update(&mut tx, stored.id, &checked.new_site(&input, parent), now).await?;
    sites::clear_details(&mut tx, stored.id).await?;
    caretaker_storage::custom_fields::delete_answers(&mut tx, "site", stored.id.0).await?;
    write_details(&mut tx, &[(stored.id, &input, &checked)]).await?;
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "site.changed",
            target: Some(stored.code.as_str()),
            detail: &checked.name,
        },
        now,
    )
    .await?;
    let changed = sites::get(&mut tx, by.tenant, &stored.code).await?.ok_or(AppError::NotFound)?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(changed)
}

/// Adds one note to an existing site, with the note rules of Create Site.
pub async fn add_note(
    app: &App,
    by: &Authorized<'_, can::SitesWrite, Principal>,
    code: &str,
    note: NoteInput,
) -> Result<Site, AppError> {
    let by = by.principal();
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let stored = visible_site(&mut tx, by, code).await?;
    let mut check = RuleCheck::new();
    check_notes(&mut check, std::slice::from_ref(&note));
    check.finish().map_err(AppError::Invalid)?;
    write_note(&mut tx, stored.id, &note).await?;
    let detail: String = note.text.trim().chars().take(200).collect();
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "site.note_added",
            target: Some(stored.code.as_str()),
            detail: &detail,
        },
        now,
    )
    .await?;
    let changed = sites::get(&mut tx, by.tenant, &stored.code).await?.ok_or(AppError::NotFound)?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(changed)
}

/// One site the caller may see; [`AppError::NotFound`] otherwise (also for a site that
/// exists but lies outside the caller's site access).
pub async fn get(app: &App, by: &Authorized<'_, can::SitesRead, Principal>, code: &str) -> Result<Site, AppError> {
    let by = by.principal();
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    let site = match by.scope() {
        Scope::All => sites::get(&mut conn, by.tenant, code).await?,
        Scope::Granted { user } => {
            let visible = visibility::granted_site_ids(&mut conn, by.tenant, user).await?;
            sites::get(&mut conn, by.tenant, code).await?.filter(|s| visible.contains(&s.id.0))
        }
        Scope::Contractor { .. } | Scope::Own { .. } => None,
    };
    site.ok_or(AppError::NotFound)
}

/// A page of the sites the caller may see, by code, after the cursor. Users with explicit
/// site access page through the tenant's sites keeping theirs (a page may hold fewer than
/// `limit` sites while a cursor follows).
pub async fn list(
    app: &App,
    by: &Authorized<'_, can::SitesRead, Principal>,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<Site>, Option<String>), AppError> {
    let by = by.principal();
    let limit = limit.clamp(1, 200);
    let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
    match by.scope() {
        Scope::All => Ok(sites::page(&mut conn, by.tenant, after, limit).await?),
        Scope::Granted { user } => {
            let visible = visibility::granted_site_ids(&mut conn, by.tenant, user).await?;
            let mut kept = Vec::new();
            let mut cursor = after.map(str::to_owned);
            // At most ten pages read per call, so one call stays cheap however sparse the access.
            for _ in 0..10 {
                let (page, next) = sites::page(&mut conn, by.tenant, cursor.as_deref(), limit).await?;
                kept.extend(page.into_iter().filter(|s| visible.contains(&s.id.0)));
                cursor = next;
                if kept.len() as i64 >= limit || cursor.is_none() {
                    break;
                }
            }
            if kept.len() as i64 > limit {
                kept.truncate(usize::try_from(limit).unwrap_or(0));
                let last = kept.last().map(|s| s.code.trim().to_ascii_lowercase());
                return Ok((kept, last));
            }
            Ok((kept, cursor))
        }
        Scope::Contractor { .. } | Scope::Own { .. } => Ok((Vec::new(), None)),
    }
}

/// The working hours of the sites the caller may see.
pub async fn working_hours(
    app: &App,
    by: &Authorized<'_, can::SitesRead, Principal>,
) -> Result<Vec<(String, u8, String, String)>, AppError> {
    let by = by.principal();
    match by.scope() {
        Scope::All => Ok(sites::working_hours(app.db.read(), by.tenant).await?),
        Scope::Granted { user } => {
            let mut conn = app.db.read().acquire().await.map_err(StorageError::from)?;
            let visible = visibility::granted_site_keys(&mut conn, by.tenant, user).await?;
            let hours = sites::working_hours(&mut *conn, by.tenant).await?;
            Ok(hours.into_iter().filter(|(code, ..)| visible.contains(&code.to_ascii_lowercase())).collect())
        }
        Scope::Contractor { .. } | Scope::Own { .. } => Ok(Vec::new()),
    }
}
