//! `client.spectrum().apps()` and `.protocols()`: the Spectrum endpoints, with auto-paging lists.

use crate::{Client, Envelope, Error};
use futures_util::stream::{self, Stream, TryStreamExt};
use model::{App, AppConfig, AppOrder, Direction, ListenerStatus, Transport};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use std::net::IpAddr;

/// The Spectrum endpoints of a [`Client`].
#[derive(Debug, Clone, Copy)]
pub struct Spectrum<'a> {
    client: &'a Client,
}

impl<'a> Spectrum<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Spectrum { client }
    }

    pub fn apps(&self) -> Apps<'a> {
        Apps {
            client: self.client,
        }
    }

    pub fn analytics(&self) -> crate::Analytics<'a> {
        crate::Analytics {
            client: self.client,
        }
    }

    pub fn protocols(&self) -> Protocols<'a> {
        Protocols {
            client: self.client,
        }
    }
}

/// `GET /zones/{zone}/spectrum/apps` parameters. Unset ones are not sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListParams {
    pub order: Option<AppOrder>,
    pub direction: Option<Direction>,
    /// The first page to fetch; auto-paging goes on from it.
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// One page of apps and what `result_info` said about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub apps: Vec<App>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    pub total_count: Option<u64>,
}

/// A protocol of `GET /zones/{zone}/spectrum/protocols`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProtocolInfo {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub transport: String,
    #[serde(default)]
    pub ports: Vec<u16>,
}

/// The Spectrum apps of zones.
#[derive(Debug, Clone, Copy)]
pub struct Apps<'a> {
    client: &'a Client,
}

fn path(zone_id: &str, rest: &str) -> String {
    format!("/zones/{zone_id}/spectrum/apps{rest}")
}

fn app(zone_id: &str, envelope: Envelope) -> Result<App, Error> {
    App::from_api_json(zone_id, envelope.result).map_err(|e| Error::InvalidResponse(e.message))
}

fn config_json(config: &AppConfig) -> Value {
    serde_json::to_value(config).expect("an AppConfig is always JSON")
}

impl<'a> Apps<'a> {
    /// `POST /zones/{zone_id}/spectrum/apps`.
    pub async fn create(&self, zone_id: &str, config: &AppConfig) -> Result<App, Error> {
        let body = config_json(config);
        app(
            zone_id,
            self.client
                .send(Method::POST, &path(zone_id, ""), &[], Some(&body))
                .await?,
        )
    }

    /// `PUT /zones/{zone_id}/spectrum/apps/{app_id}`: replaces the whole configuration.
    pub async fn update(
        &self,
        zone_id: &str,
        app_id: &str,
        config: &AppConfig,
    ) -> Result<App, Error> {
        let body = config_json(config);
        let envelope = self
            .client
            .send(
                Method::PUT,
                &path(zone_id, &format!("/{app_id}")),
                &[],
                Some(&body),
            )
            .await?;
        app(zone_id, envelope)
    }

    /// `GET /zones/{zone_id}/spectrum/apps/{app_id}`.
    pub async fn get(&self, zone_id: &str, app_id: &str) -> Result<App, Error> {
        app(
            zone_id,
            self.client
                .send(
                    Method::GET,
                    &path(zone_id, &format!("/{app_id}")),
                    &[],
                    None,
                )
                .await?,
        )
    }

    /// `DELETE /zones/{zone_id}/spectrum/apps/{app_id}`; returns the deleted app's id.
    pub async fn delete(&self, zone_id: &str, app_id: &str) -> Result<String, Error> {
        let envelope = self
            .client
            .send(
                Method::DELETE,
                &path(zone_id, &format!("/{app_id}")),
                &[],
                None,
            )
            .await?;
        Ok(envelope.result["id"].as_str().unwrap_or(app_id).to_owned())
    }

