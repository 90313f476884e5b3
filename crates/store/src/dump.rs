//! A whole store as rows, for `spectra store copy`: identifiers, timestamps and secret hashes
//! exactly as stored, so a copy answers every token and key the original did.

#[derive(Debug, Clone, PartialEq)]
pub struct ZoneDump {
    pub id: String,
    pub name: String,
    pub created_on: String,
    pub modified_on: String,
}

/// An app's row, with the columns lists sort by.
#[derive(Debug, Clone, PartialEq)]
pub struct AppDump {
    pub id: String,
    pub zone_id: String,
    pub protocol: String,
    pub dns_name: String,
    pub created_on: String,
    pub modified_on: String,
    pub config: String,
    pub edge_addresses: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenDump {
    pub id: String,
    pub name: String,
    pub secret_hash: Vec<u8>,
    pub permissions: String,
    pub zones: Option<String>,
    pub revoked: bool,
    pub created_on: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UserDump {
    pub id: String,
    pub email: String,
    pub key_hash: Vec<u8>,
    pub created_on: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleDump {
    pub id: String,
    pub zone_id: String,
    pub mode: String,
    pub target: String,
    pub value: String,
    pub notes: String,
    pub created_on: String,
    pub modified_on: String,
}

/// A custom certificate's row: its stored document holds the private key.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateDump {
    pub id: String,
    pub zone_id: String,
    pub uploaded_on: String,
    pub modified_on: String,
    pub data: String,
}

/// Every row of a store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dump {
    pub zones: Vec<ZoneDump>,
    pub apps: Vec<AppDump>,
    pub tokens: Vec<TokenDump>,
    pub users: Vec<UserDump>,
    pub access_rules: Vec<RuleDump>,
    pub certificates: Vec<CertificateDump>,
}

/// What an import added; rows already there (by id, or by name for zones and users) are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    pub zones: usize,
    pub apps: usize,
    pub tokens: usize,
    pub users: usize,
    pub access_rules: usize,
    pub certificates: usize,
}

impl Imported {
    pub fn total(&self) -> usize {
        self.zones + self.apps + self.tokens + self.users + self.access_rules + self.certificates
    }
}

/// The tokens and users of a store, as stored (secrets as hashes): enough to authenticate a
/// request while the store itself cannot be asked.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    pub tokens: Vec<TokenDump>,
    pub users: Vec<UserDump>,
}

impl Credentials {
    /// The token whose secret this is, as `Store::token_by_secret` answers.
    pub fn token(&self, secret: &str) -> crate::Result<Option<model::Token>> {
        let hash = crate::secret::hash(secret);
        match self.tokens.iter().find(|t| t.secret_hash == hash) {
            Some(t) if crate::secret::matches(secret, &t.secret_hash) => crate::rows::to_token((
                t.id.clone(),
                t.name.clone(),
                t.permissions.clone(),
                t.zones.clone(),
                t.revoked,
                t.created_on.clone(),
            ))
            .map(Some),
            _ => Ok(None),
        }
    }

    /// The user, if the email exists and the key is theirs, as `Store::user_by_key` answers.
    pub fn user(&self, email: &str, key: &str) -> crate::Result<Option<model::User>> {
        let found = self.users.iter().find(|u| u.email == email);
        let stored = found.map_or(&[0u8; 32][..], |u| &u.key_hash[..]);
        match found {
            Some(u) if crate::secret::matches(key, stored) => Ok(Some(model::User {
                id: u.id.clone(),
                email: u.email.clone(),
                created_on: crate::rows::parse_time(&u.created_on)?,
            })),
            _ => Ok(None),
        }
    }
}
