//! Custom certificate uploads: what is read from the certificate, and every refusal naming why.

use chrono::Utc;
use model::{codes, BundleMethod, CertificateFields, CertificateType};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use serde_json::json;

/// A self-signed certificate for `names`, valid from `from_days` to `to_days` around now.
fn cert(names: &[&str], from_days: i64, to_days: i64) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    params.not_after = now + time::Duration::days(to_days);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Spectra Test CA");
    params.distinguished_name = dn;
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn upload(cert: &str, key: &str) -> serde_json::Value {
    json!({"certificate": cert, "private_key": key})
}

#[test]
fn an_upload_reads_hosts_issuer_signature_and_expiry() {
    let (c, k) = cert(&["example.com", "*.example.com"], -1, 90);
    let mut body = upload(&c, &k);
    body["bundle_method"] = json!("force");
    body["type"] = json!("sni_custom");
    let f = CertificateFields::from_json(&body, "example.com", Utc::now()).unwrap();
    assert_eq!(f.inspected.hosts, ["example.com", "*.example.com"]);
    assert_eq!(f.inspected.issuer, "Spectra Test CA");
    assert_eq!(f.inspected.signature, "ECDSAWithSHA256");
    let days = (f.inspected.expires_on - Utc::now()).num_days();
    assert!((88..=90).contains(&days), "{days}");
    assert_eq!(f.bundle_method, BundleMethod::Force);
    assert_eq!(f.kind, CertificateType::SniCustom);
    let plain = CertificateFields::from_json(&upload(&c, &k), "example.com", Utc::now()).unwrap();
    assert_eq!(
        (plain.bundle_method, plain.kind),
        (BundleMethod::Ubiquitous, CertificateType::LegacyCustom)
    );
}

fn refused(body: serde_json::Value, zone: &str) -> (u32, String) {
    let e = CertificateFields::from_json(&body, zone, Utc::now()).unwrap_err();
    (e.code, e.message)
}

#[test]
fn every_refusal_says_which_check_failed() {
    let (c, k) = cert(&["ssh.example.com"], -1, 90);
    let (_, other_key) = cert(&["ssh.example.com"], -1, 90);
    let (old, old_key) = cert(&["ssh.example.com"], -30, -1);
    let (later, later_key) = cert(&["ssh.example.com"], 2, 90);
    let (foreign, foreign_key) = cert(&["ssh.example.com", "evil.example.org"], -1, 90);
    let cases = [
        (upload(&c, &other_key), codes::PRIVATE_KEY, "does not match"),
        (upload(&old, &old_key), codes::CERTIFICATE, "expired on"),
        (
            upload(&later, &later_key),
            codes::CERTIFICATE,
            "not valid before",
        ),
        (
            upload(&foreign, &foreign_key),
            codes::CERTIFICATE_HOSTS,
            "evil.example.org is outside the zone example.com",
        ),
        (
            upload("not a certificate", &k),
            codes::CERTIFICATE,
            "no PEM CERTIFICATE",
        ),
        (
            upload(&c, "not a key"),
            codes::PRIVATE_KEY,
            "no PEM private key",
        ),
        (
            json!({"certificate": c}),
            codes::INVALID_FIELD,
            "private_key: required",
        ),
        (
            json!({"private_key": k}),
            codes::INVALID_FIELD,
            "certificate: required",
        ),
        (
            json!({"certificate": c, "private_key": k, "colour": "red"}),
            codes::UNKNOWN_FIELD,
            "colour",
        ),
        (
            json!({"certificate": c, "private_key": k, "custom_csr_id": "x"}),
            codes::INVALID_FIELD,
            "self-hosted",
        ),
        (
            json!({"certificate": c, "private_key": k, "bundle_method": "best"}),
            codes::INVALID_FIELD,
            "bundle_method",
        ),
    ];
    for (body, code, says) in cases {
        let (got, message) = refused(body, "example.com");
        assert_eq!(got, code, "{message}");
        assert!(message.contains(says), "{message} does not say {says:?}");
    }
}

#[test]
fn an_edit_checks_the_new_certificate_against_the_kept_key_and_never_shows_the_key() {
    let key = KeyPair::generate().unwrap();
    let issue = |names: &[&str]| {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.self_signed(&key).unwrap().pem()
    };
    let first = CertificateFields::from_json(
        &upload(&issue(&["a.example.com"]), &key.serialize_pem()),
        "example.com",
        Utc::now(),
    )
    .unwrap();
    // Same key, new names: the key is kept.
    let renewed = first
        .patched(
            &json!({"certificate": issue(&["b.example.com"])}),
            "example.com",
            Utc::now(),
        )
        .unwrap();
    assert_eq!(renewed.inspected.hosts, ["b.example.com"]);
    assert_eq!(renewed.private_key, first.private_key);
    // Another key alone does not match the kept certificate.
    let (_, other) = cert(&["a.example.com"], -1, 90);
    let e = first
        .patched(&json!({"private_key": other}), "example.com", Utc::now())
        .unwrap_err();
    assert_eq!(e.code, codes::PRIVATE_KEY);
    let stored = model::Certificate {
        id: "c".repeat(32),
        zone_id: "z".repeat(32),
        fields: renewed,
        uploaded_on: Utc::now(),
        modified_on: Utc::now(),
    };
    let shown = serde_json::to_value(&stored).unwrap();
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["hosts"], json!(["b.example.com"]));
    assert!(shown.get("private_key").is_none());
    assert!(!shown.to_string().contains("PRIVATE KEY"));
    assert!(!format!("{stored:?}").contains("PRIVATE KEY"));
}
