//! The analytics API's `filters` grammar: comparisons of a dimension with a value (`==`, `!=`,
//! `>`, `<`, `>=`, `<=`) joined by AND (`;` or ` AND `) and OR (`,` or ` OR `), AND binding
//! tighter. Parsed once per query, then matched against every series.

use super::event::{EventKind, SeriesKey};
use super::fields::{one_of, Dimension};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
}

/// Longest first, so `>=` is not read as `>` followed by `=value`.
const OPS: [(&str, Op); 6] = [
    ("==", Op::Eq),
    ("!=", Op::Ne),
    (">=", Op::Ge),
    ("<=", Op::Le),
    (">", Op::Gt),
    ("<", Op::Lt),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub dimension: Dimension,
    pub op: Op,
    pub value: String,
}

/// An OR of ANDs of comparisons; the empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub any_of: Vec<Vec<Comparison>>,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, String> {
        if text.trim().is_empty() {
            return Ok(Filter::default());
        }
        let any_of = split(text, ',', " OR ")
            .into_iter()
            .map(|clause| {
                split(clause, ';', " AND ")
                    .into_iter()
                    .map(comparison)
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter { any_of })
    }

    pub fn matches(&self, key: &SeriesKey) -> bool {
        self.any_of.is_empty()
            || self
                .any_of
                .iter()
                .any(|all| all.iter().all(|c| c.matches(key)))
    }
}

/// `text` split at every `symbol` and every `word`.
fn split<'a>(text: &'a str, symbol: char, word: &str) -> Vec<&'a str> {
    text.split(symbol)
        .flat_map(|part| part.split(word))
        .collect()
}

fn comparison(text: &str) -> Result<Comparison, String> {
    let text = text.trim();
    let (at, op_text, op) = OPS
        .iter()
        .filter_map(|(s, op)| text.find(s).map(|at| (at, *s, *op)))
        .min_by_key(|(at, s, _)| (*at, std::cmp::Reverse(s.len())))
        .ok_or_else(|| format!("filter `{text}` has no comparison (==, !=, >, <, >= or <=)"))?;
    let (name, value) = (text[..at].trim(), text[at + op_text.len()..].trim());
    let dimension = Dimension::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Dimension::ALL.iter().map(|d| d.as_str()).collect();
        format!(
            "filter `{text}`: unknown dimension `{name}`; filters compare {}",
            one_of(&names)
        )
    })?;
    if value.is_empty() {
        return Err(format!("filter `{text}` has no value after `{op_text}`"));
    }
    match dimension {
        Dimension::Event if EventKind::parse(value).is_none() => {
            let names: Vec<&str> = EventKind::ALL.iter().map(|e| e.as_str()).collect();
            return Err(format!(
                "filter `{text}`: unknown event `{value}`; events are {}",
                one_of(&names)
            ));
        }
        Dimension::IpVersion if value.parse::<u8>().is_err() => {
            return Err(format!("filter `{text}`: ipVersion is 4 or 6"));
        }
        _ => {}
    }
    Ok(Comparison {
        dimension,
        op,
        value: value.to_owned(),
    })
}

impl Comparison {
    fn matches(&self, key: &SeriesKey) -> bool {
        let ordering = match self.dimension {
            Dimension::IpVersion => key
                .ip_version
                .cmp(&self.value.parse::<u8>().unwrap_or_default()),
            Dimension::Event => key.event.as_str().cmp(self.value.as_str()),
            Dimension::AppId => key.app_id.as_str().cmp(self.value.as_str()),
            Dimension::ColoName => key.colo.as_str().cmp(self.value.as_str()),
        };
        match self.op {
            Op::Eq => ordering == Ordering::Equal,
            Op::Ne => ordering != Ordering::Equal,
            Op::Gt => ordering == Ordering::Greater,
            Op::Lt => ordering == Ordering::Less,
            Op::Ge => ordering != Ordering::Less,
            Op::Le => ordering != Ordering::Greater,
        }
    }
}
