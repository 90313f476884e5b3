//! Property tests over the data plane's wire formats: Simple Proxy Protocol headers read from
//! origin replies (arbitrary bytes: read or refused, never a panic; what is written reads back),
//! and the PROXY v1/v2 headers written to origins, read back by the independent `ppp` parser.
//! `PROPTEST_CASES` sets the number of cases.

use model::Transport;
use proptest::prelude::*;
use proxy::{proxy_header, spp};
use std::net::{IpAddr, SocketAddr};

/// The address as a reader sees it: IPv4-mapped IPv6 is IPv4.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// Both addresses in one family, as the encoders write them when the families differ (a
/// header carries no IPv6 scope or flow label).
fn as_written(client: SocketAddr, edge: SocketAddr) -> (SocketAddr, SocketAddr) {
    let (client, edge) = (plain(client), plain(edge));
    if client.is_ipv4() == edge.is_ipv4() {
        return (client, edge);
    }
    let mapped = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    (mapped(client), mapped(edge))
}

fn plain(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip(), a.port())
}

fn addresses(h: ppp::v2::Addresses) -> Option<(SocketAddr, SocketAddr)> {
    match h {
        ppp::v2::Addresses::IPv4(a) => Some((
            (a.source_address, a.source_port).into(),
            (a.destination_address, a.destination_port).into(),
        )),
        ppp::v2::Addresses::IPv6(a) => Some((
            (a.source_address, a.source_port).into(),
            (a.destination_address, a.destination_port).into(),
        )),
        _ => None,
    }
}

proptest! {
    #[test]
    fn an_spp_reply_is_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..80), magic in any::<bool>()) {
        let mut bytes = bytes;
        if magic && bytes.len() >= 2 {
            bytes[0] = 0x56;
            bytes[1] = 0xEC;
        }
        if let Some((client, edge)) = spp::decode(&bytes) {
            prop_assert!(bytes.len() >= spp::HEADER_LEN);
            let mut again = [0u8; spp::HEADER_LEN];
            spp::encode(client, edge, &mut again);
            prop_assert_eq!(spp::decode(&again), Some((client, edge)));
        }
    }

    #[test]
    fn an_spp_header_reads_back(client in any::<SocketAddr>(), edge in any::<SocketAddr>()) {
        let mut header = [0u8; spp::HEADER_LEN];
        spp::encode(client, edge, &mut header);
        prop_assert_eq!(spp::decode(&header), Some((canonical(client), canonical(edge))));
    }

    #[test]
    fn a_proxy_v1_header_reads_back(client in any::<SocketAddr>(), edge in any::<SocketAddr>()) {
        let header = proxy_header::v1(client, edge);
        prop_assert!(header.len() <= 107, "v1 headers are at most 107 bytes");
        let parsed = ppp::v1::Header::try_from(std::str::from_utf8(&header).unwrap());
        let (c, e) = as_written(client, edge);
        let got = match parsed {
            Ok(ppp::v1::Header { addresses: ppp::v1::Addresses::Tcp4(a), .. }) => (
                SocketAddr::from((a.source_address, a.source_port)),
                SocketAddr::from((a.destination_address, a.destination_port)),
            ),
            Ok(ppp::v1::Header { addresses: ppp::v1::Addresses::Tcp6(a), .. }) => (
                SocketAddr::from((a.source_address, a.source_port)),
                SocketAddr::from((a.destination_address, a.destination_port)),
            ),
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        prop_assert_eq!(got, (c, e));
    }

    #[test]
    fn a_proxy_v2_header_reads_back(client in any::<SocketAddr>(), edge in any::<SocketAddr>(), udp in any::<bool>()) {
        let transport = if udp { Transport::Udp } else { Transport::Tcp };
        let header = proxy_header::v2(transport, client, edge);
        let parsed = ppp::v2::Header::try_from(header.as_slice()).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let expected = if udp { ppp::v2::Protocol::Datagram } else { ppp::v2::Protocol::Stream };
        prop_assert_eq!(parsed.protocol, expected);
        prop_assert_eq!(addresses(parsed.addresses), Some(as_written(client, edge)));
    }
}
