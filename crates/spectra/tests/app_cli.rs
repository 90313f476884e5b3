//! `spectra app ...` and `spectra protocols` end to end against a running node.

mod common;

use common::*;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `spectra ARGS` with the API and token of `node`; returns (success, stdout, stderr).
fn app_cli(node: &Node, token: &str, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .args([
            "--api-url",
            &node.base,
            "--token",
            token,
            "--zone",
            "example.com",
        ])
        .env_remove("CLOUDFLARE_BASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_app_commands_manage_apps_from_flags_and_json() {
    let dir = tempfile::tempdir().unwrap();
    cli(dir.path(), &["zone", "create", "example.com"]);
    let token = last_line(&cli(
        dir.path(),
        &["token", "create", "--permission", "zone-settings-write"],
    ));
    let node = Node::with(dir.path(), &["--edge-ipv4-pool", "127.85.0.0/24"]);
    let run = |args: &[&str], stdin: Option<&str>| {
        let (ok, out, err) = app_cli(&node, &token, args, stdin);
        assert!(ok, "spectra {args:?} failed: {err}");
        out
    };

    let table = run(
        &[
            "app",
            "create",
            "--protocol",
            "tcp/2022",
            "--dns-name",
            "ssh.example.com",
            "--origin",
            "tcp://127.0.0.1:22",
            "--connectivity",
            "ipv4",
        ],
        None,
    );
    assert!(
        table.contains("tcp/2022") && table.contains("ssh.example.com"),
        "{table}"
    );
    let json_app = r#"{"protocol": "tcp/3306", "dns": {"type": "CNAME", "name": "db.example.com"},
        "origin_dns": {"name": "origin.example.com"}, "origin_port": 3306,
        "edge_ips": {"type": "dynamic", "connectivity": "ipv4"}}"#;
    let file = dir.path().join("app.json");
    std::fs::write(&file, json_app).unwrap();
    run(
        &["app", "create", "--from-json", file.to_str().unwrap()],
        None,
    );
    let from_stdin = json_app
        .replace("tcp/3306", "tcp/3307")
        .replace("db.example", "db2.example");
    let created: Value = serde_json::from_str(&run(
        &["app", "create", "--from-json", "-", "--json"],
        Some(&from_stdin),
    ))
    .unwrap();
    assert_eq!(created["protocol"], "tcp/3307");
    assert_eq!(created["origin_port"], 3306);

    let listed: Vec<Value> = serde_json::from_str(&run(&["app", "list", "--json"], None)).unwrap();
    assert_eq!(listed.len(), 3);
    let ssh = listed
        .iter()
        .find(|a| a["dns"]["name"] == "ssh.example.com")
        .unwrap();
    let id = ssh["id"].as_str().unwrap();
    let table = run(&["app", "list"], None);
    assert!(table.contains("LISTENING"), "{table}");
    assert!(
        table.contains("127.85.0.1:2022"),
        "where the app listens: {table}"
    );

    // Update changes only the fields given.
    let updated: Value = serde_json::from_str(&run(
        &[
            "app",
            "update",
            id,
            "--origin",
            "tcp://127.0.0.1:2222",
            "--proxy-protocol",
            "v1",
            "--output-json",
        ],
        None,
    ))
    .unwrap();
    assert_eq!(updated["origin_direct"][0], "tcp://127.0.0.1:2222");
    assert_eq!(updated["proxy_protocol"], "v1");
    assert_eq!(updated["protocol"], "tcp/2022");
    let got: Value = serde_json::from_str(&run(&["app", "get", id, "--json"], None)).unwrap();
    assert_eq!(got, updated);

    let out = run(&["app", "delete", id], None);
    assert!(out.contains(id));
    let (ok, _, err) = app_cli(&node, &token, &["app", "get", id], None);
    assert!(!ok && err.contains("not found"), "{err}");
    let (ok, _, err) = app_cli(
        &node,
        &token,
        &[
            "app",
            "create",
            "--protocol",
            "tcp/22",
            "--dns-name",
            "x.example.com",
        ],
        None,
    );
    assert!(
        !ok && err.contains("origin"),
        "refused before sending: {err}"
    );

    // Secrets are base64url, so one may start with '-': it is a value, never a flag.
    let (ok, _, err) = app_cli(&node, "-Cnot-a-token", &["app", "list"], None);
    assert!(
        !ok && !err.contains("unexpected argument") && err.to_lowercase().contains("auth"),
        "{err}"
    );

    let protocols = run(&["protocols"], None);
    assert!(
        protocols.contains("minecraft") && protocols.contains("25565"),
        "{protocols}"
    );
}
