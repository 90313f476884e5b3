//! The app object's parsing and validation rules, each with the code and field named in its error.

mod common;

use common::*;
use model::*;
use serde_json::json;

#[test]
fn a_minimal_app_gets_every_default_in_its_json() {
    let config = parse(base()).unwrap();
    let out = serde_json::to_value(&config).unwrap();
    assert_eq!(
        out,
        json!({
            "protocol": "tcp/22",
            "dns": {"type": "CNAME", "name": "ssh.example.com"},
            "traffic_type": "direct",
            "origin_direct": ["tcp://127.0.0.1:2222"],
            "edge_ips": {"type": "dynamic", "connectivity": "all"},
            "ip_firewall": false,
            "proxy_protocol": "off",
            "tls": "off",
            "argo_smart_routing": false
        })
    );
    // What was written reads back as the same config.
    assert_eq!(parse(out).unwrap(), config);
}

#[test]
fn pay_as_you_go_shape_and_named_protocols() {
    let config = parse(json!({
        "protocol": "minecraft",
        "dns": {"type": "CNAME", "name": "mc.example.com"},
        "origin_direct": ["tcp://192.0.2.9:25565"]
    }))
    .unwrap();
    assert_eq!(config.traffic_type, TrafficType::Direct);
    assert_eq!(config.protocol.ports, PortRange::single(25565));
    assert_eq!(
        serde_json::to_value(&config).unwrap()["protocol"],
        "minecraft"
    );
}

#[test]
fn origin_port_keeps_its_json_type() {
    let number = parse(json!({
        "protocol": "tcp/3306", "dns": {"name": "db.example.com"},
        "origin_dns": {"name": "origin.example.com", "ttl": 600, "type": ""}, "origin_port": 3306
    }))
    .unwrap();
    assert_eq!(
        serde_json::to_value(&number).unwrap()["origin_port"],
        json!(3306)
    );
    let range = parse(json!({
        "protocol": "tcp/1000-1002", "dns": {"name": "range.example.com"},
        "origin_dns": {"name": "origin.example.com"}, "origin_port": "2000-2002"
    }))
    .unwrap();
    let out = serde_json::to_value(&range).unwrap();
    assert_eq!(out["origin_port"], json!("2000-2002"));
    // Unset origin_dns sub-fields are not invented.
    assert_eq!(out["origin_dns"], json!({"name": "origin.example.com"}));
    let text = parse(with(json!({"origin_port": "22"}))).unwrap();
    assert_eq!(
        serde_json::to_value(&text).unwrap()["origin_port"],
        json!("22")
    );
}

#[test]
fn origin_port_beside_origin_direct_is_accepted_and_echoed() {
    let config = parse(with(json!({"origin_port": 22}))).unwrap();
    assert_eq!(config.origin_port, Some(OriginPort::Number(22)));
}

#[test]
fn static_edge_ips_keep_their_order() {
    let config = parse(with(json!({
        "dns": {"type": "ADDRESS", "name": "static.example.com"},
        "edge_ips": {"type": "static", "ips": ["127.0.0.9", "::1", "127.0.0.2"]}
    })))
    .unwrap();
    assert_eq!(
        serde_json::to_value(&config).unwrap()["edge_ips"],
        json!({"type": "static", "ips": ["127.0.0.9", "::1", "127.0.0.2"]})
    );
}

#[test]
fn explicit_null_means_unset() {
    let config = parse(with(
        json!({"origin_dns": null, "tls": null, "edge_ips": null}),
    ))
    .unwrap();
    assert_eq!(config.tls, Tls::Off);
    assert_eq!(config.edge_ips, EdgeIps::default());
}

