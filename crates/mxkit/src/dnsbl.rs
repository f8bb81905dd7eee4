//! DNS blocklists (DNSBLs, RFC 5782): is an address on a list?
//!
//! Words:
//! - a **list** is a DNS zone (`bl.example.net`) whose names say which IP
//!   addresses are listed ([`List`]);
//! - the **query name** of an address under a list is its octets (IPv4) or
//!   its 32 nibbles (IPv6) in reverse order, as in the reverse tree, followed
//!   by the list's zone: `2.0.0.127.bl.example.net.` (RFC 5782 sections 2.1
//!   and 2.4);
//! - a **code** is an address of the A records at the query name:
//!   `127.0.0.2`, or another in `127.0.0.0/8` that says why (RFC 5782
//!   section 2.1); the **reason** is the TXT record at the same name (RFC
//!   5782 section 2.2), often a URL that explains the listing;
//! - an **error code** is a code in `127.255.255.0/24`: lists such as
//!   Spamhaus answer those instead of a listing when they refuse the
//!   resolver that asked (a public resolver, too many queries, a typo in
//!   the query): the address was not looked up at all;
//! - the **test entries** (RFC 5782 section 5): every IPv4 list must list
//!   `127.0.0.2` and must not list `127.0.0.1`, every IPv6 list the same
//!   for `::FFFF:7F00:2` and `::FFFF:7F00:1`; asking them tells a working
//!   list from a dead one (nothing listed), one that lists everything
//!   (a wildcard, as retired lists sometimes do on purpose) and a resolver
//!   that rewrites answers.
//!
//! Outcomes of one question, each a [`Listing`]: listed (codes in
//! `127.0.0.0/8`), not listed (NXDOMAIN, or a name without A records),
//! refused (error codes), broken (an address outside `127.0.0.0/8`: the
//! resolver rewrites NXDOMAIN, or the list's domain now belongs to someone
//! else), failed (a timeout, SERVFAIL: say so, never read as listed or
//! not). A question goes through any [`Lookup`], so through the resolver
//! the caller uses: that is the resolver the list sees, and many lists
//! refuse public ones.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::address::{AddressError, Domain};
use crate::dns::{Lookup, Name, Outcome, RData, RecordType, resolve};

/// The longest reason kept, in characters of its escaped text; a longer
/// one is cut and ends in `...`.
pub const MAX_REASON: usize = 512;

/// The longest zone a list can have, in octets on the wire: an IPv6 query
/// name puts 32 one-character labels (64 octets) in front of it, and a
/// name has at most 255 octets (RFC 1035 section 2.3.4).
pub const MAX_ZONE_WIRE_LEN: usize = 255 - 64;

/// RFC 5782 section 5: the IPv4 address every IPv4 list lists.
pub const TEST_LISTED_V4: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// RFC 5782 section 5: the IPv4 address no list may list.
pub const TEST_UNLISTED_V4: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// RFC 5782 section 5: the IPv6 address every IPv6 list lists, `::FFFF:7F00:2`.
pub const TEST_LISTED_V6: Ipv6Addr = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 2);
/// RFC 5782 section 5: the IPv6 address no list may list, `::FFFF:7F00:1`.
pub const TEST_UNLISTED_V6: Ipv6Addr = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1);

/// Why a list's zone name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsblError {
    /// Nothing was given.
    #[error("empty blocklist zone name")]
    Empty,
    /// Not a valid host name.
    #[error("not a blocklist zone name: {0}")]
    BadName(AddressError),
    /// An IP address where the list's zone name belongs.
    #[error("{0} is an IP address; give the list's zone name (such as bl.example.net)")]
    Address(String),
    /// A single label: a top-level domain, never a list.
    #[error("{0} is a single label; give the list's whole zone name (such as bl.example.net)")]
    SingleLabel(String),
    /// Too long to hold an IPv6 query name in front of it.
    #[error(
        "{zone} is {len} octets long in DNS: an IPv6 query name under it would exceed 255 (at most {MAX_ZONE_WIRE_LEN})"
    )]
    TooLong {
        /// The zone.
        zone: String,
        /// Its length on the wire.
        len: usize,
    },
}

/// A blocklist: its zone, validated (a host name of two labels or more,
/// A-labels, lower case, short enough for IPv6 query names).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct List {
    zone: Name,
    text: String,
}

