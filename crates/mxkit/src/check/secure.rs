//! Rules: DNSSEC status and DANE's TLSA records (docs/rules/check.md, row
//! MX19; docs/rules/secure.md, Rules S1 to S5).
//!
//! They read the route the check already made (a sender's view with DANE:
//! each lookup's status, each exchanger's TLSA lookup) and ask one more
//! question per exchanger whose addresses are not signed: are TLSA records
//! published there anyway (`tlsa-insecure`)? Whether a presented
//! certificate matches the records (`tlsa-mismatch`) is the SMTP family's
//! rule: it needs a connection.
//!
//! The status comes from the resolver's AD bit. Zone files have none of
//! their own: with `--zone` over live DNS, a zone live DNS serves signed
//! counts as signed (its new version is expected to stay signed), the rest
//! as unsigned; offline (and with `--dnssec off`) these rules are reported
//! as not run, with the reason.

use super::{
    Context, DNSSEC_BOGUS, DNSSEC_UNSIGNED, Evidence, Findings, Rule, TLSA_INSECURE,
    TLSA_LOOKUP_FAILED, TLSA_NO_ROLLOVER, TLSA_UNUSABLE,
};
use crate::dane::{Tlsa, TlsaRecord, TlsaStatus, tlsa_name};
use crate::dns::{Dnssec, RecordType, resolve};
use crate::route::{Exchanger, ExchangerState};

const ALL: [&Rule; 6] = [
    &DNSSEC_UNSIGNED,
    &DNSSEC_BOGUS,
    &TLSA_LOOKUP_FAILED,
    &TLSA_INSECURE,
    &TLSA_UNUSABLE,
    &TLSA_NO_ROLLOVER,
];

/// Run this family's rules; `dnssec`: whether lookups have a status.
pub async fn check(ctx: &Context<'_>, dnssec: bool, out: &mut Findings) {
    if !dnssec {
        out.skipped(&ALL, "--dnssec off: no DNSSEC status, hence no DANE");
        return;
    }
    if ctx.live.is_none() {
        out.skipped(
            &ALL,
            "offline: zone files alone carry no DNSSEC status (mxkit checks no signatures); with live DNS, a zone it serves signed counts as signed",
        );
        return;
    }
    let domain = ctx.domain.as_str();
    let server = ctx.mx.server.to_string();
    let mx_status = ctx.route.dnssec.unwrap_or(Dnssec::Indeterminate);
    match mx_status {
        Dnssec::Bogus => {
            out.add(
                &DNSSEC_BOGUS,
                domain,
                format!("the MX lookup for {domain} fails DNSSEC validation ({}): validating resolvers answer SERVFAIL, so their senders defer all mail to {domain}", ctx.mx.outcome),
            )
            .evidence(Evidence::dns(&server, ctx.domain.name(), RecordType::MX, ctx.mx.outcome.to_string()))
            .fix(format!("re-sign the zone of {domain} (expired or missing signatures), or make the DS records at its parent match its DNSKEY; check with `dig +dnssec {domain} MX` and `delv {domain} MX`"));
        }
        Dnssec::Insecure => {
            out.add(
                &DNSSEC_UNSIGNED,
                domain,
                format!("the MX records of {domain} are not DNSSEC-signed: senders cannot authenticate where mail goes (DANE then rests on the exchangers' own zones)"),
            )
            .evidence(Evidence::dns(&server, ctx.domain.name(), RecordType::MX, "answer without the AD bit"))
            .fix(format!("sign the zone of {domain} (most DNS hosts and name servers do it with one setting: Knot `dnssec-signing: on`, BIND `dnssec-policy default`) and publish its DS record at the parent"));
        }
        Dnssec::Secure | Dnssec::Indeterminate => {}
    }
    for ex in &ctx.route.exchangers {
        exchanger(ctx, ex, out).await;
    }
}

