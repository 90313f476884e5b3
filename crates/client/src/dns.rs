//! A zone's DNS records: `GET /zones/{zone_id}/dns_records`, every page.

use crate::{Client, Error};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

/// One DNS record, with the fields every type shares.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DnsRecord {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub content: String,
    pub ttl: u32,
}

/// The zone's DNS records.
#[derive(Debug, Clone, Copy)]
pub struct DnsRecords<'a> {
    pub(crate) client: &'a Client,
}

/// Records asked for at a time.
const PER_PAGE: u32 = 1000;

impl DnsRecords<'_> {
    /// Every record of `zone_id`, page after page until a short one.
    pub async fn list(&self, zone_id: &str) -> Result<Vec<DnsRecord>, Error> {
        let mut out = Vec::new();
        for page in 1.. {
            let query = [
                ("page", page.to_string()),
                ("per_page", PER_PAGE.to_string()),
            ];
            let envelope = self
                .client
                .send(
                    Method::GET,
                    &format!("/zones/{zone_id}/dns_records"),
                    &query,
                    None,
                )
                .await?;
            let items: Vec<Value> = match envelope.result {
                Value::Array(items) => items,
                Value::Null => Vec::new(),
                other => return Err(Error::InvalidResponse(format!("a list answered {other}"))),
            };
            let count = items.len();
            for item in items {
                out.push(
                    serde_json::from_value(item)
                        .map_err(|e| Error::InvalidResponse(format!("a DNS record: {e}")))?,
                );
            }
            if count < PER_PAGE as usize {
                break;
            }
        }
        Ok(out)
    }
}
