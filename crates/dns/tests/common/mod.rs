//! Helpers shared by the DNS tests.
#![allow(dead_code)]

pub mod bind;

use hickory_client::client::{Client, ClientHandle};
use hickory_proto::op::Message;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_proto::runtime::TokioRuntimeProvider;
use hickory_proto::tcp::TcpClientStream;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// A hickory client over TCP.
pub async fn tcp_client(addr: SocketAddr) -> Client {
    let (stream, sender) = TcpClientStream::new(addr, None, None, TokioRuntimeProvider::new());
    let (client, bg) = Client::new(stream, sender, None).await.unwrap();
    tokio::spawn(bg);
    client
}

pub async fn ask(addr: SocketAddr, qname: &str, kind: RecordType) -> Message {
    let mut client = tcp_client(addr).await;
    client
        .query(Name::from_str(qname).unwrap(), DNSClass::IN, kind)
        .await
        .unwrap()
        .into_message()
}

/// The A and AAAA addresses of an answer, sorted.
pub fn addresses(m: &Message) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = m
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// The addresses `name` has at `addr` (A and AAAA).
pub async fn lookup(addr: SocketAddr, name: &str) -> Vec<IpAddr> {
    let mut out = addresses(&ask(addr, name, RecordType::A).await);
    out.extend(addresses(&ask(addr, name, RecordType::AAAA).await));
    out
}

/// A hickory client over UDP.
pub async fn udp_client(addr: SocketAddr) -> Client {
    let stream =
        hickory_proto::udp::UdpClientStream::builder(addr, TokioRuntimeProvider::new()).build();
    let (client, bg) = Client::connect(stream).await.unwrap();
    tokio::spawn(bg);
    client
}

pub async fn ask_with(client: &mut Client, qname: &str, kind: RecordType) -> Message {
    client
        .query(Name::from_str(qname).unwrap(), DNSClass::IN, kind)
        .await
        .unwrap()
        .into_message()
}