/// The rules on one exchanger.
async fn exchanger(ctx: &Context<'_>, ex: &Exchanger, out: &mut Findings) {
    let name = &ex.name;
    match ex.dnssec {
        Some(Dnssec::Bogus) => {
            out.add(
                &DNSSEC_BOGUS,
                name.as_str(),
                format!("the address lookup of exchanger {name} fails DNSSEC validation: validating senders cannot reach it"),
            )
            .evidence_all(ex.detail.iter().map(|d| Evidence {
                source: "resolver".into(),
                query: Some(format!("{name}. A/AAAA")),
                answer: d.clone(),
            }))
            .fix(format!("re-sign the zone of {name}, or fix the DS records at its parent"));
        }
        Some(Dnssec::Insecure) if ex.state == ExchangerState::Ok => {
            out.add(
                &DNSSEC_UNSIGNED,
                name.as_str(),
                format!("the addresses of exchanger {name} are not DNSSEC-signed: no sender can apply DANE to it (RFC 7672 section 2.2)"),
            )
            .fix(format!("sign the zone of {name} to let senders use DANE (TLSA records at _25._tcp.{name})"));
            tlsa_unsigned(ctx, ex, out).await;
        }
        _ => {}
    }
    let Some(tlsa) = &ex.tlsa else {
        return;
    };
    let owner = format!("_25._tcp.{}", tlsa.base);
    let evidence = tlsa_evidence(&owner, tlsa);
    match tlsa.status {
        TlsaStatus::Failed => {
            let why = tlsa.error.clone().unwrap_or_default();
            out.add(
                &TLSA_LOOKUP_FAILED,
                name.as_str(),
                format!("the TLSA lookup for exchanger {name} fails ({why}): its addresses are signed, so DANE senders (Postfix, Exim, Exchange Online) must see its TLSA answer and defer mail to it meanwhile"),
            )
            .evidence_all(evidence)
            .fix(format!("make {owner} TLSA answer NOERROR (records or a signed denial): a name server that drops or refuses TLSA queries, or a broken signature on that name, makes every DANE sender defer"));
        }
        TlsaStatus::None if !tlsa.records.is_empty() => {
            out.add(
                &TLSA_INSECURE,
                name.as_str(),
                format!("{owner} has TLSA records, but they are not DNSSEC-signed (the name is in an unsigned zone): no sender uses them"),
            )
            .evidence_all(evidence)
            .fix(format!("sign the zone that holds {owner}, or remove the records"));
        }
        TlsaStatus::Unusable => {
            let why: Vec<String> = tlsa
                .records
                .iter()
                .filter_map(|r| r.unusable().map(|w| format!("{r}: {w}")))
                .collect();
            out.add(
                &TLSA_UNUSABLE,
                name.as_str(),
                format!("every TLSA record of {owner} is unusable for SMTP ({}): DANE senders still require TLS but accept any certificate", why.join("; ")),
            )
            .evidence_all(evidence)
            .fix(format!("publish a DANE-EE record for the server's key: `{owner}. IN TLSA 3 1 1 <SHA-256 of the certificate's public key>` (`mxkit check --smtp` shows the value for the certificate presented now), and remove the PKIX ones (usages 0 and 1 are not for SMTP, RFC 7672 section 3.1)"));
        }
        TlsaStatus::Usable => no_rollover(name, &owner, tlsa, evidence, out),
        TlsaStatus::None => {}
    }
}

/// `tlsa-no-rollover`: one DANE-EE record and nothing else: the next key
/// (or certificate, for selector 0) breaks delivery unless its record is
/// published first (RFC 7671 section 8.1, "current + next").
fn no_rollover(name: &str, owner: &str, tlsa: &Tlsa, evidence: Vec<Evidence>, out: &mut Findings) {
    let usable: Vec<&TlsaRecord> = tlsa.usable().collect();
    let [only] = usable.as_slice() else {
        return;
    };
    if only.usage != 3 {
        return;
    }
    out.add(
        &TLSA_NO_ROLLOVER,
        name,
        format!("{owner} has a single DANE-EE record ({only}): when the server's key changes, DANE senders refuse it until the record is changed and old answers expire from caches"),
    )
    .evidence_all(evidence)
    .fix(format!("to roll the key without breaking delivery: make the next key now, publish its record beside the current one (`{owner}. IN TLSA 3 1 1 <SHA-256 of the next key>`), wait two TTLs of the TLSA records, switch the server to the next key, then remove the old record. A `2 0 1` record for the issuing CA as well also survives a renewal"));
}

/// `tlsa-insecure` for an exchanger whose addresses are not signed: the
/// route never asks its TLSA records (Rule S2), so ask here.
async fn tlsa_unsigned(ctx: &Context<'_>, ex: &Exchanger, out: &mut Findings) {
    let Ok(host) = crate::dns::Name::from_ascii(&ex.name) else {
        return;
    };
    let Some(qname) = tlsa_name(&host) else {
        return;
    };
    let answer = resolve(ctx.lookup, &qname, RecordType::TLSA).await;
    let records: Vec<TlsaRecord> = answer
        .outcome
        .records()
        .iter()
        .filter_map(|r| TlsaRecord::from_rdata(&r.data))
        .collect();
    if records.is_empty() {
        return;
    }
    let owner = format!("_25._tcp.{}", ex.name);
    out.add(
        &TLSA_INSECURE,
        ex.name.as_str(),
        format!("{owner} has TLSA records, but the addresses of {} are not DNSSEC-signed: no sender uses them (RFC 7672 section 2.2)", ex.name),
    )
    .evidence_all(records.iter().map(|r| Evidence {
        source: answer.server.to_string(),
        query: Some(format!("{owner}. TLSA")),
        answer: r.to_string(),
    }))
    .fix(format!("sign the zone of {} (and publish its DS record), or remove the TLSA records", ex.name));
}

fn tlsa_evidence(owner: &str, tlsa: &Tlsa) -> Vec<Evidence> {
    let query = Some(format!("{owner}. TLSA"));
    if tlsa.records.is_empty() {
        return vec![Evidence {
            source: "resolver".into(),
            query,
            answer: tlsa
                .error
                .clone()
                .unwrap_or_else(|| format!("no records ({})", tlsa.dnssec)),
        }];
    }
    tlsa.records
        .iter()
        .map(|r| Evidence {
            source: format!("resolver ({})", tlsa.dnssec),
            query: query.clone(),
            answer: r.to_string(),
        })
        .collect()
}
