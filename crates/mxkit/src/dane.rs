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
/// `"dane"`, `"dane-encrypt"`, `"mta-sts"`, `"mta-sts-testing"`,
/// `"opportunistic"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TlsRequirement {
    /// TLS, with a certificate that a usable TLSA record matches (Rule S6).
    #[serde(rename = "dane")]
    Dane,
    /// TLS, any certificate: the host's TLSA records are all unusable
    /// (Rule S4; Postfix's `encrypt`).
    #[serde(rename = "dane-encrypt")]
    DaneEncrypt,
    /// TLS with a PKIX-valid certificate naming the exchanger: an MTA-STS
    /// policy in `enforce` mode (docs/rules/secure.md, Rule S11).
    #[serde(rename = "mta-sts")]
    MtaSts,
    /// An MTA-STS policy in `testing` mode: the certificate is checked as
    /// for `mta-sts` and a failure reported, but delivery goes on as
    /// `opportunistic` (Rule S11).
    #[serde(rename = "mta-sts-testing")]
    MtaStsTesting,
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
            TlsRequirement::MtaSts => "mta-sts",
            TlsRequirement::MtaStsTesting => "mta-sts-testing",
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

/// Whether `record` matches the certificate `cert` (DER): its selector
/// picks the whole certificate or its SubjectPublicKeyInfo, its matching
/// type compares that exactly or by SHA-256 / SHA-512 (RFC 6698 section
/// 2.1). A certificate that cannot be parsed matches no selector-1 record.
pub fn record_matches(record: &TlsaRecord, cert: &[u8]) -> bool {
    let selected: &[u8] = match record.selector {
        0 => cert,
        1 => match spki(cert) {
            Some(spki) => spki,
            None => return false,
        },
        _ => return false,
    };
    match record.matching {
        0 => selected == record.data.as_slice(),
        1 => ring::digest::digest(&ring::digest::SHA256, selected).as_ref() == record.data,
        2 => ring::digest::digest(&ring::digest::SHA512, selected).as_ref() == record.data,
        _ => false,
    }
}

/// The SubjectPublicKeyInfo of a DER certificate, as encoded in it.
fn spki(cert: &[u8]) -> Option<&[u8]> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, parsed) = X509Certificate::from_der(cert).ok()?;
    Some(parsed.tbs_certificate.subject_pki.raw)
}

/// What the usable records of a host say of a presented chain (leaf
/// first), before any chain is verified (docs/rules/secure.md, Rule S6).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainMatch {
    /// DANE-EE records that match the leaf: enough on their own (no name,
    /// no expiry check).
    pub end_entity: Vec<TlsaRecord>,
    /// DANE-TA records that match a certificate of the chain, with the
    /// position of the first certificate each matches: a trust anchor the
    /// chain must still verify to, with the leaf naming the host.
    pub trust_anchors: Vec<(TlsaRecord, usize)>,
}

/// Match the usable `records` against the presented `chain` (DER, leaf
/// first). Only usable records count (Rule S4); at most
/// [`MAX_TLSA_RECORDS`] records and [`MAX_CHAIN`] certificates are looked
/// at, so a hostile server or zone bounds the work.
pub fn match_chain(records: &[TlsaRecord], chain: &[&[u8]]) -> ChainMatch {
    let chain = &chain[..chain.len().min(MAX_CHAIN)];
    let mut found = ChainMatch::default();
    for record in records.iter().filter(|r| r.usable()).take(MAX_TLSA_RECORDS) {
        if record.usage == 3 {
            if chain
                .first()
                .is_some_and(|leaf| record_matches(record, leaf))
            {
                found.end_entity.push(record.clone());
            }
        } else if let Some(at) = chain.iter().position(|c| record_matches(record, c)) {
            // Usage 2 (DANE-TA): usable records have no other usage.
            found.trust_anchors.push((record.clone(), at));
        }
    }
    found
}

