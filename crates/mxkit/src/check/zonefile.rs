//! Rules on the loaded zone files themselves (`--zone`), whatever the
//! domain checked: `zone-apex-incomplete`, a zone without an SOA record or
//! without NS records at its apex (RFC 1035 section 5.2: exactly one SOA at
//! the top of the zone; RFC 1034 section 4.2.1: the top node holds the
//! zone's NS records). named-checkzone refuses to load such a zone, and
//! knotd one without an SOA, so publishing the file would not change what
//! senders see (the servers keep the old zone) or would take the domain off
//! the air.
//!
//! Every loaded zone is looked at, not only the one holding the domain: a
//! reverse zone loaded with the forward one is published too. Evidence: the
//! file, and the question it has no answer to (`example.org. NS`).

use super::addresses::dotted;
use super::{Context, Evidence, Findings, ZONE_APEX_INCOMPLETE};
use crate::dns::{RData, RecordType};

/// Run this family's rule.
pub fn check(ctx: &Context<'_>, out: &mut Findings) {
    for zone in ctx.zones.zones() {
        let soa = zone.soa();
        let has_ns = zone
            .records_at(&zone.origin)
            .iter()
            .any(|r| r.record.record_type() == RecordType::NS);
        if soa.is_some() && has_ns {
            continue;
        }
        let origin = dotted(&zone.origin);
        let file = zone.file.display().to_string();
        let mut missing = Vec::new();
        if soa.is_none() {
            missing.push(RecordType::SOA);
        }
        if !has_ns {
            missing.push(RecordType::NS);
        }
        let what = missing
            .iter()
            .map(|t| format!("no {t} record"))
            .collect::<Vec<_>>()
            .join(" and ");
        // The primary name server, from the SOA when there is one.
        let primary = match soa.as_ref().map(|r| &r.record.data) {
            Some(RData::SOA(s)) => dotted(&s.mname),
            _ => format!("ns1.{origin}"),
        };
        let mut fixes = Vec::new();
        if soa.is_none() {
            fixes.push(format!(
                "add the start of authority at the zone's apex: `{origin} IN SOA {primary} \
                 hostmaster.{origin} 1 7200 900 1209600 300` (with your primary name server \
                 and contact)"
            ));
        }
        if !has_ns {
            fixes.push(format!(
                "add the name servers of the zone at its apex: `{origin} IN NS {primary}`"
            ));
        }
        // What the servers do with it (BIND 9.18, Knot DNS 3.2).
        let servers = if soa.is_none() {
            "named-checkzone and knotd refuse to load such a zone, so publishing it would \
             leave the name servers serving the old zone, or none"
        } else {
            "named-checkzone refuses to load such a zone (BIND would not serve it; knotd \
             serves it with a warning), and its servers could not name themselves when \
             asked for its NS records"
        };
        out.add(
            &ZONE_APEX_INCOMPLETE,
            origin.clone(),
            format!("the zone file {file} (zone {origin}) has {what} at its apex: {servers}"),
        )
        .evidence_all(missing.iter().map(|t| Evidence {
            source: file.clone(),
            query: Some(format!("{origin} {t}")),
            answer: format!("no {t} record at the apex in the file"),
        }))
        .fix(fixes.join("; "));
    }
}
