//! The RDATA of a record from its tokens: the common types parsed here,
//! the generic `\#` form (RFC 3597 section 5), the rest through
//! hickory-proto's zone parser.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::panic::{AssertUnwindSafe, catch_unwind};

use hickory_proto::rr::RecordSet;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, NULL, PTR, SOA, SRV, TXT};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};
use hickory_proto::serialize::txt::Parser;

use super::lex::Token;
use super::text::{
    EscapeError, NameError, NumberError, SPF, StringError, character_string, parse_name,
    parse_number, parse_ttl, type_name, unescape,
};
use super::{Name, RData, RecordType};

/// Why the RDATA of a record is bad (the record type and the token at
/// fault, shown, where there is one).
#[derive(Debug, thiserror::Error)]
pub(super) enum RdataError {
    #[error(
        "{} record needs {n} field{} ({desc}), found {found}",
        type_name(*.rtype),
        if *.n == 1 { "" } else { "s" }
    )]
    Fields {
        rtype: RecordType,
        n: usize,
        desc: &'static str,
        found: usize,
    },
    #[error("bad {what} {shown} in {} record: {why}", type_name(*.rtype))]
    Name {
        what: &'static str,
        shown: String,
        rtype: RecordType,
        why: NameError,
    },
    #[error(transparent)]
    Number(#[from] NumberError),
    /// Not an address of the record's family (A: IPv4, AAAA: IPv6).
    #[error(
        "bad {} address {shown} in {} record",
        if *.rtype == RecordType::A { "IPv4" } else { "IPv6" },
        type_name(*.rtype)
    )]
    Address { shown: String, rtype: RecordType },
    #[error("bad {what} {shown} in SOA record")]
    SoaTimer { what: &'static str, shown: String },
    #[error("{} record needs at least one string", type_name(*.0))]
    NoString(RecordType),
    #[error("{} record: {why}", type_name(*.rtype))]
    String { rtype: RecordType, why: StringError },
    #[error("{} record longer than 65535 bytes", type_name(*.0))]
    TooLong(RecordType),
    #[error("{} is not a type of record a zone can hold", type_name(*.0))]
    NotZoneData(RecordType),
    /// DNSSEC types: hickory-proto is built without their text form.
    #[error(
        "{} records are not supported in text form (load the unsigned zone, \
         or write them as \"TYPE{} \\# LENGTH HEX\", RFC 3597)",
        type_name(*.0),
        u16::from(*.0)
    )]
    Dnssec(RecordType),
    #[error("no text form known for TYPE{0}: write it as \"TYPE{0} \\# LENGTH HEX\" (RFC 3597)")]
    NoTextForm(u16),
    #[error("{} record: \\# needs a length", type_name(*.0))]
    NoLength(RecordType),
    #[error("bad hex {shown} in {} record", type_name(*.rtype))]
    Hex { shown: String, rtype: RecordType },
    #[error("{} record: odd number of hex digits", type_name(*.0))]
    OddHex(RecordType),
    #[error(
        "{} record: \\# says {said} bytes but the hex has {has}",
        type_name(*.rtype)
    )]
    Length {
        rtype: RecordType,
        said: u16,
        has: usize,
    },
    /// The `\#` form's octets are not RDATA of the type (hickory-proto's
    /// message, when it gave one).
    #[error("bad RDATA for {} in \\# form{}", type_name(*.rtype), colon(.why))]
    Wire {
        rtype: RecordType,
        why: Option<String>,
    },
    /// A quoted token with a bad escape, for hickory-proto's parser.
    #[error("bad string {shown}: {why}")]
    Escape { shown: String, why: EscapeError },
    /// hickory-proto's zone parser refused the record (its message, when
    /// it gave one).
    #[error("bad {} record{}", type_name(*.rtype), colon(.why))]
    Hickory {
        rtype: RecordType,
        why: Option<String>,
    },
}

/// `: why`, or nothing.
fn colon(why: &Option<String>) -> String {
    why.as_ref().map(|w| format!(": {w}")).unwrap_or_default()
}

fn fields<'t>(
    tokens: &'t [Token],
    n: usize,
    rtype: RecordType,
    desc: &'static str,
) -> Result<&'t [Token], RdataError> {
    if tokens.len() == n {
        Ok(tokens)
    } else {
        Err(RdataError::Fields {
            rtype,
            n,
            desc,
            found: tokens.len(),
        })
    }
}

fn rdata_name(
    token: &Token,
    origin: Option<&Name>,
    what: &'static str,
    rtype: RecordType,
) -> Result<Name, RdataError> {
    parse_name(token, origin).map_err(|why| RdataError::Name {
        what,
        shown: token.shown(),
        rtype,
        why,
    })
}

