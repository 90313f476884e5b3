//! Simple Proxy Protocol (Cloudflare's 38-byte UDP header), encoded and decoded without I/O.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

pub const MAGIC: [u8; 2] = [0x56, 0xEC];
pub const HEADER_LEN: usize = 38;

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn from_v6(ip: Ipv6Addr) -> IpAddr {
    ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4)
}

/// Writes the header for a datagram from `client` received on `edge` into `out`.
pub fn encode(client: SocketAddr, edge: SocketAddr, out: &mut [u8; HEADER_LEN]) {
    out[0..2].copy_from_slice(&MAGIC);
    out[2..18].copy_from_slice(&v6(client.ip()).octets());
    out[18..34].copy_from_slice(&v6(edge.ip()).octets());
    out[34..36].copy_from_slice(&client.port().to_be_bytes());
    out[36..38].copy_from_slice(&edge.port().to_be_bytes());
}

/// The client and edge addresses of a header at the start of `datagram`; `None` when it is
/// too short or the magic is wrong.
pub fn decode(datagram: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    if datagram.len() < HEADER_LEN || datagram[0..2] != MAGIC {
        return None;
    }
    let ip = |range: std::ops::Range<usize>| {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&datagram[range]);
        from_v6(Ipv6Addr::from(octets))
    };
    let port = |at: usize| u16::from_be_bytes([datagram[at], datagram[at + 1]]);
    Some((
        SocketAddr::new(ip(2..18), port(34)),
        SocketAddr::new(ip(18..34), port(36)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_byte_exact_and_round_trips() {
        let client: SocketAddr = "192.0.2.10:40000".parse().unwrap();
        let edge: SocketAddr = "127.0.1.7:53".parse().unwrap();
        let mut h = [0u8; HEADER_LEN];
        encode(client, edge, &mut h);
        let mut expected = vec![0x56, 0xEC];
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 1, 7]);
        expected.extend_from_slice(&[0x9c, 0x40, 0, 53]);
        assert_eq!(h.to_vec(), expected);
        assert_eq!(decode(&h), Some((client, edge)));
        let v6: SocketAddr = "[2001:db8::1]:5000".parse().unwrap();
        encode(v6, "[::1]:53".parse().unwrap(), &mut h);
        assert_eq!(decode(&h).unwrap().0, v6);
    }

    #[test]
    fn malformed_headers_are_refused() {
        assert_eq!(decode(&[0x56, 0xEC, 0, 0]), None);
        let mut h = [0u8; HEADER_LEN];
        encode(
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            &mut h,
        );
        h[1] = 0xED;
        assert_eq!(decode(&h), None);
    }
}
