//! Balancing, limits and changes on the UDP data plane: ejection of refusing origins, the flow
//! limit, delete, and a change of transport.

mod common;

use common::udp_kit::*;
use common::*;
use proxy::Options;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test]
async fn flows_spread_over_origins_and_a_refusing_origin_is_ejected() {
    let a_origin = tagged_udp("127.0.0.1:0", b"A").await;
    let b_origin = tagged_udp("127.0.0.1:0", b"B").await;
    let edge = Edge::start(options());
    let app_ab = udp_app(
        'a',
        "udp/5308",
        &[format!("udp://{a_origin}"), format!("udp://{b_origin}")],
        &["127.75.7.1"],
        "off",
    );
    edge.publish(&[&app_ab]).await;
    let mut clients = Vec::new();
    let (mut a, mut b) = (0, 0);
    for _ in 0..20 {
        let client = client_socket().await;
        let (reply, _) = exchange(&client, sa("127.75.7.1:5308"), b"x")
            .await
            .unwrap();
        if reply[0] == b'A' {
            a += 1
        } else {
            b += 1
        }
        // A client stays on its origin for the life of its flow.
        for _ in 0..3 {
            assert_eq!(
                exchange(&client, sa("127.75.7.1:5308"), b"x")
                    .await
                    .unwrap()
                    .0[0],
                reply[0]
            );
        }
        clients.push(client);
    }
    assert!(a >= 5 && b >= 5, "A {a} B {b}");

    let dead = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app_dead = udp_app(
        'b',
        "udp/5309",
        &[format!("udp://{dead}"), format!("udp://{a_origin}")],
        &["127.75.7.1"],
        "off",
    );
    edge.publish(&[&app_ab, &app_dead]).await;
    // Whatever the first flows hit, once the dead origin refused it is ejected, so within a few
    // tries every client reaches the live one.
    for _ in 0..4 {
        let client = client_socket().await;
        let mut answered = false;
        for _ in 0..3 {
            // Quicker than the 1 s ejection, so the retry cannot land on the dead origin again.
            if exchange_within(
                &client,
                sa("127.75.7.1:5309"),
                b"y",
                Duration::from_millis(200),
            )
            .await
            .is_some()
            {
                answered = true;
                break;
            }
        }
        assert!(answered, "the refusing origin was not ejected");
    }
    edge.stop().await;
}

#[tokio::test]
async fn the_flow_limit_drops_new_flows_and_keeps_existing_ones() {
    let origin = tagged_udp("127.0.0.1:0", b"L").await;
    let edge = Edge::start(Options {
        udp_max_flows: 2,
        ..options()
    });
    let a = udp_app(
        'a',
        "udp/5310",
        &[format!("udp://{origin}")],
        &["127.75.8.1"],
        "off",
    );
    edge.publish(&[&a]).await;
    let (one, two, three) = (
        client_socket().await,
        client_socket().await,
        client_socket().await,
    );
    assert!(exchange(&one, sa("127.75.8.1:5310"), b"1").await.is_some());
    assert!(exchange(&two, sa("127.75.8.1:5310"), b"2").await.is_some());
    assert!(
        exchange(&three, sa("127.75.8.1:5310"), b"3")
            .await
            .is_none(),
        "over the limit"
    );
    assert!(edge.counters.udp_flows_refused.load(Ordering::SeqCst) >= 1);
    assert!(
        exchange(&one, sa("127.75.8.1:5310"), b"1").await.is_some(),
        "existing flows work"
    );
    edge.stop().await;
}

#[tokio::test]
async fn deleting_a_udp_app_stops_its_listener_at_once() {
    let origin = tagged_udp("127.0.0.1:0", b"D").await;
    let edge = Edge::start(options());
    let a = udp_app(
        'a',
        "udp/5311",
        &[format!("udp://{origin}")],
        &["127.75.9.1"],
        "off",
    );
    edge.publish(&[&a]).await;
    let client = client_socket().await;
    assert!(exchange(&client, sa("127.75.9.1:5311"), b"x")
        .await
        .is_some());
    edge.publish(&[]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(exchange(&client, sa("127.75.9.1:5311"), b"x")
        .await
        .is_none());
    // The port is free again: nothing holds it.
    std::net::UdpSocket::bind("127.75.9.1:5311").expect("released");
    edge.stop().await;
}

#[tokio::test]
async fn an_app_that_changes_transport_moves_its_sockets() {
    let tcp_origin = tagged_echo("127.0.0.1:0", "T").await;
    let udp_origin = tagged_udp("127.0.0.1:0", b"U").await;
    let edge = Edge::start(options());
    let as_tcp = app(
        'a',
        json!({"protocol": "tcp/5312", "dns": {"name": "m.example.com"},
                                 "origin_direct": [format!("tcp://{tcp_origin}")]}),
        &["127.75.10.1"],
    );
    edge.publish(&[&as_tcp]).await;
    assert_eq!(connect_tagged(sa("127.75.10.1:5312"), 1).await.0, "T");
    let as_udp = udp_app(
        'a',
        "udp/5312",
        &[format!("udp://{udp_origin}")],
        &["127.75.10.1"],
        "off",
    );
    edge.publish(&[&as_udp]).await;
    let client = client_socket().await;
    assert_eq!(
        exchange(&client, sa("127.75.10.1:5312"), b"x")
            .await
            .unwrap()
            .0,
        b"Ux"
    );
    assert!(
        tokio::net::TcpStream::connect("127.75.10.1:5312")
            .await
            .is_err(),
        "the TCP socket is gone"
    );
    let listeners = proxy_status(&edge.status, &as_udp.id);
    assert_eq!(listeners.len(), 1);
    assert_eq!(listeners[0].transport, model::Transport::Udp);
    edge.stop().await;
}

#[tokio::test]
async fn a_udp_app_that_moves_edge_address_reports_only_the_new_listener() {
    let origin = tagged_udp("127.0.0.1:0", b"M").await;
    let edge = Edge::start(options());
    let udp = |ip: &str| udp_app('a', "udp/5313", &[format!("udp://{origin}")], &[ip], "off");
    edge.publish(&[&udp("127.75.11.1")]).await;
    let moved = udp("127.75.11.2");
    edge.publish(&[&moved]).await;
    let client = client_socket().await;
    let reply = exchange(&client, sa("127.75.11.2:5313"), b"x")
        .await
        .unwrap();
    assert_eq!(reply.0, b"Mx");
    let listeners = proxy_status(&edge.status, &moved.id);
    let addresses: Vec<_> = listeners.iter().map(|l| l.address).collect();
    assert_eq!(
        addresses,
        [sa("127.75.11.2:5313")],
        "the old listener is gone"
    );
    edge.stop().await;
}