/// The one field of an A or AAAA record: an address of `T`'s family,
/// not quoted.
fn address<T: std::str::FromStr>(tokens: &[Token], rtype: RecordType) -> Result<T, RdataError> {
    let desc = if rtype == RecordType::A {
        "an IPv4 address"
    } else {
        "an IPv6 address"
    };
    let f = fields(tokens, 1, rtype, desc)?;
    f[0].as_str()
        .and_then(|s| s.parse::<T>().ok())
        .filter(|_| !f[0].quoted)
        .ok_or_else(|| RdataError::Address {
            shown: f[0].shown(),
            rtype,
        })
}

pub(super) fn parse_rdata(
    rtype: RecordType,
    tokens: &[Token],
    origin: Option<&Name>,
) -> Result<RData, RdataError> {
    if tokens.first().is_some_and(|t| t.is("\\#")) {
        return generic_rdata(rtype, &tokens[1..]);
    }
    let rdata = match rtype {
        RecordType::A => RData::A(A(address::<Ipv4Addr>(tokens, rtype)?)),
        RecordType::AAAA => RData::AAAA(AAAA(address::<Ipv6Addr>(tokens, rtype)?)),
        RecordType::NS => {
            let f = fields(tokens, 1, rtype, "a name server")?;
            RData::NS(NS(rdata_name(&f[0], origin, "name server", rtype)?))
        }
        RecordType::CNAME => {
            let f = fields(tokens, 1, rtype, "a target name")?;
            RData::CNAME(CNAME(rdata_name(&f[0], origin, "target", rtype)?))
        }
        RecordType::PTR => {
            let f = fields(tokens, 1, rtype, "a target name")?;
            RData::PTR(PTR(rdata_name(&f[0], origin, "target", rtype)?))
        }
        RecordType::MX => {
            let f = fields(tokens, 2, rtype, "preference and exchange")?;
            let preference = parse_number(&f[0], "preference", rtype)?;
            RData::MX(MX::new(
                preference,
                rdata_name(&f[1], origin, "exchange", rtype)?,
            ))
        }
        RecordType::SRV => {
            let f = fields(tokens, 4, rtype, "priority, weight, port and target")?;
            RData::SRV(SRV::new(
                parse_number(&f[0], "priority", rtype)?,
                parse_number(&f[1], "weight", rtype)?,
                parse_number(&f[2], "port", rtype)?,
                rdata_name(&f[3], origin, "target", rtype)?,
            ))
        }
        RecordType::SOA => soa_rdata(tokens, origin)?,
        RecordType::TXT | RecordType::Unknown(SPF) => strings_rdata(rtype, tokens)?,
        _ => {
            if let Some(why) = no_text_form(rtype) {
                return Err(why);
            }
            hickory_rdata(rtype, tokens, origin)?
        }
    };
    Ok(rdata)
}

/// SOA: primary, mailbox, serial and the four timers (RFC 1035 section
/// 3.3.13; a timer may be written with TTL units).
fn soa_rdata(tokens: &[Token], origin: Option<&Name>) -> Result<RData, RdataError> {
    let rtype = RecordType::SOA;
    let f = fields(
        tokens,
        7,
        rtype,
        "primary, mailbox, serial, refresh, retry, expire and minimum",
    )?;
    let timer = |tok: &Token, what: &'static str| {
        parse_ttl(tok).map_err(|_| RdataError::SoaTimer {
            what,
            shown: tok.shown(),
        })
    };
    Ok(RData::SOA(SOA::new(
        rdata_name(&f[0], origin, "primary name server", rtype)?,
        rdata_name(&f[1], origin, "mailbox", rtype)?,
        parse_number(&f[2], "serial", rtype)?,
        timer(&f[3], "refresh")? as i32,
        timer(&f[4], "retry")? as i32,
        timer(&f[5], "expire")? as i32,
        timer(&f[6], "minimum")?,
    )))
}

/// TXT and SPF: one or more `<character-string>`s (RFC 1035 section 3.3.14).
fn strings_rdata(rtype: RecordType, tokens: &[Token]) -> Result<RData, RdataError> {
    if tokens.is_empty() {
        return Err(RdataError::NoString(rtype));
    }
    let strings = tokens
        .iter()
        .map(|tok| character_string(tok).map_err(|why| RdataError::String { rtype, why }))
        .collect::<Result<Vec<_>, _>>()?;
    if rtype == RecordType::TXT {
        return Ok(RData::TXT(TXT::from_bytes(
            strings.iter().map(Vec::as_slice).collect(),
        )));
    }
    let mut wire = Vec::new();
    for s in &strings {
        wire.push(s.len() as u8);
        wire.extend_from_slice(s);
    }
    if wire.len() > usize::from(u16::MAX) {
        return Err(RdataError::TooLong(rtype));
    }
    Ok(RData::Unknown {
        code: rtype,
        rdata: NULL::with(wire),
    })
}

