//! Passwords: Argon2id hashes (PHC strings), and generated passwords for new accounts.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use caretaker_domain::BrokenRule;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

use crate::AppError;

/// Passwords shorter than this are refused.
pub const MIN_LEN: usize = 12;
/// Longer ones are refused too (hashing cost is linear in the length).
pub const MAX_LEN: usize = 1024;

/// Checks a chosen password against the length rules.
pub fn check_rules(password: &SecretString) -> Result<(), BrokenRule> {
    let length = password.expose_secret().chars().count();
    if length < MIN_LEN {
        return Err(BrokenRule::new(
            "User",
            "PasswordTooShort",
            format!("Password must be at least {MIN_LEN} characters"),
        ));
    }
    if length > MAX_LEN {
        return Err(BrokenRule::new(
            "User",
            "PasswordTooLong",
            format!("Password must be at most {MAX_LEN} characters"),
        ));
    }
    Ok(())
}

/// The Argon2id hash of `password` (default parameters: 19 MiB, 2 passes).
pub fn hash(password: &SecretString) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| AppError::internal(format!("hashing a password: {err}")))
}

/// Whether `password` matches the stored `hash` (constant-time inside argon2).
pub fn verify(password: &SecretString, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A fresh password of 20 characters from an alphabet without look-alikes (about 115 bits).
pub fn generate() -> SecretString {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    let password: String = (0..20).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect();
    SecretString::from(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let password = SecretString::from("correct horse battery staple");
        let hashed = hash(&password).unwrap();
        assert!(hashed.starts_with("$argon2id$"));
        assert!(!hashed.contains("correct horse"));
        assert!(verify(&password, &hashed));
        assert!(!verify(&SecretString::from("correct horse battery stapler"), &hashed));
        assert!(!verify(&password, "not a hash"));
    }

    #[test]
    fn generated_passwords_pass_the_rules_and_differ() {
        let a = generate();
        let b = generate();
        assert!(check_rules(&a).is_ok());
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn length_rules() {
        assert_eq!(check_rules(&SecretString::from("short")).unwrap_err().key, "BrokenRule_User_PasswordTooShort");
        assert_eq!(
            check_rules(&SecretString::from("x".repeat(MAX_LEN + 1))).unwrap_err().key,
            "BrokenRule_User_PasswordTooLong"
        );
    }
}
