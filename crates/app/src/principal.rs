//! Who is acting: a signed-in user, or the operator at the command line.

use caretaker_domain::access::{BuiltinPackage, Holder, PermissionSet};
use caretaker_domain::contractor::ContractorId;
use caretaker_domain::tenant::TenantId;
use caretaker_domain::user::{UserId, UserType};
use caretaker_storage::Conn as AnyConnection;
use caretaker_storage::audit::Actor;
use caretaker_storage::visibility::Scope;
use caretaker_storage::{StorageError, role_packages, users};

/// The acting party, with its rights as they are now.
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant: TenantId,
    pub tenant_name: String,
    /// `None` for the operator.
    pub user: Option<UserId>,
    pub email: String,
    pub name: String,
    pub user_type: UserType,
    pub contractor: Option<ContractorId>,
    pub permissions: PermissionSet,
    pub role_packages: Vec<String>,
    /// Holds the Administrator package (or is the operator).
    pub is_admin: bool,
    pub must_change_password: bool,
    /// `all`, `none` or `some` (explicit sites, areas and channels).
    pub site_access: String,
    /// The address the request came from, for the audit log.
    pub source_address: Option<String>,
}

impl Holder for Principal {
    fn permissions(&self) -> PermissionSet {
        self.permissions
    }
}

impl Principal {
    /// The operator at the command line: every permission in the tenant.
    pub fn operator(tenant: TenantId, tenant_name: &str) -> Self {
        Self {
            tenant,
            tenant_name: tenant_name.to_owned(),
            user: None,
            email: String::from("operator"),
            name: String::from("Operator"),
            user_type: UserType::Management,
            contractor: None,
            permissions: BuiltinPackage::Administrator.permissions(),
            role_packages: Vec::new(),
            is_admin: true,
            must_change_password: false,
            site_access: String::from("all"),
            source_address: None,
        }
    }

    /// The tasks (and sites) this principal may see: Contractor users those of their
    /// contractor tree, others those of the sites they can access; everyone the tasks they
    /// raised.
    pub fn scope(&self) -> Scope {
        let user = self.user.map_or(0, |u| u.0);
        match (self.user_type, self.contractor) {
            (UserType::Contractor, Some(contractor)) => Scope::Contractor { user, contractor: contractor.0 },
            (UserType::Contractor, None) => Scope::Own { user },
            _ => match self.site_access.as_str() {
                "all" => Scope::All,
                "some" => Scope::Granted { user },
                _ => Scope::Own { user },
            },
        }
    }

    pub fn actor(&self) -> Actor {
        self.user.map_or(Actor::Operator, Actor::User)
    }

    /// Loads an active user's rights from the database; `None` if the user is missing,
    /// not active, or in another tenant.
    pub async fn load(
        conn: &mut AnyConnection,
        tenant: TenantId,
        tenant_name: &str,
        user: UserId,
    ) -> Result<Option<Self>, StorageError> {
        let Some(stored) = users::get(conn, tenant, user).await? else {
            return Ok(None);
        };
        if stored.status != caretaker_domain::user::UserStatus::Active {
            return Ok(None);
        }
        let packages = role_packages::of_user(conn, user).await?;
        let permissions = packages.iter().fold(PermissionSet::EMPTY, |set, (_, _, p)| set.union(*p));
        let is_admin =
            packages.iter().any(|(_, name, _)| BuiltinPackage::from_name(name) == Some(BuiltinPackage::Administrator));
        Ok(Some(Self {
            tenant,
            tenant_name: tenant_name.to_owned(),
            user: Some(user),
            email: stored.email,
            name: stored.name,
            user_type: stored.user_type,
            contractor: stored.contractor,
            permissions,
            role_packages: packages.into_iter().map(|(_, name, _)| name).collect(),
            is_admin,
            must_change_password: stored.must_change_password,
            site_access: stored.site_access,
            source_address: None,
        }))
    }
}
