//! Hostname syntax and zone membership.

/// A DNS hostname: dot-separated labels of letters, digits, `-` and `_` (for SRV names), each
/// 1-63 bytes and not starting or ending with `-`, at most 253 bytes in all, and at least two labels.
pub fn is_valid(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether `name` is the zone apex or lies below it (case-insensitive).
pub fn in_zone(name: &str, zone: &str) -> bool {
    let (name, zone) = (name.to_ascii_lowercase(), zone.to_ascii_lowercase());
    name == zone || name.ends_with(&format!(".{zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for good in [
            "example.com",
            "ssh.example.com",
            "_mc._tcp.example.com",
            "a-b.c0.io",
        ] {
            assert!(is_valid(good), "{good}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        for bad in [
            "",
            "com",
            "-a.com",
            "a-.com",
            "a..com",
            "a.com.",
            "a b.com",
            "é.com",
            &long_label,
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn zone_membership() {
        assert!(in_zone("example.com", "example.com"));
        assert!(in_zone("SSH.Example.com", "example.com"));
        assert!(!in_zone("badexample.com", "example.com"));
        assert!(!in_zone("example.org", "example.com"));
    }
}
