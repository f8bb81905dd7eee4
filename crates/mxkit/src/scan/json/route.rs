//! A route as JSON, written field by field: the bytes serde_json writes for
//! [`Route`]'s `Serialize`, without going through serde.
//!
//! Why beside the derived `Serialize`: a scan writes one route per input
//! line, some 800 bytes with fifty keys and strings. Through serde each
//! key is a call with its own comma state, escape check and capacity
//! checks; here the keys and the punctuation between fields are literals
//! (`,"status":"`), the words of the enums (`permanent`, `no_address`) are
//! written without an escape check, and only the strings that come from
//! outside (names, messages) are checked and escaped. That halves the
//! instructions of a result line. The policy parts (`mta_sts`, `tlsa`,
//! `tls`) are rare in a scan and go through [`super::write`].
//!
//! Held to serde_json: every struct is taken apart by a pattern naming all
//! its fields, so a field added to a route does not compile here until it
//! is written; the tests compare this writer's bytes with serde_json's on
//! arbitrary routes (every enum value, strings with every escape, each
//! optional field present and absent), and the integration tests do on
//! every route they make (`tests/support/scan_json.rs`).

use serde::Serialize;

use super::{Error, write, write_str, write_u64};
use crate::ip_text::IpText;
use crate::route::{Candidate, Exchanger, MxRecord, Route, RouteError, Warning};
use crate::scan::status_code;

/// Append `route` as compact JSON to `out`: what `serde_json::to_writer`
/// writes for it.
pub fn write_route(out: &mut Vec<u8>, route: &Route) -> Result<(), Error> {
    let Route {
        domain,
        status,
        outcome,
        candidates,
        records,
        exchangers,
        cname_chain,
        ttl,
        dnssec,
        mta_sts,
        tls_rpt,
        warnings,
        error,
    } = route;
    out.extend_from_slice(b"{\"domain\":");
    write_str(out, domain);
    out.extend_from_slice(b",\"status\":");
    word(out, status_code(*status));
    out.extend_from_slice(b",\"outcome\":");
    word(out, outcome.code());
    out.extend_from_slice(b",\"candidates\":");
    list(out, candidates, candidate)?;
    out.extend_from_slice(b",\"records\":");
    list(out, records, record)?;
    out.extend_from_slice(b",\"exchangers\":");
    list(out, exchangers, exchanger)?;
    if !cname_chain.is_empty() {
        out.extend_from_slice(b",\"cname_chain\":");
        strings(out, cname_chain)?;
    }
    out.extend_from_slice(b",\"ttl\":");
    match ttl {
        Some(ttl) => write_u64(out, u64::from(*ttl)),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"dnssec\":");
    match dnssec {
        Some(dnssec) => word(out, dnssec.as_str()),
        None => out.extend_from_slice(b"null"),
    }
    optional(out, b",\"mta_sts\":", mta_sts.as_ref())?;
    optional(out, b",\"tls_rpt\":", tls_rpt.as_ref())?;
    out.extend_from_slice(b",\"warnings\":");
    list(out, warnings, warning)?;
    if let Some(error) = error {
        out.extend_from_slice(b",\"error\":");
        route_error(out, error);
    }
    out.push(b'}');
    Ok(())
}

/// A word of this crate's own (an enum's code): in quotes, with no
/// escaping, which none of them needs (the tests hold every one to
/// serde_json).
fn word(out: &mut Vec<u8>, word: &'static str) {
    debug_assert!(!word.bytes().any(super::needs_escape), "{word}");
    quoted(out, word.as_bytes());
}

/// `text` in quotes as it is: text known to need no escaping.
fn quoted(out: &mut Vec<u8>, text: &[u8]) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text);
    out.push(b'"');
}

/// `,"key":"value"` when there is a value (serde skips the field when
/// there is none).
fn optional_str(out: &mut Vec<u8>, key: &[u8], value: Option<&str>) {
    if let Some(value) = value {
        out.extend_from_slice(key);
        write_str(out, value);
    }
}

/// `,"key":value` by the general writer when there is a value.
fn optional<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    key: &[u8],
    value: Option<&T>,
) -> Result<(), Error> {
    match value {
        Some(value) => {
            out.extend_from_slice(key);
            write(out, value)
        }
        None => Ok(()),
    }
}

