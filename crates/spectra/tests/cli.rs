//! The `spectra` binary end to end: CLI administration, `serve` on port 0, durability across
//! `kill -9`, revocation while serving, the config file, and SIGTERM.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

fn app(name: &str) -> Value {
    json!({"protocol": "tcp/22", "dns": {"type": "CNAME", "name": name},
           "origin_direct": ["tcp://127.0.0.1:2222"], "traffic_type": "direct"})
}

#[tokio::test]
async fn the_cli_bootstraps_zones_tokens_and_users_for_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::on(dir.path());
    let http = reqwest::Client::new();

    let zone = last_line(&cli(dir.path(), &["zone", "create", "example.com"]));
    assert!(model::is_identifier(&zone), "{zone}");
    let token = last_line(&cli(
        dir.path(),
        &[
            "token",
            "create",
            "--zone",
            "example.com",
            "--permission",
            "zone-settings-write",
        ],
    ));
    assert_eq!(token.len(), 40);
    // The quick start's curl: no Content-Type, so curl's form type.
    let (status, body) = send(
        http.post(format!("{}/zones/{zone}/spectrum/apps", node.base))
            .bearer_auth(&token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(app("ssh.example.com").to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let key = last_line(&cli(dir.path(), &["user", "create", "ops@example.com"]));
    let (status, body) = send(
        http.get(format!("{}/zones/{zone}/spectrum/apps", node.base))
            .header("X-Auth-Email", "ops@example.com")
            .header("X-Auth-Key", &key),
    )
    .await;
    assert_eq!(
        (status, body["result"].as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );

    let listed = cli(dir.path(), &["token", "list"]);
    assert!(
        listed.contains("zone-settings-write") && listed.contains(&zone),
        "{listed}"
    );
    assert!(cli(dir.path(), &["zone", "list"]).contains("example.com"));
    let (ok, _, err) = cli_result(
        dir.path(),
        &[
            "token",
            "create",
            "--zone",
            "nowhere.com",
            "--permission",
            "zone-write",
        ],
    );
    assert!(!ok && err.contains("nowhere.com"), "{err}");
    let (ok, _, err) = cli_result(
        dir.path(),
        &["token", "create", "--permission", "everything"],
    );
    assert!(!ok && err.contains("zone-settings-read"), "{err}");
    let (ok, _, err) = cli_result(dir.path(), &["zone", "create", "example.com"]);
    assert!(!ok && err.contains("already exists"), "{err}");

    cli(dir.path(), &["zone", "delete", "example.com"]);
    let (status, _) = send(
        http.get(format!("{}/zones/{zone}/spectrum/apps", node.base))
            .header("X-Auth-Email", "ops@example.com")
            .header("X-Auth-Key", &key),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_token_revoked_from_the_cli_stops_working_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::on(dir.path());
    let zone = last_line(&cli(dir.path(), &["zone", "create", "example.com"]));
    let token = last_line(&cli(
        dir.path(),
        &["token", "create", "--permission", "zone-settings-read"],
    ));
    let http = reqwest::Client::new();
    let list = || {
        http.get(format!("{}/zones/{zone}/spectrum/apps", node.base))
            .bearer_auth(&token)
    };
    assert_eq!(send(list()).await.0, StatusCode::OK);
    let listed = cli(dir.path(), &["token", "list"]);
    let id = listed
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    cli(dir.path(), &["token", "revoke", &id]);
    let revoked_at = Instant::now();
    loop {
        let (status, _) = send(list()).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "token still works"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_answered_write_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let zone = last_line(&cli(dir.path(), &["zone", "create", "example.com"]));
    let token = last_line(&cli(
        dir.path(),
        &["token", "create", "--permission", "zone-settings-write"],
    ));
    let http = reqwest::Client::new();
    let mut created = Vec::new();
    {
        let node = Node::on(dir.path());
        for i in 0..20 {
            let (status, body) = send(
                http.post(format!("{}/zones/{zone}/spectrum/apps", node.base))
                    .bearer_auth(&token)
                    .json(&app(&format!("a{i}.example.com"))),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            created.push(body["result"].clone());
        }
        node.signal("-KILL");
    }
    let node = Node::on(dir.path());
    for app in created {
        let (status, body) = send(
            http.get(format!(
                "{}/zones/{zone}/spectrum/apps/{}",
                node.base,
                app["id"].as_str().unwrap()
            ))
            .bearer_auth(&token),
        )
        .await;
        assert_eq!((status, body["result"].clone()), (StatusCode::OK, app));
    }
}

#[tokio::test]
async fn the_config_file_sets_serve_keys_flags_win_and_sigterm_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-file");
    let config = dir.path().join("spectra.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\napi_listen = \"127.0.0.1:1\"\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut node = Node::start(&[
        "--config",
        config.to_str().unwrap(),
        "--api-listen",
        "127.0.0.1:0",
    ]);
    assert!(
        data.join("spectra.db").exists(),
        "data_dir came from the file"
    );
    let response = reqwest::get(format!("{}/zones", node.base)).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "listen came from the flag"
    );
    node.signal("-TERM");
    let status = node.child.wait().unwrap();
    assert!(status.success(), "{status}");

    std::fs::write(&config, "data_dir = \"x\"\ncolour = \"blue\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("colour"), "{err}");
}

#[test]
fn errors_are_one_line_with_status_1_and_arguments_are_checked_before_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], backtrace: bool| {
        let out = std::process::Command::new(BIN)
            .args(args)
            .env("RUST_BACKTRACE", if backtrace { "1" } else { "0" })
            .env_remove("CLOUDFLARE_API_TOKEN")
            .env_remove("CLOUDFLARE_EMAIL")
            .env_remove("CLOUDFLARE_API_KEY")
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stderr).unwrap())
    };
    // A bad protocol, and no credentials: the protocol is what is wrong first.
    let create = [
        "app",
        "create",
        "--api-url",
        "http://127.0.0.1:9/client/v4",
        "--zone",
        "example.com",
        "--protocol",
        "tcp/abc",
        "--dns-name",
        "a.example.com",
        "--origin",
        "tcp://127.0.0.1:22",
    ];
    let (code, stderr) = run(&create, true);
    assert_eq!(code, Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: protocol: \"tcp/abc\""),
        "{stderr}"
    );
    assert!(!stderr.contains("backtrace"), "{stderr}");

    // Without the argument error, the missing credentials are the error.
    let mut good = create;
    good[7] = "tcp/22";
    let (code, stderr) = run(&good, true);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--token"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // A store error shows its causes on one line; --debug shows the chain on several.
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let data_dir = file.join("sub");
    let args = ["zone", "list", "--data-dir", data_dir.to_str().unwrap()];
    let (code, one) = run(&args, false);
    assert_eq!((code, one.lines().count()), (Some(1), 1), "{one}");
    let debug = [&args[..], &["--debug"]].concat();
    let (code, more) = run(&debug, false);
    assert_eq!(code, Some(1));
    assert!(more.lines().count() > 1 || more.len() > one.len(), "{more}");
}
