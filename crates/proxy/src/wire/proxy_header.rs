//! PROXY protocol v1 and v2 headers (HAProxy's `proxy-protocol.txt`), encoded without I/O.

use model::Transport;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The v2 signature: `\r\n\r\n\0\r\nQUIT\n`.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Both addresses in one family: when they differ, IPv4 is written IPv4-mapped.
fn same_family(client: SocketAddr, edge: SocketAddr) -> (SocketAddr, SocketAddr) {
    let mapped = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    if client.is_ipv4() == edge.is_ipv4() {
        (client, edge)
    } else {
        (mapped(client), mapped(edge))
    }
}

/// `PROXY TCP4 <client ip> <edge ip> <client port> <edge port>\r\n`.
pub fn v1(client: SocketAddr, edge: SocketAddr) -> Vec<u8> {
    let (client, edge) = same_family(client, edge);
    let family = if client.is_ipv4() { "TCP4" } else { "TCP6" };
    let mut line = String::with_capacity(108);
    let _ = write!(
        line,
        "PROXY {family} {} {} {} {}\r\n",
        client.ip(),
        edge.ip(),
        client.port(),
        edge.port()
    );
    line.into_bytes()
}

/// The binary v2 header with the PROXY command and the address block, no TLVs.
pub fn v2(transport: Transport, client: SocketAddr, edge: SocketAddr) -> Vec<u8> {
    let (client, edge) = same_family(client, edge);
    let transport_bits = match transport {
        Transport::Tcp => 0x1,
        Transport::Udp => 0x2,
    };
    let mut header = Vec::with_capacity(16 + 36);
    header.extend_from_slice(&V2_SIGNATURE);
    header.push(0x21); // version 2, command PROXY
    match (client.ip(), edge.ip()) {
        (IpAddr::V4(c), IpAddr::V4(e)) => {
            header.push(0x10 | transport_bits);
            header.extend_from_slice(&12u16.to_be_bytes());
            header.extend_from_slice(&c.octets());
            header.extend_from_slice(&e.octets());
        }
        (c, e) => {
            let v6 = |ip: IpAddr| -> Ipv6Addr {
                match ip {
                    IpAddr::V6(v6) => v6,
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                }
            };
            header.push(0x20 | transport_bits);
            header.extend_from_slice(&36u16.to_be_bytes());
            header.extend_from_slice(&v6(c).octets());
            header.extend_from_slice(&v6(e).octets());
        }
    }
    header.extend_from_slice(&client.port().to_be_bytes());
    header.extend_from_slice(&edge.port().to_be_bytes());
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_matches_the_specification_examples() {
        assert_eq!(
            v1(addr("192.0.2.0:42300"), addr("192.0.2.255:443")),
            b"PROXY TCP4 192.0.2.0 192.0.2.255 42300 443\r\n"
        );
        assert_eq!(
            v1(addr("[2001:db8::1]:56324"), addr("[::1]:443")),
            b"PROXY TCP6 2001:db8::1 ::1 56324 443\r\n"
        );
        let longest = v1(
            addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
            addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
        );
        assert_eq!(longest.len(), 104);
    }

    #[test]
    fn v2_ipv4_tcp_is_byte_exact() {
        let h = v2(Transport::Tcp, addr("127.0.0.1:1234"), addr("127.0.1.7:22"));
        let mut expected = V2_SIGNATURE.to_vec();
        expected.extend_from_slice(&[
            0x21, 0x11, 0, 12, 127, 0, 0, 1, 127, 0, 1, 7, 0x04, 0xd2, 0, 22,
        ]);
        assert_eq!(h, expected);
    }

    #[test]
    fn v2_ipv6_udp_and_mixed_families() {
        let h = v2(Transport::Udp, addr("[::1]:53000"), addr("[::1]:53"));
        assert_eq!(h.len(), 16 + 36);
        assert_eq!(&h[12..16], &[0x21, 0x22, 0, 36]);
        assert_eq!(h[16 + 15], 1);
        assert_eq!(&h[48..52], &[0xcf, 0x08, 0, 53]);
        let mixed = v2(Transport::Tcp, addr("127.0.0.1:1"), addr("[::1]:2"));
        assert_eq!(mixed[13], 0x21);
        assert_eq!(
            &mixed[16..32],
            &Ipv6Addr::from([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]).octets()
        );
    }
}
