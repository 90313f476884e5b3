//! Several nodes on one PostgreSQL store: an app created through one node carries traffic on
//! every node, each on addresses of its own pool; updates and deletes reach them all; each
//! node registers itself and heartbeats; the API lists them (`/spectra/nodes`), an app's status
//! shows every live node's listeners, `spectra node list` prints them, and a node killed with
//! -9 turns stale while the others go on.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

async fn get(node: &Node, token: &str, path: &str) -> (StatusCode, Value) {
    send(
        reqwest::Client::new()
            .get(format!("{}{path}", node.base))
            .bearer_auth(token),
    )
    .await
}

/// The nodes `/spectra/nodes` lists, by name, with their `stale` flags.
async fn nodes(node: &Node, token: &str) -> Vec<(String, bool)> {
    let (status, body) = get(node, token, "/spectra/nodes").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_owned(),
                n["stale"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_serves_every_app_on_its_own_addresses_and_the_fleet_knows_its_nodes() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = ["--store", url.as_str()];
    let (zone, admin) = zone_and_token_with(dir.path(), &store);
    let scoped = last_line(&cli(
        dir.path(),
        &[
            &[
                "token",
                "create",
                "--permission",
                "zone-write",
                "--zone",
                "example.com",
            ][..],
            &store,
        ]
        .concat(),
    ));
    let node = |name: &str, colo: &str, pool: &str| {
        let d = tempfile::tempdir().unwrap();
        let n = Node::with(
            d.path(),
            &[
                &store[..],
                &[
                    "--node-name",
                    name,
                    "--colo",
                    colo,
                    "--edge-ipv4-pool",
                    pool,
                ],
            ]
            .concat(),
        );
        (n, d)
    };
    let (n1, _d1) = node("n1", "AMS", "127.92.1.0/24");
    let (mut n2, _d2) = node("n2", "FRA", "127.92.2.0/24");
    let origin = tagged("127.0.0.1:0", b"F").await;
    let app = create_app(
        &n1,
        &zone,
        &admin,
        json!({"protocol": "tcp/7400",
        "dns": {"type": "CNAME", "name": "f.example.com"},
        "origin_direct": [format!("tcp://{origin}")],
        "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}}),
    )
    .await;
    let (on_n1, on_n2): (SocketAddr, SocketAddr) = (
        "127.92.1.1:7400".parse().unwrap(),
        "127.92.2.1:7400".parse().unwrap(),
    );
    assert_eq!(tag_at(on_n1).await, Some(b'F'));
    assert_eq!(
        tag_at(on_n2).await,
        Some(b'F'),
        "node 2 serves it on its own address"
    );

    // Both nodes report; any node's API shows them all.
    let deadline = Instant::now() + Duration::from_secs(10);
    while nodes(&n2, &admin).await != [("n1".to_owned(), false), ("n2".to_owned(), false)] {
        assert!(Instant::now() < deadline, "{:?}", nodes(&n2, &admin).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = get(&n1, &scoped, "/spectra/nodes").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a token for one zone does not see the fleet"
    );

    // The app's status, through node 2, has node 1's listener in `nodes`.
    let id = app["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let n1_view = loop {
        let (_, body) = get(
            &n2,
            &admin,
            &format!("/zones/{zone}/spectrum/apps/{id}/status"),
        )
        .await;
        let found = body["result"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == "n1" && n["listeners"].as_array().is_some_and(|l| !l.is_empty()))
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(n1_view["colo"], "AMS");
    assert_eq!(n1_view["edge_ips"], json!(["127.92.1.1"]));
    assert_eq!(n1_view["listeners"][0]["state"], "bound");
    let (_, body) = get(
        &n2,
        &admin,
        &format!("/zones/{zone}/spectrum/apps/{id}/status"),
    )
    .await;
    assert_eq!(
        body["result"]["edge_ips"],
        json!(["127.92.2.1"]),
        "the answering node's own"
    );

    // An update through node 2 reaches both nodes; so does a second app made through it.
    let other = tagged("127.0.0.1:0", b"G").await;
    let (status, body) = send(
        reqwest::Client::new()
            .put(format!("{}/zones/{zone}/spectrum/apps/{id}", n2.base))
            .bearer_auth(&admin)
            .json(
                &json!({"protocol": "tcp/7400", "dns": {"type": "CNAME", "name": "f.example.com"},
                          "origin_direct": [format!("tcp://{other}")],
                          "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}}),
            ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for edge in [on_n1, on_n2] {
        let deadline = Instant::now() + Duration::from_secs(2);
        while tag_at(edge).await != Some(b'G') {
            assert!(Instant::now() < deadline, "the update did not reach {edge}");
        }
    }
    let second = create_app(
        &n2,
        &zone,
        &admin,
        json!({"protocol": "tcp/7401",
        "dns": {"type": "CNAME", "name": "g.example.com"},
        "origin_direct": [format!("tcp://{origin}")],
        "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}}),
    )
    .await;
    assert_eq!(
        tag_at("127.92.2.2:7401".parse::<SocketAddr>().unwrap()).await,
        Some(b'F')
    );
    assert_eq!(
        tag_at("127.92.1.2:7401".parse::<SocketAddr>().unwrap()).await,
        Some(b'F')
    );

    // `spectra node list` prints both, from the store.
    let listed = cli(dir.path(), &[&["node", "list"][..], &store].concat());
    assert!(
        listed.contains("n1") && listed.contains("AMS") && listed.contains("live"),
        "{listed}"
    );
    assert!(listed.contains("n2") && listed.contains("FRA"), "{listed}");

    // kill -9 node 2: after 15 s without a heartbeat it is stale, and node 1 goes on serving.
    n2.signal("-KILL");
    let _ = n2.child.wait();
    let deadline = Instant::now() + Duration::from_secs(25);
    while nodes(&n1, &admin).await != [("n1".to_owned(), false), ("n2".to_owned(), true)] {
        assert!(Instant::now() < deadline, "{:?}", nodes(&n1, &admin).await);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(tag_at(on_n1).await, Some(b'G'));
    let listed = cli(dir.path(), &[&["node", "list"][..], &store].concat());
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("n2") && l.contains("stale")),
        "{listed}"
    );

    // Node 2 back: the same addresses as before, kept in the store.
    let (n2, _d2b) = node("n2", "FRA", "127.92.2.0/24");
    assert_eq!(tag_at(on_n2).await, Some(b'G'));
    // A delete through node 1 closes the app on both.
    let id2 = second["id"].as_str().unwrap();
    let (status, _) = send(
        reqwest::Client::new()
            .delete(format!("{}/zones/{zone}/spectrum/apps/{id2}", n1.base))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for edge in ["127.92.1.2:7401", "127.92.2.2:7401"] {
        let deadline = Instant::now() + Duration::from_secs(2);
        while tokio::net::TcpStream::connect(edge).await.is_ok() {
            assert!(Instant::now() < deadline, "{edge} still listens");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(n2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_clients_writing_through_three_nodes_at_once_lose_and_duplicate_nothing() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = ["--store", url.as_str()];
    let (zone, token) = zone_and_token_with(dir.path(), &store);
    let mut nodes = Vec::new();
    for (i, pool) in ["127.93.1.0/24", "127.93.2.0/24", "127.93.3.0/24"]
        .iter()
        .enumerate()
    {
        let d = tempfile::tempdir().unwrap();
        let name = format!("w{i}");
        let node = Node::with(
            d.path(),
            &[
                &store[..],
                &["--node-name", &name, "--edge-ipv4-pool", pool],
            ]
            .concat(),
        );
        nodes.push((node, d));
    }
    let bases: Vec<String> = nodes.iter().map(|(n, _)| n.base.clone()).collect();
    let writers = (0..8u16).map(|w| {
        let (bases, zone, token) = (bases.clone(), zone.clone(), token.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut ids = Vec::new();
            for i in 0..6u16 {
                let base = &bases[usize::from(w + i) % 3];
                let body = json!({"protocol": format!("tcp/{}", 7500 + w * 10 + i),
                    "dns": {"type": "CNAME", "name": format!("w{w}.example.com")},
                    "origin_direct": ["tcp://127.0.0.1:9"],
                    "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}});
                let (status, created) = send(
                    http.post(format!("{base}/zones/{zone}/spectrum/apps"))
                        .bearer_auth(&token)
                        .json(&body),
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{created}");
                ids.push(created["result"]["id"].as_str().unwrap().to_owned());
            }
            ids
        })
    });
    let mut created = Vec::new();
    for writer in writers.collect::<Vec<_>>() {
        created.extend(writer.await.unwrap());
    }
    created.sort();
    created.dedup();
    assert_eq!(created.len(), 48, "every answered create has its own id");
    // Every node lists them all.
    for base in &bases {
        let (status, body) = send(
            reqwest::Client::new()
                .get(format!("{base}/zones/{zone}/spectrum/apps?per_page=100"))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let mut listed: Vec<String> = body["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect();
        listed.sort();
        assert_eq!(listed, created, "through {base}");
    }
    // Every node listens for every app, on addresses of its own pool (its status says where).
    let deadline = Instant::now() + Duration::from_secs(10);
    for id in &created {
        for (k, base) in bases.iter().enumerate() {
            loop {
                let (_, body) = send(
                    reqwest::Client::new()
                        .get(format!("{base}/zones/{zone}/spectrum/apps/{id}/status"))
                        .bearer_auth(&token),
                )
                .await;
                let listeners = body["result"]["listeners"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let bound = listeners.iter().any(|l| {
                    l["state"] == "bound"
                        && l["address"]
                            .as_str()
                            .is_some_and(|a| a.starts_with(&format!("127.93.{}.", k + 1)))
                });
                if bound {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "app {id} not bound on node {k}: {body}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// A node places apps in the configuration the store has committed, not only in what it has
/// caught up with: a create through one node, then at once a create of the same socket
/// through another, is refused every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_taken_through_one_node_is_refused_at_once_through_another() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = ["--store", url.as_str()];
    let (zone, token) = zone_and_token_with(dir.path(), &store);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let n1 = Node::with(d1.path(), &[&store[..], &["--node-name", "p1"]].concat());
    let n2 = Node::with(d2.path(), &[&store[..], &["--node-name", "p2"]].concat());
    let client = reqwest::Client::new();
    for i in 0..20u16 {
        let app = json!({"protocol": format!("tcp/{}", 7500 + i),
            "dns": {"type": "ADDRESS", "name": "p.example.com"},
            "edge_ips": {"type": "static", "ips": ["127.93.0.1"]},
            "origin_direct": ["tcp://127.0.0.1:9"]});
        let path = format!("/zones/{zone}/spectrum/apps");
        let post = |node: &Node| {
            client
                .post(format!("{}{path}", node.base))
                .bearer_auth(&token)
                .json(&app)
        };
        let (first, body) = send(post(&n1)).await;
        assert_eq!(first, StatusCode::OK, "{body}");
        let (second, body) = send(post(&n2)).await;
        assert_eq!(second, StatusCode::BAD_REQUEST, "round {i}: {body}");
        assert_eq!(body["errors"][0]["code"], 13002, "{body}");
    }
}
