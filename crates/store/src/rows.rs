//! Rows as every backend stores them (text columns, comma lists, JSON configs) and the model
//! values they read back as: one reading, whatever the database.

use crate::{Result, StoreError};
use chrono::{DateTime, SubsecRound, Utc};
use model::{
    AccessRule, AccessRuleMode, App, AppConfig, Permission, RuleFields, RuleTarget, Token, Zone,
};
use std::net::IpAddr;

/// Now, at the microsecond precision timestamps are stored with.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {text:?}: {e}")))
}

/// `items` grouped by their zone, in order.
pub fn by_zone<T>(
    items: Vec<T>,
    zone: impl Fn(&T) -> &str,
) -> std::collections::BTreeMap<String, Vec<T>> {
    let mut out: std::collections::BTreeMap<String, Vec<T>> = std::collections::BTreeMap::new();
    for item in items {
        out.entry(zone(&item).to_owned()).or_default().push(item);
    }
    out
}

/// `id, name, created_on, modified_on`.
pub type ZoneRow = (String, String, String, String);

pub fn to_zone((id, name, created_on, modified_on): ZoneRow) -> Result<Zone> {
    Ok(Zone {
        id,
        name,
        created_on: parse_time(&created_on)?,
        modified_on: parse_time(&modified_on)?,
    })
}

/// `id, zone_id, created_on, modified_on, config, edge_addresses`.
pub type AppRow = (String, String, String, String, String, String);

pub fn addresses_text(addresses: &[IpAddr]) -> String {
    let texts: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
    texts.join(",")
}

pub fn config_json(config: &AppConfig) -> Result<String> {
    serde_json::to_string(config).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn to_app((id, zone_id, created_on, modified_on, config, addresses): AppRow) -> Result<App> {
    let edge_addresses = parse_addresses(&format!("app {id}"), &addresses)?;
    let json =
        serde_json::from_str(&config).map_err(|e| StoreError::Corrupt(format!("app {id}: {e}")))?;
    let config =
        AppConfig::from_json(json).map_err(|e| StoreError::Corrupt(format!("app {id}: {e}")))?;
    Ok(App {
        created_on: parse_time(&created_on)?,
        modified_on: parse_time(&modified_on)?,
        id,
        zone_id,
        config,
        edge_addresses,
    })
}

/// `id, name, permissions, zones, revoked, created_on`.
pub type TokenRow = (String, String, String, Option<String>, bool, String);

pub fn to_token((id, name, permissions, zones, revoked, created_on): TokenRow) -> Result<Token> {
    let permissions = permissions
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            Permission::parse_field(p, "permission")
                .map_err(|e| StoreError::Corrupt(format!("token {id}: {e}")))
        })
        .collect::<Result<_>>()?;
    Ok(Token {
        zones: zones.map(|z| z.split(',').map(str::to_owned).collect()),
        created_on: parse_time(&created_on)?,
        id,
        name,
        permissions,
        revoked,
    })
}

/// `id, zone_id, mode, target, value, notes, created_on, modified_on`.
pub type RuleRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

pub fn to_rule(
    (id, zone_id, mode, target, value, notes, created_on, modified_on): RuleRow,
) -> Result<AccessRule> {
    let corrupt = |e: model::Invalid| StoreError::Corrupt(format!("access rule {id}: {e}"));
    Ok(AccessRule {
        fields: RuleFields {
            mode: AccessRuleMode::parse_field(&mode, "mode").map_err(corrupt)?,
            target: RuleTarget::parse_field(&target, "target").map_err(corrupt)?,
            value,
            notes,
        },
        id,
        zone_id,
        created_on: parse_time(&created_on)?,
        modified_on: parse_time(&modified_on)?,
    })
}

/// A conflict for a second rule on the same target and value in a zone.
pub fn duplicate_rule(fields: &RuleFields, other: &str) -> StoreError {
    StoreError::Conflict(format!(
        "an access rule for {} {} already exists: {other}",
        fields.target, fields.value
    ))
}

