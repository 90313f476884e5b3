//! TSIG keys from BIND's key file format (what `tsig-keygen` and `rndc-confgen` write):
//! `key "name" { algorithm hmac-sha256; secret "base64"; };`. Read by hand: no crate parses
//! named.conf syntax, and a key file is three statements.

use base64::Engine;
use hickory_proto::dnssec::rdata::tsig::TsigAlgorithm;
use hickory_proto::dnssec::tsig::TSigner;
use hickory_proto::rr::Name;
use std::str::FromStr;

/// Seconds of clock difference the server may allow (RFC 8945's recommendation).
const FUDGE: u16 = 300;

/// A key file's words and punctuation, comments dropped.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => while chars.next_if(|c| *c != '\n').is_some() {},
            '/' if chars.peek() == Some(&'/') => while chars.next_if(|c| *c != '\n').is_some() {},
            '"' => {
                let mut word = String::new();
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    word.push(c);
                }
                out.push(word);
            }
            '{' | '}' | ';' => out.push(c.to_string()),
            c if c.is_whitespace() => {}
            c => {
                let mut word = c.to_string();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace() && !"{};\"".contains(*c)) {
                    word.push(c);
                }
                out.push(word);
            }
        }
    }
    out
}

/// A key: its name, algorithm and secret, ready to sign.
#[derive(Clone)]
pub struct Key {
    pub name: String,
    pub algorithm: String,
    pub signer: TSigner,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(f, "Key({} {})", self.name, self.algorithm)
    }
}

/// The first `key` statement of `text`.
pub fn parse(text: &str) -> Result<Key, String> {
    let t = tokens(text);
    let start = t
        .iter()
        .position(|w| w == "key")
        .ok_or("no `key \"name\" { ... };` statement")?;
    let name = t.get(start + 1).ok_or("the key has no name")?.clone();
    if t.get(start + 2).map(String::as_str) != Some("{") {
        return Err(format!("expected {{ after key \"{name}\""));
    }
    let (mut algorithm, mut secret) = (None, None);
    let mut i = start + 3;
    while let Some(word) = t.get(i) {
        match word.as_str() {
            "}" => break,
            "algorithm" => algorithm = t.get(i + 1).cloned(),
            "secret" => secret = t.get(i + 1).cloned(),
            _ => {}
        }
        i += 1;
    }
    let algorithm = algorithm.ok_or_else(|| format!("key \"{name}\" has no algorithm"))?;
    let secret = secret.ok_or_else(|| format!("key \"{name}\" has no secret"))?;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .map_err(|e| format!("the secret of key \"{name}\" is not base64: {e}"))?;
    let kind = match algorithm.to_ascii_lowercase().as_str() {
        "hmac-sha256" => TsigAlgorithm::HmacSha256,
        "hmac-sha384" => TsigAlgorithm::HmacSha384,
        "hmac-sha512" => TsigAlgorithm::HmacSha512,
        other => {
            return Err(format!(
                "key \"{name}\": algorithm {other} is not supported (use hmac-sha256, hmac-sha384 or hmac-sha512)"
            ))
        }
    };
    let signer_name =
        Name::from_str(&name).map_err(|e| format!("key name \"{name}\" is not a DNS name: {e}"))?;
    let signer = TSigner::new(secret, kind, signer_name, FUDGE)
        .map_err(|e| format!("key \"{name}\": {e}"))?;
    Ok(Key {
        name,
        algorithm,
        signer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsig_keygen_output_reads() {
        let text = "key \"spectra-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0LXNlY3JldC1zZWNyZXQ=\";\n};\n";
        let key = parse(text).unwrap();
        assert_eq!(key.name, "spectra-key");
        assert_eq!(key.algorithm, "hmac-sha256");
        assert_eq!(key.signer.key(), b"secret-secret-secret");
        assert_eq!(key.signer.algorithm(), &TsigAlgorithm::HmacSha256);
        assert!(
            !format!("{key:?}").contains("c2Vj"),
            "Debug hides the secret"
        );
    }

    #[test]
    fn comments_bare_names_and_other_algorithms() {
        let text =
            "# made by hand\nkey k1 { // the key\n secret \"AAAA\"; algorithm HMAC-SHA512; };";
        let key = parse(text).unwrap();
        assert_eq!(key.name, "k1");
        assert_eq!(key.signer.algorithm(), &TsigAlgorithm::HmacSha512);
    }

    #[test]
    fn what_is_wrong_is_said() {
        assert!(parse("").unwrap_err().contains("no `key"));
        assert!(parse("key k { secret \"AAAA\"; };")
            .unwrap_err()
            .contains("no algorithm"));
        assert!(parse("key k { algorithm hmac-sha256; };")
            .unwrap_err()
            .contains("no secret"));
        assert!(parse("key k { algorithm hmac-md5; secret \"AAAA\"; };")
            .unwrap_err()
            .contains("not supported"));
        assert!(parse("key k { algorithm hmac-sha256; secret \"!!\"; };")
            .unwrap_err()
            .contains("not base64"));
    }
}
