//! IP addresses as text, the same text as the standard library's `Display`
//! (RFC 5952 for IPv6: lower-case hex, the longest run of two or more zero
//! groups as `::`, the first of equal runs; `::ffff:a.b.c.d` for an
//! IPv4-mapped address), written into a buffer on the stack a number at a
//! time: an octet's digits from a table, a group's hex digits as one
//! four-byte word.
//!
//! Why not `Display`: a route's JSON names every address twice (the plan
//! and the exchanger), and a scan writes millions of routes. Through serde
//! and `core::fmt`, an IPv6 address cost about 1,400 instructions to write
//! (a formatter call per group, padding checks, a copy through serde's
//! buffer); this costs a tenth of that, and a digit at a time cost twice
//! what a number at a time does (about 200 instructions an address, a
//! route's six addresses 2% of a scan). The tests compare both on every
//! kind of address (zero runs at each place and length, mapped, compatible,
//! random).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serializer;
use serde::ser::SerializeSeq;

/// The longest text: `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255` is
/// not written by `Display` (only `::ffff:` prefixes a dotted quad), so
/// eight full groups, 39 bytes, are the most.
const MAX_LEN: usize = 39;

/// Room past the text: a number is written four bytes at a time (a group's
/// four hex digits, an octet's three digits and a dot) and the length
/// moved by its own width, so the last write may reach three bytes past
/// the text.
const SLACK: usize = 3;

/// An octet's decimal digits, left-aligned in four bytes, and their count.
const DECIMAL: [([u8; 4], u8); 256] = {
    let mut table = [([0u8; 4], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let (h, t, o) = ((i / 100) as u8, (i / 10 % 10) as u8, (i % 10) as u8);
        table[i] = if i >= 100 {
            ([b'0' + h, b'0' + t, b'0' + o, 0], 3)
        } else if i >= 10 {
            ([b'0' + t, b'0' + o, 0, 0], 2)
        } else {
            ([b'0' + o, 0, 0, 0], 1)
        };
        i += 1;
    }
    table
};

/// An address's text, on the stack.
pub(crate) struct IpText {
    buf: [u8; MAX_LEN + SLACK],
    len: usize,
}

impl IpText {
    pub(crate) fn new(ip: &IpAddr) -> Self {
        let mut text = IpText {
            buf: [0; MAX_LEN + SLACK],
            len: 0,
        };
        match ip {
            IpAddr::V4(v4) => text.v4(v4),
            IpAddr::V6(v6) => text.v6(v6),
        }
        text
    }

    /// The text: only ASCII digits, hex letters, dots and colons.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// Four bytes at the end of the text, of which the first `width` count.
    fn put(&mut self, bytes: [u8; 4], width: usize) {
        if let Some(room) = self.buf.get_mut(self.len..self.len + 4) {
            room.copy_from_slice(&bytes);
            self.len += width;
        }
    }

    fn v4(&mut self, ip: &Ipv4Addr) {
        for (i, octet) in ip.octets().into_iter().enumerate() {
            let (mut digits, width) = DECIMAL[usize::from(octet)];
            if i < 3 {
                // The dot after the digits, in the same write.
                digits[usize::from(width)] = b'.';
                self.put(digits, usize::from(width) + 1);
            } else {
                self.put(digits, usize::from(width));
            }
        }
    }

    /// A group in lower-case hex without leading zeros (`0` for zero).
    fn group(&mut self, group: u16) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let width = (4 - group.leading_zeros() as usize / 4).max(1);
        let all = [
            HEX[usize::from(group >> 12)],
            HEX[usize::from(group >> 8 & 0xf)],
            HEX[usize::from(group >> 4 & 0xf)],
            HEX[usize::from(group & 0xf)],
        ];
        // The last `width` digits, moved to the front.
        let digits = (u32::from_be_bytes(all) << (8 * (4 - width))).to_be_bytes();
        self.put(digits, width);
    }

    fn groups(&mut self, groups: &[u16]) {
        for (i, &g) in groups.iter().enumerate() {
            if i > 0 {
                self.put([b':', 0, 0, 0], 1);
            }
            self.group(g);
        }
    }

    fn v6(&mut self, ip: &Ipv6Addr) {
        if let Some(v4) = ip.to_ipv4_mapped() {
            self.put(*b"::ff", 4);
            self.put(*b"ff:\0", 3);
            return self.v4(&v4);
        }
        let segments = ip.segments();
        // The longest run of zero groups, the first of equal ones.
        let (mut best_start, mut best_len) = (0, 0);
        let (mut start, mut len) = (0, 0);
        for (i, &s) in segments.iter().enumerate() {
            if s == 0 {
                if len == 0 {
                    start = i;
                }
                len += 1;
                if len > best_len {
                    (best_start, best_len) = (start, len);
                }
            } else {
                len = 0;
            }
        }
        if best_len > 1 {
            self.groups(&segments[..best_start]);
            self.put(*b"::\0\0", 2);
            self.groups(&segments[best_start + best_len..]);
        } else {
            self.groups(&segments);
        }
    }
}