/// `[a,b,...]`, each item written by `item`.
fn list<T>(
    out: &mut Vec<u8>,
    items: &[T],
    mut item: impl FnMut(&mut Vec<u8>, &T) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(b'[');
    for (i, one) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, one)?;
    }
    out.push(b']');
    Ok(())
}

/// `["a","b",...]`.
fn strings(out: &mut Vec<u8>, items: &[String]) -> Result<(), Error> {
    list(out, items, |out, s| {
        write_str(out, s);
        Ok(())
    })
}

/// An address in quotes: its text is digits, hex letters, dots and colons.
fn address(out: &mut Vec<u8>, ip: &std::net::IpAddr) {
    quoted(out, IpText::new(ip).as_bytes());
}

fn candidate(out: &mut Vec<u8>, candidate: &Candidate) -> Result<(), Error> {
    let Candidate {
        preference,
        exchanger,
        address: ip,
        canonical,
    } = candidate;
    out.extend_from_slice(b"{\"preference\":");
    write_u64(out, u64::from(*preference));
    out.extend_from_slice(b",\"exchanger\":");
    write_str(out, exchanger);
    out.extend_from_slice(b",\"address\":");
    address(out, ip);
    optional_str(out, b",\"canonical\":", canonical.as_deref());
    out.push(b'}');
    Ok(())
}

fn record(out: &mut Vec<u8>, record: &MxRecord) -> Result<(), Error> {
    let MxRecord {
        preference,
        exchanger,
        ttl,
    } = record;
    out.extend_from_slice(b"{\"preference\":");
    write_u64(out, u64::from(*preference));
    out.extend_from_slice(b",\"exchanger\":");
    write_str(out, exchanger);
    out.extend_from_slice(b",\"ttl\":");
    write_u64(out, u64::from(*ttl));
    out.push(b'}');
    Ok(())
}

fn exchanger(out: &mut Vec<u8>, exchanger: &Exchanger) -> Result<(), Error> {
    let Exchanger {
        preference,
        name,
        addresses,
        state,
        cname_chain,
        dnssec,
        tlsa,
        tls,
        rule,
        detail,
    } = exchanger;
    out.extend_from_slice(b"{\"preference\":");
    write_u64(out, u64::from(*preference));
    out.extend_from_slice(b",\"name\":");
    write_str(out, name);
    out.extend_from_slice(b",\"addresses\":");
    list(out, addresses, |out, ip| {
        address(out, ip);
        Ok(())
    })?;
    out.extend_from_slice(b",\"state\":");
    word(out, state.code());
    if !cname_chain.is_empty() {
        out.extend_from_slice(b",\"cname_chain\":");
        strings(out, cname_chain)?;
    }
    if let Some(dnssec) = dnssec {
        out.extend_from_slice(b",\"dnssec\":");
        word(out, dnssec.as_str());
    }
    optional(out, b",\"tlsa\":", tlsa.as_deref())?;
    optional(out, b",\"tls\":", tls.as_ref())?;
    optional_str(out, b",\"rule\":", *rule);
    optional_str(out, b",\"detail\":", detail.as_deref());
    out.push(b'}');
    Ok(())
}

fn warning(out: &mut Vec<u8>, warning: &Warning) -> Result<(), Error> {
    let Warning { code, message } = warning;
    out.extend_from_slice(b"{\"code\":");
    write_str(out, code);
    out.extend_from_slice(b",\"message\":");
    write_str(out, message);
    out.push(b'}');
    Ok(())
}

