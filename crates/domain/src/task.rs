//! Tasks (work orders) and what they move through: workflows and their statuses, service
//! levels, dispatch rules. Pure data and rules: which status may follow which, what a
//! target status requires, which dispatch rule wins, when a task is due.

use std::fmt;

use crate::BrokenRule;
use crate::clock::Timestamp;

/// The three kinds of workflow. The URL says `invoicing`, the body `Invoice`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkflowType {
    Reactive,
    Scheduled,
    Invoice,
}

impl WorkflowType {
    pub const ALL: [WorkflowType; 3] = [WorkflowType::Reactive, WorkflowType::Scheduled, WorkflowType::Invoice];

    /// As shown in bodies (`WorkflowType`) and stored.
    pub fn name(self) -> &'static str {
        match self {
            WorkflowType::Reactive => "Reactive",
            WorkflowType::Scheduled => "Scheduled",
            WorkflowType::Invoice => "Invoice",
        }
    }

    /// The path segment: `reactive`, `scheduled` or `invoicing` (`invoice` accepted too).
    pub fn from_path(segment: &str) -> Option<Self> {
        match segment.trim().to_ascii_lowercase().as_str() {
            "reactive" => Some(WorkflowType::Reactive),
            "scheduled" => Some(WorkflowType::Scheduled),
            "invoicing" | "invoice" => Some(WorkflowType::Invoice),
            _ => None,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// What a status means for the task: just raised, being worked, finished, abandoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusType {
    New,
    Open,
    Closed,
    Cancelled,
}

impl StatusType {
    pub const ALL: [StatusType; 4] = [StatusType::New, StatusType::Open, StatusType::Closed, StatusType::Cancelled];

    pub fn name(self) -> &'static str {
        match self {
            StatusType::New => "New",
            StatusType::Open => "Open",
            StatusType::Closed => "Closed",
            StatusType::Cancelled => "Cancelled",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Closed and Cancelled tasks are finished: no more chasing, dispatching or due dates.
    pub fn is_finished(self) -> bool {
        matches!(self, StatusType::Closed | StatusType::Cancelled)
    }
}

impl fmt::Display for StatusType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The flags of a status, as the Urgent workflow read names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusFlags {
    pub quotation_enabled: bool,
    pub manual_date_enabled: bool,
    pub eligible_to_invoice: bool,
    pub resolution_cause_enabled: bool,
    pub resolution_remedy_enabled: bool,
    pub update_asset_condition: bool,
    pub supplier_on_site: bool,
}

/// A status of a default workflow: name, type, flags, destinations.
#[derive(Debug)]
pub struct DefaultStatus {
    pub name: &'static str,
    pub status_type: StatusType,
    pub flags: StatusFlags,
    pub destinations: &'static [&'static str],
}

/// A workflow a new tenant starts with.
#[derive(Debug)]
pub struct DefaultWorkflow {
    pub name: &'static str,
    pub workflow_type: WorkflowType,
    pub statuses: &'static [DefaultStatus],
}

const NO_FLAGS: StatusFlags = StatusFlags {
    quotation_enabled: false,
    manual_date_enabled: false,
    eligible_to_invoice: false,
    resolution_cause_enabled: false,
    resolution_remedy_enabled: false,
    update_asset_condition: false,
    supplier_on_site: false,
};

/// The workflows of a new tenant. The first status of each is where tasks start; the first
/// `Open` destination of that status is where dispatching puts them.
pub const DEFAULT_WORKFLOWS: &[DefaultWorkflow] = &[
    DefaultWorkflow {
        name: "Reactive",
        workflow_type: WorkflowType::Reactive,
        statuses: &[
            DefaultStatus {
                name: "Logged",
                status_type: StatusType::New,
                flags: NO_FLAGS,
                destinations: &["Dispatched", "Cancelled"],
            },
            DefaultStatus {
                name: "Dispatched",
                status_type: StatusType::Open,
                flags: NO_FLAGS,
                destinations: &["Accepted", "Rejected", "Cancelled"],
            },
            DefaultStatus {
                name: "Rejected",
                status_type: StatusType::Open,
                flags: NO_FLAGS,
                destinations: &["Dispatched", "Cancelled"],
            },
            DefaultStatus {
                name: "Accepted",
                status_type: StatusType::Open,
                flags: StatusFlags { quotation_enabled: true, ..NO_FLAGS },
                destinations: &["On Site", "Cancelled"],
            },
            DefaultStatus {
                name: "On Site",
                status_type: StatusType::Open,
                flags: StatusFlags { manual_date_enabled: true, supplier_on_site: true, ..NO_FLAGS },
                destinations: &["Completed"],
            },
            DefaultStatus {
                name: "Completed",
                status_type: StatusType::Open,
                flags: StatusFlags {
                    manual_date_enabled: true,
                    eligible_to_invoice: true,
                    resolution_cause_enabled: true,
                    resolution_remedy_enabled: true,
                    ..NO_FLAGS
                },
                destinations: &["Closed", "On Site"],
            },
            DefaultStatus {
                name: "Closed",
                status_type: StatusType::Closed,
                flags: StatusFlags { eligible_to_invoice: true, ..NO_FLAGS },
                destinations: &[],
            },
            DefaultStatus { name: "Cancelled", status_type: StatusType::Cancelled, flags: NO_FLAGS, destinations: &[] },
        ],
    },
    DefaultWorkflow {
        name: "Planned Maintenance",
        workflow_type: WorkflowType::Scheduled,
        statuses: &[
            DefaultStatus {
                name: "Scheduled",
                status_type: StatusType::New,
                flags: NO_FLAGS,
                destinations: &["Issued", "Cancelled"],
            },
            DefaultStatus {
                name: "Issued",
                status_type: StatusType::Open,
                flags: NO_FLAGS,
                destinations: &["Completed", "Cancelled"],
            },
            DefaultStatus {
                name: "Completed",
                status_type: StatusType::Closed,
                flags: StatusFlags { manual_date_enabled: true, eligible_to_invoice: true, ..NO_FLAGS },
                destinations: &[],
            },
            DefaultStatus { name: "Cancelled", status_type: StatusType::Cancelled, flags: NO_FLAGS, destinations: &[] },
        ],
    },
    DefaultWorkflow {
        name: "Invoice Approval",
        workflow_type: WorkflowType::Invoice,
        statuses: &[
            DefaultStatus {
                name: "Submitted",
                status_type: StatusType::New,
                flags: NO_FLAGS,
                destinations: &["Approved", "Disputed"],
            },
            DefaultStatus {
                name: "Disputed",
                status_type: StatusType::Open,
                flags: NO_FLAGS,
                destinations: &["Approved", "Rejected"],
            },
            DefaultStatus { name: "Approved", status_type: StatusType::Closed, flags: NO_FLAGS, destinations: &[] },
            DefaultStatus { name: "Rejected", status_type: StatusType::Cancelled, flags: NO_FLAGS, destinations: &[] },
        ],
    },
];

/// A service level a new tenant starts with: name, respond within, complete within (minutes).
pub const DEFAULT_SERVICE_LEVELS: &[(&str, i64, i64)] =
    &[("Emergency", 60, 4 * 60), ("Urgent", 4 * 60, 24 * 60), ("Routine", 3 * 24 * 60, 10 * 24 * 60)];

/// A status as a workflow holds it (stored ids, so the task can point at one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub id: i64,
    pub name: String,
    pub status_type: StatusType,
    pub flags: StatusFlags,
    /// Ids of the statuses this one may move to, in order.
    pub destinations: Vec<i64>,
}

