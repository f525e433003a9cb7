//! The tenant's API signing settings: the clock-skew window, whether strict signing is
//! required, and the maximum age of API credentials.

use caretaker_domain::BrokenRule;
use caretaker_domain::access::{Authorized, can};
use caretaker_domain::rules::RuleCheck;
use caretaker_storage::audit::{self, Event};
use caretaker_storage::{StorageError, credentials, tenants};

use crate::principal::Principal;
use crate::{App, AppError};

/// The settings as shown and edited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningSettings {
    /// 30 to 3,600 seconds (default 300).
    pub clock_skew_seconds: i64,
    pub require_strict_signing: bool,
    /// 1 to 3,650 days; `None`: credentials do not age out.
    pub max_credential_age_days: Option<i64>,
}

pub async fn get(
    app: &App,
    by: &Authorized<'_, can::ConfigurationWrite, Principal>,
) -> Result<SigningSettings, AppError> {
    let tenant = tenants::find_by_name(app.db.read(), &by.principal().tenant_name).await?.ok_or(AppError::NotFound)?;
    Ok(SigningSettings {
        clock_skew_seconds: tenant.clock_skew_seconds,
        require_strict_signing: tenant.require_strict_signing,
        max_credential_age_days: tenant.max_credential_age_days,
    })
}

/// Checks and stores the settings; they apply to the next request on every server (the
/// authenticator reads them with the credential on every call).
pub async fn update(
    app: &App,
    by: &Authorized<'_, can::ConfigurationWrite, Principal>,
    settings: &SigningSettings,
) -> Result<(), AppError> {
    let by = by.principal();
    let mut check = RuleCheck::new();
    if !(30..=3600).contains(&settings.clock_skew_seconds) {
        check.push(BrokenRule::new("Tenant", "InvalidClockSkew", "The clock-skew window must be 30 to 3,600 seconds"));
    }
    if settings.max_credential_age_days.is_some_and(|days| !(1..=3650).contains(&days)) {
        check.push(BrokenRule::new(
            "Tenant",
            "InvalidMaxCredentialAge",
            "The maximum credential age must be 1 to 3,650 days, or none",
        ));
    }
    check.finish().map_err(AppError::Invalid)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    credentials::set_tenant_signing(
        &mut tx,
        by.tenant,
        settings.clock_skew_seconds,
        settings.require_strict_signing,
        settings.max_credential_age_days,
    )
    .await?;
    let detail = format!(
        "clock skew {} s, strict signing {}, maximum credential age {}",
        settings.clock_skew_seconds,
        if settings.require_strict_signing { "required" } else { "optional" },
        settings.max_credential_age_days.map_or_else(|| String::from("none"), |d| format!("{d} days"))
    );
    audit::record(
        &mut tx,
        &Event {
            tenant: Some(by.tenant),
            actor: by.actor(),
            source_address: by.source_address.as_deref(),
            action: "tenant.settings_changed",
            target: Some(&by.tenant_name),
            detail: &detail,
        },
        now,
    )
    .await?;
    tx.commit().await.map_err(StorageError::from)?;
    Ok(())
}
