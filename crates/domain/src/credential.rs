//! API credentials: the API Token (a GUID, identifies) and the API Secret Key (authenticates).
//!
//! A secret is `ctsk_` + 43 characters of URL-safe base64 (256 random bits) + 6 characters
//! of checksum: secret scanners find the prefix, and a typo fails the checksum before any
//! request is sent. The whole string, as UTF-8, is the HMAC key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The fixed prefix of every API Secret Key.
pub const SECRET_PREFIX: &str = "ctsk_";
const BODY_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
/// Length of a secret.
pub const SECRET_LEN: usize = SECRET_PREFIX.len() + BODY_LEN + CHECKSUM_LEN;

fn checksum(body: &str) -> String {
    let digest = Sha256::digest(format!("{SECRET_PREFIX}{body}").as_bytes());
    let mut text = URL_SAFE_NO_PAD.encode(&digest[..6]);
    text.truncate(CHECKSUM_LEN);
    text
}

/// A secret from 32 random bytes (the caller brings them from the OS generator).
pub fn secret_from_bytes(random: &[u8; 32]) -> String {
    let body = URL_SAFE_NO_PAD.encode(random);
    let sum = checksum(&body);
    format!("{SECRET_PREFIX}{body}{sum}")
}

/// Whether `text` looks like a Caretaker secret with a correct checksum. (Secrets of other
/// systems, e.g. Urgent's, still work as HMAC keys; this only catches typos in ours.)
pub fn is_well_formed_secret(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(SECRET_PREFIX) else { return false };
    if rest.len() != BODY_LEN + CHECKSUM_LEN || !rest.is_ascii() {
        return false;
    }
    let (body, sum) = rest.split_at(BODY_LEN);
    checksum(body) == sum
}

/// The last four characters, which is all a page shows after the first display.
pub fn last_four(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// Whether `text` is a GUID in the 8-4-4-4-12 form.
pub fn is_guid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_prefix_length_and_checksum() {
        let secret = secret_from_bytes(&[7u8; 32]);
        assert!(secret.starts_with("ctsk_"));
        assert_eq!(secret.len(), SECRET_LEN);
        assert!(secret.bytes().all(|b| b.is_ascii_graphic()));
        assert!(is_well_formed_secret(&secret));
        // One changed character anywhere fails the checksum.
        let mut typo = secret.clone().into_bytes();
        typo[10] = if typo[10] == b'A' { b'B' } else { b'A' };
        assert!(!is_well_formed_secret(&String::from_utf8(typo).unwrap()));
        assert!(!is_well_formed_secret("JKQby5i3bC4vr8PS0Rp7gk52vV6IBa"));
        assert_eq!(last_four(&secret).len(), 4);
        assert!(secret.ends_with(&last_four(&secret)));
    }

    #[test]
    fn guids() {
        assert!(is_guid("06ca91f6-8748-48eb-a0fd-ace700f03beb"));
        assert!(!is_guid("06ca91f6-8748-48eb-a0fd-ace700f03be"));
        assert!(!is_guid("06ca91f6x8748-48eb-a0fd-ace700f03beb"));
    }
}
