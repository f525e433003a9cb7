//! The master key: 32 random bytes that encrypt API secrets at rest.
//!
//! With embedded SQLite it is generated on first start into the data folder, readable by
//! the owner only. With PostgreSQL every server must share one, so it must be given (a file
//! or `CARETAKER_MASTER_KEY`). A fingerprint of the key is kept in the database, so a
//! server started with another key stops at once instead of failing every API call.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use caretaker_storage::{Db, StorageError, server_settings};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

/// The key itself; its `Debug` never shows it.
pub struct MasterKey(SecretBox<[u8; 32]>);

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key must be 32 random bytes in base64 (44 characters), e.g. from `openssl rand -base64 32`")]
    Malformed,
    #[error("cannot read the master key file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot write the master key file {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error(
        "the master key does not match the one this database was set up with \
         (API secrets could not be decrypted); start with the original key"
    )]
    Mismatch,
    #[error("checking the master key against the database: {0}")]
    Storage(#[from] StorageError),
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

const FILE_NAME: &str = "master.key";
const FINGERPRINT_SETTING: &str = "master_key_fingerprint";

impl MasterKey {
    /// Parses the base64 text form (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| MasterKeyError::Malformed)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// A fresh key from the operating system's generator.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(SecretBox::new(Box::new(key)))
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Self, MasterKeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| MasterKeyError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }

    /// Reads `DATA_DIR/master.key`, creating it (owner-only) when it does not exist.
    pub fn load_or_generate(data_dir: &Path) -> Result<Self, MasterKeyError> {
        let path = data_dir.join(FILE_NAME);
        let write_error = |source| MasterKeyError::Write { path: path.display().to_string(), source };
        match create_owner_only(&path) {
            Ok(mut file) => {
                let key = Self::generate();
                file.write_all(key.to_base64().as_bytes()).map_err(write_error)?;
                file.write_all(b"\n").map_err(write_error)?;
                file.sync_all().map_err(write_error)?;
                tracing::info!(path = %path.display(), "generated a new master key");
                Ok(key)
            }
            // Another process created it first, or it was there all along.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Self::load(&path),
            Err(err) => Err(write_error(err)),
        }
    }

    fn to_base64(&self) -> String {
        STANDARD.encode(self.0.expose_secret())
    }

    /// The raw key, for the ciphers that need it.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }

    /// A one-way fingerprint that identifies the key without revealing it.
    pub fn fingerprint(&self) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret()).unwrap_or_else(|_| unreachable_hmac());
        mac.update(b"caretaker master key fingerprint v1");
        let digest = mac.finalize().into_bytes();
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// Records the key's fingerprint on first use of a database; afterwards refuses a
    /// different key.
    pub async fn check_against(&self, db: &Db) -> Result<(), MasterKeyError> {
        let mine = self.fingerprint();
        let mut tx = db.begin().await?;
        let stored = server_settings::get_or_insert(&mut tx, FINGERPRINT_SETTING, &mine).await?;
        tx.commit().await.map_err(StorageError::from)?;
        if stored == mine { Ok(()) } else { Err(MasterKeyError::Mismatch) }
    }
}

/// HMAC-SHA256 accepts keys of any length, so `new_from_slice` cannot fail.
fn unreachable_hmac() -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).expect("HMAC accepts any key length")
}

#[cfg(unix)]
fn create_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn create_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_32_bytes_of_base64() {
        let key = MasterKey::generate();
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        assert_eq!(MasterKey::parse(&format!("  {text}\n")).unwrap().expose(), key.expose());
        for bad in ["", "not base64!", "AAAA", &STANDARD.encode([0u8; 31]), &STANDARD.encode([0u8; 33])] {
            assert!(matches!(MasterKey::parse(bad), Err(MasterKeyError::Malformed)), "{bad:?}");
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = MasterKey::generate();
        let shown = format!("{key:?}");
        assert_eq!(shown, "MasterKey([REDACTED])");
        assert!(!shown.contains(&key.to_base64()));
    }

    #[cfg(unix)]
    #[test]
    fn generated_file_is_owner_only_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = MasterKey::load_or_generate(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = MasterKey::load_or_generate(dir.path()).unwrap();
        assert_eq!(first.expose(), second.expose());
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "garbage").unwrap();
        assert!(matches!(MasterKey::load_or_generate(dir.path()), Err(MasterKeyError::Malformed)));
        assert_eq!(std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap(), "garbage");
    }
}

/// Encrypts API secrets at rest: XChaCha20-Poly1305 under a key derived from the master
/// key, with the API Token as associated data (a ciphertext moved to another credential
/// does not decrypt).
pub struct SecretCipher(chacha20poly1305::XChaCha20Poly1305);

impl fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretCipher([REDACTED])")
    }
}

impl SecretCipher {
    pub fn new(master: &MasterKey) -> Self {
        use chacha20poly1305::KeyInit;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master.expose()).unwrap_or_else(|_| unreachable_hmac());
        mac.update(b"caretaker api secrets v1");
        let key = mac.finalize().into_bytes();
        Self(chacha20poly1305::XChaCha20Poly1305::new(&key))
    }

    /// `nonce (24 bytes) || ciphertext+tag`.
    pub fn encrypt(&self, token: &str, secret: &str) -> Result<Vec<u8>, crate::AppError> {
        use chacha20poly1305::aead::{Aead, AeadCore, Payload};
        let nonce = chacha20poly1305::XChaCha20Poly1305::generate_nonce(&mut chacha20poly1305::aead::OsRng);
        let sealed = self
            .0
            .encrypt(&nonce, Payload { msg: secret.as_bytes(), aad: token.as_bytes() })
            .map_err(|_| crate::AppError::internal("encrypting an API secret failed"))?;
        let mut out = Vec::with_capacity(24 + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn decrypt(&self, token: &str, blob: &[u8]) -> Result<secrecy::SecretString, crate::AppError> {
        use chacha20poly1305::aead::{Aead, Payload};
        if blob.len() < 24 + 16 {
            return Err(crate::AppError::internal("a stored API secret is truncated"));
        }
        let (nonce, sealed) = blob.split_at(24);
        let plain = self
            .0
            .decrypt(chacha20poly1305::XNonce::from_slice(nonce), Payload { msg: sealed, aad: token.as_bytes() })
            .map_err(|_| crate::AppError::internal("a stored API secret does not decrypt (wrong master key?)"))?;
        String::from_utf8(plain)
            .map(secrecy::SecretString::from)
            .map_err(|_| crate::AppError::internal("a stored API secret is not UTF-8"))
    }
}

#[cfg(test)]
mod cipher_tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn round_trip_bound_to_the_token() {
        let cipher = SecretCipher::new(&MasterKey::generate());
        let blob = cipher.encrypt("token-a", "ctsk_secret").unwrap();
        assert!(!blob.windows(11).any(|w| w == b"ctsk_secret"), "the secret must not be in the clear");
        assert_eq!(cipher.decrypt("token-a", &blob).unwrap().expose_secret(), "ctsk_secret");
        assert!(cipher.decrypt("token-b", &blob).is_err(), "the token is associated data");
        let other = SecretCipher::new(&MasterKey::generate());
        assert!(other.decrypt("token-a", &blob).is_err(), "another master key cannot read it");
    }
}
