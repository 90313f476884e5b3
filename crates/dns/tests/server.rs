//! The authoritative server over real UDP and TCP on loopback, asked by hickory's client.

use dns::{serve, Published, ZoneSettings};
use hickory_client::client::{Client, ClientHandle};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_proto::runtime::TokioRuntimeProvider;
use hickory_proto::tcp::TcpClientStream;
use hickory_proto::udp::UdpClientStream;
use model::{Publication, ZonePublication};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use tokio::net::UdpSocket;

fn publication(hosts: &[(&str, &[&str])]) -> Publication {
    let mut zone = ZonePublication {
        name: "example.com".into(),
        hosts: BTreeMap::new(),
    };
    for (name, ips) in hosts {
        zone.hosts.insert(
            name.to_string(),
            ips.iter().map(|ip| ip.parse().unwrap()).collect(),
        );
    }
    let mut p = Publication::default();
    p.zones.insert("z".repeat(32), zone);
    p
}

struct Server {
    addr: SocketAddr,
    published: Arc<Published>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(p: &Publication) -> Server {
    let settings =
        ZoneSettings::new(30, &["ns1.example.net".into(), "ns2.example.net".into()]).unwrap();
    let published = Arc::new(Published::new(settings));
    published.update(p);
    let (udp, tcp) = dns::bind_pair("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = udp.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(serve(vec![udp], vec![tcp], published.clone(), async {
        let _ = rx.await;
    }));
    Server {
        addr,
        published,
        _stop: tx,
    }
}

async fn udp_client(addr: SocketAddr) -> Client {
    let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::new()).build();
    let (client, bg) = Client::connect(stream).await.unwrap();
    tokio::spawn(bg);
    client
}

async fn tcp_client(addr: SocketAddr) -> Client {
    let (stream, sender) = TcpClientStream::new(addr, None, None, TokioRuntimeProvider::new());
    let (client, bg) = Client::new(stream, sender, None).await.unwrap();
    tokio::spawn(bg);
    client
}

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

async fn ask(client: &mut Client, qname: &str, kind: RecordType) -> Message {
    client
        .query(name(qname), DNSClass::IN, kind)
        .await
        .unwrap()
        .into_message()
}

fn addresses(m: &Message) -> Vec<IpAddr> {
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn hostnames_answer_their_addresses_by_family_in_rotating_order() {
    let s = start(&publication(&[(
        "ssh.example.com",
        &["127.0.1.1", "127.0.1.2", "::1"],
    )]))
    .await;
    let mut c = udp_client(s.addr).await;
    let first = ask(&mut c, "SSH.Example.com.", RecordType::A).await;
    assert_eq!(first.response_code(), ResponseCode::NoError);
    assert!(first.authoritative());
    assert!(!first.recursion_available());
    assert_eq!(first.answers()[0].ttl(), 30);
    let mut got = addresses(&first);
    got.sort();
    assert_eq!(
        got,
        [
            "127.0.1.1".parse::<IpAddr>().unwrap(),
            "127.0.1.2".parse().unwrap()
        ]
    );
    let second = ask(&mut c, "ssh.example.com.", RecordType::A).await;
    assert_ne!(
        addresses(&first)[0],
        addresses(&second)[0],
        "the order rotates"
    );
    let v6 = ask(&mut c, "ssh.example.com.", RecordType::AAAA).await;
    assert_eq!(addresses(&v6), ["::1".parse::<IpAddr>().unwrap()]);
    assert!(v6.extensions().is_some(), "EDNS0 answered with EDNS0");
}

#[tokio::test]
async fn unknown_names_outside_names_and_missing_types() {
    let s = start(&publication(&[
        ("v4.example.com", &["127.0.1.1"]),
        ("a.b.deep.example.com", &["127.0.1.2"]),
    ]))
    .await;
    let mut c = udp_client(s.addr).await;
    let nx = ask(&mut c, "nope.example.com.", RecordType::A).await;
    assert_eq!(nx.response_code(), ResponseCode::NXDomain);
    assert!(nx.authoritative());
    assert_eq!(nx.name_servers().len(), 1);
    assert_eq!(nx.name_servers()[0].record_type(), RecordType::SOA);
    let nodata = ask(&mut c, "v4.example.com.", RecordType::AAAA).await;
    assert_eq!(nodata.response_code(), ResponseCode::NoError);
    assert!(nodata.answers().is_empty());
    assert_eq!(nodata.name_servers()[0].record_type(), RecordType::SOA);
    let interior = ask(&mut c, "b.deep.example.com.", RecordType::A).await;
    assert_eq!(
        interior.response_code(),
        ResponseCode::NoError,
        "an empty non-terminal exists"
    );
    let outside = ask(&mut c, "example.org.", RecordType::A).await;
    assert_eq!(outside.response_code(), ResponseCode::Refused);
    assert!(!outside.authoritative());
    let soa = ask(&mut c, "example.com.", RecordType::SOA).await;
    let RData::SOA(rdata) = soa.answers()[0].data() else {
        panic!("no SOA: {soa:?}")
    };
    assert_eq!(rdata.mname(), &name("ns1.example.net."));
    assert_eq!(rdata.minimum(), 30);
    let ns = ask(&mut c, "example.com.", RecordType::NS).await;
    assert_eq!(ns.answers().len(), 2);
    let any = ask(&mut c, "v4.example.com.", RecordType::ANY).await;
    assert_eq!(any.answers().len(), 1, "RFC 8482: a minimal answer");
    assert_eq!(any.answers()[0].record_type(), RecordType::HINFO);
}

/// A query without EDNS, sent by hand (the client always adds it).
async fn plain_udp_query(addr: SocketAddr, qname: &str) -> Message {
    let mut m = Message::new();
    m.set_id(7)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .add_query(Query::query(name(qname), RecordType::A));
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&m.to_vec().unwrap(), addr).await.unwrap();
    let mut buf = vec![0; 65535];
    let n = socket.recv(&mut buf).await.unwrap();
    assert!(n <= 512, "a client without EDNS gets at most 512 bytes");
    Message::from_vec(&buf[..n]).unwrap()
}

