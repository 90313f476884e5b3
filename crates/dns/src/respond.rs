//! One response to one request: the header, the answer and the size rules of its transport,
//! shared by the UDP loop and hickory-server's TCP front end. No I/O.

use crate::answer::{answer, wire_len, Answer};
use crate::zone_data::ZoneData;
use hickory_proto::op::{Edns, Header, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Record};
use hickory_proto::xfer::Protocol;
use hickory_server::authority::{MessageResponse, MessageResponseBuilder};
use hickory_server::server::Request;
use std::vec::IntoIter;

/// The largest UDP answer sent, whatever the client offers (the DNS flag day 2020 value).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// A response whose sections are plain lists.
pub type Response<'q, 'a> = MessageResponse<
    'q,
    'a,
    IntoIter<&'a Record>,
    IntoIter<&'a Record>,
    IntoIter<&'a Record>,
    IntoIter<&'a Record>,
>;

/// What a request gets: its header, and the answer when it was a query that could be answered.
pub struct Decision<'a> {
    header: Header,
    edns: Option<Edns>,
    found: Option<Answer<'a>>,
}

/// Decides the response to `request` from `data`; `rotation` picks the address that leads.
pub fn decide<'a>(request: &Request, data: &'a ZoneData, rotation: usize) -> Decision<'a> {
    let mut header = Header::response_from_request(request.header());
    header.set_recursion_available(false);
    let mut edns = None;
    let limit = match (request.protocol(), request.edns()) {
        (Protocol::Udp, Some(e)) => e.max_payload().clamp(512, MAX_UDP_PAYLOAD) as usize,
        (Protocol::Udp, None) => 512,
        _ => u16::MAX as usize,
    };
    if let Some(theirs) = request.edns() {
        let mut ours = Edns::new();
        ours.set_max_payload(MAX_UDP_PAYLOAD).set_version(0);
        if theirs.version() > 0 {
            // RFC 6891: only version 0 exists.
            ours.set_rcode_high(ResponseCode::BADVERS.high());
            header.set_response_code(ResponseCode::BADVERS);
            return Decision {
                header,
                edns: Some(ours),
                found: None,
            };
        }
        edns = Some(ours);
    }
    let code = match (request.message_type(), request.op_code(), request.queries()) {
        (MessageType::Query, OpCode::Query, [query]) => match query.query_class() {
            DNSClass::IN | DNSClass::ANY => ResponseCode::NoError,
            _ => ResponseCode::Refused,
        },
        (MessageType::Query, OpCode::Query, _) => ResponseCode::FormErr,
        _ => ResponseCode::NotImp,
    };
    if code != ResponseCode::NoError {
        header.set_response_code(code);
        return Decision {
            header,
            edns,
            found: None,
        };
    }
    let query = &request.queries()[0];
    let found = answer(data, query.name(), query.query_type(), rotation);
    header.set_authoritative(found.authoritative);
    header.set_response_code(found.code);
    let question_len = wire_len(&query.name().into()) + 4;
    if found.size_bound(question_len, edns.is_some()) > limit {
        // Too big for this UDP client: it retries over TCP (RFC 7766).
        header.set_truncated(true);
        return Decision {
            header,
            edns,
            found: None,
        };
    }
    Decision {
        header,
        edns,
        found: Some(found),
    }
}

impl<'a> Decision<'a> {
    /// The response message, ready to encode.
    pub fn response<'q>(&'a self, request: &'q Request) -> Response<'q, 'a> {
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &self.edns {
            builder.edns(edns.clone());
        }
        let (answers, soa) = match &self.found {
            Some(found) => {
                let answers: Vec<&Record> = found
                    .answers
                    .iter()
                    .copied()
                    .chain(found.synthesized.as_ref())
                    .collect();
                (answers, found.soa.into_iter().collect())
            }
            None => (Vec::new(), Vec::new()),
        };
        builder.build(self.header, answers, Vec::new(), soa, Vec::new())
    }
}
