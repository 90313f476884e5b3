//! A zone's IP Access Rules: `/zones/{zone_id}/firewall/access_rules/rules`, the rules that
//! apps with `ip_firewall` apply to their clients.

use crate::{Client, Error};
use model::{AccessRuleMode, RuleTarget};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

/// What a rule matches: `ip`, `ip_range`, `ip6`, `asn` or `country`, and the value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Configuration {
    pub target: String,
    pub value: String,
}

/// A zone's access rule, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rule {
    pub id: String,
    pub mode: String,
    pub configuration: Configuration,
    #[serde(default)]
    pub notes: String,
    pub created_on: String,
    pub modified_on: String,
}

/// A rule to create: its mode, target and value, and notes.
#[derive(Debug, Clone)]
pub struct NewRule {
    pub mode: AccessRuleMode,
    pub target: RuleTarget,
    pub value: String,
    pub notes: String,
}

/// The zone's access rules.
#[derive(Debug, Clone, Copy)]
pub struct AccessRules<'a> {
    pub(crate) client: &'a Client,
}

/// Rules asked for at a time.
const PER_PAGE: u32 = 1000;

fn path(zone_id: &str) -> String {
    format!("/zones/{zone_id}/firewall/access_rules/rules")
}

fn rule(value: Value) -> Result<Rule, Error> {
    serde_json::from_value(value)
        .map_err(|e| Error::InvalidResponse(format!("an access rule: {e}")))
}

impl AccessRules<'_> {
    /// Every rule of the zone, page after page until a short one.
    pub async fn list(&self, zone_id: &str) -> Result<Vec<Rule>, Error> {
        self.client
            .every_page(&path(zone_id), PER_PAGE, "an access rule")
            .await
    }

    pub async fn create(&self, zone_id: &str, new: &NewRule) -> Result<Rule, Error> {
        let body = json!({
            "mode": new.mode.as_str(),
            "configuration": {"target": new.target.as_str(), "value": new.value},
            "notes": new.notes,
        });
        let envelope = self
            .client
            .send(Method::POST, &path(zone_id), &[], Some(&body))
            .await?;
        rule(envelope.result)
    }

    pub async fn get(&self, zone_id: &str, rule_id: &str) -> Result<Rule, Error> {
        let at = format!("{}/{rule_id}", path(zone_id));
        rule(self.client.send(Method::GET, &at, &[], None).await?.result)
    }

    /// Changes a rule's mode and notes (its target and value stay).
    pub async fn edit(
        &self,
        zone_id: &str,
        rule_id: &str,
        mode: AccessRuleMode,
        notes: &str,
    ) -> Result<Rule, Error> {
        let at = format!("{}/{rule_id}", path(zone_id));
        let body = json!({"mode": mode.as_str(), "notes": notes});
        rule(
            self.client
                .send(Method::PATCH, &at, &[], Some(&body))
                .await?
                .result,
        )
    }

    /// Deletes a rule; returns its id.
    pub async fn delete(&self, zone_id: &str, rule_id: &str) -> Result<String, Error> {
        let at = format!("{}/{rule_id}", path(zone_id));
        let envelope = self.client.send(Method::DELETE, &at, &[], None).await?;
        Ok(envelope.result["id"].as_str().unwrap_or(rule_id).to_owned())
    }
}
