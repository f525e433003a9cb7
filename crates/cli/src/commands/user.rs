//! `caretaker user create`.

use caretaker_app::users::{self, UserInput};
use caretaker_domain::access::{Holder, can};
use secrecy::SecretString;

use super::{operator_in, public_origin};
use crate::Failure;
use crate::args::{UserCommand, UserTypeArg};
use crate::config::{Settings, read_secret_file};
use crate::startup;

pub async fn run(command: UserCommand, settings: &Settings) -> Result<(), Failure> {
    let UserCommand::Create { tenant, email, user_type, contractor, role_packages, site_access, password_file } =
        command;
    let password = password_file
        .map(|path| read_secret_file(&path, "password file").map(SecretString::from))
        .transpose()
        .map_err(|err| Failure::usage(err.0))?;
    let app = startup::open_app(settings).await?;
    let outcome = async {
        let operator = operator_in(&app, &tenant).await?;
        let proof = operator.authorize::<can::UsersWrite>().ok_or_else(|| Failure::refused("not allowed"))?;
        let user_type = match user_type {
            UserTypeArg::Management => "Management",
            UserTypeArg::Contractor => "Contractor",
            UserTypeArg::Site => "Site",
        };
        let name = email.split('@').next().unwrap_or(&email).to_owned();
        let is_integration = role_packages.iter().any(|p| p.eq_ignore_ascii_case("REST API"));
        let input = UserInput {
            email: email.clone(),
            name,
            user_type: user_type.to_owned(),
            contractor,
            role_packages: role_packages.clone(),
            site_access: site_access.unwrap_or_else(|| String::from("none")),
            is_integration,
            password,
        };
        let created = users::create(&app, &proof, input).await?;
        let packages =
            if role_packages.is_empty() { String::from("no role packages") } else { role_packages.join(", ") };
        println!("Created {user_type} user {email} with {packages}.");
        match created.set_password_token {
            Some(token) => {
                let base = format!(
                    "{}{}/set-password/{token}",
                    public_origin(settings),
                    caretaker_http::tenant_path(&operator.tenant_name)
                );
                println!("Set-password link (works once, for {} days): {base}", users::SET_PASSWORD_LINK_DAYS);
                if created.emailed {
                    println!("The link was also e-mailed to {email}.");
                }
            }
            None => println!("The account is active with the given password."),
        }
        Ok(())
    }
    .await;
    app.db.close().await;
    outcome
}
