//! IP Access Rules: what a rule body may hold, canonical values, edits, and the firewall's
//! verdicts.

use model::{codes, AccessRule, AccessRuleMode, Firewall, Location, RuleFields, RuleTarget};
use serde_json::json;

fn fields(body: serde_json::Value) -> Result<RuleFields, model::Invalid> {
    RuleFields::from_json(&body)
}

fn rule(mode: &str, target: &str, value: &str) -> AccessRule {
    let t = chrono::Utc::now();
    AccessRule {
        id: "1".repeat(32),
        zone_id: "0".repeat(32),
        fields: fields(json!({"mode": mode, "configuration": {"target": target, "value": value}}))
            .unwrap(),
        created_on: t,
        modified_on: t,
    }
}

#[test]
fn a_rule_body_is_checked_and_its_value_made_canonical() {
    let ok = |target: &str, value: &str| {
        fields(json!({"mode": "block", "configuration": {"target": target, "value": value}}))
            .map(|f| f.value)
    };
    assert_eq!(ok("ip", " 192.0.2.1 ").unwrap(), "192.0.2.1");
    assert_eq!(ok("ip6", "2001:DB8:0::1").unwrap(), "2001:db8::1");
    assert_eq!(
        ok("ip_range", "198.51.100.0/24").unwrap(),
        "198.51.100.0/24"
    );
    assert_eq!(ok("ip_range", "2001:db8::/48").unwrap(), "2001:db8::/48");
    assert_eq!(ok("asn", "as13335").unwrap(), "AS13335");
    assert_eq!(ok("asn", "AS0013335").unwrap(), "AS13335");
    assert_eq!(ok("asn", "AS4294967295").unwrap(), "AS4294967295");
    assert_eq!(ok("country", "de").unwrap(), "DE");
    for (target, value) in [
        ("ip", "2001:db8::1"),
        ("ip6", "192.0.2.1"),
        ("ip_range", "10.0.0.0/8"),
        ("ip_range", "198.51.100.7/24"),
        ("ip_range", "2001:db8::/56"),
        ("asn", "13335"),
        ("asn", "AS4294967296"),
        ("asn", "AS+1"),
        ("country", "Germany"),
    ] {
        let e = ok(target, value).unwrap_err();
        assert_eq!(e.code, codes::INVALID_FIELD, "{target} {value}");
        assert!(e.message.contains("configuration.value"), "{}", e.message);
    }
    let f = fields(json!({"mode": "whitelist", "configuration": {"target": "ip", "value": "192.0.2.1"}, "notes": "office"})).unwrap();
    assert_eq!(
        (f.mode, f.target, f.notes.as_str()),
        (AccessRuleMode::Whitelist, RuleTarget::Ip, "office")
    );

    let code = |body| fields(body).unwrap_err().code;
    assert_eq!(
        code(json!({"configuration": {"target": "ip", "value": "192.0.2.1"}})),
        codes::INVALID_FIELD
    );
    assert_eq!(
        code(json!({"mode": "allow", "configuration": {"target": "ip", "value": "192.0.2.1"}})),
        codes::INVALID_FIELD
    );
    assert_eq!(code(json!({"mode": "block"})), codes::INVALID_FIELD);
    assert_eq!(
        code(json!({"mode": "block", "configuration": {"target": "host", "value": "x"}})),
        codes::INVALID_FIELD
    );
    assert_eq!(
        code(
            json!({"mode": "block", "configuration": {"target": "ip", "value": "192.0.2.1"}, "paused": true})
        ),
        codes::UNKNOWN_FIELD
    );
    assert_eq!(code(json!(["block"])), codes::INVALID_FIELD);
}

