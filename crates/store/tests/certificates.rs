//! Custom certificates in both stores: kept with their keys, per zone, reaching the data plane
//! as whole lists, gone with their zone.

mod common;

use common::Backend;
use store::StoreError;

/// Fields of an upload of a fresh self-signed certificate for `host`.
fn certificate_fields(host: &str) -> model::CertificateFields {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let body = serde_json::json!({"certificate": cert.pem(), "private_key": key.serialize_pem()});
    model::CertificateFields::from_json(&body, "example.com", chrono::Utc::now()).unwrap()
}

both!(certificates_keep_their_keys_and_reach_the_data_plane_as_whole_lists);
fn certificates_keep_their_keys_and_reach_the_data_plane_as_whole_lists(backend: &Backend) {
    let store = backend.open();
    let zone = store.create_zone("example.com").unwrap();
    let start = store.revision().unwrap();
    let a = store
        .create_certificate(&zone.id, &certificate_fields("a.example.com"))
        .unwrap();
    let b = store
        .create_certificate(&zone.id, &certificate_fields("*.example.com"))
        .unwrap();
    assert!(matches!(
        store.create_certificate(&"f".repeat(32), &a.fields),
        Err(StoreError::NotFound("zone"))
    ));
    assert_eq!(
        store.certificates(&zone.id).unwrap(),
        [a.clone(), b.clone()]
    );
    assert_eq!(store.certificate(&zone.id, &a.id).unwrap(), Some(a.clone()));
    let changes = store.changes_since(start).unwrap();
    assert_eq!(
        changes.certificates,
        [(zone.id.clone(), vec![a.clone(), b.clone()])]
    );
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.certificates[&zone.id].len(), 2);
    assert!(snapshot.certificates[&zone.id][0]
        .fields
        .private_key
        .contains("PRIVATE KEY"));

    let renewed = store
        .update_certificate(&zone.id, &a.id, &certificate_fields("c.example.com"))
        .unwrap()
        .unwrap();
    assert_eq!(renewed.uploaded_on, a.uploaded_on);
    assert_eq!(renewed.fields.inspected.hosts, ["c.example.com"]);
    let before_delete = store.revision().unwrap();
    assert!(store.delete_certificate(&zone.id, &b.id).unwrap());
    assert!(!store.delete_certificate(&zone.id, &b.id).unwrap());
    let changes = store.changes_since(before_delete).unwrap();
    assert_eq!(
        changes.certificates,
        [(zone.id.clone(), vec![renewed.clone()])]
    );
    let applied = snapshot.apply(store.changes_since(snapshot.revision).unwrap());
    assert_eq!(applied.certificates[&zone.id].as_slice(), [renewed]);

    // A zone's certificates go with it; what is stored reads back after a reopen.
    assert!(store.delete_zone(&zone.id).unwrap());
    assert!(store.snapshot().unwrap().certificates.is_empty());
    drop(store);
    assert!(backend.open().certificates(&zone.id).unwrap().is_empty());
}
