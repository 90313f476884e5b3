//! `spectra app create|list|get|update|delete` and `spectra protocols`: the Spectrum API over
//! HTTP through the `client` crate, against a Spectra node or Cloudflare itself.

use anyhow::{bail, Context};
use client::{Client, Credentials, ListParams};
use futures_util::TryStreamExt;
use model::{App, AppConfig, Origin};
use serde_json::{json, Map, Value};
use std::io::Read;
use std::path::PathBuf;

/// Where the API is and who is asking.
#[derive(clap::Args, Clone)]
pub struct Connection {
    /// The API's base URL: a Spectra node, or Cloudflare's `https://api.cloudflare.com/client/v4`
    /// [default: http://127.0.0.1:8080/client/v4].
    #[arg(long, env = "CLOUDFLARE_BASE_URL", hide_env_values = true)]
    api_url: Option<String>,
    /// An API token.
    #[arg(
        long,
        env = "CLOUDFLARE_API_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    token: Option<String>,
    /// The email of a global API key (with --key).
    #[arg(long, env = "CLOUDFLARE_EMAIL", hide_env_values = true)]
    email: Option<String>,
    /// A global API key (with --email).
    #[arg(
        long,
        env = "CLOUDFLARE_API_KEY",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    key: Option<String>,
    /// The zone: its id, or its name.
    #[arg(long)]
    zone: String,
    /// Print JSON instead of a table (every command: `--json` always means output).
    #[arg(long = "json", alias = "output-json")]
    pub output_json: bool,
}

/// The fields of an app a command line can set.
#[derive(clap::Args, Clone, Default)]
pub struct AppFlags {
    /// The whole configuration as JSON, from a file or `-` for stdin (instead of the flags).
    #[arg(long = "from-json", value_name = "FILE|-")]
    from_json: Option<PathBuf>,
    /// `tcp/22`, `udp/27015`, `tcp/1000-2000`.
    #[arg(long)]
    protocol: Option<String>,
    /// The hostname the app is published under.
    #[arg(long)]
    dns_name: Option<String>,
    /// `CNAME` (dynamic edge IPs, the default) or `ADDRESS` (static).
    #[arg(long)]
    dns_type: Option<String>,
    /// An origin URI (`tcp://192.0.2.1:22`); repeat for load balancing.
    #[arg(long = "origin")]
    origins: Vec<String>,
    /// An origin name to resolve (instead of --origin).
    #[arg(long)]
    origin_dns: Option<String>,
    /// `A`, `AAAA`, `SRV`, or empty for both A and AAAA.
    #[arg(long)]
    origin_dns_type: Option<String>,
    /// Seconds an origin name's answer is kept (at least 600).
    #[arg(long)]
    origin_dns_ttl: Option<u32>,
    /// The origin port (`22`) or range (`2000-2100`).
    #[arg(long)]
    origin_port: Option<String>,
    /// Static edge IPs, comma-separated.
    #[arg(long, value_delimiter = ',')]
    edge_ips: Vec<String>,
    /// `all`, `ipv4` or `ipv6` (dynamic edge IPs).
    #[arg(long)]
    connectivity: Option<String>,
    /// `off`, `v1`, `v2` or `simple`.
    #[arg(long)]
    proxy_protocol: Option<String>,
    /// `off`, `flexible`, `full` or `strict`.
    #[arg(long)]
    tls: Option<String>,
    /// `direct`, `http` or `https`.
    #[arg(long)]
    traffic_type: Option<String>,
    /// `true` to apply the zone's IP Access Rules to the app's clients, `false` not to.
    #[arg(long)]
    ip_firewall: Option<bool>,
    /// `true` or `false`: Argo Smart Routing (`traffic_type: direct` only).
    #[arg(long)]
    argo_smart_routing: Option<bool>,
}