    /// One page of the list, as asked.
    pub async fn list_page(&self, zone_id: &str, params: ListParams) -> Result<Page, Error> {
        let mut query = Vec::new();
        if let Some(order) = params.order {
            query.push(("order", order.as_str().to_owned()));
        }
        if let Some(direction) = params.direction {
            query.push(("direction", direction.as_str().to_owned()));
        }
        if let Some(page) = params.page {
            query.push(("page", page.to_string()));
        }
        if let Some(per_page) = params.per_page {
            query.push(("per_page", per_page.to_string()));
        }
        let envelope = self
            .client
            .send(Method::GET, &path(zone_id, ""), &query, None)
            .await?;
        let info = envelope.result_info.unwrap_or_default();
        let items = match envelope.result {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => return Err(Error::InvalidResponse(format!("a list answered {other}"))),
        };
        let apps = items
            .into_iter()
            .map(|item| {
                App::from_api_json(zone_id, item).map_err(|e| Error::InvalidResponse(e.message))
            })
            .collect::<Result<_, _>>()?;
        Ok(Page {
            apps,
            page: info["page"].as_u64(),
            per_page: info["per_page"].as_u64(),
            total_count: info["total_count"].as_u64(),
        })
    }

    /// Every app of the zone, fetching pages as the official SDKs do: the next page is the
    /// page asked (or 1) plus one, until a page comes back empty.
    pub fn list(
        &self,
        zone_id: &str,
        params: ListParams,
    ) -> impl Stream<Item = Result<App, Error>> + 'a {
        let apps = *self;
        let zone_id = zone_id.to_owned();
        let pages = stream::try_unfold(Some(params), move |next| {
            let zone_id = zone_id.clone();
            async move {
                let Some(params) = next else { return Ok(None) };
                let page = apps.list_page(&zone_id, params).await?;
                let after = (!page.apps.is_empty()).then(|| ListParams {
                    page: Some(params.page.unwrap_or(1) + 1),
                    ..params
                });
                Ok::<_, Error>(Some((stream::iter(page.apps.into_iter().map(Ok)), after)))
            }
        });
        pages.try_flatten()
    }

    /// Where the app listens and how each listener is doing: `GET .../apps/{app_id}/status`,
    /// a Spectra extension (Cloudflare answers 404).
    pub async fn status(
        &self,
        zone_id: &str,
        app_id: &str,
    ) -> Result<(Vec<IpAddr>, Vec<ListenerStatus>), Error> {
        let envelope = self
            .client
            .send(
                Method::GET,
                &path(zone_id, &format!("/{app_id}/status")),
                &[],
                None,
            )
            .await?;
        let bad = |what: &str| Error::InvalidResponse(format!("status: {what}"));
        let edge_ips = envelope.result["edge_ips"]
            .as_array()
            .ok_or_else(|| bad("no edge_ips"))?
            .iter()
            .map(|ip| {
                ip.as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad("an edge IP is not an address"))
            })
            .collect::<Result<_, _>>()?;
        let listeners = envelope.result["listeners"]
            .as_array()
            .ok_or_else(|| bad("no listeners"))?
            .iter()
            .map(|l| {
                Ok(ListenerStatus {
                    address: l["address"]
                        .as_str()
                        .and_then(|a| a.parse().ok())
                        .ok_or_else(|| bad("a listener address"))?,
                    transport: Transport::parse_field(
                        l["transport"].as_str().unwrap_or(""),
                        "transport",
                    )
                    .map_err(|e| bad(&e.message))?,
                    error: l["error"].as_str().map(str::to_owned),
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok((edge_ips, listeners))
    }
}

/// The protocols a zone's apps may name.
#[derive(Debug, Clone, Copy)]
pub struct Protocols<'a> {
    client: &'a Client,
}

impl Protocols<'_> {
    /// `GET /zones/{zone_id}/spectrum/protocols`.
    pub async fn list(&self, zone_id: &str) -> Result<Vec<ProtocolInfo>, Error> {
        let envelope = self
            .client
            .send(
                Method::GET,
                &format!("/zones/{zone_id}/spectrum/protocols"),
                &[],
                None,
            )
            .await?;
        serde_json::from_value(envelope.result).map_err(|e| Error::InvalidResponse(e.to_string()))
    }
}
