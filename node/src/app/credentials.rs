//! The secrets behind portal accounts: generated passwords, Argon2id hashing and checking
//! (OWASP's parameters, the `argon2` crate's defaults), and TOTP codes (RFC 6238: 6 digits,
//! 30-second steps, one step of skew) with each code accepted once.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use totp_rs::{Algorithm, TOTP};

use super::AppError;
use super::accounts::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};

/// Length of generated passwords.
pub(crate) const GENERATED_PASSWORD_CHARS: usize = 24;
const TOTP_DIGITS: usize = 6;
const TOTP_STEP_SECS: u64 = 30;
/// The issuer shown in authenticator apps.
const TOTP_ISSUER: &str = "Safeport";

pub(crate) fn check_password(password: &str) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::Invalid(format!(
            "a password is at least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], AppError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::Invalid(format!("no randomness available: {e}")))?;
    Ok(bytes)
}

/// A password from an alphabet without look-alike characters (about 137 bits).
pub(crate) fn generate_password() -> Result<String, AppError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes = random_bytes::<GENERATED_PASSWORD_CHARS>()?;
    // 256 is not a multiple of the alphabet's 56 letters; the small bias costs under a bit.
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

pub(crate) fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| AppError::Invalid(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::Invalid(format!("password hashing: {e}")))
}

pub(crate) fn password_matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the name is unknown, so the work done is the same.
pub(crate) fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-password-of-anyone").unwrap_or_default())
}

pub(crate) fn totp_for(name: &str, secret_hex: &str) -> Result<TOTP, AppError> {
    let secret = hex::decode(secret_hex)
        .map_err(|_| AppError::Invalid("stored TOTP secret is not hex".into()))?;
    TOTP::new(
        Algorithm::SHA1,
        TOTP_DIGITS,
        1,
        TOTP_STEP_SECS,
        secret,
        Some(TOTP_ISSUER.into()),
        name.to_owned(),
    )
    .map_err(|e| AppError::Invalid(format!("TOTP: {e}")))
}

/// The step a code belongs to, if it is the code of the current step or one either side and
/// newer than `last_step` (a code is accepted once).
pub(crate) fn totp_step(totp: &TOTP, code: &str, now_secs: u64, last_step: u64) -> Option<u64> {
    let current = now_secs / TOTP_STEP_SECS;
    let code = code.trim();
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .filter(|step| *step > last_step)
        .find(|step| {
            let expected = totp.generate(step * TOTP_STEP_SECS);
            // Constant-time: the comparison must not tell how many digits were right.
            expected.len() == code.len()
                && expected
                    .bytes()
                    .zip(code.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
}

/// The TOTP code at `now_ms` of the authenticator enrolled with `otpauth_uri` (what an
/// authenticator app would show; for tests and scripted logins).
pub fn totp_code_from_uri(otpauth_uri: &str, now_ms: u64) -> Result<String, AppError> {
    let totp = TOTP::from_url(otpauth_uri)
        .map_err(|e| AppError::Invalid(format!("not a TOTP URI: {e}")))?;
    Ok(totp.generate(now_ms / 1000))
}
