//! Tokens, global keys, permissions and zone scopes; the zones API; token verification.

mod common;

use common::{envelope, ssh_app, Server, ALL};
use model::Permission;
use reqwest::{Method, StatusCode};
use serde_json::json;
use store::Store;

fn code(body: &serde_json::Value) -> u64 {
    body["errors"][0]["code"].as_u64().unwrap()
}

#[tokio::test]
async fn missing_or_invalid_credentials_are_401() {
    let s = Server::start().await;
    let (status, body) = s.call_as(Method::GET, &s.apps(""), None, None).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, 9106));
    let (status, body) = s
        .call_as(Method::GET, &s.apps(""), Some("not-a-token"), None)
        .await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, 1000));
    let response = s
        .http
        .get(format!("{}{}", s.base, s.apps("")))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response).await.0, StatusCode::UNAUTHORIZED);
    let response = s
        .http
        .get(format!("{}{}", s.base, s.apps("")))
        .header("X-Auth-Email", "nobody@example.com")
        .header("X-Auth-Key", "0123")
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, 9103));
}

#[tokio::test]
async fn permissions_and_zone_scopes_are_403() {
    let s = Server::start().await;
    let other = s.store.create_zone("example.org").unwrap();
    let read = s.token(&[Permission::ZoneSettingsRead], None);
    let analytics = s.token(&[Permission::AnalyticsRead], None);
    let write_other = s.token(&[Permission::ZoneSettingsWrite], Some(&other.id));
    let write_here = s.token(&[Permission::ZoneSettingsWrite], Some(&s.zone.id));

    let (status, _) = s.call_as(Method::GET, &s.apps(""), Some(&read), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s
        .call_as(
            Method::POST,
            &s.apps(""),
            Some(&read),
            Some(ssh_app("a.example.com")),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, 10000));
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Zone Settings Write"));
    let (status, _) = s
        .call_as(Method::GET, &s.apps(""), Some(&analytics), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .call_as(Method::GET, &s.apps(""), Some(&write_other), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Write implies read.
    let (status, body) = s
        .call_as(
            Method::POST,
            &s.apps(""),
            Some(&write_here),
            Some(ssh_app("a.example.com")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = s
        .call_as(Method::GET, &s.apps(""), Some(&write_here), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    // A scoped token cannot create zones.
    let (status, _) = s
        .call_as(
            Method::POST,
            "/zones",
            Some(&write_here),
            Some(json!({"name": "example.net"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_global_key_grants_everything_and_any_valid_credential_suffices() {
    let s = Server::start().await;
    let (_, key) = s.store.create_user("ops@example.com").unwrap();
    let request = |method: Method, path: String| {
        s.http
            .request(method, format!("{}{path}", s.base))
            .header("X-Auth-Email", "ops@example.com")
            .header("X-Auth-Key", key.as_str())
    };
    let (status, body) = envelope(
        request(Method::POST, s.apps(""))
            .json(&ssh_app("k.example.com"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The TS SDK sends a token and the key together: one valid credential is enough.
    let (status, _) = envelope(
        request(Method::GET, s.apps(""))
            .bearer_auth("revoked-or-bogus")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = envelope(
        s.http
            .get(format!("{}{}", s.base, s.apps("")))
            .header("X-Auth-Email", "ops@example.com")
            .header("X-Auth-Key", "0000000000000000000000000000000000000")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoked_tokens_stop_working_and_verify_says_so() {
    let s = Server::start().await;
    let (token, secret) = s
        .store
        .create_token("t", &[Permission::ZoneSettingsRead], None)
        .unwrap();
    let (status, body) = s
        .call_as(Method::GET, "/user/tokens/verify", Some(&secret), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["id"], token.id.as_str());
    assert_eq!(body["result"]["status"], "active");
    assert!(s.store.revoke_token(&token.id).unwrap());
    let (status, _) = s
        .call_as(Method::GET, &s.apps(""), Some(&secret), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .call_as(Method::GET, "/user/tokens/verify", Some(&secret), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .call_as(Method::GET, "/user/tokens/verify", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn zones_api_creates_lists_and_deletes_with_apps() {
    let s = Server::start().await;
    let (status, body) = s
        .call(
            Method::POST,
            "/zones",
            Some(json!({"name": "Example.NET", "type": "full", "account": {"id": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let zone = body["result"].clone();
    assert_eq!(zone["name"], "example.net");
    assert_eq!(zone["status"], "active");
    let zone_id = zone["id"].as_str().unwrap().to_owned();
    assert!(model::is_identifier(&zone_id));
    for key in ["created_on", "modified_on"] {
        chrono::DateTime::parse_from_rfc3339(zone[key].as_str().unwrap()).unwrap();
    }
    let (status, body) = s
        .call(Method::POST, "/zones", Some(json!({"name": "example.net"})))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, 1061));
    for bad in [
        json!({"name": "not a domain"}),
        json!({}),
        json!({"name": "a.com", "plan": 1}),
    ] {
        let (status, _) = s.call(Method::POST, "/zones", Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    let (_, list) = s.call(Method::GET, "/zones", None).await;
    let names: Vec<&str> = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["example.com", "example.net"]);
    let (_, by_name) = s.call(Method::GET, "/zones?name=example.net", None).await;
    assert_eq!(by_name["result"], json!([zone]));
    let (status, got) = s
        .call(Method::GET, &format!("/zones/{zone_id}"), None)
        .await;
    assert_eq!((status, &got["result"]), (StatusCode::OK, &zone));

    // A token scoped to one zone sees only that zone.
    let scoped = s.token(&[Permission::ZoneSettingsRead], Some(&zone_id));
    let (_, list) = s.call_as(Method::GET, "/zones", Some(&scoped), None).await;
    assert_eq!(list["result"], json!([zone]));
    let (status, _) = s
        .call_as(
            Method::GET,
            &format!("/zones/{}", s.zone.id),
            Some(&scoped),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let app_path = format!("/zones/{zone_id}/spectrum/apps");
    let (status, _) = s
        .call(Method::POST, &app_path, Some(ssh_app("ssh.example.net")))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s
        .call(Method::DELETE, &format!("/zones/{zone_id}"), None)
        .await;
    assert_eq!(
        (status, &body["result"]),
        (StatusCode::OK, &json!({"id": zone_id}))
    );
    assert!(
        s.store.snapshot().unwrap().apps.is_empty(),
        "the zone's apps went with it"
    );
    let (status, _) = s.call(Method::GET, &app_path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call(Method::GET, &format!("/zones/{zone_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn zone_write_is_needed_to_delete_a_zone() {
    let s = Server::start().await;
    let settings = s.token(&[Permission::ZoneSettingsWrite], None);
    let (status, _) = s
        .call_as(
            Method::DELETE,
            &format!("/zones/{}", s.zone.id),
            Some(&settings),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let everything = s.token(ALL, Some(&s.zone.id));
    let (status, _) = s
        .call_as(
            Method::DELETE,
            &format!("/zones/{}", s.zone.id),
            Some(&everything),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