/// A workflow with its statuses, in order (the first is where tasks start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workflow {
    pub id: i64,
    pub name: String,
    pub workflow_type: WorkflowType,
    pub is_active: bool,
    pub is_default: bool,
    pub statuses: Vec<Status>,
}

impl Workflow {
    pub fn status(&self, id: i64) -> Option<&Status> {
        self.statuses.iter().find(|s| s.id == id)
    }

    pub fn status_named(&self, name: &str) -> Option<&Status> {
        self.statuses.iter().find(|s| s.name.eq_ignore_ascii_case(name.trim()))
    }

    /// Where a new task starts: the first status of type New (or the first status).
    pub fn initial(&self) -> Option<&Status> {
        self.statuses.iter().find(|s| s.status_type == StatusType::New).or_else(|| self.statuses.first())
    }

    /// Where dispatching puts a task: the first Open destination of the initial status.
    pub fn dispatched(&self) -> Option<&Status> {
        let initial = self.initial()?;
        initial.destinations.iter().filter_map(|id| self.status(*id)).find(|s| s.status_type == StatusType::Open)
    }

    /// The statuses `from` may move to, in order.
    pub fn destinations_of<'w>(&'w self, from: &'w Status) -> impl Iterator<Item = &'w Status> + 'w {
        from.destinations.iter().filter_map(|id| self.status(*id))
    }
}