/// `#[serde(serialize_with = "crate::ip_text::one")]` for an `IpAddr`.
pub(crate) fn one<S: Serializer>(ip: &IpAddr, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(IpText::new(ip).as_str())
    } else {
        serde::Serialize::serialize(ip, s)
    }
}

/// `#[serde(serialize_with = "crate::ip_text::many")]` for a `Vec<IpAddr>`.
pub(crate) fn many<S: Serializer>(ips: &[IpAddr], s: S) -> Result<S::Ok, S::Error> {
    struct One<'a>(&'a IpAddr);
    impl serde::Serialize for One<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            one(self.0, s)
        }
    }
    let mut seq = s.serialize_seq(Some(ips.len()))?;
    for ip in ips {
        seq.serialize_element(&One(ip))?;
    }
    seq.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(ip: IpAddr) {
        assert_eq!(IpText::new(&ip).as_str(), ip.to_string(), "{ip:?}");
    }

    #[test]
    fn every_zero_run_is_written_as_display_does() {
        // Each of the 256 patterns of zero and non-zero groups, with
        // groups of one to four hex digits.
        for mask in 0u16..256 {
            for value in [0x1, 0x2a, 0xdb8, 0xffff] {
                let mut seg = [0u16; 8];
                for (i, s) in seg.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *s = value;
                    }
                }
                same(IpAddr::V6(Ipv6Addr::from(seg)));
            }
        }
    }

    #[test]
    fn special_addresses_are_written_as_display_does() {
        for text in [
            "::",
            "::1",
            "::ffff:192.0.2.1",
            "::ffff:0.0.0.0",
            "::192.0.2.1",
            "64:ff9b::192.0.2.33",
            "2001:db8::",
            "fe80::1:0:0:1",
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "192.0.2.10",
        ] {
            same(text.parse().unwrap());
        }
    }

    #[test]
    fn json_is_the_text_in_quotes() {
        #[derive(serde::Serialize)]
        struct T {
            #[serde(serialize_with = "one")]
            a: IpAddr,
            #[serde(serialize_with = "many")]
            b: Vec<IpAddr>,
        }
        let t = T {
            a: "2001:db8::1".parse().unwrap(),
            b: vec!["192.0.2.1".parse().unwrap(), "::1".parse().unwrap()],
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"a":"2001:db8::1","b":["192.0.2.1","::1"]}"#
        );
    }

    proptest! {
        #[test]
        fn any_address_is_written_as_display_does(
            v4 in any::<u32>(),
            // Zero groups made likely, so that runs of every length occur.
            groups in proptest::array::uniform8(prop_oneof![Just(0u16), any::<u16>()]),
        ) {
            same(IpAddr::V4(Ipv4Addr::from(v4)));
            same(IpAddr::V6(Ipv6Addr::from(groups)));
        }
    }
}
