//! DANE for SMTP (RFC 7672): which TLSA records a sender uses and what they
//! require of an exchanger (docs/rules/secure.md, Rules S2 to S5).
//!
//! Words:
//! - the **TLSA base name** is the host name the records are looked up
//!   under (`_25._tcp.<base>`): the last CNAME target when the exchanger is
//!   an alias with a secure chain, else the exchanger's own name (Rule S3);
//! - a TLSA record is **usable** for SMTP when its usage is DANE-TA (2) or
//!   DANE-EE (3), its selector 0 or 1, its matching type 0, 1 or 2 with a
//!   digest of that type's length (Rule S4);
//! - the **TLS requirement** ([`TlsRequirement`]) is what a sender demands
//!   of the host: `dane` (a certificate the records match), `dane-encrypt`
//!   (TLS, any certificate) or `opportunistic` (TLS when offered).
//!
//! Routing applies them (`route`); this module only judges answers and
//! records, and never looks anything up.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::dns::{Answer, Dnssec, Name, Outcome, RData};

/// The port whose TLSA records SMTP uses (RFC 7672 section 2.2.1).
pub const SMTP_PORT: u16 = 25;

/// Most TLSA records judged for one host; the rest are dropped with a
/// note. (DNS replies are already capped at `dns::engine::MAX_ANSWERS`; a
/// real host publishes two to four.)
pub const MAX_TLSA_RECORDS: usize = 64;

/// `_25._tcp.<host>`: where the TLSA records of an SMTP server at `host`
/// are (RFC 6698 section 3; RFC 7672 section 2.2.1). `None` when the name
/// would be too long for DNS.
pub fn tlsa_name(host: &Name) -> Option<Name> {
    let prefix = Name::from_ascii(format!("_{SMTP_PORT}._tcp")).ok()?;
    let mut host = host.clone();
    host.set_fqdn(true);
    prefix.append_domain(&host).ok()
}

/// One TLSA record (RFC 6698 section 2.1). Serialized in presentation
/// format: `"3 1 1 0a1b..."`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlsaRecord {
    /// Certificate usage: 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// Selector: 0 the whole certificate, 1 its SubjectPublicKeyInfo.
    pub selector: u8,
    /// Matching type: 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    /// The certificate association data.
    pub data: Vec<u8>,
}

impl TlsaRecord {
    /// The record of a TLSA RDATA; `None` for another type.
    pub fn from_rdata(rdata: &RData) -> Option<TlsaRecord> {
        match rdata {
            RData::TLSA(t) => Some(TlsaRecord {
                usage: t.cert_usage.into(),
                selector: t.selector.into(),
                matching: t.matching.into(),
                data: t.cert_data.clone(),
            }),
            _ => None,
        }
    }

    /// Why a sender cannot use this record for SMTP (docs/rules/secure.md,
    /// Rule S4), or `None` when it is usable.
    pub fn unusable(&self) -> Option<&'static str> {
        match self.usage {
            0 | 1 => {
                return Some("usage 0 or 1 (PKIX) is not used for SMTP (RFC 7672 section 3.1)");
            }
            2 | 3 => {}
            _ => return Some("unknown certificate usage"),
        }
        if self.selector > 1 {
            return Some("unknown selector");
        }
        match (self.matching, self.data.len()) {
            (0, 0) => Some("empty certificate association data"),
            (0, _) => None,
            (1, 32) | (2, 64) => None,
            (1 | 2, _) => Some("digest of the wrong length for its matching type"),
            _ => Some("unknown matching type"),
        }
    }

    /// Whether a sender can use it (docs/rules/secure.md, Rule S4).
    pub fn usable(&self) -> bool {
        self.unusable().is_none()
    }
}

impl fmt::Display for TlsaRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} ", self.usage, self.selector, self.matching)?;
        if self.data.is_empty() {
            // RFC 6698 section 2.2 has no text for empty data; RFC 3597's
            // length-0 form would not fit the usual three numbers.
            return f.write_str("-");
        }
        for b in &self.data {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Serialize for TlsaRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What the TLSA lookup of a host gave. Serialized in lower case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsaStatus {
    /// Secure records, at least one usable: DANE applies (Rule S4).
    Usable,
    /// Secure records, none usable: TLS is mandatory, unauthenticated.
    Unusable,
    /// No secure records: a secure denial, or an answer that is not secure.
    None,
    /// The lookup failed (timeout, SERVFAIL, bogus): the host is not used
    /// now (Rule S5).
    Failed,
}

/// What a sender requires of an exchanger's TLS. Serialized as
/// `"dane"`, `"dane-encrypt"`, `"opportunistic"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TlsRequirement {
    /// TLS, with a certificate that a usable TLSA record matches (Rule S6).
    #[serde(rename = "dane")]
    Dane,
    /// TLS, any certificate: the host's TLSA records are all unusable
    /// (Rule S4; Postfix's `encrypt`).
    #[serde(rename = "dane-encrypt")]
    DaneEncrypt,
    /// TLS when the server offers it (RFC 3207), plaintext otherwise.
    #[serde(rename = "opportunistic")]
    Opportunistic,
}

impl TlsRequirement {
    /// Its word, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsRequirement::Dane => "dane",
            TlsRequirement::DaneEncrypt => "dane-encrypt",
            TlsRequirement::Opportunistic => "opportunistic",
        }
    }
}

