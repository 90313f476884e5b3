//! Which records an update adds and removes: what is published, against what Spectra added
//! before and still owns. Records it never added are never named. No I/O.

use model::Publication;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Address records by zone name: (hostname, address), names lower-case without the final dot.
pub type Records = BTreeMap<String, BTreeSet<(String, IpAddr)>>;

/// One zone's changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneUpdate {
    pub zone: String,
    pub add: Vec<(String, IpAddr)>,
    pub remove: Vec<(String, IpAddr)>,
}

/// The records `publication` publishes, by zone name (zones of one name merge).
pub fn desired(publication: &Publication) -> Records {
    let mut out = Records::new();
    for zone in publication.zones.values() {
        let records = out.entry(zone.name.clone()).or_default();
        for (host, addresses) in &zone.hosts {
            records.extend(addresses.iter().map(|ip| (host.clone(), *ip)));
        }
    }
    out
}

/// The updates that take the server from `owned` to `desired`. With `full`, every desired
/// record is added again (a no-op where it is there), which restores one removed by hand.
pub fn plan(owned: &Records, desired: &Records, full: bool) -> Vec<ZoneUpdate> {
    let empty = BTreeSet::new();
    let zones: BTreeSet<&String> = owned.keys().chain(desired.keys()).collect();
    zones
        .into_iter()
        .filter_map(|zone| {
            let have = owned.get(zone).unwrap_or(&empty);
            let want = desired.get(zone).unwrap_or(&empty);
            let add: Vec<_> = if full {
                want.iter().cloned().collect()
            } else {
                want.difference(have).cloned().collect()
            };
            let remove: Vec<_> = have.difference(want).cloned().collect();
            (!add.is_empty() || !remove.is_empty()).then(|| ZoneUpdate {
                zone: zone.clone(),
                add,
                remove,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(list: &[(&str, &str, &str)]) -> Records {
        let mut out = Records::new();
        for (zone, host, ip) in list {
            out.entry(zone.to_string())
                .or_default()
                .insert((host.to_string(), ip.parse().unwrap()));
        }
        out
    }

    #[test]
    fn adds_what_is_new_and_removes_only_what_it_owns() {
        let owned = records(&[
            ("example.com", "a.example.com", "127.0.1.1"),
            ("example.com", "b.example.com", "127.0.1.2"),
            ("gone.org", "x.gone.org", "127.0.1.9"),
        ]);
        let desired = records(&[
            ("example.com", "a.example.com", "127.0.1.1"),
            ("example.com", "b.example.com", "127.0.1.3"),
            ("new.net", "n.new.net", "::1"),
        ]);
        let updates = plan(&owned, &desired, false);
        assert_eq!(updates.len(), 3);
        assert_eq!(updates[0].zone, "example.com");
        assert_eq!(
            updates[0].add,
            [("b.example.com".into(), "127.0.1.3".parse().unwrap())]
        );
        assert_eq!(
            updates[0].remove,
            [("b.example.com".into(), "127.0.1.2".parse().unwrap())]
        );
        assert_eq!(updates[1].zone, "gone.org");
        assert!(updates[1].add.is_empty());
        assert_eq!(updates[2].zone, "new.net");
        assert!(updates[2].remove.is_empty());
        assert!(plan(&desired, &desired, false).is_empty());
        let full = plan(&desired, &desired, true);
        assert_eq!(full.iter().map(|u| u.add.len()).sum::<usize>(), 3);
    }
}
