//! E-mail over SMTP, when the operator configures it (`--smtp-url`, `--smtp-from`). Used for
//! set-password links now; later for outbound-failure notices.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A configured SMTP sender.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// How people reach the server, for links in messages (`https://maint.example.com`).
    public_base_url: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold SMTP credentials: never shown.
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl Mailer {
    /// `url`: `smtp://host:port` (plain, for local relays and tests), `smtp://host?tls=required`
    /// (STARTTLS) or `smtps://user:password@host` (TLS), as lettre reads them.
    pub fn new(url: &str, from: &str, public_base_url: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|err| format!("the SMTP URL is not usable: {err}"))?
            .build();
        let from = from.parse::<Mailbox>().map_err(|_| format!("{from:?} is not an e-mail address to send from"))?;
        Ok(Self { transport, from, public_base_url: public_base_url.trim_end_matches('/').to_owned() })
    }

    /// Sends a plain-text message.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), String> {
        let to = to.parse::<Mailbox>().map_err(|_| format!("{to:?} is not an e-mail address"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(|err| format!("building the message: {err}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|err| format!("sending: {err}"))
    }

    /// The set-password page of a tenant, as the web application serves it.
    pub fn set_password_link(&self, tenant_name: &str, token: &str) -> String {
        let tenant: String = tenant_name
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
            .collect();
        format!("{}/t/{tenant}/set-password/{token}", self.public_base_url)
    }

    /// Mails a set-password link; `true` when the relay took it. A failure is logged, not
    /// fatal: the administrator has the link on screen too.
    pub async fn send_set_password_link(&self, to: &str, tenant_name: &str, token: &str) -> bool {
        let link = self.set_password_link(tenant_name, token);
        let body = format!(
            "Hello,\n\nAn account was set up for you in Caretaker ({tenant_name}).\n\
             Choose your password here (the link works once, for 7 days):\n\n{link}\n\n\
             If you did not expect this, you can ignore this message.\n"
        );
        match self.send(to, &format!("Set your Caretaker password ({tenant_name})"), body).await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(error = %err, "could not e-mail a set-password link");
                false
            }
        }
    }
}