/// What a status change brings besides the target.
#[derive(Clone, Debug, Default)]
pub struct ChangeData {
    pub has_manual_date: bool,
    pub has_resolution_cause: bool,
    pub has_resolution_remedy: bool,
    pub has_contractor: bool,
}

/// Checks a move from `from` to `to`: `to` must be a destination of `from`, and the change
/// must carry what `to` requires and nothing it forbids. Every broken rule is returned.
pub fn check_transition(workflow: &Workflow, from: &Status, to: &Status, data: &ChangeData) -> Vec<BrokenRule> {
    let mut broken = Vec::new();
    if !from.destinations.contains(&to.id) {
        let allowed: Vec<&str> = workflow.destinations_of(from).map(|s| s.name.as_str()).collect();
        broken.push(BrokenRule::new(
            "Task",
            "InvalidStatusChange",
            if allowed.is_empty() {
                format!("A task in status {} cannot change status", from.name)
            } else {
                format!("A task in status {} can move only to: {}", from.name, allowed.join(", "))
            },
        ));
    }
    if data.has_manual_date && !to.flags.manual_date_enabled {
        broken.push(BrokenRule::new(
            "Task",
            "ManualDateNotAllowed",
            format!("StatusChangeDateTimeUtc cannot be given for status {}", to.name),
        ));
    }
    if to.flags.resolution_cause_enabled && !data.has_resolution_cause {
        broken.push(BrokenRule::new(
            "Task",
            "MissingResolutionCause",
            format!("Status {} needs a ResolutionCauseCode (a Task Resolution Cause matrix code)", to.name),
        ));
    }
    if !to.flags.resolution_cause_enabled && data.has_resolution_cause {
        broken.push(BrokenRule::new(
            "Task",
            "ResolutionCauseNotAllowed",
            format!("Status {} takes no ResolutionCauseCode", to.name),
        ));
    }
    if to.flags.resolution_remedy_enabled && !data.has_resolution_remedy {
        broken.push(BrokenRule::new(
            "Task",
            "MissingResolutionRemedy",
            format!("Status {} needs a ResolutionRemedyCode (a Task Resolution Remedy matrix code)", to.name),
        ));
    }
    if !to.flags.resolution_remedy_enabled && data.has_resolution_remedy {
        broken.push(BrokenRule::new(
            "Task",
            "ResolutionRemedyNotAllowed",
            format!("Status {} takes no ResolutionRemedyCode", to.name),
        ));
    }
    if to.status_type == StatusType::Open && !data.has_contractor {
        broken.push(BrokenRule::new(
            "Task",
            "NotDispatched",
            format!("The task must be dispatched to a contractor before it can move to {}", to.name),
        ));
    }
    broken
}

/// A per-tenant task reference: `T` and at least six digits (`T000123`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskNumber(pub i64);

impl TaskNumber {
    pub fn reference(self) -> String {
        format!("T{:06}", self.0)
    }

    /// `T000123` (any case, surrounding space ignored); `None` for anything else.
    pub fn parse(reference: &str) -> Option<Self> {
        let digits = reference.trim().strip_prefix(['T', 't'])?;
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<i64>().ok().filter(|n| *n > 0).map(TaskNumber)
    }
}

/// How a new task relates to an existing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// The new task is a child of the other.
    Child,
    Related,
}

impl Relation {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "child" => Some(Relation::Child),
            "related" => Some(Relation::Related),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Child => "child",
            Relation::Related => "related",
        }
    }
}

/// Due dates from a service level: respond by and complete by.
pub fn due_dates(raised: Timestamp, respond_minutes: i64, complete_minutes: i64) -> (Timestamp, Timestamp) {
    (raised.plus_seconds(respond_minutes.saturating_mul(60)), raised.plus_seconds(complete_minutes.saturating_mul(60)))
}

