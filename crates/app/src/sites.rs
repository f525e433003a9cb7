//! Sites: create and edit (every field of Create Site, every rule checked at once), notes,
//! read, list, and
//! the tenant's working hours.

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, can};
use caretaker_domain::clock::Timestamp;
use caretaker_domain::contractor::display_name;
use caretaker_domain::matrix::{CustomFieldTarget, MatrixCode, MatrixType, ReferenceGroup};
use caretaker_domain::rules::RuleCheck;
use caretaker_domain::site::SiteId;
use caretaker_domain::site::{self, SiteCode};
use caretaker_domain::user::Email;
use caretaker_storage::audit::{self, Event};
use caretaker_storage::sites::{self, NewSite, Note, Site};
use caretaker_storage::{Conn, StorageError, reference_data};

use crate::principal::Principal;
use crate::{App, AppError};
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
    let (_, code, name) = insert_checked(&mut tx, by, &input, now).await?;
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "site.created",
            target: Some(code.as_str()),
            detail: &name,
        },
        now,
    )
    .await?;
    let created = sites::get(&mut tx, by.tenant, code.as_str()).await?.ok_or(AppError::NotFound)?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(created)
}

/// A site's values once every rule holds.
struct Checked<'a> {
    code: SiteCode,
    name: String,
    parent: Option<SiteId>,
    area: Option<&'a str>,
    channel: Option<&'a str>,
    hours: Vec<(u8, String, String)>,
    answers: Vec<(String, String)>,
}

impl Checked<'_> {
    fn new_site<'b>(&'b self, input: &'b SiteInput) -> NewSite<'b> {
        let [l1, l2, l3, town, county, country, postal] = &input.address;
        NewSite {
            code: Some(&self.code),
            parent: self.parent,
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

async fn write_note(conn: &mut Conn, id: SiteId, note: &NoteInput) -> Result<(), AppError> {
    let note = Note {
        text: note.text.trim().to_owned(),
        start_date: present(&note.start_date).and_then(site::parse_date).map(|d| d.to_string()),
        end_date: present(&note.end_date).and_then(site::parse_date).map(|d| d.to_string()),
        is_warning: note.is_warning,
    };
    sites::add_note(conn, id, &note).await?;
    Ok(())
}

/// Hazards, working hours and custom-field answers of a checked site.
async fn write_details(conn: &mut Conn, id: SiteId, input: &SiteInput, checked: &Checked<'_>) -> Result<(), AppError> {
    for hazard in &input.hazards {
        sites::add_hazard(conn, id, hazard.trim()).await?;
    }
    for (day, opens, closes) in &checked.hours {
        sites::set_hours(conn, id, *day, opens, closes).await?;
    }
    for (name, value) in &checked.answers {
        caretaker_storage::custom_fields::set_answer(conn, "site", id.0, name, value).await?;
    }
    Ok(())
}

/// Checks every rule of one site, all at once. `editing` is the stored site being changed:
/// its code may not change and it may not become its own ancestor.
async fn check_site<'a>(
    conn: &mut Conn,
    by: &Principal,
    input: &'a SiteInput,
    editing: Option<&Site>,
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

    let parent = match present(&input.parent_code) {
        Some(parent) => {
            let found = sites::id_by_code(&mut *conn, by.tenant, parent).await?;
            if found.is_none() {
                check.push(BrokenRule::new("Site", "UnknownParent", format!("No site has the code {parent:?}")));
            }
            found
        }
        None => None,
    };
    if let (Some(parent), Some(stored)) = (parent, editing)
        && is_ancestor_or_self(conn, stored.id, parent).await?
    {
        check.push(BrokenRule::new(
            "Site",
            "ParentCycle",
            format!("{} cannot be placed under itself or a site below it", stored.code),
        ));
    }
    let area = present(&input.geographic_area);
    let channel = present(&input.site_channel);
    for (value, matrix_type, problem) in [
        (area, MatrixType::GeographicArea, "UnknownGeographicArea"),
        (channel, MatrixType::SiteChannel, "UnknownSiteChannel"),
    ] {
        if let Some(value) = value {
            let known = MatrixCode::parse(value).is_ok()
                && reference_data::matrix_item_exists(&mut *conn, by.tenant, matrix_type, value, true).await?;
            if !known {
                check.push(BrokenRule::new("Site", problem, format!("{value:?} is not a {matrix_type} matrix code")));
            }
        }
    }
    // The channel's custom fields (and its parents'); without a channel there are none.
    let fields = match channel {
        Some(channel) => crate::custom_fields::applicable(conn, by.tenant, CustomFieldTarget::Site, channel).await?,
        None => Vec::new(),
    };
    let answers = crate::custom_fields::check_answers("Site", &fields, &input.custom_fields, &mut check);
    for hazard in input.hazards.iter().map(|h| h.trim()) {
        if !reference_data::reference_value_exists(&mut *conn, by.tenant, ReferenceGroup::HealthAndSafety, hazard, true)
            .await?
        {
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

/// Checks every rule of one site and inserts it in the caller's transaction, without an
/// audit entry (the caller records one): the unit of both Create Site and the import.
pub async fn insert_checked(
    conn: &mut Conn,
    by: &Principal,
    input: &SiteInput,
    now: Timestamp,
) -> Result<(SiteId, SiteCode, String), AppError> {
    let checked = check_site(conn, by, input, None).await?;
    let id = match sites::insert(conn, by.tenant, &checked.new_site(input), now).await {
        Ok(id) => id,
        Err(StorageError::Conflict(_)) => {
            return Err(AppError::conflict(BrokenRule::new(
                "Site",
                "DuplicateSiteCode",
                format!("A site with the code {} already exists", checked.code),
            )));
        }
        Err(other) => return Err(other.into()),
    };
    for note in &input.notes {
        write_note(conn, id, note).await?;
    }
    write_details(conn, id, input, &checked).await?;
    Ok((id, checked.code, checked.name))
}

/// The stored site `code` for a change by `by`, in the caller's transaction; NotFound when
/// unknown or not visible to the caller.
async fn visible_site(conn: &mut Conn, by: &Principal, code: &str) -> Result<Site, AppError> {
    if !by.sees_all_sites() {
        return Err(AppError::NotFound);
    }
    sites::get(conn, by.tenant, code).await?.ok_or(AppError::NotFound)
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
    let checked = check_site(&mut tx, by, &input, Some(&stored)).await?;
    sites::update(&mut tx, stored.id, &checked.new_site(&input), now).await?;
    sites::clear_details(&mut tx, stored.id).await?;
    caretaker_storage::custom_fields::delete_answers(&mut tx, "site", stored.id.0).await?;
    write_details(&mut tx, stored.id, &input, &checked).await?;
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
            let visible = visibility::granted_site_ids(&mut conn, by.tenant, user).await?;
            let mut hours = Vec::new();
            for entry in sites::working_hours(&mut *conn, by.tenant).await? {
                let visible_site = match sites::id_by_code(&mut *conn, by.tenant, &entry.0).await? {
                    Some(id) => visible.contains(&id.0),
                    None => false,
                };
                if visible_site {
                    hours.push(entry);
                }
            }
            Ok(hours)
        }
        Scope::Contractor { .. } | Scope::Own { .. } => Ok(Vec::new()),
    }
}
