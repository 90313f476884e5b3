//! Custom certificates (`/zones/{zone_id}/custom_certificates`): what an upload or edit may
//! set, the checks it passes (a PEM chain, a private key that matches its leaf, dates, every
//! name inside the zone), and the object the API shows, which never carries the key.

use crate::choice::choice;
use crate::{codes, hostname, Invalid};
use chrono::{DateTime, TimeZone, Utc};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

choice!(
    /// How the chain is served. Spectra serves the chain as uploaded whatever the method.
    BundleMethod {
        Ubiquitous = "ubiquitous",
        Optimal = "optimal",
        Force = "force",
    }
);

choice!(
    /// Cloudflare's certificate types; both are chosen by SNI here (and by the app's hostname
    /// for clients that send none).
    CertificateType {
        LegacyCustom = "legacy_custom",
        SniCustom = "sni_custom",
    }
);

/// What the uploaded certificate says of itself, read when it is uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// DNS names of the leaf (its SANs, else its common name), lower-case.
    pub hosts: Vec<String>,
    pub issuer: String,
    pub signature: String,
    pub expires_on: DateTime<Utc>,
}

/// What an upload or edit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFields {
    /// PEM: the leaf, then intermediates.
    pub certificate: String,
    /// PEM. Never returned by the API, never logged.
    pub private_key: String,
    pub bundle_method: BundleMethod,
    pub kind: CertificateType,
    pub inspected: Inspected,
}

/// A stored custom certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    pub id: String,
    pub zone_id: String,
    pub fields: CertificateFields,
    pub uploaded_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Certificate")
            .field("id", &self.id)
            .field("zone_id", &self.zone_id)
            .field("hosts", &self.fields.inspected.hosts)
            .finish_non_exhaustive()
    }
}

/// Cloudflare's `priority` of a certificate Spectra did not give one (ties go to the newest).
const PRIORITY: u32 = 20;

/// Cloudflare's custom certificate object, without the private key.
impl Serialize for Certificate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = &self.fields;
        let status = if f.inspected.expires_on <= Utc::now() {
            "expired"
        } else {
            "active"
        };
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("zone_id", &self.zone_id)?;
        map.serialize_entry("hosts", &f.inspected.hosts)?;
        map.serialize_entry("issuer", &f.inspected.issuer)?;
        map.serialize_entry("signature", &f.inspected.signature)?;
        map.serialize_entry("status", status)?;
        map.serialize_entry("bundle_method", &f.bundle_method)?;
        map.serialize_entry("type", &f.kind)?;
        map.serialize_entry("priority", &PRIORITY)?;
        map.serialize_entry("uploaded_on", &crate::timestamp(self.uploaded_on))?;
        map.serialize_entry("modified_on", &crate::timestamp(self.modified_on))?;
        map.serialize_entry("expires_on", &crate::timestamp(f.inspected.expires_on))?;
        map.end()
    }
}

fn invalid(code: u32, message: impl Into<String>) -> Invalid {
    Invalid::new(code, message)
}

/// The chain of `pem`, leaf first.
pub fn chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, Invalid> {
    let chain: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| {
            invalid(
                codes::CERTIFICATE,
                format!("certificate: malformed PEM: {e}"),
            )
        })?;
    if chain.is_empty() {
        return Err(invalid(
            codes::CERTIFICATE,
            "certificate: no PEM CERTIFICATE block",
        ));
    }
    Ok(chain)
}

/// The private key of `pem` (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(pem: &str) -> Result<PrivateKeyDer<'static>, Invalid> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
        invalid(
            codes::PRIVATE_KEY,
            "private_key: no PEM private key (PKCS#8, PKCS#1 or SEC1)",
        )
    })
}

/// The chain with its key, checked to match, ready to serve.
pub fn certified_key(certificate: &str, key: &str) -> Result<CertifiedKey, Invalid> {
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(private_key(key)?)
        .map_err(|e| {
            invalid(
                codes::PRIVATE_KEY,
                format!(
                    "private_key: unsupported key ({e}); RSA, ECDSA P-256/P-384 and Ed25519 are"
                ),
            )
        })?;
    let certified = CertifiedKey::new(chain(certificate)?, signing);
    certified.keys_match().map_err(|_| {
        invalid(
            codes::PRIVATE_KEY,
            "private_key: does not match the certificate's public key",
        )
    })?;
    Ok(certified)
}

fn signature_name(cert: &X509Certificate<'_>) -> String {
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.2.840.113549.1.1.11" => "SHA256WithRSA",
        "1.2.840.113549.1.1.12" => "SHA384WithRSA",
        "1.2.840.113549.1.1.13" => "SHA512WithRSA",
        "1.2.840.113549.1.1.10" => "SHA256WithRSAPSS",
        "1.2.840.10045.4.3.2" => "ECDSAWithSHA256",
        "1.2.840.10045.4.3.3" => "ECDSAWithSHA384",
        "1.2.840.10045.4.3.4" => "ECDSAWithSHA512",
        "1.3.101.112" => "Ed25519",
        _ => return oid,
    }
    .to_owned()
}

