//! The API's connections: header, body and keep-alive timeouts, the connection cap that
//! closes the oldest idle connection for a new one, a prompt stop, the rate limit and HTTPS.

use api::{ApiState, RateLimit, ServerOptions};
use model::Permission;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{SqliteStore, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Api {
    addr: SocketAddr,
    token: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start(options: ServerOptions, rate: Option<&str>) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    store.create_zone("example.com").unwrap();
    let (_, token) = store
        .create_token(
            "t",
            &[Permission::ZoneSettingsRead, Permission::ZoneWrite],
            None,
        )
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut state = ApiState::new(store, model::Policy::default());
    if let Some(rate) = rate {
        state = state.with_rate_limit(rate.parse::<RateLimit>().unwrap());
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(api::serve_with(listener, state, options, async {
        let _ = stopped.await;
    }));
    Api {
        addr,
        token,
        stop: Some(stop),
        task,
        _dir: dir,
    }
}

fn short() -> ServerOptions {
    ServerOptions {
        header_timeout: Duration::from_millis(400),
        body_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(800),
        ..ServerOptions::default()
    }
}

fn get_zones(token: &str) -> String {
    format!("GET /client/v4/zones HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\r\n")
}

/// Reads one response's head and returns its status; `None` when the connection closed.
async fn status_of(stream: &mut TcpStream) -> Option<u16> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length: usize = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= head_end + 4 + length {
                return text[9..12].parse().ok();
            }
        }
    }
}

/// How long until the server closes `stream` (at most `within`); `None` if it stays open.
async fn closed_after(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(
            within.saturating_sub(started.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn silent_slow_and_idle_connections_are_closed_while_real_clients_get_answers() {
    let api = start(short(), None).await;
    let mut silent = TcpStream::connect(api.addr).await.unwrap();
    let mut partial = TcpStream::connect(api.addr).await.unwrap();
    partial
        .write_all(b"GET /client/v4/zones HTTP/1.1\r\nhost:")
        .await
        .unwrap();
    let mut keep = TcpStream::connect(api.addr).await.unwrap();
    keep.write_all(get_zones(&api.token).as_bytes())
        .await
        .unwrap();
    assert_eq!(status_of(&mut keep).await, Some(200));
    let answered = Instant::now();

    // Meanwhile a real client is answered at once, again and again.
    let mut real = TcpStream::connect(api.addr).await.unwrap();
    for _ in 0..3 {
        real.write_all(get_zones(&api.token).as_bytes())
            .await
            .unwrap();
        assert_eq!(status_of(&mut real).await, Some(200));
    }
    let silent_after = closed_after(&mut silent, Duration::from_secs(3))
        .await
        .expect("closed");
    assert!(
        silent_after >= Duration::from_millis(250),
        "{silent_after:?}"
    );
    closed_after(&mut partial, Duration::from_secs(3))
        .await
        .expect("half a request: closed");
    // After its answer, a keep-alive connection gets the idle timeout (longer than the header one).
    closed_after(&mut keep, Duration::from_secs(3))
        .await
        .expect("idle: closed");
    let idle_after = answered.elapsed();
    assert!(idle_after >= Duration::from_millis(700), "{idle_after:?}");

    // A request begun after an answer gets the header timeout from its first byte.
    let mut slow = TcpStream::connect(api.addr).await.unwrap();
    slow.write_all(get_zones(&api.token).as_bytes())
        .await
        .unwrap();
    assert_eq!(status_of(&mut slow).await, Some(200));
    slow.write_all(b"GET /client/v4/zones HTTP/1.1\r\n")
        .await
        .unwrap();
    let after = closed_after(&mut slow, Duration::from_secs(3))
        .await
        .expect("closed");
    assert!(
        after < Duration::from_millis(750),
        "header timeout, not idle: {after:?}"
    );
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let api = start(short(), None).await;
    let mut s = TcpStream::connect(api.addr).await.unwrap();
    let head = format!(
        "POST /client/v4/zones HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"name\":",
        api.token
    );
    s.write_all(head.as_bytes()).await.unwrap();
    assert_eq!(status_of(&mut s).await, Some(408));
}

#[tokio::test]
async fn at_the_cap_the_oldest_connection_without_a_request_makes_room() {
    let options = ServerOptions {
        max_connections: 4,
        header_timeout: Duration::from_secs(30),
        ..ServerOptions::default()
    };
    let api = start(options, None).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(api.addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Each new real client is answered; the oldest idle connections are closed for them.
    let mut answered = Vec::new();
    for (round, oldest) in idle.iter_mut().take(3).enumerate() {
        let mut real = TcpStream::connect(api.addr).await.unwrap();
        real.write_all(get_zones(&api.token).as_bytes())
            .await
            .unwrap();
        assert_eq!(status_of(&mut real).await, Some(200), "round {round}");
        // Kept open: the next round is at the cap again.
        answered.push(real);
        assert!(
            closed_after(oldest, Duration::from_secs(2)).await.is_some(),
            "round {round}"
        );
    }
    assert!(
        closed_after(&mut idle[3], Duration::from_millis(200))
            .await
            .is_none(),
        "the youngest idle connection is still open"
    );
}

#[tokio::test]
async fn stopping_closes_half_sent_requests_at_once() {
    let mut api = start(ServerOptions::default(), None).await;
    let mut half = TcpStream::connect(api.addr).await.unwrap();
    half.write_all(b"POST /client/v4/zones HTTP/1.1\r\nhost:")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    api.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), &mut api.task)
        .await
        .expect("stopped at once")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(closed_after(&mut half, Duration::from_secs(1))
        .await
        .is_some());
}

#[tokio::test]
async fn over_the_rate_limit_a_credential_gets_429_with_retry_after() {
    let api = start(ServerOptions::default(), Some("3/10s")).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/client/v4/zones", api.addr);
    for _ in 0..3 {
        let r = http.get(&url).bearer_auth(&api.token).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = http.get(&url).bearer_auth(&api.token).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=4).contains(&wait), "{wait}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["errors"][0]["code"], 971);
    // Another credential has a bucket of its own.
    let r = http
        .get(&url)
        .bearer_auth("another-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn the_api_speaks_https_with_the_given_certificate() {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::try_from(signing_key.serialize_der()).unwrap();
    let options = ServerOptions {
        tls: Some(api::tls_config(vec![cert.der().clone()], key).unwrap()),
        ..ServerOptions::default()
    };
    let api = start(options, None).await;
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(cert.der()).unwrap())
        .resolve("localhost", api.addr)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/client/v4/zones", api.addr.port());
    let r = http.get(&url).bearer_auth(&api.token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::get(format!("http://{}/client/v4/zones", api.addr)).await;
    assert!(plain.is_err());
}
