//! The publication turned into DNS records, ready to answer from: each served zone's `SOA` and
//! `NS`, each hostname's `A` and `AAAA` (built once per change, not per query). No I/O.

use hickory_proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record};
use model::Publication;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::str::FromStr;

/// What every zone's apex says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSettings {
    /// TTL of every record, and the negative-caching TTL of the `SOA`.
    pub ttl: u32,
    /// The `NS` names (the first is the `SOA`'s primary); never empty.
    pub nameservers: Vec<Name>,
}

impl ZoneSettings {
    /// Settings with `nameservers` given as text (`ns1.example.net`), made absolute.
    pub fn new(ttl: u32, nameservers: &[String]) -> Result<ZoneSettings, String> {
        let nameservers = nameservers
            .iter()
            .map(|n| {
                Name::from_str(n)
                    .map(|mut name| {
                        name.set_fqdn(true);
                        name
                    })
                    .map_err(|e| format!("\"{n}\" is not a DNS name: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if nameservers.is_empty() {
            return Err("at least one name server is needed".into());
        }
        Ok(ZoneSettings { ttl, nameservers })
    }
}

/// A served zone's apex records.
#[derive(Debug)]
pub struct Apex {
    pub soa: Record,
    pub ns: Vec<Record>,
}

/// One hostname's address records.
#[derive(Debug, Default)]
pub struct Host {
    pub a: Vec<Record>,
    pub aaaa: Vec<Record>,
}

/// Every record the server answers with.
#[derive(Debug, Default)]
pub struct ZoneData {
    pub apexes: HashMap<LowerName, Apex>,
    pub hosts: HashMap<LowerName, Host>,
    /// Names with nothing of their own but names below them (empty non-terminals): `NODATA`,
    /// not `NXDOMAIN`.
    pub interior: HashSet<LowerName>,
    /// The longest apex, in labels: how far up a name is looked up for its zone.
    pub deepest_apex: usize,
}

fn absolute(text: &str) -> Option<Name> {
    let mut name = Name::from_str(text).ok()?;
    name.set_fqdn(true);
    Some(name)
}

impl ZoneData {
    /// The records of `publication`, with `serial` in every `SOA`.
    pub fn build(publication: &Publication, settings: &ZoneSettings, serial: u32) -> ZoneData {
        let mut data = ZoneData::default();
        let ttl = settings.ttl;
        for zone in publication.zones.values() {
            let Some(apex) = absolute(&zone.name) else {
                continue;
            };
            let key = LowerName::new(&apex);
            data.deepest_apex = data.deepest_apex.max(apex.num_labels() as usize);
            if !data.apexes.contains_key(&key) {
                let hostmaster = Name::from_ascii("hostmaster")
                    .and_then(|h| h.append_domain(&apex))
                    .unwrap_or_else(|_| apex.clone());
                let soa = SOA::new(
                    settings.nameservers[0].clone(),
                    hostmaster,
                    serial,
                    3600,
                    600,
                    604_800,
                    ttl,
                );
                let ns = settings
                    .nameservers
                    .iter()
                    .map(|n| Record::from_rdata(apex.clone(), ttl, RData::NS(NS(n.clone()))))
                    .collect();
                let soa = Record::from_rdata(apex.clone(), ttl, RData::SOA(soa));
                data.apexes.insert(key.clone(), Apex { soa, ns });
            }
            for (host, addresses) in &zone.hosts {
                let Some(name) = absolute(host) else {
                    continue;
                };
                let lower = LowerName::new(&name);
                let mut parent = lower.base_name();
                while parent.num_labels() > key.num_labels() {
                    data.interior.insert(parent.clone());
                    parent = parent.base_name();
                }
                let entry = data.hosts.entry(lower).or_default();
                for ip in addresses {
                    match ip {
                        IpAddr::V4(v4) => {
                            entry
                                .a
                                .push(Record::from_rdata(name.clone(), ttl, RData::A(A(*v4))))
                        }
                        IpAddr::V6(v6) => entry.aaaa.push(Record::from_rdata(
                            name.clone(),
                            ttl,
                            RData::AAAA(AAAA(*v6)),
                        )),
                    }
                }
            }
        }
        data
    }

    /// The apex of the deepest served zone that holds `name`.
    pub fn zone_of(&self, name: &LowerName) -> Option<(&LowerName, &Apex)> {
        let mut candidate = name.clone();
        loop {
            if (candidate.num_labels() as usize) <= self.deepest_apex {
                if let Some((apex, records)) = self.apexes.get_key_value(&candidate) {
                    return Some((apex, records));
                }
            }
            if candidate.is_root() {
                return None;
            }
            candidate = candidate.base_name();
        }
    }
}