#[test]
fn field_rules_and_enums() {
    refused(
        with(json!({"-protocol": null})),
        codes::INVALID_FIELD,
        "protocol",
    );
    refused(
        with(json!({"protocol": "tcp/99999"})),
        codes::PROTOCOL,
        "protocol",
    );
    refused(with(json!({"-dns": null})), codes::INVALID_FIELD, "dns");
    refused(
        with(json!({"dns": {"type": "CNAME"}})),
        codes::INVALID_FIELD,
        "dns.name",
    );
    refused(
        with(json!({"dns": {"type": "cname", "name": "a.example.com"}})),
        codes::INVALID_FIELD,
        "dns.type",
    );
    refused(
        with(json!({"tls": "bogus"})),
        codes::INVALID_FIELD,
        "\"full\"",
    );
    refused(
        with(json!({"traffic_type": "worker"})),
        codes::INVALID_FIELD,
        "traffic_type",
    );
    refused(
        with(json!({"proxy_protocol": "simple"})),
        codes::INVALID_FIELD,
        "proxy_protocol",
    );
    refused(
        with(json!({"argo_smart_routing": true, "traffic_type": "http"})),
        codes::INVALID_FIELD,
        "argo",
    );
    refused(
        with(json!({"ip_firewall": "yes"})),
        codes::INVALID_FIELD,
        "ip_firewall",
    );
    refused(
        with(json!({"origin_direct": "tcp://127.0.0.1:1"})),
        codes::INVALID_FIELD,
        "origin_direct",
    );
    refused(
        with(json!({"virtual_network_id": "x"})),
        codes::INVALID_FIELD,
        "virtual_network_id",
    );
    let udp = |field: &str, value: &str| {
        let mut b = with(json!({"protocol": "udp/53", "origin_direct": ["udp://127.0.0.1:53"]}));
        b[field] = json!(value);
        b
    };
    refused(udp("proxy_protocol", "v1"), codes::INVALID_FIELD, "v1");
    refused(udp("tls", "full"), codes::INVALID_FIELD, "tls");
    refused(
        udp("traffic_type", "https"),
        codes::INVALID_FIELD,
        "traffic_type",
    );
    parse(udp("proxy_protocol", "simple")).unwrap();
    parse(udp("proxy_protocol", "v2")).unwrap();
}

#[test]
fn unknown_fields_are_named_with_10012() {
    refused(
        with(json!({"color": "blue"})),
        codes::UNKNOWN_FIELD,
        "\"color\"",
    );
    refused(
        with(json!({"dns": {"name": "a.example.com", "ttl": 1}})),
        codes::UNKNOWN_FIELD,
        "dns.ttl",
    );
    refused(json!([1, 2]), codes::INVALID_FIELD, "JSON object");
}

#[test]
fn dns_type_must_fit_edge_ips() {
    refused(
        with(json!({"edge_ips": {"type": "static", "ips": ["127.0.0.1"]}})),
        codes::EDGE_IPS_TYPE,
        "dns.type",
    );
    refused(
        with(json!({"dns": {"type": "ADDRESS", "name": "a.example.com"}})),
        codes::EDGE_IPS_TYPE,
        "ADDRESS",
    );
    // Without dns.type, it follows edge_ips.
    let config = parse(with(json!({
        "dns": {"name": "a.example.com"}, "edge_ips": {"type": "static", "ips": ["127.0.0.1"]}
    })))
    .unwrap();
    assert_eq!(config.dns.kind, DnsType::Address);
    refused(
        with(json!({"edge_ips": {"type": "dynamic", "connectivity": "both"}})),
        codes::INVALID_FIELD,
        "connectivity",
    );
    refused(
        with(
            json!({"edge_ips": {"type": "static", "ips": ["1.2.3"]}, "dns": {"name": "a.example.com"}}),
        ),
        codes::INVALID_FIELD,
        "1.2.3",
    );
}

#[test]
fn zone_rules() {
    let policy = Policy::default();
    parse(base())
        .unwrap()
        .check_in_zone(&zone(), None, &policy)
        .unwrap();
    let outside = parse(with(json!({"dns": {"name": "ssh.example.org"}}))).unwrap();
    let err = outside.check_in_zone(&zone(), None, &policy).unwrap_err();
    assert_eq!(err.code, codes::HOSTNAME_ZONE);
    let wide = parse(with(json!({
        "protocol": "tcp/1000-3000", "origin_direct": ["tcp://127.0.0.1:1000-3000"]
    })))
    .unwrap();
    let err = wide.check_in_zone(&zone(), None, &policy).unwrap_err();
    assert!(err.message.contains("1024"), "{}", err.message);
    let foreign = parse(with(json!({
        "dns": {"type": "ADDRESS", "name": "s.example.com"},
        "edge_ips": {"type": "static", "ips": ["198.51.100.1"]}
    })))
    .unwrap();
    let err = foreign.check_in_zone(&zone(), None, &policy).unwrap_err();
    assert_eq!(err.code, codes::EDGE_IPS_NOT_ALLOWED);
}

#[test]
fn an_update_cannot_change_dns_type() {
    let previous = App::new(
        "1".repeat(32),
        "0".repeat(32),
        chrono::Utc::now(),
        parse(base()).unwrap(),
        Vec::new(),
    );
    let now_static = parse(with(json!({
        "dns": {"type": "ADDRESS", "name": "ssh.example.com"},
        "edge_ips": {"type": "static", "ips": ["127.0.0.5"]}
    })))
    .unwrap();
    let err = now_static
        .check_in_zone(&zone(), Some(&previous), &Policy::default())
        .unwrap_err();
    assert_eq!(err.code, codes::EDGE_IPS_TYPE);
    assert!(err.message.contains("delete"), "{}", err.message);
}