/// Most certificates of a presented chain matched against TLSA records.
pub const MAX_CHAIN: usize = 16;

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

    fn sha256(data: &[u8]) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA256, data)
            .as_ref()
            .to_vec()
    }

    fn sha512(data: &[u8]) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA512, data)
            .as_ref()
            .to_vec()
    }

    fn record(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> TlsaRecord {
        TlsaRecord {
            usage,
            selector,
            matching,
            data,
        }
    }

    /// docs/rules/secure.md, Rule S6: selectors and matching types, against
    /// certificates made by rcgen (whose own SubjectPublicKeyInfo encoding
    /// is the reference for selector 1).
    #[test]
    fn s6_records_match_certificates_and_keys() {
        let leaf = rcgen::generate_simple_self_signed(vec!["mx.example.test".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["mx.example.test".into()]).unwrap();
        let cert = leaf.cert.der().to_vec();
        let spki = {
            use rustls::pki_types::SubjectPublicKeyInfoDer;
            use rustls::pki_types::pem::PemObject;
            let pem = leaf.signing_key.public_key_pem();
            SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
                .unwrap()
                .to_vec()
        };
        for r in [
            record(3, 0, 0, cert.clone()),
            record(3, 0, 1, sha256(&cert)),
            record(3, 0, 2, sha512(&cert)),
            record(3, 1, 0, spki.clone()),
            record(3, 1, 1, sha256(&spki)),
            record(3, 1, 2, sha512(&spki)),
        ] {
            assert!(record_matches(&r, &cert), "{r}");
            assert!(!record_matches(&r, other.cert.der()), "{r}");
        }
        let mut wrong = sha256(&spki);
        wrong[0] ^= 1;
        assert!(!record_matches(&record(3, 1, 1, wrong), &cert));
        // Garbage is not a certificate: no selector-1 match, no panic.
        assert!(!record_matches(&record(3, 1, 1, sha256(b"x")), b"x"));
        assert!(record_matches(&record(3, 0, 0, b"x".to_vec()), b"x"));
    }

    /// DANE-EE matches the leaf only; DANE-TA any certificate of the chain,
    /// reported with its position; unusable records never match.
    #[test]
    fn s6_chain_matches_by_usage() {
        let leaf = rcgen::generate_simple_self_signed(vec!["mx.example.test".into()]).unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ca.example.test".into()]).unwrap();
        let (leaf_der, ca_der) = (leaf.cert.der().to_vec(), ca.cert.der().to_vec());
        let chain: [&[u8]; 2] = [&leaf_der, &ca_der];
        let ee_leaf = record(3, 0, 1, sha256(&leaf_der));
        let ee_ca = record(3, 0, 1, sha256(&ca_der));
        let ta_ca = record(2, 0, 1, sha256(&ca_der));
        let pkix = record(1, 0, 1, sha256(&leaf_der));
        let found = match_chain(&[ee_leaf.clone(), ee_ca, ta_ca.clone(), pkix], &chain);
        assert_eq!(found.end_entity, [ee_leaf]);
        assert_eq!(found.trust_anchors, [(ta_ca, 1)]);
        assert_eq!(match_chain(&[], &chain), ChainMatch::default());
        assert_eq!(
            match_chain(&[record(3, 0, 1, sha256(&leaf_der))], &[]),
            ChainMatch::default()
        );
    }

    /// A hostile zone: thousands of TLSA records are cut to
    /// [`MAX_TLSA_RECORDS`] and said so; bogus, insecure and empty answers
    /// are judged as Rules S1, S4 and S5 say.
    #[test]
    fn judging_answers_bounds_and_classifies() {
        use crate::dns::rdata::TLSA;
        use crate::dns::rdata::tlsa::{CertUsage, Matching, Selector};
        use crate::dns::{Record, TempError};
        let name = Name::from_ascii("_25._tcp.mx.example.test.").unwrap();
        let record = |i: u32| {
            Record::from_rdata(
                name.clone(),
                300,
                RData::TLSA(TLSA::new(
                    CertUsage::DaneEe,
                    Selector::Spki,
                    Matching::Sha256,
                    i.to_be_bytes().repeat(8),
                )),
            )
        };
        let answer = |outcome: Outcome, authentic: bool| Answer {
            outcome,
            cname_chain: Vec::new(),
            authentic,
            server: "test".into(),
        };
        let many: std::sync::Arc<[Record]> = (0..5000).map(record).collect();
        let t = Tlsa::judge(&answer(Outcome::Records(many), true), "mx".into());
        assert_eq!(t.records.len(), MAX_TLSA_RECORDS);
        assert_eq!(t.status, TlsaStatus::Usable);
        assert!(t.error.as_deref().unwrap().contains("5000 TLSA records"));

        let one: std::sync::Arc<[Record]> = [record(1)].into();
        let insecure = Tlsa::judge(&answer(Outcome::Records(one.clone()), false), "mx".into());
        assert_eq!(insecure.status, TlsaStatus::None);
        assert_eq!(insecure.requirement(), Some(TlsRequirement::Opportunistic));
        assert!(
            !insecure.is_denial(),
            "records end the search for a base name"
        );

        let bogus = Outcome::Temporary(TempError::Bogus {
            server: "test".into(),
            ede: 6,
        });
        let failed = Tlsa::judge(&answer(bogus, false), "mx".into());
        assert_eq!(failed.status, TlsaStatus::Failed);
        assert_eq!(failed.dnssec, Dnssec::Bogus);
        assert_eq!(failed.requirement(), None);

        let denial = Tlsa::judge(
            &answer(
                Outcome::NxDomain {
                    negative_ttl: Some(60),
                },
                true,
            ),
            "mx".into(),
        );
        assert!(denial.is_denial());
        assert_eq!(denial.ttl, Some(60));
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