/// Where a task is raised, as dispatch rules see it: the site and its ancestors (nearest
/// first) with their geographic area and site channel codes.
#[derive(Clone, Debug, Default)]
pub struct SiteChain {
    /// (site id, geographic area code, site channel code), the task's site first.
    pub sites: Vec<(i64, Option<String>, Option<String>)>,
}

/// What a dispatch rule matches on and what it decides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DispatchRule {
    pub id: i64,
    pub site: Option<i64>,
    pub geographic_area: Option<String>,
    pub site_channel: Option<String>,
    /// A Reactive matrix code; matches the code and every code below it.
    pub matrix_code: Option<String>,
    pub contractor: Option<i64>,
    pub service_level: Option<i64>,
    pub workflow: Option<i64>,
    pub chargeability: Option<String>,
}

/// `code` equals `prefix` or lies below it in the hierarchy (`01` covers `01-02`).
pub fn code_covers(prefix: &str, code: &str) -> bool {
    code == prefix || (code.len() > prefix.len() && code.starts_with(prefix) && code.as_bytes()[prefix.len()] == b'-')
}

impl DispatchRule {
    /// How well the rule fits a task (higher is more specific), `None` if it does not.
    /// The place counts first: the site itself, then a nearer parent site, then the
    /// geographic area, then the site channel, then any site; then the category, the
    /// deeper code winning.
    pub fn fit(&self, chain: &SiteChain, matrix_code: &str) -> Option<(i64, usize)> {
        let category = match &self.matrix_code {
            None => 0,
            Some(prefix) if code_covers(prefix, matrix_code) => prefix.len() + 1,
            Some(_) => return None,
        };
        let covers = |rule: &Option<String>, site: &Option<String>| match (rule, site) {
            (Some(rule), Some(site)) => code_covers(rule, site),
            _ => false,
        };
        let place = if let Some(site) = self.site {
            let depth = chain.sites.iter().position(|(id, _, _)| *id == site)?;
            10_000 - i64::try_from(depth).unwrap_or(9_000)
        } else if self.geographic_area.is_some() {
            let depth = chain.sites.iter().position(|(_, area, _)| covers(&self.geographic_area, area))?;
            if self.site_channel.is_some()
                && !chain.sites.iter().any(|(_, _, channel)| covers(&self.site_channel, channel))
            {
                return None;
            }
            5_000 - i64::try_from(depth).unwrap_or(4_000)
        } else if self.site_channel.is_some() {
            let depth = chain.sites.iter().position(|(_, _, channel)| covers(&self.site_channel, channel))?;
            2_000 - i64::try_from(depth).unwrap_or(1_000)
        } else {
            0
        };
        Some((place, category))
    }
}