pub fn node_json(node: &model::Node) -> Result<String> {
    serde_json::to_string(node).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn to_node(name: &str, json: &str) -> Result<model::Node> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("node {name}: {e}")))
}

/// Comma-separated addresses, as `addresses_text` writes them.
pub fn parse_addresses(owner: &str, text: &str) -> Result<Vec<IpAddr>> {
    text.split(',')
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse()
                .map_err(|e| StoreError::Corrupt(format!("{owner}: edge address {a:?}: {e}")))
        })
        .collect()
}

/// The column and direction an app list sorts by (ties by id, in the same direction).
pub fn order_by(query: &model::AppListQuery) -> (&'static str, &'static str) {
    let column = match query.order {
        model::AppOrder::Protocol => "protocol",
        model::AppOrder::AppId => "id",
        model::AppOrder::CreatedOn => "created_on",
        model::AppOrder::ModifiedOn => "modified_on",
        model::AppOrder::Dns => "dns_name",
    };
    let direction = match query.direction {
        model::Direction::Asc => "ASC",
        model::Direction::Desc => "DESC",
    };
    (column, direction)
}

/// A new token, its secret (shown once, never stored), and the row it is stored as.
pub fn new_token(
    name: &str,
    permissions: &[Permission],
    zones: Option<&[String]>,
) -> (Token, String, crate::TokenDump) {
    let secret = crate::secret::new_token_secret();
    let token = Token {
        id: crate::secret::new_id(),
        name: name.to_owned(),
        permissions: permissions.to_vec(),
        zones: zones.map(<[String]>::to_vec),
        revoked: false,
        created_on: now(),
    };
    let texts: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    let row = crate::TokenDump {
        id: token.id.clone(),
        name: token.name.clone(),
        secret_hash: crate::secret::hash(&secret),
        permissions: texts.join(","),
        zones: token.zones.as_ref().map(|z| z.join(",")),
        revoked: false,
        created_on: model::timestamp(token.created_on),
    };
    (token, secret, row)
}

/// A custom certificate's stored document: everything but its id, zone and times, the key
/// included (the database is the store's, kept as the node CA key is).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredCertificate {
    certificate: String,
    private_key: String,
    bundle_method: String,
    #[serde(rename = "type")]
    kind: String,
    hosts: Vec<String>,
    issuer: String,
    signature: String,
    expires_on: String,
}

/// `id, zone_id, uploaded_on, modified_on, data`.
pub type CertificateRow = (String, String, String, String, String);

pub fn certificate_data(f: &model::CertificateFields) -> Result<String> {
    serde_json::to_string(&StoredCertificate {
        certificate: f.certificate.clone(),
        private_key: f.private_key.clone(),
        bundle_method: f.bundle_method.as_str().to_owned(),
        kind: f.kind.as_str().to_owned(),
        hosts: f.inspected.hosts.clone(),
        issuer: f.inspected.issuer.clone(),
        signature: f.inspected.signature.clone(),
        expires_on: model::timestamp(f.inspected.expires_on),
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn to_certificate(
    (id, zone_id, uploaded_on, modified_on, data): CertificateRow,
) -> Result<model::Certificate> {
    let corrupt = |e: String| StoreError::Corrupt(format!("custom certificate {id}: {e}"));
    let s: StoredCertificate = serde_json::from_str(&data).map_err(|e| corrupt(e.to_string()))?;
    let fields = model::CertificateFields {
        bundle_method: model::BundleMethod::parse_field(&s.bundle_method, "bundle_method")
            .map_err(|e| corrupt(e.message))?,
        kind: model::CertificateType::parse_field(&s.kind, "type")
            .map_err(|e| corrupt(e.message))?,
        inspected: model::Inspected {
            hosts: s.hosts,
            issuer: s.issuer,
            signature: s.signature,
            expires_on: parse_time(&s.expires_on)?,
        },
        certificate: s.certificate,
        private_key: s.private_key,
    };
    Ok(model::Certificate {
        uploaded_on: parse_time(&uploaded_on)?,
        modified_on: parse_time(&modified_on)?,
        id,
        zone_id,
        fields,
    })
}
