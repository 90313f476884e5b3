//! Property tests over every parser of input from the API: app bodies, `protocol`, origin URIs,
//! access rule bodies and values. Each parser must refuse what it cannot take, never panic,
//! and what it accepts must read back the same. `PROPTEST_CASES` sets the number of cases
//! (the README gives the long run's command).

use model::{canonical_value, AppConfig, Protocol, RuleFields, RuleTarget};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Strings a parser of this API meets: near-misses of valid values and arbitrary text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(tcp|udp|TCP|sctp)?/?[0-9-]{0,12}",
        "(tcp|udp)://(\\[[0-9a-fA-F:.]{0,40}\\]|[0-9.]{0,16}):[0-9-]{0,12}",
        "(AS|as)?[0-9+-]{0,12}",
        "[a-zA-Z0-9.:/*-]{0,24}",
        "[a-z0-9.-]{0,30}\\.example\\.com\\.?",
        any::<String>(),
        Just("minecraft".to_owned()),
        Just("192.0.2.0/24".to_owned()),
        Just("2001:db8::/48".to_owned()),
    ]
}

/// Origin URIs: well-formed ones with arbitrary addresses and ports, and near-misses.
fn origin_uri() -> impl Strategy<Value = String> {
    let port = prop_oneof![
        any::<u16>().prop_map(|p| p.to_string()),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| format!("{a}-{b}")),
        (1u16..1000, 0u16..10).prop_map(|(a, n)| format!("{a}-{}", a + n)),
    ];
    let ip = prop_oneof![
        any::<std::net::Ipv4Addr>().prop_map(|ip| ip.to_string()),
        any::<std::net::Ipv6Addr>().prop_map(|ip| format!("[{ip}]")),
        any::<std::net::Ipv6Addr>().prop_map(|ip| ip.to_string()),
    ];
    prop_oneof![
        4 => (prop::sample::select(vec!["tcp", "udp", "TCP", "http", ""]), ip, port)
            .prop_map(|(scheme, ip, port)| format!("{scheme}://{ip}:{port}")),
        1 => text(),
    ]
}

/// Arbitrary JSON, leaning towards values an app body holds.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u32..70_000).prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Keys of the app object (and of its parts), and some it does not have.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "protocol",
            "dns",
            "type",
            "name",
            "origin_direct",
            "origin_dns",
            "ttl",
            "origin_port",
            "edge_ips",
            "connectivity",
            "ips",
            "ip_firewall",
            "proxy_protocol",
            "tls",
            "argo_smart_routing",
            "traffic_type",
            "mode",
            "configuration",
            "target",
            "value",
            "notes",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,12}",
    ]
}

/// An app body that is mostly right, with some fields arbitrary.
fn app_body() -> impl Strategy<Value = Value> {
    // Mostly a transport whose origins match it, so that many bodies are accepted.
    let well_formed = (
        prop::sample::select(vec!["tcp", "udp"]),
        1u16..1000,
        0u16..3,
    )
        .prop_flat_map(|(t, p, n)| {
            let protocol = if n == 0 {
                format!("{t}/{p}")
            } else {
                format!("{t}/{p}-{}", p + n)
            };
            let origin = (any::<std::net::Ipv4Addr>(), 1u16..60_000).prop_map(move |(ip, o)| {
                if n == 0 {
                    format!("{t}://{ip}:{o}")
                } else {
                    format!("{t}://{ip}:{o}-{}", o + n)
                }
            });
            (Just(protocol), prop::collection::vec(origin, 1..3))
        });
    let anything = (text(), prop::collection::vec(origin_uri(), 0..3));
    let parts = prop_oneof![3 => well_formed, 1 => anything];
    (
        parts,
        prop::option::weighted(0.2, json_value()),
        prop::option::weighted(0.2, json_value()),
        prop::option::weighted(0.2, json_value()),
        prop::option::weighted(0.1, json_value()),
    )
        .prop_map(|((protocol, origins), edge_ips, origin_port, extra, dns)| {
            let mut body = json!({
                "protocol": protocol,
                "dns": dns.unwrap_or_else(|| json!({"type": "CNAME", "name": "a.example.com"})),
                "origin_direct": origins,
            });
            if let Some(e) = edge_ips {
                body["edge_ips"] = e;
            }
            if let Some(p) = origin_port {
                body["origin_port"] = p;
            }
            if let Some(Value::Object(extra)) = extra {
                for (k, v) in extra {
                    body[k] = v;
                }
            }
            body
        })
}

proptest! {
    #[test]
    fn an_app_body_is_parsed_or_refused_and_what_is_accepted_reads_back_the_same(body in app_body()) {
        if let Ok(config) = AppConfig::from_json(body) {
            let written = serde_json::to_value(&config).unwrap();
            let again = AppConfig::from_json(written.clone());
            prop_assert!(again.is_ok(), "{written} does not read back: {:?}", again.err());
            prop_assert_eq!(serde_json::to_value(again.unwrap()).unwrap(), written);
        }
    }

    #[test]
    fn arbitrary_json_is_never_an_app_by_accident_or_a_panic(body in json_value()) {
        let _ = AppConfig::from_json(body.clone());
        let _ = AppConfig::from_json_lenient(body);
    }

    #[test]
    fn a_protocol_is_parsed_or_refused(text in text()) {
        if let Ok(p) = Protocol::parse(&text) {
            prop_assert_eq!(p.as_str(), text.as_str());
            prop_assert!(p.ports.start >= 1 && p.ports.start <= p.ports.end);
        }
    }

    #[test]
    fn an_origin_uri_is_parsed_or_refused_and_reads_back(uri in origin_uri(), udp in any::<bool>()) {
        let protocol = if udp { "udp/53" } else { "tcp/22" };
        let body = json!({"protocol": protocol, "dns": {"type": "CNAME", "name": "a.example.com"},
                          "origin_direct": [uri]});
        if let Ok(config) = AppConfig::from_json(body) {
            let written = serde_json::to_value(&config).unwrap();
            prop_assert!(AppConfig::from_json(written).is_ok());
        }
    }

    #[test]
    fn a_canonical_rule_value_is_its_own_canonical_form(value in text(), target in 0usize..5) {
        let target = [RuleTarget::Ip, RuleTarget::Ip6, RuleTarget::IpRange, RuleTarget::Asn,
                      RuleTarget::Country][target];
        if let Ok(canonical) = canonical_value(target, &value) {
            prop_assert_eq!(canonical_value(target, &canonical).ok(), Some(canonical));
        }
    }

    #[test]
    fn an_access_rule_body_is_parsed_or_refused(body in json_value(), mode in text(), target in text(), value in text()) {
        let _ = RuleFields::from_json(&body);
        let shaped = json!({"mode": mode, "configuration": {"target": target, "value": value}});
        if let Ok(fields) = RuleFields::from_json(&shaped) {
            let patch = json!({"notes": "x"});
            prop_assert!(fields.patched(&patch).is_ok(), "a valid rule takes a notes edit");
        }
    }
}