/// Reads the leaf of `certificate` and checks it against `zone` at `now`.
pub fn inspect(certificate: &str, zone: &str, now: DateTime<Utc>) -> Result<Inspected, Invalid> {
    let chain = chain(certificate)?;
    let (_, leaf) = X509Certificate::from_der(&chain[0]).map_err(|e| {
        invalid(
            codes::CERTIFICATE,
            format!("certificate: not an X.509 certificate: {e}"),
        )
    })?;
    let validity = leaf.validity();
    let at = |t: x509_parser::time::ASN1Time| {
        Utc.timestamp_opt(t.timestamp(), 0).single().unwrap_or(now)
    };
    let (not_before, expires_on) = (at(validity.not_before), at(validity.not_after));
    if expires_on <= now {
        return Err(invalid(
            codes::CERTIFICATE,
            format!("certificate: expired on {}", crate::timestamp(expires_on)),
        ));
    }
    if not_before > now {
        return Err(invalid(
            codes::CERTIFICATE,
            format!(
                "certificate: not valid before {}",
                crate::timestamp(not_before)
            ),
        ));
    }
    let mut hosts: Vec<String> = leaf
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if hosts.is_empty() {
        hosts = leaf
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .map(str::to_ascii_lowercase)
            .collect();
    }
    if hosts.is_empty() {
        return Err(invalid(
            codes::CERTIFICATE_HOSTS,
            "certificate: names no host (no DNS subject alternative name or common name)",
        ));
    }
    if let Some(outside) = hosts.iter().find(|h| !covers_zone(h, zone)) {
        return Err(invalid(
            codes::CERTIFICATE_HOSTS,
            format!("certificate: {outside} is outside the zone {zone}"),
        ));
    }
    let issuer = leaf.issuer();
    let issuer = issuer
        .iter_organization()
        .chain(issuer.iter_common_name())
        .find_map(|a| a.as_str().ok().map(str::to_owned))
        .unwrap_or_else(|| issuer.to_string());
    Ok(Inspected {
        hosts,
        issuer,
        signature: signature_name(&leaf),
        expires_on,
    })
}

/// Whether certificate name `host` (`a.example.com`, `*.example.com`) lies in `zone`.
fn covers_zone(host: &str, zone: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    hostname::is_valid(name) && hostname::in_zone(name, zone)
}

/// Fields of the upload and edit bodies, besides `certificate` and `private_key`.
fn object(body: &Value) -> Result<&Map<String, Value>, Invalid> {
    let body = body
        .as_object()
        .ok_or_else(|| invalid(codes::INVALID_FIELD, "the body must be a JSON object"))?;
    for key in body.keys() {
        match key.as_str() {
            "certificate" | "private_key" | "bundle_method" | "type" | "deploy" => {}
            "custom_csr_id" | "geo_restrictions" | "policy" | "policy_restrictions" => {
                return Err(invalid(
                    codes::INVALID_FIELD,
                    format!("{key}: not available on a self-hosted node (it keeps the key itself and serves from every node)"),
                ))
            }
            _ => {
                return Err(invalid(
                    codes::UNKNOWN_FIELD,
                    format!("{key}: a custom certificate has no such field"),
                ))
            }
        }
    }
    if let Some(deploy) = body.get("deploy").filter(|d| !d.is_null()) {
        if deploy != "production" {
            return Err(invalid(
                codes::INVALID_FIELD,
                "deploy: only \"production\" (a node has no staging network)",
            ));
        }
    }
    Ok(body)
}

fn text<'a>(body: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Invalid> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(
            codes::INVALID_FIELD,
            format!("{key}: expected a string"),
        )),
    }
}

impl CertificateFields {
    /// The body of `POST .../custom_certificates` for `zone` (its name), checked at `now`.
    pub fn from_json(body: &Value, zone: &str, now: DateTime<Utc>) -> Result<Self, Invalid> {
        let body = object(body)?;
        let certificate = text(body, "certificate")?
            .ok_or_else(|| invalid(codes::INVALID_FIELD, "certificate: required"))?;
        let key = text(body, "private_key")?
            .ok_or_else(|| invalid(codes::INVALID_FIELD, "private_key: required"))?;
        let bundle_method = match text(body, "bundle_method")? {
            Some(m) => BundleMethod::parse_field(m, "bundle_method")?,
            None => BundleMethod::Ubiquitous,
        };
        let kind = match text(body, "type")? {
            Some(t) => CertificateType::parse_field(t, "type")?,
            None => CertificateType::LegacyCustom,
        };
        Self::checked(certificate, key, bundle_method, kind, zone, now)
    }

    fn checked(
        certificate: &str,
        key: &str,
        bundle_method: BundleMethod,
        kind: CertificateType,
        zone: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, Invalid> {
        let inspected = inspect(certificate, zone, now)?;
        certified_key(certificate, key)?;
        Ok(CertificateFields {
            certificate: certificate.to_owned(),
            private_key: key.to_owned(),
            bundle_method,
            kind,
            inspected,
        })
    }

    /// These fields with a `PATCH` body applied: a new `certificate` and/or `private_key`
    /// (each checked against the other, new or kept), `bundle_method`.
    pub fn patched(&self, body: &Value, zone: &str, now: DateTime<Utc>) -> Result<Self, Invalid> {
        let body = object(body)?;
        if body.contains_key("type") {
            return Err(invalid(
                codes::INVALID_FIELD,
                "type: set when the certificate is uploaded",
            ));
        }
        let certificate = text(body, "certificate")?.unwrap_or(&self.certificate);
        let key = text(body, "private_key")?.unwrap_or(&self.private_key);
        let bundle_method = match text(body, "bundle_method")? {
            Some(m) => BundleMethod::parse_field(m, "bundle_method")?,
            None => self.bundle_method,
        };
        Self::checked(certificate, key, bundle_method, self.kind, zone, now)
    }
}