fn route_error(out: &mut Vec<u8>, error: &RouteError) {
    let RouteError { code, dsn, message } = error;
    out.extend_from_slice(b"{\"code\":");
    write_str(out, code);
    out.extend_from_slice(b",\"dsn\":");
    write_str(out, dsn);
    out.extend_from_slice(b",\"message\":");
    write_str(out, message);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use proptest::prelude::*;

    use super::*;
    use crate::dane::TlsRequirement;
    use crate::dns::Dnssec;
    use crate::route::{ExchangerState, RouteKind, RouteVerdict};

    fn same(route: &Route) -> Result<(), TestCaseError> {
        let mut ours = Vec::new();
        write_route(&mut ours, route).unwrap();
        prop_assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string(route).unwrap()
        );
        Ok(())
    }

    /// Text with what JSON escapes (controls, quotes, backslashes), and
    /// any other character.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z0-9.-]{0,20}", "[\\x00-\\x7f]{0,8}", "\\PC{0,6}"]
    }

    fn dnssec() -> impl Strategy<Value = Dnssec> {
        prop::sample::select(vec![
            Dnssec::Secure,
            Dnssec::Insecure,
            Dnssec::Indeterminate,
            Dnssec::Bogus,
        ])
    }

    /// Codes are the crate's own `&'static str`s: a few, one of them
    /// with characters to escape.
    fn code() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["mx_is_ip", "5.1.10", "S5", "odd \"code\"\\\n"])
    }

    fn candidate() -> impl Strategy<Value = Candidate> {
        (
            any::<u16>(),
            text(),
            any::<IpAddr>(),
            prop::option::of(text()),
        )
            .prop_map(|(preference, exchanger, address, canonical)| Candidate {
                preference,
                exchanger,
                address,
                canonical,
            })
    }

    fn record() -> impl Strategy<Value = MxRecord> {
        (any::<u16>(), text(), any::<u32>()).prop_map(|(preference, exchanger, ttl)| MxRecord {
            preference,
            exchanger,
            ttl,
        })
    }

    fn exchanger() -> impl Strategy<Value = Exchanger> {
        (
            any::<u16>(),
            text(),
            prop::collection::vec(any::<IpAddr>(), 0..4),
            prop::sample::select(ExchangerState::ALL.to_vec()),
            prop::collection::vec(text(), 0..3),
            prop::option::of(dnssec()),
            prop::option::of(prop::sample::select(vec![
                TlsRequirement::Dane,
                TlsRequirement::DaneEncrypt,
                TlsRequirement::MtaSts,
                TlsRequirement::MtaStsTesting,
                TlsRequirement::Opportunistic,
            ])),
            prop::option::of(code()),
            prop::option::of(text()),
        )
            .prop_map(
                |(preference, name, addresses, state, cname_chain, dnssec, tls, rule, detail)| {
                    Exchanger {
                        preference,
                        name,
                        addresses,
                        state,
                        cname_chain,
                        dnssec,
                        // A TLSA lookup is written by the general writer,
                        // held to serde_json by its own tests and by the
                        // DANE routes of the integration tests.
                        tlsa: None,
                        tls,
                        rule,
                        detail,
                    }
                },
            )
    }

    fn warning() -> impl Strategy<Value = Warning> {
        (code(), text()).prop_map(|(code, message)| Warning { code, message })
    }

    fn route_error() -> impl Strategy<Value = RouteError> {
        (code(), code(), text()).prop_map(|(code, dsn, message)| RouteError { code, dsn, message })
    }

    fn route() -> impl Strategy<Value = Route> {
        (
            (
                text(),
                prop::sample::select(vec![
                    RouteVerdict::Deliverable,
                    RouteVerdict::Permanent,
                    RouteVerdict::Temporary,
                ]),
                prop::sample::select(RouteKind::ALL.to_vec()),
                prop::collection::vec(candidate(), 0..4),
                prop::collection::vec(record(), 0..4),
                prop::collection::vec(exchanger(), 0..4),
            ),
            (
                prop::collection::vec(text(), 0..3),
                prop::option::of(any::<u32>()),
                prop::option::of(dnssec()),
                prop::option::of(prop::option::of(prop::collection::vec(text(), 0..3))),
                prop::collection::vec(warning(), 0..3),
                prop::option::of(route_error()),
            ),
        )
            .prop_map(
                |(
                    (domain, status, outcome, candidates, records, exchangers),
                    (cname_chain, ttl, dnssec, tls_rpt, warnings, error),
                )| Route {
                    domain,
                    status,
                    outcome,
                    candidates,
                    records,
                    exchangers,
                    cname_chain,
                    ttl,
                    dnssec,
                    // A policy is written by the general writer, held to
                    // serde_json by its own tests and by the MTA-STS
                    // routes of the integration tests.
                    mta_sts: None,
                    tls_rpt,
                    warnings,
                    error,
                },
            )
    }

    proptest! {
        #[test]
        fn any_route_is_written_as_serde_json_does(route in route()) {
            same(&route)?;
        }
    }

    #[test]
    fn every_word_is_the_one_serde_writes() {
        for state in ExchangerState::ALL {
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{}\"", state.code())
            );
        }
        for kind in RouteKind::ALL {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.code())
            );
        }
        for status in [
            RouteVerdict::Deliverable,
            RouteVerdict::Permanent,
            RouteVerdict::Temporary,
        ] {
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{}\"", status_code(status))
            );
        }
    }
}
