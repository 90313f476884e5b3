//! Retries against a small HTTP server that fails first: 429 with `retry-after-ms` or
//! `Retry-After`, 503 with `x-should-retry: false`, 500 without hints, and a dead address.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use client::{Client, Credentials, Error};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the server answers: the first `failures` requests get `status` and `headers`.
#[derive(Clone)]
struct Script {
    failures: usize,
    status: StatusCode,
    headers: Vec<(&'static str, &'static str)>,
    seen: Arc<Mutex<Vec<Instant>>>,
}

async fn answer(axum::extract::State(script): axum::extract::State<Script>) -> impl IntoResponse {
    let n = {
        let mut seen = script.seen.lock().unwrap();
        seen.push(Instant::now());
        seen.len()
    };
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if n <= script.failures {
        for (k, v) in &script.headers {
            headers.insert(*k, HeaderValue::from_static(v));
        }
        let body = json!({"success": false, "errors": [{"code": 10000, "message": "try later"}], "messages": [], "result": null});
        return (script.status, headers, body.to_string());
    }
    let body = json!({"success": true, "errors": [], "messages": [], "result": [
        {"name": "ssh", "description": "Secure Shell", "transport": "tcp", "ports": [22]}
    ]});
    (StatusCode::OK, headers, body.to_string())
}

async fn server(
    failures: usize,
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script = Script {
        failures,
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        seen: seen.clone(),
    };
    let app = Router::new()
        .route("/client/v4/zones/{zone}/spectrum/protocols", get(answer))
        .with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/client/v4", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

fn client(base: &str) -> Client {
    Client::builder()
        .base_url(base)
        .credentials(Credentials::Token("t".into()))
        .build()
        .unwrap()
}

fn gaps(seen: &Mutex<Vec<Instant>>) -> Vec<Duration> {
    let seen = seen.lock().unwrap();
    seen.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after_ms() {
    let (base, seen) = server(2, 429, vec![("retry-after-ms", "300")]).await;
    let protocols = client(&base)
        .spectrum()
        .protocols()
        .list("z")
        .await
        .unwrap();
    assert_eq!(protocols[0].name, "ssh");
    let gaps = gaps(&seen);
    assert_eq!(gaps.len(), 2, "three requests in all");
    for gap in gaps {
        assert!(
            gap >= Duration::from_millis(290) && gap < Duration::from_millis(600),
            "{gap:?}"
        );
    }
}

#[tokio::test]
async fn a_503_is_retried_after_retry_after_seconds() {
    let (base, seen) = server(1, 503, vec![("retry-after", "1")]).await;
    client(&base)
        .spectrum()
        .protocols()
        .list("z")
        .await
        .unwrap();
    let gaps = gaps(&seen);
    assert_eq!(gaps.len(), 1);
    assert!(gaps[0] >= Duration::from_millis(990), "{:?}", gaps[0]);
}

#[tokio::test]
async fn x_should_retry_false_stops_retries_and_the_error_carries_the_code() {
    let (base, seen) = server(5, 503, vec![("x-should-retry", "false")]).await;
    match client(&base).spectrum().protocols().list("z").await {
        Err(Error::InternalServer(e)) => assert_eq!((e.status, e.code()), (503, Some(10000))),
        other => panic!("expected InternalServer, got {other:?}"),
    }
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn without_hints_the_back_off_doubles_and_retries_stop_at_two() {
    let (base, seen) = server(10, 500, vec![]).await;
    let started = Instant::now();
    assert!(matches!(
        client(&base).spectrum().protocols().list("z").await,
        Err(Error::InternalServer(_))
    ));
    let gaps = gaps(&seen);
    assert_eq!(gaps.len(), 2, "1 + 2 retries");
    assert!(
        gaps[0] >= Duration::from_millis(370) && gaps[0] <= Duration::from_millis(700),
        "{gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::from_millis(740) && gaps[1] <= Duration::from_millis(1300),
        "{gaps:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_400_is_not_retried_and_retries_can_be_turned_off() {
    let (base, seen) = server(10, 400, vec![]).await;
    assert!(matches!(
        client(&base).spectrum().protocols().list("z").await,
        Err(Error::BadRequest(_))
    ));
    assert_eq!(seen.lock().unwrap().len(), 1);
    let (base, seen) = server(10, 429, vec![]).await;
    let no_retries = Client::builder()
        .base_url(&base)
        .credentials(Credentials::Token("t".into()))
        .max_retries(0)
        .build()
        .unwrap();
    assert!(matches!(
        no_retries.spectrum().protocols().list("z").await,
        Err(Error::RateLimited(_))
    ));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let started = Instant::now();
    let result = client(&format!("http://{dead}/client/v4"))
        .spectrum()
        .protocols()
        .list("z")
        .await;
    assert!(matches!(result, Err(Error::Connection(_))), "{result:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(1100),
        "two back-offs: {:?}",
        started.elapsed()
    );
}
