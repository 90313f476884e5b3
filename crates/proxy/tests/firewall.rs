//! `ip_firewall`: a zone's IP Access Rules decide which clients reach an app, for TCP
//! connections and UDP flows, and rule changes apply to new clients at once.

mod common;

use common::udp_kit::*;
use common::*;
use model::{AccessRule, App, RuleFields};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

fn rule(id: char, mode: &str, target: &str, value: &str) -> AccessRule {
    let t = chrono::Utc::now();
    AccessRule {
        id: id.to_string().repeat(32),
        zone_id: "0".repeat(32),
        fields: RuleFields::from_json(&serde_json::json!({
            "mode": mode, "configuration": {"target": target, "value": value}}))
        .unwrap(),
        created_on: t,
        modified_on: t,
    }
}

fn with_firewall(mut app: App, on: bool) -> App {
    app.config.ip_firewall = on;
    app
}

/// Connects from `source` (a loopback address) to `edge`.
async fn connect_from(source: &str, edge: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(sa(&format!("{source}:0"))).unwrap();
    socket.connect(edge).await.unwrap()
}

/// Whether a client at `source` gets the origin's tag through `edge`.
async fn reaches(source: &str, edge: SocketAddr) -> bool {
    let mut stream = connect_from(source, edge).await;
    let mut tag = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read(&mut tag)).await,
        Ok(Ok(1))
    )
}

#[tokio::test]
async fn access_rules_admit_and_refuse_tcp_clients_and_changes_apply_at_once() {
    let origin = tagged_echo("127.0.0.1:0", "T").await;
    let log_path = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let edge = Edge::start_with_log(options(), Some(proxy::AccessLog::open(&log_path).unwrap()));
    let guarded = with_firewall(tcp_app('a', 6101, &[origin], &["127.72.1.1"]), true);
    let open = tcp_app('b', 6102, &[origin], &["127.72.1.1"]);
    let rules = [
        rule('1', "block", "ip_range", "127.72.9.0/24"),
        rule('2', "whitelist", "ip", "127.72.9.5"),
        rule('3', "block", "ip", "127.72.8.8"),
        // Rules that cannot apply at L4, or without geolocation, refuse no one.
        rule('4', "challenge", "ip", "127.72.7.7"),
        rule('5', "block", "country", "XX"),
    ];
    edge.publish_with_rules(&[&guarded, &open], &rules).await;
    let g = sa("127.72.1.1:6101");
    assert!(!reaches("127.72.9.1", g).await, "blocked by the range");
    assert!(!reaches("127.72.8.8", g).await, "blocked by the address");
    assert!(reaches("127.72.9.5", g).await, "allow beats block");
    assert!(reaches("127.72.7.7", g).await, "challenge does not block");
    assert!(reaches("127.72.6.1", g).await, "no rule: admitted");
    // An app without ip_firewall ignores the zone's rules.
    assert!(reaches("127.72.9.1", sa("127.72.1.1:6102")).await);

    // A connection admitted before a new block rule keeps going; new ones are refused.
    let mut admitted = connect_from("127.72.6.1", g).await;
    let mut tag = [0u8; 1];
    admitted.read_exact(&mut tag).await.unwrap();
    let mut more = rules.to_vec();
    more.push(rule('6', "block", "ip", "127.72.6.1"));
    edge.publish_with_rules(&[&guarded, &open], &more).await;
    assert!(!reaches("127.72.6.1", g).await, "new rule applies at once");
    echo_round(&mut admitted, b"still open").await;
    // Without rules every client is admitted again.
    edge.publish_with_rules(&[&guarded, &open], &[]).await;
    assert!(reaches("127.72.9.1", g).await);

    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    let filtered: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["Event"] == "clientFiltered")
        .collect();
    assert_eq!(filtered.len(), 3, "{log}");
    assert!(filtered
        .iter()
        .all(|e| e["Status"] == 403 && e["OriginIP"].is_null()));
    assert_eq!(filtered[0]["ClientIP"], "127.72.9.1");
    edge.stop().await;
}

#[tokio::test]
async fn a_refused_udp_client_gets_no_flow() {
    let origin = tagged_udp("127.0.0.1:0", b"U").await;
    let edge = Edge::start(options());
    let app = with_firewall(
        udp_app(
            'c',
            "udp/6103",
            &[format!("udp://{origin}")],
            &["127.72.2.1"],
            "off",
        ),
        true,
    );
    edge.publish_with_rules(&[&app], &[rule('7', "block", "ip", "127.72.2.9")])
        .await;
    let ask = |source: &'static str| async move {
        let client = UdpSocket::bind(format!("{source}:0")).await.unwrap();
        client.connect("127.72.2.1:6103").await.unwrap();
        client.send(b"hi").await.unwrap();
        let mut buf = [0u8; 16];
        tokio::time::timeout(Duration::from_millis(500), client.recv(&mut buf))
            .await
            .is_ok()
    };
    assert!(!ask("127.72.2.9").await, "blocked client answered");
    assert!(ask("127.72.2.8").await, "other client not answered");
    assert!(
        edge.counters
            .clients_filtered
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    );
    edge.stop().await;
}

#[tokio::test]
async fn country_and_asn_rules_match_through_the_geoip_database_and_follow_its_updates() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("geo.mmdb");
    common::geo_db::write_geo_db(
        &db,
        &[
            ("127.72.20.0/24", "XX", 64500),
            ("127.72.21.0/24", "DE", 64501),
            ("127.72.22.0/24", "DE", 64502),
        ],
    );
    let options = proxy::Options {
        geoip: Some(Arc::new(proxy::GeoIp::open(vec![db.clone()]).unwrap())),
        ..options()
    };
    let edge = Edge::start(options);
    let origin = tagged_echo("127.0.0.1:0", "G").await;
    let guarded = with_firewall(tcp_app('a', 6104, &[origin], &["127.72.3.1"]), true);
    let rules = [
        rule('1', "block", "country", "XX"),
        rule('2', "block", "asn", "AS64502"),
    ];
    edge.publish_with_rules(&[&guarded], &rules).await;
    let g = sa("127.72.3.1:6104");
    assert!(!reaches("127.72.20.1", g).await, "blocked by its country");
    assert!(!reaches("127.72.22.1", g).await, "blocked by its AS");
    assert!(reaches("127.72.21.1", g).await, "another country and AS");
    assert!(
        reaches("127.72.23.1", g).await,
        "not in the database: no rule matches"
    );
    // The database file is replaced: within a few seconds the new answers apply.
    common::geo_db::write_geo_db(&db, &[("127.72.21.0/24", "XX", 64501)]);
    let mut refused = false;
    for _ in 0..40 {
        if !reaches("127.72.21.1", g).await {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the reloaded database places 127.72.21.1 in XX");
    assert!(reaches("127.72.20.1", g).await, "no longer in the database");
    edge.stop().await;
}
