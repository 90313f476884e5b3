//! The origin rules of the app object: `origin_direct`, `origin_dns`, `origin_port` and ranges.

mod common;

use common::*;
use model::*;
use serde_json::{json, Value};

#[test]
fn origin_rules() {
    refused(
        with(json!({"-origin_direct": null})),
        codes::ORIGIN,
        "origin",
    );
    refused(
        with(json!({"origin_dns": {"name": "o.example.com"}, "origin_port": 22})),
        codes::ORIGIN,
        "not both",
    );
    refused(
        with(json!({"origin_direct": []})),
        codes::ORIGIN,
        "origin_direct",
    );
    refused(
        with(json!({"origin_direct": ["tcp://::1:22"]})),
        codes::ORIGIN_ADDRESS,
        "brackets",
    );
    refused(
        with(json!({"origin_direct": ["tcp://host.example.com:22"]})),
        codes::ORIGIN_ADDRESS,
        "origin_dns",
    );
    refused(
        with(json!({"origin_direct": ["udp://127.0.0.1:22"]})),
        codes::ORIGIN_ADDRESS,
        "transport",
    );
    refused(
        with(json!({"origin_direct": ["tcp://127.0.0.1"]})),
        codes::ORIGIN_ADDRESS,
        "port",
    );
    refused(
        with(json!({"origin_direct": ["tcp://127.0.0.1:0"]})),
        codes::ORIGIN_ADDRESS,
        "origin_direct[0]",
    );
    refused(
        with(json!({"origin_direct": ["tcp://127.0.0.1:1", "tcp://[::1]:70000"]})),
        codes::ORIGIN_ADDRESS,
        "origin_direct[1]",
    );
    let two = parse(with(
        json!({"origin_direct": ["tcp://[::1]:22", "tcp://127.0.0.1:22"]}),
    ))
    .unwrap();
    let Origin::Direct(uris) = &two.origin else {
        panic!("expected origin_direct")
    };
    assert_eq!(uris[0].ip, "::1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(uris[1].as_str(), "tcp://127.0.0.1:22");
}

#[test]
fn origin_dns_rules() {
    let dns = |o: Value, port: Option<Value>| {
        let mut b = with(json!({"-origin_direct": null, "origin_dns": o}));
        if let Some(p) = port {
            b["origin_port"] = p;
        }
        b
    };
    let named = json!({"name": "o.example.com"});
    refused(
        dns(
            json!({"name": "o.example.com", "ttl": 599}),
            Some(json!(22)),
        ),
        codes::ORIGIN_DNS,
        "600",
    );
    refused(
        dns(json!({"name": "192.0.2.1"}), Some(json!(22))),
        codes::ORIGIN_DNS,
        "IP address",
    );
    refused(
        dns(json!({"name": "not a name"}), Some(json!(22))),
        codes::ORIGIN_DNS,
        "hostname",
    );
    refused(
        dns(named.clone(), None),
        codes::ORIGIN_DNS,
        "origin_port is required",
    );
    refused(
        dns(
            json!({"name": "o.example.com", "type": "MX"}),
            Some(json!(22)),
        ),
        codes::ORIGIN_DNS,
        "origin_dns.type",
    );
    refused(
        dns(named.clone(), Some(json!(0))),
        codes::ORIGIN_DNS,
        "origin_port",
    );
    refused(
        dns(named.clone(), Some(json!("5-4"))),
        codes::ORIGIN_DNS,
        "origin_port",
    );
    refused(
        dns(named, Some(json!(true))),
        codes::INVALID_FIELD,
        "origin_port",
    );
    // SRV carries its own port.
    parse(dns(
        json!({"name": "_ssh._tcp.example.com", "type": "SRV"}),
        None,
    ))
    .unwrap();
}

#[test]
fn port_range_lengths_must_match() {
    let range = |origin_port: Value| {
        json!({"protocol": "tcp/1000-1002", "dns": {"name": "r.example.com"},
               "origin_dns": {"name": "o.example.com"}, "origin_port": origin_port})
    };
    parse(range(json!("2000-2002"))).unwrap();
    refused(range(json!("2000-2005")), codes::ORIGIN_DNS, "same length");
    refused(range(json!(2000)), codes::ORIGIN_DNS, "same length");
    let direct = |uri: &str| json!({"protocol": "tcp/1000-1002", "dns": {"name": "r.example.com"}, "origin_direct": [uri]});
    parse(direct("tcp://127.0.0.1:2000-2002")).unwrap();
    refused(
        direct("tcp://127.0.0.1:2000"),
        codes::ORIGIN_ADDRESS,
        "same length",
    );
}
