//! How a query is answered from the zone data: the records, the response code and whether the
//! answer fits a UDP message. No I/O, so every rule is tested directly.

use crate::zone_data::ZoneData;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::HINFO;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

/// What goes back for one question.
#[derive(Debug)]
pub struct Answer<'a> {
    pub code: ResponseCode,
    /// Set for every name inside a served zone.
    pub authoritative: bool,
    pub answers: Vec<&'a Record>,
    /// The RFC 8482 `HINFO` an `ANY` query gets instead of every record of the name.
    pub synthesized: Option<Record>,
    /// The zone's `SOA`, for `NXDOMAIN` and empty answers (negative caching, RFC 2308).
    pub soa: Option<&'a Record>,
}

impl Answer<'_> {
    fn refused() -> Self {
        Answer {
            code: ResponseCode::Refused,
            authoritative: false,
            answers: Vec::new(),
            synthesized: None,
            soa: None,
        }
    }

    /// An upper bound of the encoded response's size, for a question of `question_len` bytes
    /// (names counted uncompressed, the OPT record counted when `edns`).
    pub fn size_bound(&self, question_len: usize, edns: bool) -> usize {
        let records = self.answers.iter().copied().chain(self.soa);
        let mut size = 12 + question_len + if edns { 11 } else { 0 };
        for record in records.chain(self.synthesized.as_ref()) {
            size += wire_len(record.name()) + 10 + rdata_len(record);
        }
        size
    }
}

/// A name's length on the wire, uncompressed.
pub fn wire_len(name: &Name) -> usize {
    name.iter().map(|label| label.len() + 1).sum::<usize>() + 1
}

fn rdata_len(record: &Record) -> usize {
    match record.data() {
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        RData::NS(ns) => wire_len(&ns.0),
        RData::SOA(soa) => wire_len(soa.mname()) + wire_len(soa.rname()) + 20,
        RData::HINFO(h) => 2 + h.cpu().len() + h.os().len(),
        _ => 512,
    }
}

/// `records` starting at `rotation` (modulo their number): each answer leads in turn.
fn rotated(records: &[Record], rotation: usize) -> Vec<&Record> {
    let n = records.len();
    (0..n).map(|i| &records[(i + rotation) % n]).collect()
}

/// The answer to `name`/`kind` (class IN). Names outside every served zone are refused (the
/// server does no recursion); unknown names inside one are `NXDOMAIN`; a name without records
/// of the type is an empty `NOERROR`, both with the zone's `SOA`.
pub fn answer<'a>(
    data: &'a ZoneData,
    name: &LowerName,
    kind: RecordType,
    rotation: usize,
) -> Answer<'a> {
    let Some((apex_name, apex)) = data.zone_of(name) else {
        return Answer::refused();
    };
    let at_apex = apex_name == name;
    let host = data.hosts.get(name);
    let mut out = Answer {
        code: ResponseCode::NoError,
        authoritative: true,
        answers: Vec::new(),
        synthesized: None,
        soa: None,
    };
    if !at_apex && host.is_none() && !data.interior.contains(name) {
        out.code = ResponseCode::NXDomain;
        out.soa = Some(&apex.soa);
        return out;
    }
    match kind {
        RecordType::A => out.answers = host.map_or(Vec::new(), |h| rotated(&h.a, rotation)),
        RecordType::AAAA => out.answers = host.map_or(Vec::new(), |h| rotated(&h.aaaa, rotation)),
        RecordType::SOA if at_apex => out.answers = vec![&apex.soa],
        RecordType::NS if at_apex => out.answers = apex.ns.iter().collect(),
        RecordType::ANY => {
            let hinfo = HINFO::new("RFC8482".into(), String::new());
            let ttl = apex.soa.ttl();
            out.synthesized = Some(Record::from_rdata(name.into(), ttl, RData::HINFO(hinfo)));
        }
        _ => {}
    }
    if out.answers.is_empty() && out.synthesized.is_none() {
        out.soa = Some(&apex.soa);
    }
    out
}
