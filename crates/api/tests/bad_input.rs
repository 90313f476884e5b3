//! Bad input never hurts: every answer is an envelope, nothing half-written, concurrency loses nothing.

mod common;

use common::{envelope, ssh_app, Server};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::HashSet;
use store::Store;

fn code(body: &serde_json::Value) -> u64 {
    body["errors"][0]["code"].as_u64().unwrap()
}

async fn post_raw(
    s: &Server,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let mut request = s
        .http
        .post(format!("{}{}", s.base, s.apps("")))
        .bearer_auth(&s.admin)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    envelope(request.send().await.unwrap()).await
}

#[tokio::test]
async fn malformed_bodies_get_clear_errors_and_write_nothing() {
    let s = Server::start().await;
    let valid = serde_json::to_vec(&ssh_app("a.example.com")).unwrap();
    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode, u64)> = vec![
        (
            Some("application/json"),
            b"{\"protocol\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            6007,
        ),
        (
            Some("application/json"),
            b"".to_vec(),
            StatusCode::BAD_REQUEST,
            6007,
        ),
        (
            Some("application/json"),
            b"\xff\xfe".to_vec(),
            StatusCode::BAD_REQUEST,
            6007,
        ),
        (
            Some("application/json"),
            b"[]".to_vec(),
            StatusCode::BAD_REQUEST,
            10001,
        ),
        (
            Some("application/json"),
            b"null".to_vec(),
            StatusCode::BAD_REQUEST,
            10001,
        ),
        (
            Some("application/json"),
            br#"{"protocol": 22}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            10001,
        ),
        (
            Some("text/xml"),
            valid.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            6003,
        ),
        (
            Some("multipart/form-data"),
            valid.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            6003,
        ),
        (
            Some("application/json"),
            vec![b' '; 2 << 20],
            StatusCode::PAYLOAD_TOO_LARGE,
            6007,
        ),
    ];
    for (content_type, body, status, expected) in cases {
        let preview = String::from_utf8_lossy(&body[..body.len().min(20)]).into_owned();
        let (got, err) = post_raw(&s, content_type, body).await;
        assert_eq!(
            (got, code(&err)),
            (status, expected),
            "{content_type:?} {preview:?}: {err}"
        );
    }
    let (_, list) = s.call(Method::GET, &s.apps(""), None).await;
    assert_eq!(list["result"], json!([]));

    // curl -d sends application/x-www-form-urlencoded; no Content-Type at all works too.
    let (status, _) = post_raw(&s, Some("application/x-www-form-urlencoded"), valid.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post_raw(
        &s,
        None,
        serde_json::to_vec(&ssh_app("b.example.com")).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_bodyless_delete_with_a_json_content_type_works() {
    let s = Server::start().await;
    let app = s.create_app(ssh_app("a.example.com")).await;
    // What the Python SDK sends.
    let response = s
        .http
        .delete(format!(
            "{}{}",
            s.base,
            s.apps(&format!("/{}", app["id"].as_str().unwrap()))
        ))
        .bearer_auth(&s.admin)
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!(
        (status, &body["result"]["id"]),
        (StatusCode::OK, &app["id"])
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_get_envelopes() {
    let s = Server::start().await;
    for path in ["/nope", "/zones/x/spectrum", "/zones/x/spectrum/apps/y/z"] {
        let (status, body) = s.call(Method::GET, path, None).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, 7003),
            "{path}"
        );
    }
    let response = s
        .http
        .get(format!("{}/other", s.base.trim_end_matches("/client/v4")))
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response).await.0, StatusCode::NOT_FOUND);
    let (status, _) = s.call(Method::PATCH, &s.apps(""), Some(json!({}))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn two_hundred_concurrent_creates_from_eight_clients_all_land_once() {
    let s = std::sync::Arc::new(Server::start().await);
    let mut clients = Vec::new();
    for client in 0..8 {
        let s = s.clone();
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut ids = Vec::new();
            let mut requests = Vec::new();
            for i in 0..25 {
                let request = http
                    .post(format!("{}{}", s.base, s.apps("")))
                    .bearer_auth(&s.admin)
                    .json(&ssh_app(&format!("c{client}-{i}.example.com")))
                    .send();
                requests.push(request);
            }
            for response in futures_join(requests).await {
                let (status, body) = envelope(response.unwrap()).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                ids.push(body["result"]["id"].as_str().unwrap().to_owned());
            }
            ids
        }));
    }
    let mut ids = HashSet::new();
    for client in clients {
        for id in client.await.unwrap() {
            assert!(ids.insert(id), "an id was handed out twice");
        }
    }
    assert_eq!(ids.len(), 200);
    let snapshot = s.store.snapshot().unwrap();
    assert_eq!(snapshot.apps.keys().cloned().collect::<HashSet<_>>(), ids);
    let names: HashSet<_> = snapshot
        .apps
        .values()
        .map(|a| a.config.dns.name.clone())
        .collect();
    assert_eq!(names.len(), 200, "each request stored exactly once");
}

/// Runs the requests of one client concurrently.
async fn futures_join<F: std::future::Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