impl List {
    /// Parse a list's zone name (`bl.example.net`, a final dot allowed).
    pub fn parse(input: &str) -> Result<List, DnsblError> {
        let domain = Domain::parse(input).map_err(|e| match e {
            AddressError::LooksLikeIp(ip) => DnsblError::Address(ip),
            AddressError::Empty => DnsblError::Empty,
            other => DnsblError::BadName(other),
        })?;
        let zone = domain.name().clone();
        if zone.num_labels() < 2 {
            return Err(DnsblError::SingleLabel(domain.as_str().to_string()));
        }
        let len = wire_len(&zone);
        if len > MAX_ZONE_WIRE_LEN {
            return Err(DnsblError::TooLong {
                zone: domain.as_str().to_string(),
                len,
            });
        }
        Ok(List {
            zone,
            text: domain.as_str().to_string(),
        })
    }

    /// The zone, absolute.
    pub fn zone(&self) -> &Name {
        &self.zone
    }

    /// The zone as text, no final dot (`bl.example.net`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The name to ask about `ip` (RFC 5782 section 2.1 for IPv4: the four
    /// octets in reverse order; section 2.4 for IPv6: the 32 nibbles in
    /// reverse order, lower-case hex), absolute.
    pub fn query_name(&self, ip: IpAddr) -> Name {
        // hickory's reverse name holds exactly these labels, followed by
        // in-addr.arpa or ip6.arpa (two labels).
        let reverse = Name::from(ip);
        let keep = usize::from(reverse.num_labels()).saturating_sub(2);
        let mut name = Name::from_labels(reverse.iter().take(keep))
            .and_then(|n| n.append_name(&self.zone))
            // The zone's length was checked for the longest query name.
            .unwrap_or_else(|_| self.zone.clone());
        name.set_fqdn(true);
        name
    }
}

impl std::fmt::Display for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A name's length on the wire: each label and its length octet, and the
/// root's.
fn wire_len(name: &Name) -> usize {
    name.iter().map(|l| l.len() + 1).sum::<usize>() + 1
}

/// What a list said about one address. Serialized with a `status` key in
/// snake case (`"listed"`, `"not_listed"`, ...) and the fields of each
/// outcome beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Listing {
    /// Listed: A records, all in `127.0.0.0/8` and none an error code.
    Listed {
        /// The codes, as returned.
        codes: Vec<Ipv4Addr>,
    },
    /// Not listed: NXDOMAIN, or the name has no A record.
    NotListed,
    /// The list refused to answer this resolver: error codes
    /// (`127.255.255.0/24`), never a listing.
    Refused {
        /// The codes, as returned.
        codes: Vec<Ipv4Addr>,
    },
    /// An address outside `127.0.0.0/8`: no list answers that, so the
    /// resolver rewrote the answer or the zone is no longer a list.
    Broken {
        /// The addresses, as returned.
        addresses: Vec<Ipv4Addr>,
    },
    /// No usable answer now (timeout, SERVFAIL, truncated): not known.
    Failed {
        /// Why.
        error: String,
    },
}

/// True for a code in `127.255.255.0/24`, the error codes lists answer
/// when they refuse the query (Spamhaus: 127.255.255.252 a typo in the
/// query, .254 a public or open resolver, .255 too many queries).
pub fn is_error_code(code: Ipv4Addr) -> bool {
    let [a, b, c, _] = code.octets();
    (a, b, c) == (127, 255, 255)
}

/// Classify the outcome of an A question at a query name.
pub fn classify(outcome: &Outcome) -> Listing {
    match outcome {
        Outcome::Records(records) => {
            let codes: Vec<Ipv4Addr> = records
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect();
            if codes.is_empty() {
                Listing::NotListed
            } else if codes.iter().any(|c| c.octets()[0] != 127) {
                Listing::Broken { addresses: codes }
            } else if codes.iter().copied().any(is_error_code) {
                Listing::Refused { codes }
            } else {
                Listing::Listed { codes }
            }
        }
        Outcome::NxDomain { .. } | Outcome::NoData { .. } => Listing::NotListed,
        other => Listing::Failed {
            error: other.to_string(),
        },
    }
}

/// A list's answer about one address: the question, the outcome, the
/// reason and who answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListAnswer {
    /// The query name (presentation format, with the final dot).
    pub query: String,
    /// What the list said.
    #[serde(flatten)]
    pub listing: Listing,
    /// The TXT record at the query name, for a listing or a refusal
    /// (RFC 5782 section 2.2): escaped as in a zone file (`\"`, `\\`,
    /// `\DDD` for bytes outside printable ASCII), several records joined
    /// with `; `, at most [`MAX_REASON`] characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who answered the A question.
    pub server: String,
}

