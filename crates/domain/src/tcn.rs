//! The TCN HMAC scheme of the Titan/Urgent REST API, byte for byte.
//!
//! ```text
//! Authorization: TCN {ApiToken}:{Digest}
//! X-Timestamp:   {Timestamp}
//! StringToSign = UPPER(method) + "+" + LOWER(path) + "+" + Timestamp [+ "+" + nonce + "+" + contentHash]
//! Digest       = Base64(HMAC-SHA256(key = UTF-8 bytes of the API Secret Key, StringToSign))
//! ```
//!
//! This is a compatibility quirk we keep, not a design to copy: the body and the query
//! string are not signed unless the client opts into (or the tenant requires) the strict
//! extension (`X-Nonce`, `X-Content-SHA256`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::clock::Timestamp;

/// The scheme word of the Authorization header.
pub const SCHEME: &str = "TCN";

/// Why a request's TCN headers cannot even be checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the Authorization header is missing")]
    MissingAuthorization,
    #[error("the Authorization header is not `TCN {{ApiToken}}:{{Digest}}`")]
    MalformedAuthorization,
    #[error("the X-Timestamp header is missing")]
    MissingTimestamp,
    #[error("the X-Timestamp header is not an ISO-8601 UTC time such as 2021-03-10T14:23:23Z")]
    MalformedTimestamp,
}

/// The parts of an `Authorization: TCN token:digest` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub token: &'a str,
    /// The digest, still in base64.
    pub digest: &'a str,
}

/// Parses the header value (any bytes; never panics).
pub fn parse_authorization(value: &[u8]) -> Result<Authorization<'_>, HeaderError> {
    let text = std::str::from_utf8(value).map_err(|_| HeaderError::MalformedAuthorization)?.trim();
    let (scheme, rest) = text.split_once(' ').ok_or(HeaderError::MalformedAuthorization)?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(HeaderError::MalformedAuthorization);
    }
    let (token, digest) = rest.trim_start().split_once(':').ok_or(HeaderError::MalformedAuthorization)?;
    // A token is a GUID; a digest is base64 of 32 bytes (44 characters with padding).
    let plausible_token =
        !token.is_empty() && token.len() <= 64 && token.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let plausible_digest = !digest.is_empty()
        && digest.len() <= 64
        && digest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if !plausible_token || !plausible_digest {
        return Err(HeaderError::MalformedAuthorization);
    }
    Ok(Authorization { token, digest })
}

/// Parses `X-Timestamp`: RFC 3339 / ISO-8601 with an offset (`Z` in practice), with or
/// without fractional seconds. The text itself is what gets signed.
pub fn parse_timestamp(value: &[u8]) -> Result<Timestamp, HeaderError> {
    let text = std::str::from_utf8(value).map_err(|_| HeaderError::MalformedTimestamp)?;
    if text.len() > 40 {
        return Err(HeaderError::MalformedTimestamp);
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map(Timestamp::from_offset_date_time)
        .map_err(|_| HeaderError::MalformedTimestamp)
}

/// The optional strict extension: a nonce and the hex SHA-256 of the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strict<'a> {
    pub nonce: &'a str,
    pub content_sha256: &'a str,
}

/// `UPPER(method) + "+" + LOWER(path) + "+" + timestamp` (and the strict parts).
pub fn string_to_sign(method: &str, path: &str, timestamp: &str, strict: Option<Strict<'_>>) -> String {
    let mut out = String::with_capacity(
        method.len() + path.len() + timestamp.len() + 2 + strict.map_or(0, |s| s.nonce.len() + 66),
    );
    out.push_str(&method.to_ascii_uppercase());
    out.push('+');
    out.push_str(&path.to_lowercase());
    out.push('+');
    out.push_str(timestamp);
    if let Some(strict) = strict {
        out.push('+');
        out.push_str(strict.nonce);
        out.push('+');
        out.push_str(&strict.content_sha256.to_ascii_lowercase());
    }
    out
}

fn mac(secret: &[u8], string_to_sign: &str) -> [u8; 32] {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    mac.update(string_to_sign.as_bytes());
    mac.finalize().into_bytes().into()
}

/// `Base64(HMAC-SHA256(secret, string_to_sign))`, standard alphabet with padding.
pub fn digest(secret: &[u8], string_to_sign: &str) -> String {
    STANDARD.encode(mac(secret, string_to_sign))
}

/// Whether `claimed` (base64) is the digest of `string_to_sign` under `secret`; constant
/// time in the digest bytes.
pub fn verify(secret: &[u8], string_to_sign: &str, claimed: &str) -> bool {
    let mut decoded = [0u8; 32];
    match STANDARD.decode_slice(claimed, &mut decoded) {
        Ok(32) => bool::from(mac(secret, string_to_sign).ct_eq(&decoded)),
        _ => false,
    }
}

/// The two forms of a request path a client may have signed: as sent (percent-encoding
/// kept) and percent-decoded. The second is `None` when it equals the first.
pub fn path_forms(raw_path: &str) -> (&str, Option<String>) {
    let decoded = percent_encoding::percent_decode_str(raw_path).decode_utf8_lossy();
    if decoded == raw_path { (raw_path, None) } else { (raw_path, Some(decoded.into_owned())) }
}