impl fmt::Display for TlsRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The TLSA lookup of one host, judged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tlsa {
    /// What it gave.
    pub status: TlsaStatus,
    /// The TLSA base name (Rule S3): lower case, no final dot.
    pub base: String,
    /// The records found (secure or not), at most [`MAX_TLSA_RECORDS`].
    pub records: Vec<TlsaRecord>,
    /// The DNSSEC status of the TLSA lookup.
    pub dnssec: Dnssec,
    /// Why it failed, or why records found are not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The lowest TTL of the records, or the negative TTL of the denial.
    #[serde(skip)]
    pub ttl: Option<u32>,
}

impl Tlsa {
    /// Judge the TLSA answer for a host with secure addresses
    /// (docs/rules/secure.md, Rules S1, S4, S5): `base` is the name the
    /// records were asked under (`_25._tcp.` stripped), shown as is.
    pub fn judge(answer: &Answer, base: String) -> Tlsa {
        let dnssec = answer.dnssec();
        let ttl = answer.outcome.ttl();
        let mut records: Vec<TlsaRecord> = answer
            .outcome
            .records()
            .iter()
            .filter_map(|r| TlsaRecord::from_rdata(&r.data))
            .collect();
        let mut error = None;
        if records.len() > MAX_TLSA_RECORDS {
            error = Some(format!(
                "{} TLSA records; the first {MAX_TLSA_RECORDS} were judged",
                records.len()
            ));
            records.truncate(MAX_TLSA_RECORDS);
        }
        let status = match &answer.outcome {
            // Rule S5 (and S1: bogus is a failure, never "none").
            Outcome::Temporary(_) | Outcome::Truncated => {
                error = Some(format!("TLSA lookup failed: {}", answer.outcome));
                TlsaStatus::Failed
            }
            Outcome::NoData { .. } | Outcome::NxDomain { .. } => TlsaStatus::None,
            Outcome::Records(_) if dnssec != Dnssec::Secure => {
                error = Some(
                    "TLSA records that are not DNSSEC-signed are not used (RFC 7672 section 2.2)"
                        .into(),
                );
                TlsaStatus::None
            }
            Outcome::Records(_) if records.iter().any(TlsaRecord::usable) => TlsaStatus::Usable,
            Outcome::Records(_) => TlsaStatus::Unusable,
        };
        Tlsa {
            status,
            base,
            records,
            dnssec,
            error,
            ttl,
        }
    }

    /// Whether the answer says nothing is published here, so that the next
    /// base name is tried (Rule S3): a denial, secure or not. Records, even
    /// unusable or unsigned ones, end the search, as a failure does.
    pub fn is_denial(&self) -> bool {
        self.status == TlsaStatus::None && self.records.is_empty()
    }

    /// What a sender requires of the host (Rule S4), `None` when the
    /// lookup failed and the host is not used (Rule S5).
    pub fn requirement(&self) -> Option<TlsRequirement> {
        match self.status {
            TlsaStatus::Usable => Some(TlsRequirement::Dane),
            TlsaStatus::Unusable => Some(TlsRequirement::DaneEncrypt),
            TlsaStatus::None => Some(TlsRequirement::Opportunistic),
            TlsaStatus::Failed => None,
        }
    }

    /// The usable records.
    pub fn usable(&self) -> impl Iterator<Item = &TlsaRecord> {
        self.records.iter().filter(|r| r.usable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(usage: u8, selector: u8, matching: u8, len: usize) -> TlsaRecord {
        TlsaRecord {
            usage,
            selector,
            matching,
            data: vec![0xab; len],
        }
    }

    /// docs/rules/secure.md, Rule S4.
    #[test]
    fn s4_usable_records() {
        for r in [
            rec(3, 1, 1, 32),
            rec(3, 0, 1, 32),
            rec(2, 0, 2, 64),
            rec(3, 1, 0, 91),
            rec(2, 1, 1, 32),
        ] {
            assert!(r.usable(), "{r}");
        }
        for r in [
            rec(0, 0, 1, 32),
            rec(1, 1, 1, 32),
            rec(4, 1, 1, 32),
            rec(255, 1, 1, 32),
            rec(3, 2, 1, 32),
            rec(3, 1, 3, 32),
            rec(3, 1, 1, 31),
            rec(3, 1, 1, 64),
            rec(3, 1, 2, 32),
            rec(3, 1, 0, 0),
            rec(3, 1, 1, 0),
        ] {
            assert!(!r.usable(), "{r}");
        }
    }

    #[test]
    fn records_print_in_presentation_format() {
        let r = TlsaRecord {
            usage: 3,
            selector: 1,
            matching: 1,
            data: vec![0x0a, 0xff],
        };
        assert_eq!(r.to_string(), "3 1 1 0aff");
        assert_eq!(serde_json::to_value(&r).unwrap(), "3 1 1 0aff");
        assert_eq!(rec(3, 1, 1, 0).to_string(), "3 1 1 -");
    }

    #[test]
    fn tlsa_names() {
        let n = |s: &str| Name::from_ascii(s).unwrap();
        assert_eq!(
            tlsa_name(&n("mx.example.org")).unwrap(),
            n("_25._tcp.mx.example.org.")
        );
        // 252 octets on the wire: a valid name, but not with the prefix.
        let long = format!("{}.{}", vec!["a".repeat(63); 3].join("."), "b".repeat(58));
        assert!(tlsa_name(&n(&long)).is_none(), "longer than 255 octets");
    }
}
