//! Who may call the API: API tokens with permissions over zones, and users with a global key.

use chrono::{DateTime, Utc};

crate::choice::choice! {
    /// A token permission, named as on the CLI (`--permission zone-settings-write`).
    Permission {
        ZoneSettingsRead = "zone-settings-read",
        ZoneSettingsWrite = "zone-settings-write",
        AnalyticsRead = "analytics-read",
        ZoneWrite = "zone-write",
        SslCertificatesRead = "ssl-certificates-read",
        SslCertificatesWrite = "ssl-certificates-write",
    }
}

impl Permission {
    /// Cloudflare's name of the permission group.
    pub fn display_name(self) -> &'static str {
        match self {
            Permission::ZoneSettingsRead => "Zone Settings Read",
            Permission::ZoneSettingsWrite => "Zone Settings Write",
            Permission::AnalyticsRead => "Analytics Read",
            Permission::ZoneWrite => "Zone Write",
            Permission::SslCertificatesRead => "SSL and Certificates Read",
            Permission::SslCertificatesWrite => "SSL and Certificates Write",
        }
    }

    /// Whether holding `self` grants `wanted`: a write permission also grants its read.
    pub fn grants(self, wanted: Permission) -> bool {
        self == wanted
            || matches!(
                (self, wanted),
                (Permission::ZoneSettingsWrite, Permission::ZoneSettingsRead)
                    | (
                        Permission::SslCertificatesWrite,
                        Permission::SslCertificatesRead
                    )
                    // Spectra's choice: who may read an app's settings may read its traffic.
                    | (Permission::ZoneSettingsRead, Permission::AnalyticsRead)
                    | (Permission::ZoneSettingsWrite, Permission::AnalyticsRead)
            )
    }
}

/// An API token's public part (its secret is only ever stored as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub name: String,
    pub permissions: Vec<Permission>,
    /// The zone ids the token covers; `None` covers every zone, present and future.
    pub zones: Option<Vec<String>>,
    pub revoked: bool,
    pub created_on: DateTime<Utc>,
}

impl Token {
    pub fn covers_zone(&self, zone_id: &str) -> bool {
        self.zones
            .as_ref()
            .is_none_or(|zones| zones.iter().any(|z| z == zone_id))
    }

    pub fn has(&self, wanted: Permission) -> bool {
        self.permissions.iter().any(|p| p.grants(wanted))
    }
}

/// A user, who authenticates with `X-Auth-Email` and the global `X-Auth-Key` and may do anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub created_on: DateTime<Utc>,
}
