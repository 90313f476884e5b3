//! What an `http` app changes in the headers it forwards: hop-by-hop headers (and those named
//! in `Connection`) removed both ways, `X-Forwarded-For` appended, `X-Forwarded-Proto`,
//! `CF-Connecting-IP` and `CF-Ray` set; `Host` kept. Upgrades keep `Connection: upgrade` and
//! `Upgrade`. No I/O.

use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, UPGRADE};
use std::net::IpAddr;

/// RFC 9110 7.6.1's hop-by-hop headers, and the two non-standard ones proxies also drop.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The protocol an upgrade asks for (`Upgrade: websocket` with `Connection: upgrade`).
pub fn upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(UPGRADE).cloned()).flatten()
}

/// Removes hop-by-hop headers and those `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Puts back what an upgrade needs.
fn keep_upgrade(headers: &mut HeaderMap, protocol: Option<HeaderValue>) {
    if let Some(protocol) = protocol {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, protocol);
    }
}

/// A request's headers on their way to the origin.
pub fn to_origin(
    headers: &mut HeaderMap,
    client: IpAddr,
    proto: &'static str,
    ray: &str,
    upgrade: Option<HeaderValue>,
) {
    strip_hop_by_hop(headers);
    keep_upgrade(headers, upgrade);
    let client_text = client.to_string();
    let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) if !earlier.trim().is_empty() => format!("{earlier}, {client_text}"),
        _ => client_text.clone(),
    };
    let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    headers.insert("x-forwarded-for", value(&forwarded));
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    headers.insert("cf-connecting-ip", value(&client_text));
    headers.insert("cf-ray", value(ray));
}

/// A response's headers on their way to the client.
pub fn to_client(headers: &mut HeaderMap, ray: &str, upgrade: Option<HeaderValue>) {
    strip_hop_by_hop(headers);
    keep_upgrade(headers, upgrade);
    if let Ok(ray) = HeaderValue::from_str(ray) {
        headers.insert("cf-ray", ray);
    }
}

/// A request's ray id: 16 hex digits and the colo, as Cloudflare writes them.
pub fn ray_id(random: u64, colo: &str) -> String {
    format!("{random:016x}-{colo}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn forwarded_headers_are_appended_and_hop_by_hop_ones_go() {
        let mut h = map(&[
            ("host", "www.example.com"),
            ("x-forwarded-for", "198.51.100.7"),
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("cf-ray", "forged"),
            ("accept", "*/*"),
        ]);
        to_origin(
            &mut h,
            "192.0.2.1".parse().unwrap(),
            "http",
            "00000000000000ff-AMS",
            None,
        );
        assert_eq!(h["host"], "www.example.com");
        assert_eq!(h["x-forwarded-for"], "198.51.100.7, 192.0.2.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["cf-connecting-ip"], "192.0.2.1");
        assert_eq!(h["cf-ray"], "00000000000000ff-AMS");
        for gone in ["connection", "x-secret", "keep-alive", "te"] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        assert_eq!(h["accept"], "*/*");
    }

    #[test]
    fn an_upgrade_keeps_its_two_headers() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        let protocol = upgrade(&h);
        assert_eq!(protocol.as_ref().unwrap(), "websocket");
        to_origin(
            &mut h,
            "::1".parse().unwrap(),
            "https",
            "r",
            protocol.clone(),
        );
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
        let mut plain = map(&[("upgrade", "websocket")]);
        assert!(
            upgrade(&plain).is_none(),
            "Upgrade without Connection: upgrade is no upgrade"
        );
        to_client(&mut plain, "r", None);
        assert!(!plain.contains_key("upgrade"));
        assert_eq!(plain["cf-ray"], "r");
        assert_eq!(ray_id(0xabc, "LOC"), "0000000000000abc-LOC");
    }
}
