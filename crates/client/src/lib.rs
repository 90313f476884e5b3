//! A typed Rust client of Cloudflare's v4 Spectrum API, for Cloudflare itself or a Spectra node.
//!
//! It behaves like the official SDKs: the envelope is unwrapped, lists page automatically
//! (asking for the next page until one comes back empty), and 408, 409, 429, 5xx answers and
//! connection errors are retried twice with the SDKs' back-off. Requests and answers use the
//! `model` crate's types.
//!
//! ```no_run
//! use client::Client;
//! use futures_util::TryStreamExt;
//! use model::AppConfig;
//! use serde_json::json;
//!
//! # async fn run() -> Result<(), client::Error> {
//! // CLOUDFLARE_API_TOKEN (or CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY), and CLOUDFLARE_BASE_URL
//! // for a Spectra node (default: https://api.cloudflare.com/client/v4).
//! let client = Client::from_env()?;
//! let zone_id = "023e105f4ecef8ad9ca31a8372d0c353";
//! let config = AppConfig::from_json(json!({
//!     "protocol": "tcp/22",
//!     "dns": {"type": "CNAME", "name": "ssh.example.com"},
//!     "origin_direct": ["tcp://192.0.2.1:22"],
//!     "traffic_type": "direct",
//! }))
//! .expect("a valid app");
//! let app = client.spectrum().apps().create(zone_id, &config).await?;
//! println!("created {}", app.id);
//! let all: Vec<_> = client.spectrum().apps().list(zone_id, Default::default()).try_collect().await?;
//! println!("{} apps", all.len());
//! # Ok(())
//! # }
//! ```

mod access_rules;
mod analytics;
mod dns;
mod error;
pub mod retry;
mod spectrum;

pub use access_rules::{AccessRules, Configuration, NewRule, Rule};
pub use analytics::{Analytics, CurrentApp, EventsQuery, Report, Row};
pub use dns::{DnsRecord, DnsRecords};
pub use error::{ApiError, Error, Message};
pub use spectrum::{Apps, ListParams, Page, ProtocolInfo, Protocols, Spectrum};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::time::{Duration, SystemTime};

/// Cloudflare's API, the default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// How the client authenticates. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer <token>`.
    Token(String),
    /// `X-Auth-Email` + `X-Auth-Key` (a global API key).
    Key { email: String, key: String },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Token(<redacted>)"),
            Credentials::Key { email, .. } => {
                write!(f, "Key {{ email: {email:?}, key: <redacted> }}")
            }
        }
    }
}

/// Sets up a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    credentials: Option<Credentials>,
    timeout: Duration,
    max_retries: u32,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            base_url: DEFAULT_BASE_URL.to_owned(),
            credentials: None,
            timeout: Duration::from_secs(60),
            max_retries: 2,
        }
    }
}

impl ClientBuilder {
    /// `https://api.cloudflare.com/client/v4`, or a Spectra node's `http://host:port/client/v4`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The time one request may take (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often a failed request is tried again (default 2, so 3 requests at most).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let credentials = self.credentials.ok_or_else(|| {
            Error::Config(
                "no credentials: give an API token, or an email and a global API key".into(),
            )
        })?;
        let base = reqwest::Url::parse(&self.base_url)
            .map_err(|e| Error::Config(format!("base URL {:?}: {e}", self.base_url)))?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .user_agent(concat!("spectra-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Client {
            http,
            base: base.as_str().trim_end_matches('/').to_owned(),
            credentials,
            max_retries: self.max_retries,
        })
    }
}

/// A client of the v4 API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    max_retries: u32,
}

/// The parts of a success envelope the client uses.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    #[serde(default)]
    pub result: Value,
    #[serde(default)]
    pub result_info: Option<Value>,
}

impl Client {
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// From the variables the official SDKs read: `CLOUDFLARE_API_TOKEN`, or
    /// `CLOUDFLARE_EMAIL` with `CLOUDFLARE_API_KEY`; and `CLOUDFLARE_BASE_URL`.
    pub fn from_env() -> Result<Client, Error> {
        Self::builder_from_env()?.build()
    }

