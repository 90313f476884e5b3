//! A zone's DNS records: `GET /zones/{zone_id}/dns_records`, every page.

use crate::{Client, Error};
use serde::Deserialize;

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
        let path = format!("/zones/{zone_id}/dns_records");
        self.client
            .every_page(&path, PER_PAGE, "a DNS record")
            .await
    }
}
