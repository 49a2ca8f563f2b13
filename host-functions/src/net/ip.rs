//! Which addresses a guest's request may reach without an allow-list entry naming the IP
//! itself: the public unicast internet only. Everything else - loopback, private, shared
//! (CGNAT), link-local, unspecified, multicast, broadcast, documentation, benchmarking, ULA,
//! and the IPv6 forms that embed one of those IPv4 addresses - is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is not a public unicast address (`"loopback"`, `"private (RFC 1918)"`, ...), or
/// `None` when it is one.
pub fn special_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified (0.0.0.0/8, \"this network\")",
        (10, _, _) => "private (RFC 1918, 10.0.0.0/8)",
        (100, 64..=127, _) => "shared address space (CGNAT, 100.64.0.0/10)",
        (127, _, _) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local (169.254.0.0/16)",
        (172, 16..=31, _) => "private (RFC 1918, 172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation (TEST-NET)",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (RFC 1918, 192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast (224.0.0.0/4)",
        (240..=255, _, _) => "reserved or broadcast (240.0.0.0/4)",
        _ => return None,
    })
}

fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback (::1)");
    }
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible): judged as the IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        // Even a mapped public address is refused: the guest can ask for the IPv4 one.
        return Some(v4_range(v4).unwrap_or("IPv4-mapped (::ffff:0:0/96)"));
    }
    if s[..6] == [0; 6] {
        return Some("IPv4-compatible (::/96, deprecated)");
    }
    Some(match s[0] {
        // NAT64 well-known prefix: the embedded IPv4 address decides.
        0x0064 if s[1] == 0xff9b && s[2..6] == [0; 4] => {
            let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            return v4_range(v4).map(|_| "NAT64 (64:ff9b::/96) of a non-public IPv4 address");
        }
        0x0064 if s[1] == 0xff9b && s[2] == 1 => "NAT64 local use (64:ff9b:1::/48)",
        0x0100 if s[1..4] == [0; 3] => "discard-only (100::/64)",
        0x2001 if s[1] == 0x0db8 => "documentation (2001:db8::/32)",
        0x2001 if s[1] < 0x0200 => "IETF special purpose (2001::/23: Teredo, benchmarking, ORCHID)",
        // 6to4: the IPv4 address in bits 16..48 decides.
        0x2002 => {
            let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
            return v4_range(v4).map(|_| "6to4 (2002::/16) of a non-public IPv4 address");
        }
        0x3fff if s[1] < 0x1000 => "documentation (3fff::/20)",
        0x5f00 => "SRv6 SIDs (5f00::/16)",
        x if x & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        x if x & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        x if x & 0xffc0 == 0xfec0 => "site-local (fec0::/10, deprecated)",
        x if x & 0xff00 == 0xff00 => "multicast (ff00::/8)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn special(text: &str) -> bool {
        special_range(text.parse().unwrap()).is_some()
    }

    #[test]
    fn refuses_every_non_public_range() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.255",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:8.8.8.8",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(special(ip), "{ip} was taken for public");
        }
    }

    #[test]
    fn lets_public_unicast_through() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:200::1",
        ] {
            assert!(!special(ip), "{ip} was refused");
        }
    }
}
