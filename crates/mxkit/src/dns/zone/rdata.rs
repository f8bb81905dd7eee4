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
    SPF, character_string, parse_name, parse_ttl, parse_u16, parse_u32, type_name, unescape,
};
use super::{Name, RData, RecordType};

fn fields<'t>(
    tokens: &'t [Token],
    n: usize,
    rtype: &str,
    desc: &str,
) -> Result<&'t [Token], String> {
    if tokens.len() == n {
        Ok(tokens)
    } else {
        Err(format!(
            "{rtype} record needs {n} field{} ({desc}), found {}",
            if n == 1 { "" } else { "s" },
            tokens.len()
        ))
    }
}

fn rdata_name(
    token: &Token,
    origin: Option<&Name>,
    what: &str,
    rtype: &str,
) -> Result<Name, String> {
    parse_name(token, origin)
        .map_err(|e| format!("bad {what} {} in {rtype} record: {e}", token.shown()))
}

pub(super) fn parse_rdata(
    rtype: RecordType,
    tokens: &[Token],
    origin: Option<&Name>,
) -> Result<RData, String> {
    let tn = type_name(rtype);
    let t = tn.as_str();
    if tokens.first().is_some_and(|t| t.is("\\#")) {
        return generic_rdata(rtype, &tokens[1..]);
    }
    let rdata = match rtype {
        RecordType::A => {
            let f = fields(tokens, 1, t, "an IPv4 address")?;
            let addr = f[0]
                .as_str()
                .and_then(|s| s.parse::<Ipv4Addr>().ok())
                .filter(|_| !f[0].quoted)
                .ok_or_else(|| format!("bad IPv4 address {} in A record", f[0].shown()))?;
            RData::A(A(addr))
        }
        RecordType::AAAA => {
            let f = fields(tokens, 1, t, "an IPv6 address")?;
            let addr = f[0]
                .as_str()
                .and_then(|s| s.parse::<Ipv6Addr>().ok())
                .filter(|_| !f[0].quoted)
                .ok_or_else(|| format!("bad IPv6 address {} in AAAA record", f[0].shown()))?;
            RData::AAAA(AAAA(addr))
        }
        RecordType::NS => {
            let f = fields(tokens, 1, t, "a name server")?;
            RData::NS(NS(rdata_name(&f[0], origin, "name server", t)?))
        }
        RecordType::CNAME => {
            let f = fields(tokens, 1, t, "a target name")?;
            RData::CNAME(CNAME(rdata_name(&f[0], origin, "target", t)?))
        }
        RecordType::PTR => {
            let f = fields(tokens, 1, t, "a target name")?;
            RData::PTR(PTR(rdata_name(&f[0], origin, "target", t)?))
        }
        RecordType::MX => {
            let f = fields(tokens, 2, t, "preference and exchange")?;
            let preference = parse_u16(&f[0], "preference", t)?;
            RData::MX(MX::new(
                preference,
                rdata_name(&f[1], origin, "exchange", t)?,
            ))
        }
        RecordType::SRV => {
            let f = fields(tokens, 4, t, "priority, weight, port and target")?;
            RData::SRV(SRV::new(
                parse_u16(&f[0], "priority", t)?,
                parse_u16(&f[1], "weight", t)?,
                parse_u16(&f[2], "port", t)?,
                rdata_name(&f[3], origin, "target", t)?,
            ))
        }
        RecordType::SOA => soa_rdata(tokens, origin, t)?,
        RecordType::TXT | RecordType::Unknown(SPF) => strings_rdata(rtype, tokens, t)?,
        RecordType::ANY
        | RecordType::AXFR
        | RecordType::IXFR
        | RecordType::OPT
        | RecordType::TSIG
        | RecordType::SIG
        | RecordType::ZERO
        | RecordType::DNSKEY
        | RecordType::CDNSKEY
        | RecordType::KEY
        | RecordType::DS
        | RecordType::CDS
        | RecordType::NSEC
        | RecordType::NSEC3
        | RecordType::NSEC3PARAM
        | RecordType::RRSIG
        | RecordType::Unknown(_) => return Err(no_text_form(rtype, t)),
        _ => hickory_rdata(rtype, tokens, origin)?,
    };
    Ok(rdata)
}