/// Ask `list` about `ip` through `lookup`: the A question, then, for a
/// listing or a refusal, the TXT question at the same name for the reason.
pub async fn ask(lookup: &dyn Lookup, list: &List, ip: IpAddr) -> ListAnswer {
    ask_with(lookup, list, ip, true).await
}

/// [`ask`], with the TXT question only when `with_reason` (the test
/// entries need none).
pub async fn ask_with(
    lookup: &dyn Lookup,
    list: &List,
    ip: IpAddr,
    with_reason: bool,
) -> ListAnswer {
    let name = list.query_name(ip);
    let answer = resolve(lookup, &name, RecordType::A).await;
    let listing = classify(&answer.outcome);
    let reason = match listing {
        Listing::Listed { .. } | Listing::Refused { .. } if with_reason => {
            reason(&resolve(lookup, &name, RecordType::TXT).await.outcome)
        }
        _ => None,
    };
    ListAnswer {
        query: name.to_ascii(),
        listing,
        reason,
        server: answer.server.to_string(),
    }
}

/// The text of the TXT records of an answer, escaped ([`ListAnswer::reason`]);
/// `None` when there is none.
pub fn reason(outcome: &Outcome) -> Option<String> {
    let texts: Vec<Vec<u8>> = outcome
        .records()
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    if texts.is_empty() {
        return None;
    }
    let joined = texts.join(&b"; "[..]);
    let whole = escape_txt(&joined);
    if whole.len() <= MAX_REASON {
        return Some(whole);
    }
    // Cut between escapes, never inside one.
    let mut cut = String::new();
    for &b in &joined {
        let one = escape_txt(&[b]);
        if cut.len() + one.len() > MAX_REASON - 3 {
            break;
        }
        cut.push_str(&one);
    }
    cut.push_str("...");
    Some(cut)
}

/// Bytes as a TXT string in a zone file shows them (RFC 1035 section
/// 5.1): printable ASCII as it is, `"` and `\` behind a backslash, every
/// other byte as `\DDD`. The result is printable ASCII only, so text a
/// list controls cannot reach a terminal as anything but text.
pub fn escape_txt(bytes: &[u8]) -> String {
    crate::address::display_text(bytes)
}

/// What the test entries of a list say, for one address family (RFC 5782
/// section 5). Serialized in snake case (`"working"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// The listed test entry is listed and the other is not.
    Working,
    /// The listed test entry is not listed: the list is dead, the zone
    /// mistyped, or it lists no address of this family (most lists do not
    /// list IPv6 addresses).
    NoTestEntry,
    /// The entry that must never be listed is: the list answers for
    /// everything (a wildcard), and its listings mean nothing.
    ListsEverything,
    /// A test entry got error codes: the list refused this resolver.
    Refused,
    /// A test entry got an address outside `127.0.0.0/8`: the answers are
    /// rewritten on the way, or the zone is no longer a list.
    Broken,
    /// A test entry got no usable answer (timeout, SERVFAIL).
    Failed,
}

/// The two test entries of one family, asked of a list, and what they say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestEntries {
    /// The answer for the entry that must be listed.
    pub listed: ListAnswer,
    /// The answer for the entry that must not be listed.
    pub unlisted: ListAnswer,
    /// The verdict.
    pub health: Health,
}

/// The test entries of the family of `family` (`127.0.0.2`/`127.0.0.1`
/// for any IPv4 address, `::FFFF:7F00:2`/`::FFFF:7F00:1` for IPv6): the
/// two addresses to ask, the one that must be listed first.
pub fn test_addresses(family: IpAddr) -> (IpAddr, IpAddr) {
    match family {
        IpAddr::V4(_) => (TEST_LISTED_V4.into(), TEST_UNLISTED_V4.into()),
        IpAddr::V6(_) => (TEST_LISTED_V6.into(), TEST_UNLISTED_V6.into()),
    }
}

/// Judge a list by the answers for its two test entries (the one that must
/// be listed, the one that must not): a rewritten or refused answer first,
/// then no answer, then a listing of everything, then a missing entry.
pub fn judge(listed: &Listing, unlisted: &Listing) -> Health {
    let both = [listed, unlisted];
    if both.iter().any(|l| matches!(l, Listing::Broken { .. })) {
        Health::Broken
    } else if both.iter().any(|l| matches!(l, Listing::Refused { .. })) {
        Health::Refused
    } else if both.iter().any(|l| matches!(l, Listing::Failed { .. })) {
        Health::Failed
    } else if matches!(unlisted, Listing::Listed { .. }) {
        Health::ListsEverything
    } else if !matches!(listed, Listing::Listed { .. }) {
        Health::NoTestEntry
    } else {
        Health::Working
    }
}

