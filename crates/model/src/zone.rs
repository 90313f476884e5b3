//! Zones: the domains apps are published under.

use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub id: String,
    pub name: String,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
}

/// Cloudflare's zone object, with the fields a self-hosted zone has.
impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("status", "active")?;
        map.serialize_entry("paused", &false)?;
        map.serialize_entry("type", "full")?;
        map.serialize_entry("development_mode", &0)?;
        map.serialize_entry("name_servers", &[] as &[&str])?;
        map.serialize_entry("account", &Named { name: "Spectra" })?;
        map.serialize_entry("owner", &Owner { kind: "user" })?;
        map.serialize_entry("plan", &Named { name: "Spectra" })?;
        map.serialize_entry("meta", &Empty {})?;
        map.serialize_entry("original_name_servers", &None::<()>)?;
        map.serialize_entry("created_on", &crate::timestamp(self.created_on))?;
        map.serialize_entry("modified_on", &crate::timestamp(self.modified_on))?;
        map.serialize_entry("activated_on", &crate::timestamp(self.created_on))?;
        map.end()
    }
}

#[derive(Serialize)]
struct Named {
    name: &'static str,
}

#[derive(Serialize)]
struct Owner {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Empty {}

/// Checks a new zone's name: a hostname, stored lower-case.
pub fn normalize_zone_name(name: &str) -> Result<String, crate::Invalid> {
    let lower = name.trim().to_ascii_lowercase();
    if crate::hostname::is_valid(&lower) && lower.parse::<std::net::IpAddr>().is_err() {
        Ok(lower)
    } else {
        Err(crate::Invalid::new(
            crate::codes::ZONE_NAME,
            format!("name: \"{name}\" is not a valid zone name (a domain such as example.com)"),
        ))
    }
}
