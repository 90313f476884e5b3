//! Random identifiers and secrets, and the hashes secrets are stored as.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A Cloudflare-style identifier: 32 lower-case hex digits (128 random bits).
pub fn new_id() -> String {
    hex::encode(rand::rng().random::<[u8; 16]>())
}

/// An API token secret: 40 characters of `[A-Za-z0-9_-]` (about 239 random bits), like
/// Cloudflare's. The first is alphanumeric, so a secret never reads as a flag on a command line.
pub fn new_token_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const ALPHANUMERIC: usize = 62;
    let mut rng = rand::rng();
    (0..40)
        .map(|i| {
            let choices = if i == 0 { ALPHANUMERIC } else { ALPHABET.len() };
            ALPHABET[rng.random_range(0..choices)] as char
        })
        .collect()
}

/// A global API key: 37 lower-case hex digits, like Cloudflare's.
pub fn new_global_key() -> String {
    let mut key = hex::encode(rand::rng().random::<[u8; 19]>());
    key.truncate(37);
    key
}

/// Secrets have at least 128 random bits, so one SHA-256 is a sound way to store them:
/// there is nothing to brute-force that a slow password hash would protect.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn matches(secret: &str, stored: &[u8]) -> bool {
    hash(secret).ct_eq(stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_secrets_never_start_like_a_flag() {
        for _ in 0..2000 {
            let secret = new_token_secret();
            assert_eq!(secret.len(), 40);
            assert!(secret.as_bytes()[0].is_ascii_alphanumeric(), "{secret}");
            assert!(secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
    }
}