/// The client-side half, for `caretaker api` and tests: the two headers for a request.
pub fn sign(
    method: &str,
    path: &str,
    timestamp: &str,
    token: &str,
    secret: &[u8],
    strict: Option<Strict<'_>>,
) -> String {
    format!("{SCHEME} {token}:{}", digest(secret, &string_to_sign(method, path, timestamp, strict)))
}

/// `2021-03-10T14:23:23Z`: the form the .NET sample client sends.
pub fn format_timestamp(t: Timestamp) -> String {
    let t = t.to_offset_date_time();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "JKQby5i3bC4vr8PS0Rp7gk52vV6IBa";

    #[test]
    fn the_known_answer_vector() {
        let sts = string_to_sign("get", "/rest/sites/workinghours/urgent%20si", "2021-03-10T14:23:23Z", None);
        assert_eq!(sts, "GET+/rest/sites/workinghours/urgent%20si+2021-03-10T14:23:23Z");
        assert_eq!(digest(SECRET.as_bytes(), &sts), "MYqMQ+PYgB4PafuHAopEhPMCNuOjKPKVHpc9zHj2O60=");
        assert!(verify(SECRET.as_bytes(), &sts, "MYqMQ+PYgB4PafuHAopEhPMCNuOjKPKVHpc9zHj2O60="));
        assert!(!verify(SECRET.as_bytes(), &sts, "NYqMQ+PYgB4PafuHAopEhPMCNuOjKPKVHpc9zHj2O60="));
    }

    #[test]
    fn the_path_is_lower_cased_percent_encoding_and_all() {
        assert_eq!(string_to_sign("Post", "/REST/Tasks/Urgent%2FSI", "t", None), "POST+/rest/tasks/urgent%2fsi+t");
    }

    #[test]
    fn strict_parts_are_appended() {
        let strict = Strict { nonce: "n-1", content_sha256: "ABC" };
        assert_eq!(string_to_sign("GET", "/p", "t", Some(strict)), "GET+/p+t+n-1+abc");
    }

    #[test]
    fn authorization_header() {
        let parsed = parse_authorization(
            b"TCN 06ca91f6-8748-48eb-a0fd-ace700f03beb:MYqMQ+PYgB4PafuHAopEhPMCNuOjKPKVHpc9zHj2O60=",
        )
        .unwrap();
        assert_eq!(parsed.token, "06ca91f6-8748-48eb-a0fd-ace700f03beb");
        assert_eq!(parsed.digest, "MYqMQ+PYgB4PafuHAopEhPMCNuOjKPKVHpc9zHj2O60=");
        for bad in [
            &b""[..],
            b"TCN",
            b"Basic abc:def",
            b"TCN nocolon",
            b"TCN :abc",
            b"TCN abc:",
            b"TCN zz:abc",
            b"\xff\xfe",
            b"TCN a:b c",
        ] {
            assert_eq!(parse_authorization(bad), Err(HeaderError::MalformedAuthorization), "{bad:?}");
        }
    }

    #[test]
    fn both_timestamp_styles() {
        let seconds = parse_timestamp(b"2021-03-10T14:23:23Z").unwrap();
        let millis = parse_timestamp(b"2021-03-10T14:23:23.123Z").unwrap();
        assert_eq!(seconds.unix_micros(), 1_615_386_203_000_000);
        assert_eq!(millis.unix_micros(), 1_615_386_203_123_000);
        for bad in [&b"2021-03-10 14:23:23"[..], b"yesterday", b"", b"2021-13-10T14:23:23Z", b"\x00"] {
            assert_eq!(parse_timestamp(bad), Err(HeaderError::MalformedTimestamp));
        }
        assert_eq!(format_timestamp(seconds), "2021-03-10T14:23:23Z");
    }

    #[test]
    fn path_forms_decode_once() {
        assert_eq!(path_forms("/rest/a"), ("/rest/a", None));
        assert_eq!(path_forms("/rest/urgent%20si"), ("/rest/urgent%20si", Some(String::from("/rest/urgent si"))));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_authorization(&bytes);
            let _ = parse_timestamp(&bytes);
        }

        #[test]
        fn signing_and_verification_agree(
            method in "(GET|POST|PUT|DELETE|get|post)",
            path in "/rest/[a-zA-Z0-9%/._-]{0,60}",
            tenant in "[a-zA-Z0-9 ]{1,20}",
            seconds in 0i64..4_000_000_000,
            secret in "[ -~]{1,80}",
        ) {
            let path = format!("{path}/{}", tenant.replace(' ', "%20"));
            let ts = format_timestamp(Timestamp::from_unix_micros(seconds * 1_000_000));
            let sts = string_to_sign(&method, &path, &ts, None);
            let d = digest(secret.as_bytes(), &sts);
            prop_assert!(verify(secret.as_bytes(), &sts, &d));
            // Any change to any part fails.
            let longer_path = format!("{}x", path);
            let later = format!("{} ", ts);
            prop_assert!(!verify(secret.as_bytes(), &string_to_sign(&method, &longer_path, &ts, None), &d));
            prop_assert!(!verify(secret.as_bytes(), &string_to_sign(&method, &path, &later, None), &d));
            let other = if method.eq_ignore_ascii_case("GET") { "POST" } else { "GET" };
            prop_assert!(!verify(secret.as_bytes(), &string_to_sign(other, &path, &ts, None), &d));
            let other_secret = format!("{}x", secret);
            prop_assert!(!verify(other_secret.as_bytes(), &sts, &d));
        }
    }
}
