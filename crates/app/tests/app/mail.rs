//! Set-password links by e-mail, through a real SMTP conversation with a fake relay.

use std::sync::{Arc, Mutex};

use caretaker_app::mail::Mailer;
use caretaker_app::tenants::{self, NewTenant};
use caretaker_app::users::{self, UserInput};
use caretaker_app::{App, MasterKey, Principal};
use caretaker_domain::access::{Holder, can};
use caretaker_storage::audit::Actor;
use caretaker_storage::testing::TestDb;
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A received message: its recipients and its data.
type Received = (Vec<String>, String);

/// A relay that accepts everything and keeps each message's envelope and data.
#[derive(Clone, Default)]
struct FakeRelay {
    messages: Arc<Mutex<Vec<Received>>>,
}

impl FakeRelay {
    async fn start(&self) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = self.messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let messages = messages.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 fake ESMTP\r\n").await.ok();
                    let mut recipients = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                            write.write_all(b"250 fake\r\n").await.ok();
                        } else if upper.starts_with("RCPT TO:") {
                            recipients.push(line[8..].trim().to_owned());
                            write.write_all(b"250 OK\r\n").await.ok();
                        } else if upper.starts_with("DATA") {
                            write.write_all(b"354 go ahead\r\n").await.ok();
                            let mut data = String::new();
                            while let Ok(Some(line)) = lines.next_line().await {
                                if line == "." {
                                    break;
                                }
                                data.push_str(&line);
                                data.push('\n');
                            }
                            // Undo quoted-printable (soft line breaks, escaped '=').
                            let data = data.replace("=\n", "").replace("=3D", "=");
                            messages.lock().unwrap().push((std::mem::take(&mut recipients), data));
                            write.write_all(b"250 queued\r\n").await.ok();
                        } else if upper.starts_with("QUIT") {
                            write.write_all(b"221 bye\r\n").await.ok();
                            break;
                        } else {
                            write.write_all(b"250 OK\r\n").await.ok();
                        }
                    }
                });
            }
        });
        port
    }
}

async fn setup(t: &TestDb, smtp_port: u16) -> (App, Principal) {
    let mailer =
        Mailer::new(&format!("smtp://127.0.0.1:{smtp_port}"), "caretaker@example.com", "https://maint.example.com/")
            .unwrap();
    let app = App::new(t.db.clone(), Arc::new(t.clock.clone()), MasterKey::generate()).with_mailer(mailer);
    let created = tenants::create(
        &app,
        NewTenant {
            name: "Acme Fuel".into(),
            admin_email: "admin@acme.example".into(),
            admin_password: Some(SecretString::from("a long enough password")),
        },
        Actor::Operator,
    )
    .await
    .unwrap();
    (app, Principal::operator(created.tenant.id, created.tenant.name.as_str()))
}

fn invite(email: &str) -> UserInput {
    UserInput {
        email: email.into(),
        name: "New Person".into(),
        user_type: "Management".into(),
        role_packages: vec!["Read Only".into()],
        site_access: "none".into(),
        ..UserInput::default()
    }
}

#[tokio::test]
async fn new_users_and_resets_get_their_set_password_link_by_mail() {
    let relay = FakeRelay::default();
    let port = relay.start().await;
    let t = TestDb::sqlite().await;
    let (app, operator) = setup(&t, port).await;
    let can_write = operator.authorize::<can::UsersWrite>().unwrap();

    let created = users::create(&app, &can_write, invite("new.person@acme.example")).await.unwrap();
    assert!(created.emailed);
    let token = created.set_password_token.unwrap();
    {
        let messages = relay.messages.lock().unwrap();
        assert_eq!(messages.len(), 1);
        let (to, data) = &messages[0];
        assert_eq!(to, &["<new.person@acme.example>"]);
        assert!(data.contains("Subject: Set your Caretaker password (Acme Fuel)"), "{data}");
        assert!(data.contains(&format!("https://maint.example.com/t/Acme%20Fuel/set-password/{token}")), "{data}");
        assert!(!data.contains("a long enough password"));
    }

    let links = users::reset_passwords(&app, &can_write, &[created.id]).await.unwrap();
    {
        let messages = relay.messages.lock().unwrap();
        assert_eq!(messages.len(), 2);
        assert!(messages[1].1.contains(&links[0].1), "the reset mail carries the new link");
    }

    // A user created with a password gets no mail.
    let with_password =
        UserInput { password: Some(SecretString::from("chosen by the operator")), ..invite("p@acme.example") };
    assert!(!users::create(&app, &can_write, with_password).await.unwrap().emailed);
    assert_eq!(relay.messages.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_unreachable_relay_does_not_stop_the_user_being_created() {
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let t = TestDb::sqlite().await;
    let (app, operator) = setup(&t, port).await;
    let created =
        users::create(&app, &operator.authorize::<can::UsersWrite>().unwrap(), invite("x@acme.example")).await.unwrap();
    assert!(!created.emailed);
    assert!(created.set_password_token.is_some(), "the administrator still gets the link");
    assert_eq!(t.count("users WHERE email_key = 'x@acme.example'").await, 1);
}