/// SOA: primary, mailbox, serial and the four timers (RFC 1035 section
/// 3.3.13; a timer may be written with TTL units).
fn soa_rdata(tokens: &[Token], origin: Option<&Name>, t: &str) -> Result<RData, String> {
    let f = fields(
        tokens,
        7,
        t,
        "primary, mailbox, serial, refresh, retry, expire and minimum",
    )?;
    let timer = |tok: &Token, what: &str| {
        parse_ttl(tok).map_err(|_| format!("bad {what} {} in SOA record", tok.shown()))
    };
    Ok(RData::SOA(SOA::new(
        rdata_name(&f[0], origin, "primary name server", t)?,
        rdata_name(&f[1], origin, "mailbox", t)?,
        parse_u32(&f[2], "serial", t)?,
        timer(&f[3], "refresh")? as i32,
        timer(&f[4], "retry")? as i32,
        timer(&f[5], "expire")? as i32,
        timer(&f[6], "minimum")?,
    )))
}

/// TXT and SPF: one or more `<character-string>`s (RFC 1035 section 3.3.14).
fn strings_rdata(rtype: RecordType, tokens: &[Token], t: &str) -> Result<RData, String> {
    if tokens.is_empty() {
        return Err(format!("{t} record needs at least one string"));
    }
    let strings = tokens
        .iter()
        .map(|tok| character_string(tok).map_err(|e| format!("{t} record: {e}")))
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
        return Err(format!("{t} record longer than 65535 bytes"));
    }
    Ok(RData::Unknown {
        code: rtype,
        rdata: NULL::with(wire),
    })
}

/// Why a type has no text form here: not zone data, DNSSEC (hickory-proto
/// is built without it) or a code without a mnemonic; the `\#` form
/// (RFC 3597) loads the last two.
fn no_text_form(rtype: RecordType, t: &str) -> String {
    match rtype {
        RecordType::ANY
        | RecordType::AXFR
        | RecordType::IXFR
        | RecordType::OPT
        | RecordType::TSIG
        | RecordType::SIG
        | RecordType::ZERO => format!("{t} is not a type of record a zone can hold"),
        RecordType::DNSKEY
        | RecordType::CDNSKEY
        | RecordType::KEY
        | RecordType::DS
        | RecordType::CDS
        | RecordType::NSEC
        | RecordType::NSEC3
        | RecordType::NSEC3PARAM
        | RecordType::RRSIG => format!(
            "{t} records are not supported in text form (load the unsigned zone, \
             or write them as \"TYPE{} \\# LENGTH HEX\", RFC 3597)",
            u16::from(rtype)
        ),
        _ => {
            let n = u16::from(rtype);
            format!(
                "no text form known for TYPE{n}: write it as \"TYPE{n} \\# LENGTH HEX\" (RFC 3597)"
            )
        }
    }
}

/// `\# LENGTH HEX...` (RFC 3597 section 5).
fn generic_rdata(rtype: RecordType, tokens: &[Token]) -> Result<RData, String> {
    let t = type_name(rtype);
    let Some((len, hex)) = tokens.split_first() else {
        return Err(format!("{t} record: \\# needs a length"));
    };
    let len = parse_u16(len, "\\# length", &t)?;
    let mut digits = Vec::new();
    for tok in hex {
        if tok.quoted || !tok.text.iter().all(u8::is_ascii_hexdigit) {
            return Err(format!("bad hex {} in {t} record", tok.shown()));
        }
        digits.extend_from_slice(&tok.text);
    }
    if digits.len() % 2 != 0 {
        return Err(format!("{t} record: odd number of hex digits"));
    }
    let bytes: Vec<u8> = digits
        .chunks(2)
        .map(|p| {
            let v = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            (v(p[0]) << 4) | v(p[1])
        })
        .collect();
    if bytes.len() != usize::from(len) {
        return Err(format!(
            "{t} record: \\# says {len} bytes but the hex has {}",
            bytes.len()
        ));
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
        Ok(Ok(RData::Update0(_))) | Err(_) => Err(format!("bad RDATA for {t} in \\# form")),
        Ok(Ok(rdata)) => Ok(rdata),
        Ok(Err(e)) => Err(format!("bad RDATA for {t} in \\# form: {e}")),
    }
}

/// The other types: one synthetic line through hickory-proto's zone parser.
fn hickory_rdata(
    rtype: RecordType,
    tokens: &[Token],
    origin: Option<&Name>,
) -> Result<RData, String> {
    let t = type_name(rtype);
    let origin_text = origin.map_or_else(|| ".".to_string(), Name::to_ascii);
    let mut text = format!("$ORIGIN {origin_text}\n@ 0 IN {t}");
    for tok in tokens {
        let content = if tok.quoted {
            let bytes =
                unescape(&tok.text).map_err(|e| format!("bad string {}: {e}", tok.shown()))?;
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
        Ok(Err(e)) => return Err(format!("bad {t} record: {e}")),
        Err(_) => return Err(format!("bad {t} record")),
    };
    map.into_values()
        .next()
        .as_ref()
        .and_then(RecordSet::record)
        .map(|r| r.data.clone())
        .ok_or_else(|| format!("bad {t} record"))
}
