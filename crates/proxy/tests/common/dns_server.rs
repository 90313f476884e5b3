//! A small authoritative DNS server on loopback for tests, built on hickory-proto: answers
//! from a table the test changes, or SERVFAIL for everything while "failing".

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

type Table = HashMap<(String, RecordType), Vec<RData>>;

#[derive(Clone)]
pub struct DnsServer {
    pub addr: SocketAddr,
    table: Arc<Mutex<Table>>,
    failing: Arc<AtomicBool>,
    pub queries: Arc<AtomicUsize>,
}

fn key(name: &str, kind: RecordType) -> (String, RecordType) {
    (name.trim_end_matches('.').to_ascii_lowercase(), kind)
}

impl DnsServer {
    pub async fn start() -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server = DnsServer {
            addr: socket.local_addr().unwrap(),
            table: Arc::default(),
            failing: Arc::default(),
            queries: Arc::default(),
        };
        let s = server.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                s.queries.fetch_add(1, Ordering::SeqCst);
                let answer = s.answer(&query);
                let _ = socket.send_to(&answer.to_vec().unwrap(), peer).await;
            }
        });
        server
    }

    fn answer(&self, query: &Message) -> Message {
        let mut response = Message::new();
        response
            .set_id(query.id())
            .set_message_type(MessageType::Response)
            .set_op_code(OpCode::Query)
            .set_authoritative(true)
            .set_recursion_desired(query.recursion_desired())
            .set_recursion_available(true);
        for q in query.queries() {
            response.add_query(q.clone());
        }
        if self.failing.load(Ordering::SeqCst) {
            response.set_response_code(ResponseCode::ServFail);
            return response;
        }
        let table = self.table.lock().unwrap();
        let mut found = false;
        for q in query.queries() {
            if let Some(rdatas) = table.get(&key(&q.name().to_string(), q.query_type())) {
                for rdata in rdatas {
                    found = true;
                    response.add_answer(Record::from_rdata(q.name().clone(), 1, rdata.clone()));
                }
            }
        }
        let known_name = query.queries().iter().any(|q| {
            table
                .keys()
                .any(|(n, _)| *n == key(&q.name().to_string(), q.query_type()).0)
        });
        if !found && !known_name {
            response.set_response_code(ResponseCode::NXDomain);
        }
        response
    }

    /// Sets the A/AAAA records of `name` (replacing what it had).
    pub fn set_ips(&self, name: &str, ips: &[IpAddr]) {
        let mut table = self.table.lock().unwrap();
        let v4: Vec<RData> = ips
            .iter()
            .filter_map(|ip| match ip {
                IpAddr::V4(v4) => Some(RData::A(A(*v4))),
                IpAddr::V6(_) => None,
            })
            .collect();
        let v6: Vec<RData> = ips
            .iter()
            .filter_map(|ip| match ip {
                IpAddr::V6(v6) => Some(RData::AAAA(AAAA(*v6))),
                IpAddr::V4(_) => None,
            })
            .collect();
        table.insert(key(name, RecordType::A), v4);
        table.insert(key(name, RecordType::AAAA), v6);
    }

    /// Sets the SRV records of `name`: (priority, weight, port, target).
    pub fn set_srv(&self, name: &str, records: &[(u16, u16, u16, &str)]) {
        let rdatas = records
            .iter()
            .map(|(p, w, port, target)| {
                RData::SRV(SRV::new(
                    *p,
                    *w,
                    *port,
                    Name::from_str(&format!("{target}.")).unwrap(),
                ))
            })
            .collect();
        self.table
            .lock()
            .unwrap()
            .insert(key(name, RecordType::SRV), rdatas);
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}
