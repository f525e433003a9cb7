//! The permission catalogue (resource x action), permission sets, the built-in role
//! packages, and capabilities: proof, in the type system, that a check was made.
//!
//! A user's permissions are the union of its role packages' permissions. Custom packages
//! are composed from [`Permission::ALL`] and stored by name (`tasks.create`).

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use crate::BrokenRule;

macro_rules! catalogue {
    ($($variant:ident = $name:literal, $marker:ident, $text:literal;)+) => {
        /// One permission: what may be done to what.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission { $($variant),+ }

        impl Permission {
            /// Every permission, in catalogue order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),+];

            /// `resource.action`, as stored and shown.
            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $name),+ }
            }

            /// A sentence for the Role Packages page.
            pub fn description(self) -> &'static str {
                match self { $(Permission::$variant => $text),+ }
            }
        }

        /// Zero-sized markers, one per permission, for [`Authorized`].
        pub mod can {
            $(
                #[doc = $text]
                #[derive(Debug)]
                pub struct $marker;
                impl super::Marker for $marker {
                    const PERMISSION: super::Permission = super::Permission::$variant;
                }
            )+
        }
    };
}

catalogue! {
    TasksRead = "tasks.read", TasksRead, "See tasks of accessible sites or dispatched to one's contractor";
    TasksCreate = "tasks.create", TasksCreate, "Raise tasks";
    TasksUpdate = "tasks.update", TasksUpdate, "Change status, add notes and chase tasks";
    TasksDispatch = "tasks.dispatch", TasksDispatch, "Dispatch and re-dispatch tasks to contractors";
    TasksSetRestrictedFields = "tasks.set_restricted_fields", TasksSetRestrictedFields, "Set Chargeability, Workflow, Service Level and Supplier when raising a task";
    SitesRead = "sites.read", SitesRead, "See sites";
    SitesWrite = "sites.write", SitesWrite, "Create and change sites";
    AssetsRead = "assets.read", AssetsRead, "See assets";
    AssetsWrite = "assets.write", AssetsWrite, "Create and change assets";
    CompaniesRead = "companies.read", CompaniesRead, "See companies and manufacturer models";
    CompaniesWrite = "companies.write", CompaniesWrite, "Create and change companies and models";
    ContractorsRead = "contractors.read", ContractorsRead, "See contractors";
    ContractorsWrite = "contractors.write", ContractorsWrite, "Create and change contractors";
    InvoicesRead = "invoices.read", InvoicesRead, "See invoices";
    InvoicesWrite = "invoices.write", InvoicesWrite, "Create invoices";
    DocumentsRead = "documents.read", DocumentsRead, "See documents";
    DocumentsWrite = "documents.write", DocumentsWrite, "Upload documents";
    ReferenceDataRead = "reference_data.read", ReferenceDataRead, "See matrices, reference lists, custom fields and workflows";
    ReferenceDataWrite = "reference_data.write", ReferenceDataWrite, "Change matrices, reference lists, custom fields and workflows";
    UsersRead = "users.read", UsersRead, "See users";
    UsersWrite = "users.write", UsersWrite, "Create, change, disable users and reset their passwords";
    RolePackagesWrite = "role_packages.write", RolePackagesWrite, "Compose custom role packages";
    ConfigurationWrite = "configuration.write", ConfigurationWrite, "Change service levels, dispatch rules and tenant settings";
    AuditLogRead = "audit_log.read", AuditLogRead, "Read the audit log";
    ApiCredentialsAdminister = "api_credentials.administer", ApiCredentialsAdminister, "See the tenant's credential report and revoke credentials";
    RestApiUse = "rest_api.use", RestApiUse, "Hold API credentials and call the REST API (only through the REST API package)";
}

impl Permission {
    fn bit(self) -> u64 {
        1 << (self as u32)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = BrokenRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .iter()
            .copied()
            .find(|permission| permission.as_str() == s)
            .ok_or_else(|| BrokenRule::new("RolePackage", "UnknownPermission", format!("Unknown permission {s:?}")))
    }
}

