//! Every key of the `--config` file, one by one: each reaches the settings `serve` runs with
//! (the end-to-end tests then prove each setting reaches the runtime, through its flag).

use super::args::ServeArgs;
use super::settings::settings;
use clap::Parser;

/// A key's line, and text its value leaves in the settings (their `Debug` form).
const KEYS: &[(&str, &str)] = &[
    (
        "data_dir = \"/tmp/spectra-key-test\"",
        "/tmp/spectra-key-test",
    ),
    ("node_name = \"k-node\"", "node_name: \"k-node\""),
    (
        "store = \"postgres://k@127.0.0.1:1/k\"",
        "postgres://k@127.0.0.1:1/k",
    ),
    ("api_listen = \"127.0.0.1:18080\"", "127.0.0.1:18080"),
    ("api_header_timeout = 11.5", "header_timeout: 11.5s"),
    ("api_body_timeout = 31.5", "body_timeout: 31.5s"),
    ("api_idle_timeout = 61.5", "idle_timeout: 61.5s"),
    ("api_max_connections = 777", "max_connections: 777"),
    ("api_rate_limit = \"7/3m\"", "requests: 7, period: 180s"),
    (
        "api_tls_cert = \"/tmp/a.crt\"\napi_tls_key = \"/tmp/a.key\"",
        "(\"/tmp/a.crt\", \"/tmp/a.key\")",
    ),
    ("edge_ipv4_pool = \"127.55.0.0/16\"", "127.55.0.0/16"),
    ("edge_ipv6_pool = \"::2/128\"", "::2/128"),
    ("edge_static_allow = [\"127.57.0.0/16\"]", "127.57.0.0/16"),
    ("max_ports_per_app = 77", "max_ports_per_app: 77"),
    ("connect_timeout = 7.5", "connect_timeout: 7.5s"),
    ("drain_timeout = 8.5", "drain_timeout: 8.5s"),
    ("max_connections = 7777", "max_connections: 7777"),
    (
        "max_connections_per_client = 77",
        "max_connections_per_client: 77",
    ),
    ("tcp_idle_timeout = 77.5", "tcp_idle_timeout: 77.5s"),
    (
        "tls_handshake_timeout = 7.25",
        "tls_handshake_timeout: 7.25s",
    ),
    ("colo = \"K7\"", "\"K7\""),
    ("http_origin_timeout = 7.75", "http_origin_timeout: 7.75s"),
    ("access_log = \"/tmp/k.jsonl\"", "/tmp/k.jsonl"),
    ("resolver = \"127.0.0.1:5353\"", "127.0.0.1:5353"),
    ("origin_dns_max_ttl = 17", "origin_dns_max_ttl: Some(17s)"),
    ("udp_idle_timeout = 17.5", "udp_idle_timeout: 17.5s"),
    ("udp_max_flows = 777", "udp_max_flows: 777"),
    ("workers = 3", "workers: 3"),
    ("tls_cert_dir = \"/tmp/k-certs\"", "/tmp/k-certs"),
    ("origin_ca = \"/tmp/k-ca.pem\"", "/tmp/k-ca.pem"),
    ("geoip_db = [\"/tmp/k.mmdb\"]", "/tmp/k.mmdb"),
    (
        "dns_listen = [\"127.0.0.1:5399\"]",
        "listen: [127.0.0.1:5399]",
    ),
    ("dns_nameservers = [\"ns7.example.net\"]", "ns7.example.net"),
    ("dns_ttl = 77", "ttl: 77"),
    ("dns_update = \"127.0.0.1:5398\"", "127.0.0.1:5398"),
    (
        "dns_update = \"127.0.0.1:5397\"\ndns_update_key = \"/tmp/k.key\"",
        "(127.0.0.1:5397, Some(\"/tmp/k.key\"))",
    ),
    ("analytics_retention = \"7h\"", "retention: 25200s"),
    ("no_analytics = true", "enabled: false"),
    ("no_dashboard = true", "dashboard: false"),
    (
        "metrics_listen = \"127.0.0.1:9797\"",
        "metrics_listen: Some(127.0.0.1:9797)",
    ),
];

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// The settings from a config file holding `toml` and no flags.
fn from_file(toml: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "spectra-config-{}-{}.toml",
        std::process::id(),
        toml.len() ^ (toml.as_ptr() as usize)
    ));
    std::fs::write(&path, toml).unwrap();
    let path_arg = path.to_str().unwrap().to_owned();
    let args = Cli::parse_from(["serve", "--config", path_arg.as_str()]).serve;
    let out = settings(args, 1 << 20).map(|s| format!("{s:?}"));
    let _ = std::fs::remove_file(&path);
    out.unwrap_or_else(|e| panic!("{toml}: {e:#}"))
}

#[test]
fn every_config_key_reaches_the_settings() {
    let defaults = from_file("");
    for (line, needle) in KEYS {
        let got = from_file(line);
        assert!(!defaults.contains(needle), "{needle} is a default");
        assert!(got.contains(needle), "{line}: {needle} not in {got}");
    }
}

#[test]
fn every_key_of_the_file_is_in_the_table() {
    // The flags (less --config) are the keys: a new one must join the table above.
    let flags: Vec<String> = <Cli as clap::CommandFactory>::command()
        .get_arguments()
        .filter_map(|a| a.get_long().map(|l| l.replace('-', "_")))
        .filter(|l| l != "config")
        .collect();
    for flag in flags {
        assert!(
            KEYS.iter()
                .any(|(line, _)| line.contains(&format!("{flag} = "))),
            "config key {flag} has no row"
        );
    }
}