#[derive(clap::Subcommand)]
pub enum AppCommand {
    /// Create an app from flags or --from-json.
    Create {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        fields: AppFlags,
    },
    /// List the zone's apps (every page).
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Show one app.
    Get {
        #[command(flatten)]
        connection: Connection,
        /// The app's id.
        id: String,
    },
    /// Change an app: the flags given change those fields; --from-json replaces the whole config.
    Update {
        #[command(flatten)]
        connection: Connection,
        /// The app's id.
        id: String,
        #[command(flatten)]
        fields: AppFlags,
    },
    /// Delete an app.
    Delete {
        #[command(flatten)]
        connection: Connection,
        /// The app's id.
        id: String,
    },
}

impl Connection {
    pub async fn client(&self) -> anyhow::Result<(Client, String)> {
        let credentials = match (&self.token, &self.email, &self.key) {
            (Some(token), _, _) => Credentials::Token(token.clone()),
            (None, Some(email), Some(key)) => Credentials::Key {
                email: email.clone(),
                key: key.clone(),
            },
            _ => bail!("give --token (or CLOUDFLARE_API_TOKEN), or --email and --key"),
        };
        let client = Client::builder()
            .base_url(
                self.api_url
                    .as_deref()
                    .unwrap_or("http://127.0.0.1:8080/client/v4"),
            )
            .credentials(credentials)
            .build()?;
        let zone = if model::is_identifier(&self.zone) {
            self.zone.clone()
        } else {
            client.zone_id(&self.zone).await?.with_context(|| {
                format!("no zone named {:?} visible to these credentials", self.zone)
            })?
        };
        Ok((client, zone))
    }
}

impl AppFlags {
    /// The flags as a config JSON object, on top of `base` (an app's current config, or empty).
    fn apply(&self, mut base: Map<String, Value>) -> anyhow::Result<Value> {
        if let Some(path) = &self.from_json {
            let text = if path.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                text
            } else {
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
            };
            return serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()));
        }
        if let Some(p) = &self.protocol {
            base.insert("protocol".into(), json!(p));
        }
        if self.dns_name.is_some() || self.dns_type.is_some() {
            let mut dns = base.get("dns").cloned().unwrap_or_else(|| json!({}));
            if let Some(name) = &self.dns_name {
                dns["name"] = json!(name);
            }
            if let Some(kind) = &self.dns_type {
                dns["type"] = json!(kind);
            }
            base.insert("dns".into(), dns);
        }
        if !self.origins.is_empty() {
            base.insert("origin_direct".into(), json!(self.origins));
            base.remove("origin_dns");
        }
        if let Some(name) = &self.origin_dns {
            let mut origin = json!({"name": name});
            if let Some(kind) = &self.origin_dns_type {
                origin["type"] = json!(kind);
            }
            if let Some(ttl) = self.origin_dns_ttl {
                origin["ttl"] = json!(ttl);
            }
            base.insert("origin_dns".into(), origin);
            base.remove("origin_direct");
        }
        if let Some(port) = &self.origin_port {
            let value = port
                .parse::<u16>()
                .map_or_else(|_| json!(port), |p| json!(p));
            base.insert("origin_port".into(), value);
        }
        if !self.edge_ips.is_empty() {
            base.insert(
                "edge_ips".into(),
                json!({"type": "static", "ips": self.edge_ips}),
            );
            if self.dns_type.is_none() {
                if let Some(dns) = base.get_mut("dns") {
                    dns["type"] = json!("ADDRESS");
                }
            }
        } else if let Some(c) = &self.connectivity {
            base.insert(
                "edge_ips".into(),
                json!({"type": "dynamic", "connectivity": c}),
            );
        }
        for (key, value) in [
            ("proxy_protocol", &self.proxy_protocol),
            ("tls", &self.tls),
            ("traffic_type", &self.traffic_type),
        ] {
            if let Some(v) = value {
                base.insert(key.into(), json!(v));
            }
        }
        for (key, value) in [
            ("ip_firewall", self.ip_firewall),
            ("argo_smart_routing", self.argo_smart_routing),
        ] {
            if let Some(v) = value {
                base.insert(key.into(), json!(v));
            }
        }
        Ok(Value::Object(base))
    }
}

/// The config, checked here by the same rules the server applies, so mistakes show before a request.
fn config(value: Value) -> anyhow::Result<AppConfig> {
    AppConfig::from_json(value).map_err(|e| anyhow::anyhow!("{} (code {})", e.message, e.code))
}