#[tokio::test]
async fn large_answers_are_truncated_over_udp_and_whole_over_tcp() {
    let many: Vec<String> = (1..=100).map(|i| format!("127.0.3.{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let s = start(&publication(&[
        ("big.example.com", &many),
        ("small.example.com", &["127.0.1.1"]),
    ]))
    .await;
    let truncated = plain_udp_query(s.addr, "big.example.com.").await;
    assert!(truncated.truncated());
    assert!(truncated.answers().is_empty());
    assert!(truncated.extensions().is_none(), "no EDNS in, none out");
    let small = plain_udp_query(s.addr, "small.example.com.").await;
    assert!(!small.truncated());
    assert_eq!(small.answers().len(), 1);
    let mut udp = udp_client(s.addr).await;
    let edns = ask(&mut udp, "big.example.com.", RecordType::A).await;
    assert!(edns.truncated(), "100 A records exceed 1232 bytes");
    let mut tcp = tcp_client(s.addr).await;
    let whole = ask(&mut tcp, "big.example.com.", RecordType::A).await;
    assert!(!whole.truncated());
    assert_eq!(whole.answers().len(), 100);
}

#[tokio::test]
async fn a_new_publication_is_answered_at_once() {
    let s = start(&publication(&[("ssh.example.com", &["127.0.1.1"])])).await;
    let mut c = udp_client(s.addr).await;
    let soa = |m: &Message| match m.answers()[0].data() {
        RData::SOA(soa) => soa.serial(),
        _ => panic!("no SOA"),
    };
    let serial = soa(&ask(&mut c, "example.com.", RecordType::SOA).await);
    s.published
        .update(&publication(&[("ssh.example.com", &["127.0.1.7"])]));
    let m = ask(&mut c, "ssh.example.com.", RecordType::A).await;
    assert_eq!(addresses(&m), ["127.0.1.7".parse::<IpAddr>().unwrap()]);
    assert!(soa(&ask(&mut c, "example.com.", RecordType::SOA).await) > serial);
    s.published.update(&publication(&[]));
    let gone = ask(&mut c, "ssh.example.com.", RecordType::A).await;
    assert_eq!(gone.response_code(), ResponseCode::NXDomain);
}