    /// A builder filled from the environment, for more settings before `build`.
    pub fn builder_from_env() -> Result<ClientBuilder, Error> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let credentials = match (
            var("CLOUDFLARE_API_TOKEN"),
            var("CLOUDFLARE_EMAIL"),
            var("CLOUDFLARE_API_KEY"),
        ) {
            (Some(token), _, _) => Credentials::Token(token),
            (None, Some(email), Some(key)) => Credentials::Key { email, key },
            _ => {
                return Err(Error::Config(
                    "set CLOUDFLARE_API_TOKEN, or CLOUDFLARE_EMAIL and CLOUDFLARE_API_KEY".into(),
                ))
            }
        };
        let mut builder = Client::builder().credentials(credentials);
        if let Some(url) = var("CLOUDFLARE_BASE_URL") {
            builder = builder.base_url(url);
        }
        Ok(builder)
    }

    /// The Spectrum endpoints.
    pub fn spectrum(&self) -> Spectrum<'_> {
        Spectrum::new(self)
    }

    /// A zone's IP Access Rules.
    pub fn access_rules(&self) -> AccessRules<'_> {
        AccessRules { client: self }
    }

    /// A zone's DNS records.
    pub fn dns_records(&self) -> DnsRecords<'_> {
        DnsRecords { client: self }
    }

    /// The id of the zone named `name` (`GET /zones?name=`), if the credentials can see it.
    pub async fn zone_id(&self, name: &str) -> Result<Option<String>, Error> {
        let envelope = self
            .send(Method::GET, "/zones", &[("name", name.to_owned())], None)
            .await?;
        Ok(envelope
            .result
            .as_array()
            .and_then(|zones| zones.first())
            .and_then(|z| z["id"].as_str())
            .map(str::to_owned))
    }

    /// Every item of the list at `path`, `per_page` at a time, until a short page; each item
    /// decoded as `T` (`what` names it in errors).
    pub(crate) async fn every_page<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        per_page: u32,
        what: &str,
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        for page in 1.. {
            let query = [
                ("page", page.to_string()),
                ("per_page", per_page.to_string()),
            ];
            let items = match self.send(Method::GET, path, &query, None).await?.result {
                Value::Array(items) => items,
                Value::Null => Vec::new(),
                other => return Err(Error::InvalidResponse(format!("a list answered {other}"))),
            };
            let count = items.len();
            for item in items {
                out.push(
                    serde_json::from_value(item)
                        .map_err(|e| Error::InvalidResponse(format!("{what}: {e}")))?,
                );
            }
            if count < per_page as usize {
                break;
            }
        }
        Ok(out)
    }

    /// Sends one API request, retrying by the SDKs' rules, and unwraps the envelope.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Envelope, Error> {
        let url = format!("{}{path}", self.base);
        let mut retry = 0;
        loop {
            let mut request = self.http.request(method.clone(), &url).query(query);
            request = match &self.credentials {
                Credentials::Token(token) => request.bearer_auth(token),
                Credentials::Key { email, key } => request
                    .header("X-Auth-Email", email)
                    .header("X-Auth-Key", key),
            };
            if let Some(body) = body {
                request = request.json(body);
            }
            let delay = match request.send().await {
                Err(error)
                    if retry < self.max_retries
                        && (error.is_connect() || error.is_timeout() || error.is_request()) =>
                {
                    tracing::debug!(%method, path, retry, %error, "request failed; retrying");
                    retry::backoff(retry, rand::random())
                }
                Err(error) => return Err(Error::Connection(error)),
                Ok(response) if response.status().is_success() => {
                    return Self::envelope(response).await
                }
                Ok(response)
                    if retry < self.max_retries
                        && retry::should_retry(response.status(), response.headers()) =>
                {
                    let delay = retry::server_delay(response.headers(), SystemTime::now())
                        .unwrap_or_else(|| retry::backoff(retry, rand::random()));
                    tracing::debug!(%method, path, retry, status = response.status().as_u16(), "retrying");
                    delay
                }
                Ok(response) => return Err(Self::failure(response).await),
            };
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    async fn envelope(response: reqwest::Response) -> Result<Envelope, Error> {
        let text = response.text().await.map_err(Error::Connection)?;
        serde_json::from_str(&text)
            .map_err(|e| Error::InvalidResponse(format!("not a JSON envelope: {e}")))
    }

    async fn failure(response: reqwest::Response) -> Error {
        #[derive(Deserialize)]
        struct Failure {
            #[serde(default)]
            errors: Vec<Message>,
        }
        let status: StatusCode = response.status();
        let errors = response
            .json::<Failure>()
            .await
            .map(|f| f.errors)
            .unwrap_or_default();
        Error::from_status(ApiError {
            status: status.as_u16(),
            errors,
        })
    }
}