/// The rule that decides for a task: the best fit, the oldest rule among equals.
pub fn choose_rule<'r>(rules: &'r [DispatchRule], chain: &SiteChain, matrix_code: &str) -> Option<&'r DispatchRule> {
    rules
        .iter()
        .filter_map(|rule| rule.fit(chain, matrix_code).map(|fit| (fit, rule)))
        .max_by(|(a, ra), (b, rb)| a.cmp(b).then(rb.id.cmp(&ra.id)))
        .map(|(_, rule)| rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow() -> Workflow {
        let statuses = DEFAULT_WORKFLOWS[0]
            .statuses
            .iter()
            .enumerate()
            .map(|(i, s)| Status {
                id: i as i64 + 1,
                name: s.name.to_owned(),
                status_type: s.status_type,
                flags: s.flags,
                destinations: s
                    .destinations
                    .iter()
                    .map(|d| {
                        DEFAULT_WORKFLOWS[0].statuses.iter().position(|x| x.name == *d).expect("destination exists")
                            as i64
                            + 1
                    })
                    .collect(),
            })
            .collect();
        Workflow {
            id: 1,
            name: "Reactive".into(),
            workflow_type: WorkflowType::Reactive,
            is_active: true,
            is_default: true,
            statuses,
        }
    }

    #[test]
    fn default_workflows_name_only_their_own_statuses() {
        for workflow in DEFAULT_WORKFLOWS {
            for status in workflow.statuses {
                for destination in status.destinations {
                    assert!(workflow.statuses.iter().any(|s| s.name == *destination), "{destination}");
                }
            }
        }
    }

    #[test]
    fn initial_and_dispatched_statuses() {
        let w = workflow();
        assert_eq!(w.initial().unwrap().name, "Logged");
        assert_eq!(w.dispatched().unwrap().name, "Dispatched");
    }

    #[test]
    fn transitions_follow_destinations_and_requirements() {
        let w = workflow();
        let named = |n: &str| w.status_named(n).unwrap();
        let dispatched = ChangeData { has_contractor: true, ..ChangeData::default() };
        assert!(check_transition(&w, named("Dispatched"), named("Accepted"), &dispatched).is_empty());
        let keys = |rules: Vec<BrokenRule>| rules.into_iter().map(|r| r.key).collect::<Vec<_>>();
        assert_eq!(
            keys(check_transition(&w, named("Logged"), named("Completed"), &dispatched)),
            [
                "BrokenRule_Task_InvalidStatusChange",
                "BrokenRule_Task_MissingResolutionCause",
                "BrokenRule_Task_MissingResolutionRemedy"
            ]
        );
        let complete = ChangeData {
            has_contractor: true,
            has_manual_date: true,
            has_resolution_cause: true,
            has_resolution_remedy: true,
        };
        assert!(check_transition(&w, named("On Site"), named("Completed"), &complete).is_empty());
        assert_eq!(
            keys(check_transition(&w, named("Dispatched"), named("Accepted"), &complete)),
            [
                "BrokenRule_Task_ManualDateNotAllowed",
                "BrokenRule_Task_ResolutionCauseNotAllowed",
                "BrokenRule_Task_ResolutionRemedyNotAllowed"
            ]
        );
        assert_eq!(
            keys(check_transition(&w, named("Logged"), named("Dispatched"), &ChangeData::default())),
            ["BrokenRule_Task_NotDispatched"]
        );
        assert_eq!(
            keys(check_transition(&w, named("Closed"), named("Logged"), &dispatched)),
            ["BrokenRule_Task_InvalidStatusChange"]
        );
    }

    #[test]
    fn references() {
        assert_eq!(TaskNumber(123).reference(), "T000123");
        assert_eq!(TaskNumber(1_234_567).reference(), "T1234567");
        assert_eq!(TaskNumber::parse(" t000123 "), Some(TaskNumber(123)));
        for bad in ["", "T", "123", "T-1", "T000000", "TX1", "T1234567890123456789"] {
            assert_eq!(TaskNumber::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn codes_cover_their_descendants_only() {
        assert!(code_covers("01", "01"));
        assert!(code_covers("01", "01-02-03"));
        assert!(!code_covers("01", "011"));
        assert!(!code_covers("01-02", "01"));
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let chain = SiteChain {
            sites: vec![(7, Some("01-01".into()), Some("01".into())), (3, Some("01".into()), Some("01".into()))],
        };
        let rule = |id, f: fn(&mut DispatchRule)| {
            let mut r = DispatchRule { id, ..DispatchRule::default() };
            f(&mut r);
            r
        };
        let any = rule(1, |_| {});
        let channel = rule(2, |r| r.site_channel = Some("01".into()));
        let area = rule(3, |r| r.geographic_area = Some("01".into()));
        let parent_site = rule(4, |r| r.site = Some(3));
        let site = rule(5, |r| r.site = Some(7));
        let other_site = rule(6, |r| r.site = Some(99));
        let category = rule(7, |r| r.matrix_code = Some("02".into()));
        let deeper = rule(8, |r| r.matrix_code = Some("02-02".into()));
        let mut rules = vec![any.clone(), channel.clone(), area.clone(), parent_site.clone(), other_site, category];
        let pick = |rules: &[DispatchRule], code| choose_rule(rules, &chain, code).map(|r| r.id);
        assert_eq!(pick(&rules, "02-02-01"), Some(4));
        rules.push(site);
        assert_eq!(pick(&rules, "02-02-01"), Some(5));
        let general =
            vec![any.clone(), channel.clone(), area, deeper.clone(), rule(9, |r| r.matrix_code = Some("02".into()))];
        assert_eq!(pick(&general, "02-02-01"), Some(3), "the place counts before the category");
        assert_eq!(pick(&[any.clone(), deeper.clone(), channel], "01-01"), Some(2));
        assert_eq!(pick(&[any.clone(), deeper], "02-02-01"), Some(8));
        assert_eq!(pick(&[rule(10, |_| {}), any], "01"), Some(1), "the oldest among equals");
        assert_eq!(pick(&[], "01"), None);
    }
}
