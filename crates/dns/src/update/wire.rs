//! One RFC 2136 UPDATE on the wire: the message (zone section, then additions and deletions of
//! single records), signed with TSIG when a key is given, sent over TCP, and the server's
//! answer read into a reason when it is not NOERROR.

use super::key::Key;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode, UpdateMessage};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one exchange may take, connection included.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an update did not apply.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("cannot reach the DNS server {server}: {source}")]
    Unreachable {
        server: SocketAddr,
        source: std::io::Error,
    },
    #[error("the DNS server {server} did not answer within {EXCHANGE_TIMEOUT:?}")]
    Timeout { server: SocketAddr },
    #[error("the DNS server refused the TSIG key \"{key}\" (unknown key name, wrong algorithm or wrong secret; or clocks more than 300 s apart)")]
    KeyRefused { key: String },
    #[error("the DNS server's answer fails TSIG verification with key \"{key}\": {reason}")]
    AnswerNotSigned { key: String, reason: String },
    #[error("the DNS server answered {code} for zone {zone}: {hint}")]
    Refused {
        zone: String,
        code: ResponseCode,
        hint: &'static str,
    },
    #[error("malformed exchange with the DNS server: {0}")]
    Protocol(String),
}

impl UpdateError {
    /// Whether trying again later may succeed without a change of configuration.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            UpdateError::Unreachable { .. }
                | UpdateError::Timeout { .. }
                | UpdateError::Refused {
                    code: ResponseCode::ServFail,
                    ..
                }
        )
    }
}

fn hint(code: ResponseCode) -> &'static str {
    match code {
        ResponseCode::Refused => {
            "updates are not allowed for this key or address (allow-update / update-policy)"
        }
        ResponseCode::NotAuth => {
            "the server is not authoritative for the zone, or the key is not accepted"
        }
        ResponseCode::NotZone => "a name is outside the zone",
        ResponseCode::ServFail => "the server failed (it retries later)",
        ResponseCode::NotImp => "the server does not implement dynamic updates",
        _ => "the update was not applied",
    }
}

fn absolute(text: &str) -> Result<Name, UpdateError> {
    let mut name = Name::from_str(text).map_err(|e| UpdateError::Protocol(e.to_string()))?;
    name.set_fqdn(true);
    Ok(name)
}

fn address(name: Name, ip: IpAddr, ttl: u32) -> Record {
    match ip {
        IpAddr::V4(v4) => Record::from_rdata(name, ttl, RData::A(A(v4))),
        IpAddr::V6(v6) => Record::from_rdata(name, ttl, RData::AAAA(AAAA(v6))),
    }
}

/// The UPDATE for `zone`: `remove` each named record (class NONE: that record only, never the
/// rest of its set), then `add` each with `ttl`.
pub fn message(
    zone: &str,
    add: &[(String, IpAddr)],
    remove: &[(String, IpAddr)],
    ttl: u32,
) -> Result<Message, UpdateError> {
    let mut m = Message::new();
    m.set_id(rand::random())
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Update);
    let mut zone_section = Query::query(absolute(zone)?, RecordType::SOA);
    zone_section.set_query_class(DNSClass::IN);
    m.add_zone(zone_section);
    for (host, ip) in remove {
        let mut record = address(absolute(host)?, *ip, 0);
        record.set_dns_class(DNSClass::NONE);
        m.add_update(record);
    }
    for (host, ip) in add {
        m.add_update(address(absolute(host)?, *ip, ttl));
    }
    Ok(m)
}

/// Sends `message` for `zone` to `server`, signed with `key`, and checks the answer.
pub async fn exchange(
    server: SocketAddr,
    zone: &str,
    mut message: Message,
    key: Option<&Key>,
) -> Result<(), UpdateError> {
    let mut verifier = match key {
        Some(key) => {
            let now = chrono::Utc::now().timestamp() as u32;
            message
                .finalize(&key.signer, now)
                .map_err(|e| UpdateError::Protocol(e.to_string()))?
        }
        None => None,
    };
    let bytes = message
        .to_vec()
        .map_err(|e| UpdateError::Protocol(e.to_string()))?;
    let answer = tokio::time::timeout(EXCHANGE_TIMEOUT, send(server, &bytes))
        .await
        .map_err(|_| UpdateError::Timeout { server })?
        .map_err(|source| UpdateError::Unreachable { server, source })?;
    let response = Message::from_vec(&answer).map_err(|e| UpdateError::Protocol(e.to_string()))?;
    if response.id() != message.id() {
        return Err(UpdateError::Protocol(
            "the answer's id is not the update's".into(),
        ));
    }
    let code = response.response_code();
    if let Some(key) = key {
        let unsigned = response.signature().iter().all(|r| match r.data() {
            RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::TSIG(t)) => t.mac().is_empty(),
            _ => true,
        });
        if code == ResponseCode::NotAuth && unsigned {
            return Err(UpdateError::KeyRefused {
                key: key.name.clone(),
            });
        }
        if let Some(verify) = verifier.as_mut() {
            verify(&answer).map_err(|e| UpdateError::AnswerNotSigned {
                key: key.name.clone(),
                reason: e.to_string(),
            })?;
        }
    }
    if code != ResponseCode::NoError {
        return Err(UpdateError::Refused {
            zone: zone.to_owned(),
            code,
            hint: hint(code),
        });
    }
    Ok(())
}

/// One message over TCP, length-prefixed (RFC 1035 4.2.2), and its answer.
async fn send(server: SocketAddr, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(server).await?;
    let len = u16::try_from(bytes.len()).map_err(std::io::Error::other)?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(bytes).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut answer).await?;
    Ok(answer)
}