/// Ask `list` its test entries for the family of `family` and judge it.
pub async fn test_entries(lookup: &dyn Lookup, list: &List, family: IpAddr) -> TestEntries {
    let (yes, no) = test_addresses(family);
    let (listed, unlisted) = futures::future::join(
        ask_with(lookup, list, yes, false),
        ask_with(lookup, list, no, false),
    )
    .await;
    let health = judge(&listed.listing, &unlisted.listing);
    TestEntries {
        listed,
        unlisted,
        health,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::dns::rdata::{A, TXT};
    use crate::dns::{Record, TempError};

    fn list(s: &str) -> List {
        List::parse(s).unwrap()
    }

    fn a(codes: &[&str]) -> Outcome {
        let name = Name::from_ascii("x.bl.example.").unwrap();
        let records: Vec<Record> = codes
            .iter()
            .map(|c| Record::from_rdata(name.clone(), 60, RData::A(A(c.parse().unwrap()))))
            .collect();
        Outcome::Records(Arc::from(records))
    }

    fn codes(cs: &[&str]) -> Vec<Ipv4Addr> {
        cs.iter().map(|c| c.parse().unwrap()).collect()
    }

    #[test]
    fn rfc5782_2_1_ipv4_query_name_is_the_octets_reversed_under_the_zone() {
        let l = list("bl.example.net");
        let n = l.query_name("192.0.2.99".parse().unwrap());
        assert_eq!(n.to_ascii(), "99.2.0.192.bl.example.net.");
        assert!(n.is_fqdn());
        assert_eq!(
            l.query_name(TEST_LISTED_V4.into()).to_ascii(),
            "2.0.0.127.bl.example.net."
        );
    }

    #[test]
    fn rfc5782_2_4_ipv6_query_name_is_32_nibbles_reversed_under_the_zone() {
        let l = list("BL.Example.NET.");
        // RFC 5782 section 2.4's example address.
        let n = l.query_name("2001:db8:1:2:3:4:567:89ab".parse().unwrap());
        assert_eq!(
            n.to_ascii(),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example.net."
        );
        assert_eq!(n.num_labels(), 32 + 3);
        assert_eq!(
            l.query_name(TEST_LISTED_V6.into()).to_ascii(),
            "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.example.net."
        );
    }

    #[test]
    fn the_longest_zone_still_holds_an_ipv6_query_name() {
        // 3 labels of 63 octets: 3 * 64 + 1 = 193 octets, over the limit.
        let label = "a".repeat(63);
        let long = format!("{label}.{label}.{label}");
        assert!(matches!(
            List::parse(&long),
            Err(DnsblError::TooLong { len: 193, .. })
        ));
        // 191 octets: 2 labels of 63, one of 61.
        let fits = format!("{label}.{label}.{}", "b".repeat(61));
        let l = list(&fits);
        let n = l.query_name("2001:db8::1".parse().unwrap());
        assert_eq!(wire_len(&n), 255);
        assert!(n.to_ascii().ends_with(&format!("{fits}.")));
    }

    #[test]
    fn zone_names_are_validated_with_a_reason() {
        for (input, want) in [
            ("", "empty blocklist zone name"),
            (".", "empty blocklist zone name"),
            ("org", "org is a single label"),
            ("192.0.2.1", "192.0.2.1 is an IP address"),
            ("bl..example", "not a blocklist zone name: empty label"),
            ("bl_x.example", "not a blocklist zone name: label"),
        ] {
            let e = List::parse(input).unwrap_err().to_string();
            assert!(e.starts_with(want), "{input:?}: {e}");
        }
        assert_eq!(list("Zen.Spamhaus.org.").as_str(), "zen.spamhaus.org");
    }

    #[test]
    fn answers_are_classified_and_never_read_as_listed_by_mistake() {
        let cases: Vec<(Outcome, Listing)> = vec![
            (
                a(&["127.0.0.2"]),
                Listing::Listed {
                    codes: codes(&["127.0.0.2"]),
                },
            ),
            (
                a(&["127.0.0.4", "127.0.0.10"]),
                Listing::Listed {
                    codes: codes(&["127.0.0.4", "127.0.0.10"]),
                },
            ),
            (Outcome::NxDomain { negative_ttl: None }, Listing::NotListed),
            (Outcome::NoData { negative_ttl: None }, Listing::NotListed),
            (
                a(&["127.255.255.254"]),
                Listing::Refused {
                    codes: codes(&["127.255.255.254"]),
                },
            ),
            (
                a(&["127.0.0.2", "127.255.255.252"]),
                Listing::Refused {
                    codes: codes(&["127.0.0.2", "127.255.255.252"]),
                },
            ),
            (
                a(&["198.51.100.80"]),
                Listing::Broken {
                    addresses: codes(&["198.51.100.80"]),
                },
            ),
            (
                a(&["127.0.0.2", "198.51.100.80"]),
                Listing::Broken {
                    addresses: codes(&["127.0.0.2", "198.51.100.80"]),
                },
            ),
        ];
        for (outcome, want) in cases {
            assert_eq!(classify(&outcome), want, "{outcome:?}");
        }
        let failed = classify(&Outcome::Temporary(TempError::ServFail(
            "127.0.0.1:53".into(),
        )));
        assert!(
            matches!(&failed, Listing::Failed { error } if error.contains("SERVFAIL")),
            "{failed:?}"
        );
        assert!(matches!(
            classify(&Outcome::Truncated),
            Listing::Failed { .. }
        ));
    }

    #[test]
    fn error_codes_are_127_255_255_0_24_only() {
        assert!(is_error_code("127.255.255.254".parse().unwrap()));
        assert!(is_error_code("127.255.255.0".parse().unwrap()));
        assert!(!is_error_code("127.255.254.255".parse().unwrap()));
        assert!(!is_error_code("127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn rfc5782_5_test_entries_tell_a_working_list() {
        let listed = Listing::Listed {
            codes: codes(&["127.0.0.2"]),
        };
        let refused = Listing::Refused {
            codes: codes(&["127.255.255.254"]),
        };
        let broken = Listing::Broken {
            addresses: codes(&["192.0.2.80"]),
        };
        let failed = Listing::Failed {
            error: "timeout".into(),
        };
        let none = Listing::NotListed;
        for (yes, no, want) in [
            (&listed, &none, Health::Working),
            (&none, &none, Health::NoTestEntry),
            (&listed, &listed, Health::ListsEverything),
            (&refused, &refused, Health::Refused),
            (&refused, &none, Health::Refused),
            (&broken, &broken, Health::Broken),
            (&none, &broken, Health::Broken),
            (&failed, &none, Health::Failed),
            (&listed, &failed, Health::Failed),
        ] {
            assert_eq!(judge(yes, no), want, "{yes:?} {no:?}");
        }
    }

    #[test]
    fn reasons_are_escaped_joined_and_cut() {
        let name = Name::from_ascii("x.bl.example.").unwrap();
        let txt = |parts: Vec<Vec<u8>>| {
            Record::from_rdata(
                name.clone(),
                60,
                RData::TXT(TXT::from_bytes(parts.iter().map(Vec::as_slice).collect())),
            )
        };
        let outcome = Outcome::Records(Arc::from(vec![
            txt(vec![
                b"listed: see ".to_vec(),
                b"https://bl.example/q".to_vec(),
            ]),
            txt(vec![b"say \"hi\"\x1b[31m\\\xff".to_vec()]),
        ]));
        assert_eq!(
            reason(&outcome).unwrap(),
            r#"listed: see https://bl.example/q; say \"hi\"\027[31m\\\255"#
        );
        assert_eq!(reason(&Outcome::NxDomain { negative_ttl: None }), None);
        let long = Outcome::Records(Arc::from(vec![txt(vec![vec![b'\x01'; 255]])]));
        let cut = reason(&long).unwrap();
        assert!(
            cut.ends_with("...") && cut.chars().count() <= MAX_REASON,
            "{cut}"
        );
        assert!(cut.trim_end_matches("...").ends_with("\\001"), "{cut}");
    }

    #[test]
    fn listings_serialize_with_a_status() {
        let j = serde_json::to_value(ListAnswer {
            query: "2.0.0.127.bl.example.".into(),
            listing: Listing::Listed {
                codes: codes(&["127.0.0.2"]),
            },
            reason: Some("test".into()),
            server: "127.0.0.1:53".into(),
        })
        .unwrap();
        assert_eq!(
            j,
            serde_json::json!({"query": "2.0.0.127.bl.example.", "status": "listed",
                "codes": ["127.0.0.2"], "reason": "test", "server": "127.0.0.1:53"})
        );
        let j = serde_json::to_value(Listing::NotListed).unwrap();
        assert_eq!(j, serde_json::json!({"status": "not_listed"}));
    }
}
