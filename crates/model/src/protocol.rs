//! The `protocol` field (`tcp/22`, `udp/1000-2000`, or a named protocol) and port ranges.

use crate::{codes, Invalid};
use serde::Serialize;
use std::fmt;

crate::choice::choice! {
    /// The transport of an app, an edge listener or an origin.
    Transport { Tcp = "tcp", Udp = "udp" }
}

/// An inclusive range of ports; a single port is a range of length 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    pub fn single(port: u16) -> Self {
        PortRange {
            start: port,
            end: port,
        }
    }

    /// Number of ports in the range.
    pub fn count(&self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }

    pub fn is_range(&self) -> bool {
        self.start != self.end
    }

    pub fn ports(&self) -> impl Iterator<Item = u16> {
        self.start..=self.end
    }

    /// Parses `22` or `1000-2000`: decimal digits only, ports 1-65535, start <= end.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (start, end) = match text.split_once('-') {
            Some((a, b)) => (parse_port(a)?, parse_port(b)?),
            None => {
                let p = parse_port(text)?;
                (p, p)
            }
        };
        if start > end {
            return Err(format!(
                "the range {start}-{end} starts after it ends (start must be <= end)"
            ));
        }
        Ok(PortRange { start, end })
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("\"{text}\" is not a port number"));
    }
    match text.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(format!("port {text} is outside 1-65535")),
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_range() {
            write!(f, "{}-{}", self.start, self.end)
        } else {
            write!(f, "{}", self.start)
        }
    }
}

/// A protocol known by name, as listed by `GET /zones/{zone}/spectrum/protocols` and accepted
/// in `protocol` (a pay-as-you-go app may say `"protocol": "minecraft"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NamedProtocol {
    pub name: &'static str,
    pub description: &'static str,
    pub transport: Transport,
    pub ports: &'static [u16],
}

pub const NAMED_PROTOCOLS: &[NamedProtocol] = &[
    NamedProtocol {
        name: "minecraft",
        description: "Minecraft Java Edition",
        transport: Transport::Tcp,
        ports: &[25565],
    },
    NamedProtocol {
        name: "ssh",
        description: "Secure Shell",
        transport: Transport::Tcp,
        ports: &[22],
    },
    NamedProtocol {
        name: "rdp",
        description: "Remote Desktop Protocol",
        transport: Transport::Tcp,
        ports: &[3389],
    },
];

/// The parsed `protocol` field. The text is kept to be echoed exactly as it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Protocol {
    text: String,
    pub transport: Transport,
    pub ports: PortRange,
}

impl Protocol {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let bad = |why: String| {
            Invalid::new(
                codes::PROTOCOL,
                format!("protocol: \"{text}\" is invalid: {why}; expected \"tcp/PORT\", \"udp/PORT\" or \"tcp/START-END\""),
            )
        };
        if let Some(named) = NAMED_PROTOCOLS.iter().find(|p| p.name == text) {
            return Ok(Protocol {
                text: text.to_owned(),
                transport: named.transport,
                ports: PortRange::single(named.ports[0]),
            });
        }
        let (transport, ports) = text
            .split_once('/')
            .ok_or_else(|| bad("it has no \"/\"".into()))?;
        let transport = match transport {
            "tcp" => Transport::Tcp,
            "udp" => Transport::Udp,
            other => {
                return Err(bad(format!(
                    "transport \"{other}\" is not \"tcp\" or \"udp\""
                )))
            }
        };
        let ports = PortRange::parse(ports).map_err(bad)?;
        Ok(Protocol {
            text: text.to_owned(),
            transport,
            ports,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Serialize for Protocol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_ports_ranges_and_names() {
        let p = Protocol::parse("tcp/22").unwrap();
        assert_eq!(
            (p.transport, p.ports),
            (Transport::Tcp, PortRange::single(22))
        );
        let p = Protocol::parse("udp/1000-2000").unwrap();
        assert_eq!(p.transport, Transport::Udp);
        assert_eq!(p.ports.count(), 1001);
        let p = Protocol::parse("minecraft").unwrap();
        assert_eq!((p.transport, p.ports.start), (Transport::Tcp, 25565));
        assert_eq!(p.as_str(), "minecraft");
    }

    #[test]
    fn rejects_bad_grammar_with_code_13002() {
        for bad in [
            "tcp",
            "tcp/",
            "tcp/0",
            "tcp/65536",
            "sctp/22",
            "TCP/22",
            "tcp/+22",
            "tcp/ 22",
            "tcp/2000-1000",
            "tcp/1-2-3",
            "tcp/-5",
            "udp/99999999999",
        ] {
            let err = Protocol::parse(bad).unwrap_err();
            assert_eq!(err.code, codes::PROTOCOL, "{bad}");
            assert!(err.message.contains("protocol"), "{}", err.message);
        }
    }

    #[test]
    fn port_ranges_display_as_they_parse() {
        let edge = PortRange::parse("1000-2000").unwrap();
        assert_eq!(edge.to_string(), "1000-2000");
        assert_eq!(PortRange::single(22).to_string(), "22");
    }
}
