//! The outbound API's rules: its events, which receiver addresses are allowed, how long to
//! wait before the next attempt.

use std::net::IpAddr;

use crate::BrokenRule;

/// What happened to a task, as sent to integrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboundEvent {
    TaskCreated,
    TaskStatus,
    TaskNote,
    TaskChased,
    TaskChanged,
    TaskDocumentAdded,
}

impl OutboundEvent {
    pub const ALL: [OutboundEvent; 6] = [
        OutboundEvent::TaskCreated,
        OutboundEvent::TaskStatus,
        OutboundEvent::TaskNote,
        OutboundEvent::TaskChased,
        OutboundEvent::TaskChanged,
        OutboundEvent::TaskDocumentAdded,
    ];

    /// The `Event` field and the key of `Endpoints`.
    pub fn name(self) -> &'static str {
        match self {
            OutboundEvent::TaskCreated => "TaskCreated",
            OutboundEvent::TaskStatus => "TaskStatus",
            OutboundEvent::TaskNote => "TaskNote",
            OutboundEvent::TaskChased => "TaskChased",
            OutboundEvent::TaskChanged => "TaskChanged",
            OutboundEvent::TaskDocumentAdded => "TaskDocumentAdded",
        }
    }

    /// As the API tab labels it.
    pub fn label(self) -> &'static str {
        match self {
            OutboundEvent::TaskCreated => "Task Created",
            OutboundEvent::TaskStatus => "Task Status",
            OutboundEvent::TaskNote => "Task Note",
            OutboundEvent::TaskChased => "Task Chased",
            OutboundEvent::TaskChanged => "Task Changed",
            OutboundEvent::TaskDocumentAdded => "Task Document Added",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Index into the six endpoint slots, in [`OutboundEvent::ALL`] order.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Whether receivers may be plain `http`, loopback or private addresses (development and
/// tests); production allows only `https` to public addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverPolicy {
    pub allow_insecure: bool,
}

/// Checks a receiver URL as configured: absolute `https` (or `http` when allowed), a host,
/// no credentials in it, at most 2,000 characters; a literal private or loopback address is
/// refused unless allowed. (Names are checked again when resolved, at delivery.)
pub fn check_receiver_url(url: &str, policy: ReceiverPolicy) -> Result<(), BrokenRule> {
    let bad = |why: &str| BrokenRule::new("Outbound", "InvalidUrl", format!("{url:?}: {why}"));
    if url.len() > 2000 {
        return Err(bad("at most 2,000 characters"));
    }
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("not an absolute URL"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if policy.allow_insecure => {}
        "http" => return Err(bad("only https receivers are allowed")),
        _ => return Err(bad("the scheme must be https")),
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad("credentials do not belong in the URL"));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("no host, or spaces in it"));
    }
    if let Ok(ip) = host.parse::<IpAddr>()
        && !policy.allow_insecure
        && !is_public(ip)
    {
        return Err(bad("it points into a private network"));
    }
    if !policy.allow_insecure && host.eq_ignore_ascii_case("localhost") {
        return Err(bad("it points into a private network"));
    }
    Ok(())
}

/// Whether an address is on the public internet (not loopback, private, link-local,
/// unique-local, unspecified, multicast, documentation or shared address space).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Milliseconds to wait after the `attempt`-th failed attempt (1-based): the initial
/// interval, doubling each time, at most an hour (or the initial interval, if longer).
pub fn retry_delay_ms(initial_ms: u64, attempt: i64) -> u64 {
    let doublings = u32::try_from(attempt.clamp(1, 30) - 1).unwrap_or(0);
    initial_ms.saturating_mul(1_u64 << doublings).min(3_600_000.max(initial_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: ReceiverPolicy = ReceiverPolicy { allow_insecure: false };
    const LAX: ReceiverPolicy = ReceiverPolicy { allow_insecure: true };

    #[test]
    fn receivers_must_be_public_https_unless_allowed() {
        assert!(check_receiver_url("https://hooks.example.com/caretaker/task", STRICT).is_ok());
        assert!(check_receiver_url("https://203.0.113.9/x", STRICT).is_err(), "documentation range");
        for refused in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://localhost:8443/x",
            "https://10.1.2.3/x",
            "https://192.168.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://user:pw@hooks.example.com/x",
            "hooks.example.com/x",
            "https:///x",
            "https://exa mple.com/x",
        ] {
            assert!(check_receiver_url(refused, STRICT).is_err(), "{refused}");
        }
        assert!(check_receiver_url("http://127.0.0.1:9000/hook", LAX).is_ok());
        assert!(check_receiver_url("https://user:pw@hooks.example.com/x", LAX).is_err());
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        let delays: Vec<u64> = (1..=9).map(|n| retry_delay_ms(30_000, n)).collect();
        assert_eq!(delays, [30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000]);
        assert_eq!(retry_delay_ms(50, 3), 200);
        assert_eq!(retry_delay_ms(30_000, 1000), 3_600_000);
        assert_eq!(retry_delay_ms(7_200_000, 2), 7_200_000);
    }

    #[test]
    fn events_round_trip() {
        for event in OutboundEvent::ALL {
            assert_eq!(OutboundEvent::from_name(event.name()), Some(event));
            assert_eq!(OutboundEvent::ALL[event.index()], event);
        }
    }
}
