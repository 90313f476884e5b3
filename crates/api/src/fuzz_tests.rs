//! Property tests over the API's parsers of query strings and of `--api-rate-limit`: whatever
//! arrives, an answer or a 400, never a panic. `PROPTEST_CASES` sets the number of cases.

use crate::extract::Query;
use crate::rate_limit::RateLimit;
use model::{AccessRule, RuleFields};
use proptest::prelude::*;

/// `key=value` pairs with the keys the list endpoints read, values arbitrary and percent-encoded,
/// or raw text.
fn query_string() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "page",
            "per_page",
            "order",
            "direction",
            "mode",
            "notes",
            "match",
            "configuration.target",
            "configuration.value",
            "configuration[target]",
            "configuration[value]",
            "name",
            "status",
        ])
        .prop_map(str::to_owned),
        "[a-z_.\\[\\]]{0,10}",
    ];
    let value = prop_oneof![
        "-?[0-9]{0,12}(\\.[0-9]{0,3})?(e[0-9]{1,3})?",
        prop::sample::select(vec![
            "asc", "desc", "all", "any", "block", "ip", "country", "NaN", "inf"
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ];
    let pairs = prop::collection::vec((key, value), 0..6)
        .prop_map(|pairs| serde_urlencoded::to_string(pairs).expect("pairs of strings encode"));
    prop_oneof![4 => pairs, 1 => any::<String>(), 1 => "[%&=+a-z0-9]{0,30}"]
}

fn rules() -> Vec<AccessRule> {
    let json = [
        serde_json::json!({"mode": "block", "configuration": {"target": "ip", "value": "192.0.2.1"}, "notes": "a"}),
        serde_json::json!({"mode": "whitelist", "configuration": {"target": "country", "value": "DE"}}),
    ];
    json.iter()
        .enumerate()
        .map(|(i, body)| AccessRule {
            id: format!("{i:032x}"),
            zone_id: "0".repeat(32),
            fields: RuleFields::from_json(body).unwrap(),
            created_on: chrono::Utc::now(),
            modified_on: chrono::Utc::now(),
        })
        .collect()
}

proptest! {
    #[test]
    fn a_list_query_is_read_or_refused(raw in query_string()) {
        if let Ok(query) = Query::parse(Some(&raw)) {
            if let Ok((page, per_page)) = query.paging(20, 1000) {
                prop_assert!(page >= 1 && (1..=1000).contains(&per_page));
            }
            if let Ok(list) = crate::apps::list_query(&query) {
                prop_assert!(list.page >= 1 && list.per_page >= 1);
            }
            if let Ok(selected) = crate::access_rules::select(rules(), &query) {
                prop_assert!(selected.len() <= 2);
            }
        }
    }

    #[test]
    fn a_rate_limit_is_read_or_refused(text in prop_oneof!["[0-9]{0,12}/[0-9]{0,12}[smhd ]?", any::<String>()]) {
        if let Ok(limit) = text.parse::<RateLimit>() {
            prop_assert!(limit.requests > 0 && !limit.period.is_zero());
        }
    }
}
