//! `caretaker credentials generate|revoke`: what Account Settings > API does, for
//! provisioning scripts; audited as done by the operator.

use caretaker_app::{Principal, credentials};
use caretaker_domain::access::{Holder, can};
use caretaker_domain::user::Email;
use caretaker_storage::users;
use secrecy::ExposeSecret;

use super::operator_in;
use crate::Failure;
use crate::args::CredentialsCommand;
use crate::config::Settings;
use crate::startup;

pub async fn run(command: CredentialsCommand, settings: &Settings) -> Result<(), Failure> {
    let app = startup::open_app(settings).await?;
    let outcome =
        async {
            let (CredentialsCommand::Generate { tenant, email, .. } | CredentialsCommand::Revoke { tenant, email }) =
                &command;
            let operator = operator_in(&app, tenant).await?;
            let email = Email::parse(email).map_err(|rule| Failure::refused(rule.value))?;
            let mut conn =
                app.db.read().acquire().await.map_err(|e| {
                    Failure::from(caretaker_app::AppError::from(caretaker_storage::StorageError::from(e)))
                })?;
            let user = users::find_by_email(&mut conn, operator.tenant, &email)
                .await
                .map_err(|e| Failure::from(caretaker_app::AppError::from(e)))?
                .ok_or_else(|| Failure::refused(format!("no user {email} in tenant {tenant}")))?;
            match command {
                CredentialsCommand::Generate { expires_in_days, .. } => {
                    let target = Principal::load(&mut conn, operator.tenant, &operator.tenant_name, user.id)
                        .await
                        .map_err(|e| Failure::from(caretaker_app::AppError::from(e)))?
                        .ok_or_else(|| Failure::refused(format!("{email} is not an active user")))?;
                    drop(conn);
                    let generated = credentials::generate_expiring(&app, &operator, &target, expires_in_days).await?;
                    let out = serde_json::json!({
                        "ApiToken": generated.token,
                        "ApiSecretKey": generated.secret.expose_secret(),
                    });
                    println!("{out}");
                }
                CredentialsCommand::Revoke { .. } => {
                    drop(conn);
                    let proof = operator
                        .authorize::<can::ApiCredentialsAdminister>()
                        .ok_or_else(|| Failure::refused("not allowed"))?;
                    credentials::revoke(&app, &proof, user.id).await?;
                    println!("Revoked the API credentials of {email}.");
                }
            }
            Ok(())
        }
        .await;
    app.db.close().await;
    outcome
}
