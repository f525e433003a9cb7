//! `caretaker contractor create`.

use caretaker_app::contractors::{self, ContractorInput};
use caretaker_domain::access::{Holder, can};

use super::operator_in;
use crate::Failure;
use crate::args::ContractorCommand;
use crate::config::Settings;
use crate::startup;

pub async fn run(command: ContractorCommand, settings: &Settings) -> Result<(), Failure> {
    let ContractorCommand::Create { tenant, name, code, parent } = command;
    let app = startup::open_app(settings).await?;
    let outcome = async {
        let operator = operator_in(&app, &tenant).await?;
        let proof = operator.authorize::<can::ContractorsWrite>().ok_or_else(|| Failure::refused("not allowed"))?;
        let input =
            ContractorInput { name: name.clone(), code, parent, email: String::new(), telephone: String::new() };
        let id = contractors::create(&app, &proof, input).await?;
        let read = operator.authorize::<can::ContractorsRead>().ok_or_else(|| Failure::refused("not allowed"))?;
        let created = contractors::get(&app, &read, id).await?;
        println!("Created contractor {:?} with the code {}.", created.name, created.code);
        Ok(())
    }
    .await;
    app.db.close().await;
    outcome
}
