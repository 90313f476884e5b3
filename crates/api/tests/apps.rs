//! The Spectrum apps API over real HTTP: lifecycle, every shape, full-replace updates, lists.

mod common;

use common::{ssh_app, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

#[tokio::test]
async fn lifecycle_create_get_list_replace_delete() {
    let s = Server::start().await;
    let created = s
        .create_app(json!({
            "protocol": "tcp/22",
            "dns": {"type": "CNAME", "name": "ssh.example.com"},
            "origin_direct": ["tcp://127.0.0.1:2222"],
            "traffic_type": "direct",
            "ip_firewall": true,
            "tls": "full",
            "proxy_protocol": "v1",
            "argo_smart_routing": true,
            "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}
        }))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(model::is_identifier(&id), "{id}");
    let created_on = created["created_on"].as_str().unwrap().to_owned();
    assert!(
        created_on.ends_with('Z') && created_on.contains('.'),
        "{created_on}"
    );
    chrono::DateTime::parse_from_rfc3339(&created_on).unwrap();
    assert_eq!(created["ip_firewall"], true);
    assert_eq!(created["tls"], "full");
    assert_eq!(created["proxy_protocol"], "v1");
    assert_eq!(
        created["edge_ips"],
        json!({"type": "dynamic", "connectivity": "ipv4"})
    );

    let (status, got) = s.call(Method::GET, &s.apps(&format!("/{id}")), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["result"], created);

    let (_, list) = s.call(Method::GET, &s.apps(""), None).await;
    assert_eq!(list["result"], json!([created]));
    assert_eq!(list["result_info"]["total_count"], 1);

    // PUT is a full replace: what it leaves out goes back to its default.
    let (status, put) = s
        .call(
            Method::PUT,
            &s.apps(&format!("/{id}")),
            Some(json!({
                "protocol": "tcp/2222",
                "dns": {"type": "CNAME", "name": "ssh.example.com"},
                "traffic_type": "direct",
                "origin_direct": ["tcp://127.0.0.1:22"]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    let updated = &put["result"];
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(updated["created_on"], created_on.as_str());
    assert!(updated["modified_on"].as_str().unwrap() >= created_on.as_str());
    assert_eq!(updated["protocol"], "tcp/2222");
    assert_eq!(updated["ip_firewall"], false);
    assert_eq!(updated["tls"], "off");
    assert_eq!(updated["proxy_protocol"], "off");
    assert_eq!(updated["argo_smart_routing"], false);
    assert_eq!(
        updated["edge_ips"],
        json!({"type": "dynamic", "connectivity": "all"})
    );

    let (status, deleted) = s
        .call(Method::DELETE, &s.apps(&format!("/{id}")), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["result"], json!({"id": id}));
    let (status, gone) = s.call(Method::GET, &s.apps(&format!("/{id}")), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
    let (status, _) = s
        .call(Method::DELETE, &s.apps(&format!("/{id}")), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_app_shape_round_trips() {
    let s = Server::start().await;
    let shapes = [
        json!({"protocol": "tcp/3306", "dns": {"type": "CNAME", "name": "db.example.com"}, "traffic_type": "direct",
               "origin_dns": {"name": "origin.example.com", "ttl": 600, "type": ""}, "origin_port": 3306}),
        json!({"protocol": "tcp/1000-1002", "dns": {"type": "CNAME", "name": "range.example.com"}, "traffic_type": "direct",
               "origin_dns": {"name": "origin.example.com"}, "origin_port": "2000-2002"}),
        json!({"protocol": "minecraft", "dns": {"type": "CNAME", "name": "mc.example.com"},
               "origin_direct": ["tcp://127.0.0.9:25565"]}),
        json!({"protocol": "udp/53", "dns": {"type": "ADDRESS", "name": "static.example.com"}, "traffic_type": "direct",
               "edge_ips": {"type": "static", "ips": ["127.0.0.53", "::1"]}, "origin_direct": ["udp://127.0.0.1:5353"],
               "proxy_protocol": "simple"}),
        json!({"protocol": "tcp/443", "dns": {"type": "CNAME", "name": "example.com"}, "traffic_type": "https",
               "origin_direct": ["tcp://[::1]:8443", "tcp://127.0.0.1:8443"], "tls": "strict", "origin_port": 8443}),
        json!({"protocol": "tcp/22", "dns": {"name": "srv.example.com"},
               "origin_dns": {"name": "_ssh._tcp.example.com", "type": "SRV", "ttl": 3600}}),
    ];
    for shape in shapes {
        let app = s.create_app(shape.clone()).await;
        for (key, sent) in shape.as_object().unwrap() {
            if key == "dns" && sent.get("type").is_none() {
                assert_eq!(app["dns"]["name"], sent["name"]);
                continue;
            }
            assert_eq!(&app[key], sent, "field {key} of {shape}");
        }
        for key in [
            "traffic_type",
            "edge_ips",
            "ip_firewall",
            "proxy_protocol",
            "tls",
            "argo_smart_routing",
        ] {
            assert!(!app[key].is_null(), "{key} missing from {app}");
        }
        let (_, got) = s
            .call(
                Method::GET,
                &s.apps(&format!("/{}", app["id"].as_str().unwrap())),
                None,
            )
            .await;
        assert_eq!(got["result"], app);
    }
}

#[tokio::test]
async fn explicit_null_unsets_on_update() {
    let s = Server::start().await;
    let app = s
        .create_app(json!({"protocol": "tcp/3306", "dns": {"name": "db.example.com"}, "traffic_type": "direct",
                           "origin_dns": {"name": "origin.example.com"}, "origin_port": 3306}))
        .await;
    let path = s.apps(&format!("/{}", app["id"].as_str().unwrap()));
    // What Terraform sends when switching an app from origin_dns to origin_direct.
    let (status, put) = s
        .call(
            Method::PUT,
            &path,
            Some(json!({"protocol": "tcp/3306", "dns": {"name": "db.example.com", "type": "CNAME"}, "traffic_type": "direct",
                        "origin_dns": null, "origin_port": null, "origin_direct": ["tcp://127.0.0.1:3306"],
                        "tls": null, "edge_ips": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert!(put["result"].get("origin_dns").is_none(), "{put}");
    assert!(put["result"].get("origin_port").is_none(), "{put}");
    assert_eq!(
        put["result"]["origin_direct"],
        json!(["tcp://127.0.0.1:3306"])
    );
}

#[tokio::test]
async fn refused_writes_name_the_field_and_store_nothing() {
    let s = Server::start().await;
    let app = s.create_app(ssh_app("ssh.example.com")).await;
    let path = s.apps(&format!("/{}", app["id"].as_str().unwrap()));
    let cases = [
        (
            json!({"protocol": "tcp/22", "dns": {"name": "ssh.example.com"}}),
            11000,
            "origin",
        ),
        (
            json!({"protocol": "tcp/22", "dns": {"name": "ssh.example.org"}, "origin_direct": ["tcp://127.0.0.1:1"]}),
            16001,
            "dns.name",
        ),
        (
            json!({"protocol": "foo/22", "dns": {"name": "a.example.com"}, "origin_direct": ["tcp://127.0.0.1:1"]}),
            13002,
            "protocol",
        ),
        (
            json!({"protocol": "tcp/22", "dns": {"name": "a.example.com"}, "origin_direct": ["tcp://127.0.0.1:1"], "tls": "bogus"}),
            10001,
            "tls",
        ),
        (
            json!({"protocol": "tcp/22", "dns": {"name": "a.example.com"}, "origin_direct": ["tcp://127.0.0.1:1"], "extra": 1}),
            10012,
            "extra",
        ),
        (
            json!({"protocol": "tcp/22", "dns": {"type": "ADDRESS", "name": "a.example.com"},
                "edge_ips": {"type": "static", "ips": ["192.0.2.1"]}, "origin_direct": ["tcp://127.0.0.1:1"]}),
            11019,
            "192.0.2.1",
        ),
    ];
    for (body, code, mentions) in cases {
        // On PUT the static case would first hit the dns.type rule below.
        let targets = match code {
            11019 => vec![(Method::POST, s.apps(""))],
            _ => vec![(Method::POST, s.apps("")), (Method::PUT, path.clone())],
        };
        for (method, target) in targets {
            let (status, err) = s.call(method.clone(), &target, Some(body.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {body} -> {err}");
            assert_eq!(err["errors"][0]["code"], code, "{body} -> {err}");
            let message = err["errors"][0]["message"].as_str().unwrap();
            assert!(
                message.contains(mentions),
                "{message:?} should name {mentions}"
            );
        }
    }
    // The dns.type of an existing app cannot change (dynamic to static needs delete + create).
    let (status, err) = s
        .call(
            Method::PUT,
            &path,
            Some(json!({"protocol": "tcp/22", "dns": {"type": "ADDRESS", "name": "ssh.example.com"},
                        "edge_ips": {"type": "static", "ips": ["127.0.0.7"]}, "origin_direct": ["tcp://127.0.0.1:1"]})),
        )
        .await;
    assert_eq!(
        (status, err["errors"][0]["code"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(11004))
    );
    let (_, list) = s.call(Method::GET, &s.apps(""), None).await;
    assert_eq!(list["result"], json!([app]), "nothing refused was stored");
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404() {
    let s = Server::start().await;
    let missing_zone = "0123456789abcdef0123456789abcdef";
    for path in [
        format!("/zones/{missing_zone}/spectrum/apps"),
        format!("/zones/{}/spectrum/apps/{missing_zone}", s.zone.id),
        format!("/zones/{}/spectrum/apps/not-an-id", s.zone.id),
        "/zones/NOT-A-ZONE/spectrum/apps".to_owned(),
    ] {
        let (status, err) = s.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {err}");
    }
}

#[tokio::test]
async fn protocols_lists_named_protocols() {
    let s = Server::start().await;
    let (status, body) = s
        .call(
            Method::GET,
            &format!("/zones/{}/spectrum/protocols", s.zone.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ssh = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ssh")
        .cloned();
    assert_eq!(
        ssh,
        Some(
            json!({"name": "ssh", "description": "Secure Shell", "transport": "tcp", "ports": [22]})
        )
    );
}

async fn ids_of(s: &Server, query: &str) -> (Vec<Value>, Value) {
    let (status, body) = s.call(Method::GET, &s.apps(query), None).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    (
        body["result"].as_array().unwrap().clone(),
        body["result_info"].clone(),
    )
}

#[tokio::test]
async fn lists_page_and_sort_so_auto_iteration_sees_each_app_once() {
    let s = Server::start().await;
    let mut all = HashSet::new();
    for i in 0..45 {
        let mut body = ssh_app(&format!("h{:02}.example.com", (i * 7) % 45));
        body["protocol"] = json!(format!("tcp/{}", 1000 + (i * 13) % 45));
        let app = s.create_app(body).await;
        all.insert(app["id"].as_str().unwrap().to_owned());
    }
    // What the SDKs do: no page first, then page=2, 3, ... until an empty page.
    let mut seen = Vec::new();
    let (first, info) = ids_of(&s, "").await;
    assert_eq!(
        info,
        json!({"page": 1, "per_page": 20, "count": 20, "total_count": 45, "total_pages": 3})
    );
    seen.extend(first);
    for page in 2.. {
        let (apps, _) = ids_of(&s, &format!("?page={page}")).await;
        if apps.is_empty() {
            assert_eq!(page, 4);
            break;
        }
        seen.extend(apps);
    }
    let ids: Vec<String> = seen
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 45);
    assert_eq!(ids.iter().cloned().collect::<HashSet<_>>(), all);

    // Python sends floats.
    let (apps, info) = ids_of(&s, "?page=2.0&per_page=10.0").await;
    assert_eq!(
        (apps.len(), info["page"].as_u64(), info["per_page"].as_u64()),
        (10, Some(2), Some(10))
    );
    let (apps, info) = ids_of(&s, "?per_page=500").await;
    assert_eq!((apps.len(), info["per_page"].as_u64()), (45, Some(100)));
    let (apps, _) = ids_of(&s, "?page=99").await;
    assert!(apps.is_empty());

    let key = |order: &str, app: &Value| -> String {
        match order {
            "protocol" => app["protocol"].as_str().unwrap().to_owned(),
            "app_id" => app["id"].as_str().unwrap().to_owned(),
            "dns" => app["dns"]["name"].as_str().unwrap().to_owned(),
            other => app[other].as_str().unwrap().to_owned(),
        }
    };
    for order in ["protocol", "app_id", "created_on", "modified_on", "dns"] {
        for direction in ["asc", "desc"] {
            let mut listed = Vec::new();
            for page in 1..=3 {
                let (apps, _) = ids_of(
                    &s,
                    &format!("?order={order}&direction={direction}&page={page}&per_page=20"),
                )
                .await;
                listed.extend(apps);
            }
            let keys: Vec<String> = listed.iter().map(|a| key(order, a)).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            if direction == "desc" {
                sorted.reverse();
            }
            assert_eq!(keys, sorted, "order={order} direction={direction}");
            let unique: HashSet<_> = listed.iter().map(|a| a["id"].as_str().unwrap()).collect();
            assert_eq!(unique.len(), 45, "order={order} direction={direction}");
        }
    }
    for bad in [
        "?order=color",
        "?direction=up",
        "?page=0",
        "?page=x",
        "?per_page=1.5",
    ] {
        let (status, err) = s.call(Method::GET, &s.apps(bad), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {err}");
    }
}