#[test]
fn an_edit_changes_only_what_it_names() {
    let before = rule("block", "ip", "192.0.2.1").fields;
    let after = before.patched(&json!({"mode": "whitelist"})).unwrap();
    assert_eq!(after.mode, AccessRuleMode::Whitelist);
    assert_eq!(
        (after.target, after.value.as_str()),
        (RuleTarget::Ip, "192.0.2.1")
    );
    let noted = before.patched(&json!({"notes": "n"})).unwrap();
    assert_eq!(
        (noted.mode, noted.notes.as_str()),
        (AccessRuleMode::Block, "n")
    );
    let moved = before
        .patched(&json!({"configuration": {"target": "ip_range", "value": "192.0.2.0/24"}}))
        .unwrap();
    assert_eq!(
        (moved.target, moved.value.as_str()),
        (RuleTarget::IpRange, "192.0.2.0/24")
    );
    assert!(before.patched(&json!({"mode": "deny"})).is_err());
}

#[test]
fn allow_beats_block_and_address_rules_decide_without_a_location() {
    let rules = [
        rule("block", "ip_range", "192.0.2.0/24"),
        rule("whitelist", "ip", "192.0.2.5"),
        rule("block", "ip6", "2001:db8::1"),
        rule("block", "ip_range", "2001:db8:1::/48"),
        rule("challenge", "ip", "198.51.100.1"),
        rule("managed_challenge", "ip_range", "198.51.101.0/24"),
        rule("block", "country", "XX"),
        rule("block", "asn", "AS64500"),
    ];
    let firewall = Firewall::new(&rules);
    let admits = |ip: &str| firewall.admits(ip.parse().unwrap());
    assert!(!admits("192.0.2.1"));
    assert!(admits("192.0.2.5"));
    assert!(!admits("2001:db8::1"));
    assert!(!admits("2001:db8:1:ffff::9"));
    assert!(
        !admits("::ffff:192.0.2.1"),
        "IPv4-mapped addresses are their IPv4 address"
    );
    assert!(admits("2001:db8::2"));
    assert!(admits("198.51.100.1"));
    assert!(admits("198.51.101.9"));
    assert!(admits("203.0.113.1"));
    assert!(Firewall::new(&[]).admits("192.0.2.1".parse().unwrap()));
}

#[test]
fn country_and_asn_rules_match_through_the_client_s_location() {
    let rules = [
        rule("block", "country", "XX"),
        rule("block", "asn", "AS64500"),
        rule("whitelist", "asn", "AS64501"),
        rule("challenge", "country", "YY"),
    ];
    let firewall = Firewall::new(&rules);
    assert!(firewall.by_location());
    assert!(!Firewall::new(&[rule("block", "ip", "192.0.2.1")]).by_location());
    let at = |country: Option<&str>, asn: Option<u32>| Location {
        country: country.map(str::to_owned),
        asn,
    };
    let ip = "203.0.113.9".parse().unwrap();
    assert!(!firewall.admits_at(ip, &at(Some("XX"), None)));
    assert!(!firewall.admits_at(ip, &at(None, Some(64500))));
    assert!(
        firewall.admits_at(ip, &at(Some("XX"), Some(64501))),
        "allow beats block"
    );
    assert!(
        firewall.admits_at(ip, &at(Some("YY"), Some(1))),
        "challenge does nothing at L4"
    );
    assert!(
        firewall.admits_at(ip, &at(None, None)),
        "unknown location: no rule matches"
    );
    assert!(firewall.admits(ip));
}

#[test]
fn a_rule_serializes_as_cloudflare_s_object() {
    let r = rule("block", "ip", "192.0.2.1");
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["id"], r.id);
    assert_eq!(v["mode"], "block");
    assert_eq!(
        v["configuration"],
        json!({"target": "ip", "value": "192.0.2.1"})
    );
    assert_eq!(v["notes"], "");
    assert_eq!(
        v["allowed_modes"],
        json!([
            "block",
            "challenge",
            "whitelist",
            "js_challenge",
            "managed_challenge"
        ])
    );
    assert_eq!(v["scope"], json!({"id": r.zone_id}));
    assert!(v["created_on"].as_str().unwrap().ends_with('Z'));
}
