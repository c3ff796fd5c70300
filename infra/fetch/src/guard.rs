//! The outbound guard: which addresses Herald's own requests (fetch steps, webhooks) may reach.
//!
//! As svix does: an IP-literal host is checked as written, a name is resolved here and only its
//! allowed addresses are dialled (so a name cannot be re-resolved to an internal address between
//! the check and the connection), and a redirect is never followed to a refused address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an address is refused, for the step's event and the delivery log.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => {
            // A v4 address written as IPv6 (mapped, compatible, NAT64) is judged as v4.
            if let Some(v4) = embedded_v4(v6) {
                return refusal_v4(v4);
            }
            refusal_v6(v6)
        }
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        // 169.254.169.254 is the cloud metadata service.
        Some("a link-local or cloud-metadata address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a carrier-grade NAT address")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("a multicast or broadcast address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if a >= 240 {
        Some("a reserved address")
    } else {
        None
    }
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 {
        // Unique local, fd00:ec2::254 (the EC2 metadata service over IPv6) among them.
        Some("a private address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if first & 0xff00 == 0xff00 {
        Some("a multicast address")
    } else {
        None
    }
}

/// The v4 address inside a mapped (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`) or NAT64
/// (`64:ff9b::a.b.c.d`) IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_loopback() && !ip.is_unspecified() => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        _ => None,
    }
}

/// The resolved addresses a connection may use; an error naming why when none is left.
pub fn allowed(addrs: Vec<SocketAddr>, host: &str) -> Result<Vec<SocketAddr>, String> {
    let mut why = None;
    let kept: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match refusal(a.ip()) {
            Some(reason) => {
                why = Some(reason);
                false
            }
            None => true,
        })
        .collect();
    match (kept.is_empty(), why) {
        (false, _) => Ok(kept),
        (true, Some(reason)) => Err(format!("`{host}` resolves to {reason}, which is refused")),
        (true, None) => Err(format!("`{host}` does not resolve")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_in_every_form() {
        let refused = [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ];
        for ip in refused {
            let addr: IpAddr = ip.parse().expect(ip);
            assert!(refusal(addr).is_some(), "{ip} must be refused");
        }
        let allowed = [
            "93.184.216.34",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ];
        for ip in allowed {
            let addr: IpAddr = ip.parse().expect(ip);
            assert_eq!(refusal(addr), None, "{ip} must be allowed");
        }
    }

    #[test]
    fn a_name_keeps_only_its_allowed_addresses() {
        let addrs: Vec<SocketAddr> = vec![
            "127.0.0.1:80".parse().unwrap(),
            "93.184.216.34:80".parse().unwrap(),
        ];
        assert_eq!(
            allowed(addrs, "example.com").unwrap(),
            vec!["93.184.216.34:80".parse::<SocketAddr>().unwrap()]
        );
        let err = allowed(vec!["10.1.1.1:443".parse().unwrap()], "internal").unwrap_err();
        assert!(err.contains("private"), "{err}");
    }
}
