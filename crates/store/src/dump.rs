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

#[derive(Debug, Clone, PartialEq)]
pub struct TokenDump {
    pub id: String,
    pub name: String,
    pub secret_hash: Vec<u8>,
    pub permissions: String,
    pub zones: Option<String>,
    pub revoked: bool,
    pub created_on: String,
}

#[derive(Debug, Clone, PartialEq)]
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

/// Every row of a store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dump {
    pub zones: Vec<ZoneDump>,
    pub apps: Vec<AppDump>,
    pub tokens: Vec<TokenDump>,
    pub users: Vec<UserDump>,
    pub access_rules: Vec<RuleDump>,
}

/// What an import added; rows already there (by id, or by name for zones and users) are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    pub zones: usize,
    pub apps: usize,
    pub tokens: usize,
    pub users: usize,
    pub access_rules: usize,
}

impl Imported {
    pub fn total(&self) -> usize {
        self.zones + self.apps + self.tokens + self.users + self.access_rules
    }
}