fn origin_text(app: &App) -> String {
    match &app.config.origin {
        Origin::Direct(uris) => uris
            .iter()
            .map(|u| u.as_str())
            .collect::<Vec<_>>()
            .join(","),
        Origin::Dns(dns) => {
            let port = app
                .config
                .origin_port
                .map(|p| format!(":{}", p.ports()))
                .unwrap_or_default();
            format!("dns:{}{port}", dns.name)
        }
    }
}

/// Where the app listens, from the Spectra status extension ("-" where the server has none).
async fn listening(client: &Client, zone: &str, id: &str) -> String {
    match client.spectrum().apps().status(zone, id).await {
        Ok((_, listeners)) if !listeners.is_empty() => listeners
            .iter()
            .map(|l| match &l.error {
                None => l.address.to_string(),
                Some(_) => format!("{}(error)", l.address),
            })
            .collect::<Vec<_>>()
            .join(","),
        _ => "-".into(),
    }
}

async fn print(client: &Client, zone: &str, apps: &[App], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        let value = if apps.len() == 1 {
            serde_json::to_value(&apps[0])?
        } else {
            serde_json::to_value(apps)?
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "{:<32}  {:<14}  {:<28}  {:<32}  LISTENING",
        "ID", "PROTOCOL", "HOSTNAME", "ORIGIN"
    );
    for app in apps {
        println!(
            "{:<32}  {:<14}  {:<28}  {:<32}  {}",
            app.id,
            app.config.protocol.as_str(),
            app.config.dns.name,
            origin_text(app),
            listening(client, zone, &app.id).await
        );
    }
    Ok(())
}

pub fn run(command: AppCommand) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async move {
        match command {
            AppCommand::Create { connection, fields } => {
                // The configuration is checked before the credentials are.
                let config = config(fields.apply(Map::new())?)?;
                let (client, zone) = connection.client().await?;
                let app = client.spectrum().apps().create(&zone, &config).await?;
                print(&client, &zone, &[app], connection.output_json).await
            }
            AppCommand::List { connection } => {
                let (client, zone) = connection.client().await?;
                let apps: Vec<App> = client
                    .spectrum()
                    .apps()
                    .list(&zone, ListParams::default())
                    .try_collect()
                    .await?;
                if connection.output_json {
                    println!("{}", serde_json::to_string_pretty(&apps)?);
                    return Ok(());
                }
                print(&client, &zone, &apps, false).await
            }
            AppCommand::Get { connection, id } => {
                let (client, zone) = connection.client().await?;
                let app = client.spectrum().apps().get(&zone, &id).await?;
                print(&client, &zone, &[app], connection.output_json).await
            }
            AppCommand::Update {
                connection,
                id,
                fields,
            } => {
                let (client, zone) = connection.client().await?;
                let apps = client.spectrum().apps();
                let current = match serde_json::to_value(&apps.get(&zone, &id).await?.config)? {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                let app = apps
                    .update(&zone, &id, &config(fields.apply(current)?)?)
                    .await?;
                print(&client, &zone, &[app], connection.output_json).await
            }
            AppCommand::Delete { connection, id } => {
                let (client, zone) = connection.client().await?;
                let deleted = client.spectrum().apps().delete(&zone, &id).await?;
                println!("deleted app {deleted}");
                Ok(())
            }
        }
    })
}

/// `spectra protocols`.
pub fn protocols(connection: Connection) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async move {
        let (client, zone) = connection.client().await?;
        let protocols = client.spectrum().protocols().list(&zone).await?;
        if connection.output_json {
            let value: Vec<Value> = protocols
                .iter()
                .map(|p| json!({"name": p.name, "description": p.description, "transport": p.transport, "ports": p.ports}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&value)?);
            return Ok(());
        }
        println!("{:<12}  {:<9}  {:<12}  DESCRIPTION", "NAME", "TRANSPORT", "PORTS");
        for p in protocols {
            let ports: Vec<String> = p.ports.iter().map(u16::to_string).collect();
            println!("{:<12}  {:<9}  {:<12}  {}", p.name, p.transport, ports.join(","), p.description);
        }
        Ok(())
    })
}
