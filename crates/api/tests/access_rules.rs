//! The zone IP Access Rules API over real HTTP: lifecycle, list filters and paging, refusals.

mod common;

use common::*;
use model::Permission;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use store::Store;

fn rules(s: &Server, rest: &str) -> String {
    format!("/zones/{}/firewall/access_rules/rules{rest}", s.zone.id)
}

async fn create(s: &Server, mode: &str, target: &str, value: &str, notes: &str) -> Value {
    let body =
        json!({"mode": mode, "configuration": {"target": target, "value": value}, "notes": notes});
    let (status, envelope) = s.call(Method::POST, &rules(s, ""), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{envelope}");
    envelope["result"].clone()
}

fn values(envelope: &Value) -> Vec<&str> {
    envelope["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["configuration"]["value"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn lifecycle_create_get_edit_list_delete() {
    let s = Server::start().await;
    let rule = create(&s, "block", "ip", "192.0.2.1", "scanner").await;
    let id = rule["id"].as_str().unwrap().to_owned();
    assert!(model::is_identifier(&id));
    assert_eq!(rule["mode"], "block");
    assert_eq!(
        rule["configuration"],
        json!({"target": "ip", "value": "192.0.2.1"})
    );
    assert_eq!(rule["notes"], "scanner");
    assert_eq!(rule["scope"]["id"], s.zone.id.as_str());
    assert_eq!(rule["allowed_modes"].as_array().unwrap().len(), 5);

    let (status, got) = s
        .call(Method::GET, &rules(&s, &format!("/{id}")), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["result"], rule);

    let (status, edited) = s
        .call(
            Method::PATCH,
            &rules(&s, &format!("/{id}")),
            Some(json!({"mode": "whitelist"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["result"]["mode"], "whitelist");
    assert_eq!(edited["result"]["notes"], "scanner");
    assert_eq!(edited["result"]["created_on"], rule["created_on"]);

    let (_, list) = s.call(Method::GET, &rules(&s, ""), None).await;
    assert_eq!(list["result"].as_array().unwrap().len(), 1);
    assert_eq!(list["result_info"]["total_count"], 1);

    let (status, deleted) = s
        .call(Method::DELETE, &rules(&s, &format!("/{id}")), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["result"], json!({"id": id}));
    let (status, gone) = s
        .call(Method::GET, &rules(&s, &format!("/{id}")), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
    let (status, _) = s
        .call(Method::DELETE, &rules(&s, &format!("/{id}")), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lists_filter_order_and_page() {
    let s = Server::start().await;
    create(&s, "block", "ip", "192.0.2.9", "Scanner from the north").await;
    create(&s, "whitelist", "ip", "192.0.2.1", "office").await;
    create(&s, "block", "ip_range", "198.51.100.0/24", "").await;
    create(&s, "challenge", "country", "XX", "unknown").await;
    let list = |query: &str| {
        let path = rules(&s, query);
        let s = &s;
        async move {
            let (status, envelope) = s.call(Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{envelope}");
            envelope
        }
    };
    assert_eq!(
        values(&list("?mode=block").await),
        ["192.0.2.9", "198.51.100.0/24"]
    );
    assert_eq!(
        values(&list("?configuration.target=ip").await),
        ["192.0.2.9", "192.0.2.1"]
    );
    assert_eq!(
        values(&list("?configuration%5Btarget%5D=ip_range").await),
        ["198.51.100.0/24"]
    );
    assert_eq!(
        values(&list("?configuration.value=192.0.2.1").await),
        ["192.0.2.1"]
    );
    assert_eq!(values(&list("?notes=SCANNER").await), ["192.0.2.9"]);
    assert_eq!(
        values(&list("?mode=whitelist&notes=unknown&match=any").await),
        ["192.0.2.1", "XX"]
    );
    assert!(values(&list("?mode=whitelist&notes=unknown").await).is_empty());
    assert_eq!(
        values(&list("?order=configuration.value&direction=desc").await),
        ["XX", "198.51.100.0/24", "192.0.2.9", "192.0.2.1"]
    );
    let page = list("?per_page=3&page=2.0").await;
    assert_eq!(values(&page).len(), 1);
    assert_eq!(
        page["result_info"],
        json!({"page": 2, "per_page": 3, "count": 1, "total_count": 4, "total_pages": 2})
    );
    assert!(values(&list("?page=9").await).is_empty());
    let (status, _) = s.call(Method::GET, &rules(&s, "?match=some"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s.call(Method::GET, &rules(&s, "?order=notes"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_rules_duplicates_and_permissions_are_refused() {
    let s = Server::start().await;
    let (status, e) = s
        .call(
            Method::POST,
            &rules(&s, ""),
            Some(
                json!({"mode": "block", "configuration": {"target": "ip", "value": "10.0.0.300"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        e["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("configuration.value"),
        "{e}"
    );
    create(&s, "block", "ip", "192.0.2.1", "").await;
    let (status, e) = s
        .call(Method::POST, &rules(&s, ""), Some(json!({"mode": "whitelist", "configuration": {"target": "ip", "value": "192.0.2.1"}})))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a duplicate is the client's to fix: {e}"
    );
    let (_, list) = s.call(Method::GET, &rules(&s, ""), None).await;
    assert_eq!(
        list["result_info"]["total_count"], 1,
        "nothing stored by refusals"
    );

    let reader = s.token(&[Permission::ZoneSettingsRead], Some(&s.zone.id));
    let body = json!({"mode": "block", "configuration": {"target": "ip", "value": "192.0.2.2"}});
    let (status, _) = s
        .call_as(Method::POST, &rules(&s, ""), Some(&reader), Some(body))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .call_as(Method::GET, &rules(&s, ""), Some(&reader), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s.call_as(Method::GET, &rules(&s, ""), None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s.call(Method::GET, &rules(&s, "/not-an-id"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn country_and_asn_rules_need_a_geolocation_database_and_the_status_names_idle_ones() {
    let s = Server::start().await;
    for (target, value) in [("country", "XX"), ("asn", "AS64500")] {
        let body = json!({"mode": "block", "configuration": {"target": target, "value": value}});
        let (status, envelope) = s.call(Method::POST, &rules(&s, ""), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{envelope}");
        let message = envelope["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("--geoip-db"), "{message}");
    }
    // Challenge modes do nothing at L4 anyway: stored as before.
    create(&s, "challenge", "country", "XX", "").await;
    // An address rule cannot be turned into a country rule either.
    let rule = create(&s, "block", "ip", "192.0.2.1", "").await;
    let path = rules(&s, &format!("/{}", rule["id"].as_str().unwrap()));
    let patch = json!({"configuration": {"target": "country", "value": "XX"}});
    let (status, _) = s.call(Method::PATCH, &path, Some(patch)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A rule stored while the node had a database: the status of an ip_firewall app names it.
    let stored = s
        .store
        .create_access_rule(
            &s.zone.id,
            &model::RuleFields::from_json(
                &json!({"mode": "block", "configuration": {"target": "asn", "value": "AS64500"}}),
            )
            .unwrap(),
        )
        .unwrap();
    let mut app = ssh_app("ssh.example.com");
    app["ip_firewall"] = json!(true);
    let app = s.create_app(app).await;
    let status_path = s.apps(&format!("/{}/status", app["id"].as_str().unwrap()));
    let (code, envelope) = s.call(Method::GET, &status_path, None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        envelope["result"]["unmatched_access_rules"],
        json!([stored.id])
    );
}