/// A set of permissions (a bit per catalogue entry): cheap to copy, union and test.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u64);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);

    pub fn of(permissions: &[Permission]) -> Self {
        permissions.iter().fold(Self::EMPTY, |set, p| set.with(*p))
    }

    pub fn with(self, permission: Permission) -> Self {
        PermissionSet(self.0 | permission.bit())
    }

    pub fn union(self, other: PermissionSet) -> Self {
        PermissionSet(self.0 | other.0)
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Whether every permission of `other` is in `self`.
    pub fn covers(self, other: PermissionSet) -> bool {
        other.0 & !self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.iter().copied().filter(move |p| self.contains(*p))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Permission::as_str)).finish()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, PermissionSet::with)
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

    pub fn description(self) -> &'static str {
        match self {
            BuiltinPackage::Administrator => "Everything in the tenant: users, role packages, configuration, audit log",
            BuiltinPackage::ManagementUser => "Raise, dispatch and follow tasks; manage sites and assets",
            BuiltinPackage::ContractorUser => "Work the tasks dispatched to one's contractor",
            BuiltinPackage::SiteUser => "Raise tasks for one's sites and confirm completed work",
            BuiltinPackage::RestApi => "Hold an API Token and API Secret Key and call the REST API",
            BuiltinPackage::ReadOnly => "See, change nothing",
            BuiltinPackage::Invoicing => "Create and see invoices",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|package| package.name().eq_ignore_ascii_case(name))
    }

    /// Only an Administrator may grant these.
    pub fn is_privileged(self) -> bool {
        matches!(self, BuiltinPackage::Administrator | BuiltinPackage::RestApi)
    }

    pub fn permissions(self) -> PermissionSet {
        use Permission::*;
        match self {
            BuiltinPackage::Administrator => Permission::ALL.iter().copied().filter(|p| *p != RestApiUse).collect(),
            BuiltinPackage::ManagementUser => PermissionSet::of(&[
                TasksRead,
                TasksCreate,
                TasksUpdate,
                TasksDispatch,
                TasksSetRestrictedFields,
                SitesRead,
                SitesWrite,
                AssetsRead,
                AssetsWrite,
                CompaniesRead,
                CompaniesWrite,
                ContractorsRead,
                InvoicesRead,
                DocumentsRead,
                DocumentsWrite,
                ReferenceDataRead,
            ]),
            BuiltinPackage::ContractorUser => PermissionSet::of(&[
                TasksRead,
                TasksUpdate,
                SitesRead,
                AssetsRead,
                CompaniesRead,
                DocumentsRead,
                DocumentsWrite,
                ReferenceDataRead,
            ]),
            BuiltinPackage::SiteUser => PermissionSet::of(&[
                TasksRead,
                TasksCreate,
                TasksUpdate,
                SitesRead,
                AssetsRead,
                DocumentsRead,
                DocumentsWrite,
                ReferenceDataRead,
            ]),
            BuiltinPackage::RestApi => PermissionSet::of(&[RestApiUse]),
            BuiltinPackage::ReadOnly => PermissionSet::of(&[
                TasksRead,
                SitesRead,
                AssetsRead,
                CompaniesRead,
                ContractorsRead,
                InvoicesRead,
                DocumentsRead,
                ReferenceDataRead,
            ]),
            BuiltinPackage::Invoicing => PermissionSet::of(&[InvoicesRead, InvoicesWrite, TasksRead]),
        }
    }
}

/// A permission as a type, for [`Authorized`].
pub trait Marker {
    const PERMISSION: Permission;
}

/// Proof that `principal` held permission `P` when it was checked. Use cases that need a
/// permission take an `Authorized<P>`, so calling them without the check does not compile.
#[derive(Debug)]
pub struct Authorized<'a, P: Marker, T> {
    principal: &'a T,
    _permission: PhantomData<P>,
}

impl<'a, P: Marker, T> Authorized<'a, P, T> {
    /// Only [`Holder::authorize`] makes these.
    fn new(principal: &'a T) -> Self {
        Self { principal, _permission: PhantomData }
    }

    pub fn principal(&self) -> &'a T {
        self.principal
    }
}

/// Anything that holds a permission set (a signed-in user, an API caller).
pub trait Holder: Sized {
    fn permissions(&self) -> PermissionSet;

    /// `Some` proof when the holder has `P`.
    fn authorize<P: Marker>(&self) -> Option<Authorized<'_, P, Self>> {
        self.permissions().contains(P::PERMISSION).then(|| Authorized::new(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_package_sizes() {
        // The lists are spelled by hand: a changed count must be a deliberate change.
        let sizes: Vec<_> = BuiltinPackage::ALL.iter().map(|p| p.permissions().iter().count()).collect();
        assert_eq!(sizes, [Permission::ALL.len() - 1, 16, 8, 8, 1, 8, 3]);
    }

    #[test]
    fn only_the_rest_api_package_carries_rest_api_use() {
        for package in BuiltinPackage::ALL {
            assert_eq!(
                package.permissions().contains(Permission::RestApiUse),
                package == BuiltinPackage::RestApi,
                "{package:?}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for package in BuiltinPackage::ALL {
            assert_eq!(BuiltinPackage::from_name(&package.name().to_uppercase()), Some(package));
        }
        for permission in Permission::ALL {
            assert_eq!(permission.as_str().parse::<Permission>().unwrap(), *permission);
        }
        assert!("tasks.fly".parse::<Permission>().is_err());
        assert!(Permission::ALL.len() <= 64, "PermissionSet is a u64");
    }

    #[test]
    fn sets() {
        let read = PermissionSet::of(&[Permission::TasksRead]);
        let both = read.with(Permission::UsersWrite);
        assert!(both.covers(read));
        assert!(!read.covers(both));
        assert!(PermissionSet::EMPTY.is_empty());
        assert_eq!(format!("{both:?}"), r#"{"tasks.read", "users.write"}"#);
    }

    struct Someone(PermissionSet);
    impl Holder for Someone {
        fn permissions(&self) -> PermissionSet {
            self.0
        }
    }

    #[test]
    fn authorization_is_granted_only_with_the_permission() {
        let reader = Someone(PermissionSet::of(&[Permission::UsersRead]));
        assert!(reader.authorize::<can::UsersRead>().is_some());
        assert!(reader.authorize::<can::UsersWrite>().is_none());
    }
}
