//! The permission catalogue (resource x action) and the built-in role packages.
//!
//! A user's permissions are the union of its role packages' permissions. The catalogue is
//! written here, once; custom packages are composed from it and stored by name
//! (`tasks.create`), so adding a permission is adding a line to [`CATALOGUE`].

use std::fmt;
use std::str::FromStr;

use crate::BrokenRule;

/// One permission: what may be done (`action`) to what (`resource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    pub resource: &'static str,
    pub action: &'static str,
}

const fn p(resource: &'static str, action: &'static str) -> Permission {
    Permission { resource, action }
}

/// Every permission there is, with a sentence for the Role Packages page.
pub const CATALOGUE: &[(Permission, &str)] = &[
    (
        p("tasks", "read"),
        "See tasks of accessible sites or dispatched to one's contractor",
    ),
    (p("tasks", "create"), "Raise tasks"),
    (
        p("tasks", "update"),
        "Change status, add notes and chase tasks",
    ),
    (
        p("tasks", "dispatch"),
        "Dispatch and re-dispatch tasks to contractors",
    ),
    (
        p("tasks", "set_restricted_fields"),
        "Set Chargeability, Workflow, Service Level and Supplier when raising a task",
    ),
    (p("sites", "read"), "See sites"),
    (p("sites", "write"), "Create and change sites"),
    (p("assets", "read"), "See assets"),
    (p("assets", "write"), "Create and change assets"),
    (
        p("companies", "read"),
        "See companies and manufacturer models",
    ),
    (
        p("companies", "write"),
        "Create and change companies and models",
    ),
    (p("contractors", "read"), "See contractors"),
    (p("contractors", "write"), "Create and change contractors"),
    (p("invoices", "read"), "See invoices"),
    (p("invoices", "write"), "Create invoices"),
    (p("documents", "read"), "See documents"),
    (p("documents", "write"), "Upload documents"),
    (
        p("reference_data", "read"),
        "See matrices, reference lists, custom fields and workflows",
    ),
    (
        p("reference_data", "write"),
        "Change matrices, reference lists, custom fields and workflows",
    ),
    (p("users", "read"), "See users"),
    (
        p("users", "write"),
        "Create, change, disable users and reset their passwords",
    ),
    (p("role_packages", "write"), "Compose custom role packages"),
    (
        p("configuration", "write"),
        "Change service levels, dispatch rules and tenant settings",
    ),
    (p("audit_log", "read"), "Read the audit log"),
    (
        p("api_credentials", "administer"),
        "See the tenant's credential report and revoke credentials",
    ),
    (
        p("rest_api", "use"),
        "Hold API credentials and call the REST API",
    ),
];

impl Permission {
    /// All permissions of the catalogue.
    pub fn all() -> impl Iterator<Item = Permission> {
        CATALOGUE.iter().map(|(permission, _)| *permission)
    }

    pub fn description(self) -> &'static str {
        CATALOGUE
            .iter()
            .find(|(permission, _)| *permission == self)
            .map_or("", |(_, text)| text)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.resource, self.action)
    }
}

impl FromStr for Permission {
    type Err = BrokenRule;

    /// Parses `resource.action`; only catalogue entries exist.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::all()
            .find(|permission| {
                s.split_once('.')
                    .is_some_and(|(r, a)| r == permission.resource && a == permission.action)
            })
            .ok_or_else(|| {
                BrokenRule::new(
                    "RolePackage",
                    "UnknownPermission",
                    format!("Unknown permission {s:?}"),
                )
            })
    }
}

/// The role packages every tenant starts with. Their permissions are fixed by the code, so
/// an upgrade that adds a permission reaches every tenant at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuiltinPackage {
    Administrator,
    ManagementUser,
    ContractorUser,
    SiteUser,
    RestApi,
    ReadOnly,
    Invoicing,
}

impl BuiltinPackage {
    pub const ALL: [BuiltinPackage; 7] = [
        BuiltinPackage::Administrator,
        BuiltinPackage::ManagementUser,
        BuiltinPackage::ContractorUser,
        BuiltinPackage::SiteUser,
        BuiltinPackage::RestApi,
        BuiltinPackage::ReadOnly,
        BuiltinPackage::Invoicing,
    ];