/// Why a type has no text form here, if it has none: not zone data,
/// DNSSEC (hickory-proto is built without it) or a code without a
/// mnemonic; the `\#` form (RFC 3597) loads the last two. The other types
/// go to hickory-proto's zone parser.
fn no_text_form(rtype: RecordType) -> Option<RdataError> {
    Some(match rtype {
        RecordType::ANY
        | RecordType::AXFR
        | RecordType::IXFR
        | RecordType::OPT
        | RecordType::TSIG
        | RecordType::SIG
        | RecordType::ZERO => RdataError::NotZoneData(rtype),
        RecordType::DNSKEY
        | RecordType::CDNSKEY
        | RecordType::KEY
        | RecordType::DS
        | RecordType::CDS
        | RecordType::NSEC
        | RecordType::NSEC3
        | RecordType::NSEC3PARAM
        | RecordType::RRSIG => RdataError::Dnssec(rtype),
        RecordType::Unknown(code) => RdataError::NoTextForm(code),
        _ => return None,
    })
}

/// `\# LENGTH HEX...` (RFC 3597 section 5).
fn generic_rdata(rtype: RecordType, tokens: &[Token]) -> Result<RData, RdataError> {
    let Some((len, hex)) = tokens.split_first() else {
        return Err(RdataError::NoLength(rtype));
    };
    let len: u16 = parse_number(len, "\\# length", rtype)?;
    let mut digits = Vec::new();
    for tok in hex {
        if tok.quoted || !tok.text.iter().all(u8::is_ascii_hexdigit) {
            return Err(RdataError::Hex {
                shown: tok.shown(),
                rtype,
            });
        }
        digits.extend_from_slice(&tok.text);
    }
    if digits.len() % 2 != 0 {
        return Err(RdataError::OddHex(rtype));
    }
    let bytes: Vec<u8> = digits
        .chunks(2)
        .map(|p| {
            let v = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            (v(p[0]) << 4) | v(p[1])
        })
        .collect();
    if bytes.len() != usize::from(len) {
        return Err(RdataError::Length {
            rtype,
            said: len,
            has: bytes.len(),
        });
    }
    if bytes.is_empty() && matches!(rtype, RecordType::Unknown(_)) {
        return Ok(RData::Unknown {
            code: rtype,
            rdata: NULL::new(),
        });
    }
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        let mut decoder = BinDecoder::new(&bytes);
        RData::read(&mut decoder, rtype, Restrict::new(len))
    }));
    match decoded {
        Ok(Ok(RData::Update0(_))) | Err(_) => Err(RdataError::Wire { rtype, why: None }),
        Ok(Ok(rdata)) => Ok(rdata),
        Ok(Err(e)) => Err(RdataError::Wire {
            rtype,
            why: Some(e.to_string()),
        }),
    }
}

/// The other types: one synthetic line through hickory-proto's zone parser.
fn hickory_rdata(
    rtype: RecordType,
    tokens: &[Token],
    origin: Option<&Name>,
) -> Result<RData, RdataError> {
    let t = type_name(rtype);
    let origin_text = origin.map_or_else(|| ".".to_string(), Name::to_ascii);
    let mut text = format!("$ORIGIN {origin_text}\n@ 0 IN {t}");
    for tok in tokens {
        let content = if tok.quoted {
            let bytes = unescape(&tok.text).map_err(|why| RdataError::Escape {
                shown: tok.shown(),
                why,
            })?;
            String::from_utf8_lossy(&bytes).into_owned()
        } else if tok.is("@") {
            origin_text.clone()
        } else {
            String::from_utf8_lossy(&tok.text).into_owned()
        };
        text.push_str(" \"");
        for c in content.chars() {
            if c == '"' || c == '\\' {
                text.push('\\');
            }
            text.push(c);
        }
        text.push('"');
    }
    text.push('\n');
    let parsed = catch_unwind(AssertUnwindSafe(|| Parser::new(text, None, None).parse()));
    let map = match parsed {
        Ok(Ok((_, map))) => map,
        Ok(Err(e)) => {
            return Err(RdataError::Hickory {
                rtype,
                why: Some(e.to_string()),
            });
        }
        Err(_) => return Err(RdataError::Hickory { rtype, why: None }),
    };
    map.into_values()
        .next()
        .as_ref()
        .and_then(RecordSet::record)
        .map(|r| r.data.clone())
        .ok_or(RdataError::Hickory { rtype, why: None })
}