    /// The name shown on the Security tab (and stored).
    pub fn name(self) -> &'static str {
        match self {
            BuiltinPackage::Administrator => "Administrator",
            BuiltinPackage::ManagementUser => "Management User",
            BuiltinPackage::ContractorUser => "Contractor User",
            BuiltinPackage::SiteUser => "Site User",
            BuiltinPackage::RestApi => "REST API",
            BuiltinPackage::ReadOnly => "Read Only",
            BuiltinPackage::Invoicing => "Invoicing",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|package| package.name().eq_ignore_ascii_case(name))
    }

    /// Only an Administrator may grant these.
    pub fn is_privileged(self) -> bool {
        matches!(
            self,
            BuiltinPackage::Administrator | BuiltinPackage::RestApi
        )
    }

    pub fn permissions(self) -> Vec<Permission> {
        let names: &[&str] = match self {
            BuiltinPackage::Administrator => {
                return Permission::all()
                    .filter(|p| p.resource != "rest_api")
                    .collect();
            }
            BuiltinPackage::ManagementUser => &[
                "tasks.read",
                "tasks.create",
                "tasks.update",
                "tasks.dispatch",
                "tasks.set_restricted_fields",
                "sites.read",
                "sites.write",
                "assets.read",
                "assets.write",
                "companies.read",
                "companies.write",
                "contractors.read",
                "invoices.read",
                "documents.read",
                "documents.write",
                "reference_data.read",
            ],
            BuiltinPackage::ContractorUser => &[
                "tasks.read",
                "tasks.update",
                "sites.read",
                "assets.read",
                "companies.read",
                "documents.read",
                "documents.write",
                "reference_data.read",
            ],
            BuiltinPackage::SiteUser => &[
                "tasks.read",
                "tasks.create",
                "tasks.update",
                "sites.read",
                "assets.read",
                "documents.read",
                "documents.write",
                "reference_data.read",
            ],
            BuiltinPackage::RestApi => &["rest_api.use"],
            BuiltinPackage::ReadOnly => &[
                "tasks.read",
                "sites.read",
                "assets.read",
                "companies.read",
                "contractors.read",
                "invoices.read",
                "documents.read",
                "reference_data.read",
            ],
            BuiltinPackage::Invoicing => &["invoices.read", "invoices.write", "tasks.read"],
        };
        names.iter().filter_map(|name| name.parse().ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_permission_is_in_the_catalogue() {
        for package in BuiltinPackage::ALL {
            let expected = match package {
                BuiltinPackage::Administrator => CATALOGUE.len() - 1,
                _ => package.permissions().len(),
            };
            assert_eq!(package.permissions().len(), expected, "{package:?}");
            assert!(!package.permissions().is_empty());
        }
        // The lists above are spelled by hand: a typo would silently drop a permission.
        assert_eq!(BuiltinPackage::ManagementUser.permissions().len(), 16);
        assert_eq!(BuiltinPackage::ContractorUser.permissions().len(), 8);
        assert_eq!(BuiltinPackage::SiteUser.permissions().len(), 8);
        assert_eq!(BuiltinPackage::ReadOnly.permissions().len(), 8);
        assert_eq!(BuiltinPackage::Invoicing.permissions().len(), 3);
    }

    #[test]
    fn administrator_does_not_imply_rest_api() {
        let admin = BuiltinPackage::Administrator.permissions();
        assert!(!admin.iter().any(|p| p.resource == "rest_api"));
        assert_eq!(
            BuiltinPackage::RestApi.permissions(),
            vec!["rest_api.use".parse().unwrap()]
        );
    }

    #[test]
    fn names_round_trip() {
        for package in BuiltinPackage::ALL {
            assert_eq!(
                BuiltinPackage::from_name(&package.name().to_uppercase()),
                Some(package)
            );
        }
        assert_eq!(
            "tasks.read".parse::<Permission>().unwrap().to_string(),
            "tasks.read"
        );
        assert!("tasks.fly".parse::<Permission>().is_err());
        assert!("nodot".parse::<Permission>().is_err());
    }
}
