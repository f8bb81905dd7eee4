//! Rules: MTA-STS and TLS-RPT (docs/rules/check.md, rows MX27 to MX30;
//! docs/rules/secure.md, Rules S7 to S12).
//!
//! The records are read through the check's view (zone files over live
//! DNS), the policy is fetched live (never from a cache: a check judges
//! what is published) or read from the file given for the domain
//! (`--mta-sts-policy`, the pre-publish case). `mta-sts-certificate` needs
//! a connection and lives with the SMTP rules ([`super::smtp`]).

use super::{
    Context, Evidence, Findings, MTA_STS_CERTIFICATE, MTA_STS_ID_STALE, MTA_STS_MX_MISMATCH,
    MTA_STS_POLICY_INVALID, MTA_STS_POLICY_UNREACHABLE, MTA_STS_RECORD_INVALID, Rule, Severity,
    TLS_RPT_INVALID, TLS_RPT_MISSING,
};
use crate::dane::TlsaStatus;
use crate::dns::{Answer, RecordType, resolve};
use crate::mta_sts::{self, Mode, Policy, Records, fetch::POLICY_PATH};
use crate::route::RouteKind;

const ALL: [&Rule; 8] = [
    &MTA_STS_RECORD_INVALID,
    &MTA_STS_POLICY_UNREACHABLE,
    &MTA_STS_POLICY_INVALID,
    &MTA_STS_MX_MISMATCH,
    &MTA_STS_CERTIFICATE,
    &MTA_STS_ID_STALE,
    &TLS_RPT_MISSING,
    &TLS_RPT_INVALID,
];

/// A policy to judge, and where it came from.
struct Judged {
    policy: Policy,
    text: String,
    /// `https://...` or the file given.
    source: String,
}

/// Run this family's rules.
pub async fn check(ctx: &Context<'_>, out: &mut Findings) {
    let Some(config) = ctx.mta_sts else {
        out.skipped(&ALL, "--mta-sts off");
        return;
    };
    let domain = ctx.domain.as_str();
    let Some((sts_name, rpt_name)) = mta_sts::record_names(ctx.domain.name()) else {
        return;
    };
    let (sts_txt, rpt_txt) = futures::future::join(
        resolve(ctx.lookup, &sts_name, RecordType::TXT),
        resolve(ctx.lookup, &rpt_name, RecordType::TXT),
    )
    .await;
    let sts = mta_sts::sts_records(&mta_sts::txt_strings(&sts_txt.outcome));
    let rpt = mta_sts::tlsrpt_records(&mta_sts::txt_strings(&rpt_txt.outcome));
    let file = config
        .files
        .iter()
        .find(|(d, _)| d == domain)
        .map(|(_, body)| body.clone());
    let evidence = |answer: &Answer, name: &crate::dns::Name| {
        let mut found = ctx.zone_records(name, RecordType::TXT, |_| true);
        if found.is_empty() {
            vec![Evidence::dns(
                &*answer.server,
                name,
                RecordType::TXT,
                answer.outcome.to_string(),
            )]
        } else {
            found.drain(..).map(|r| Evidence::zone(&r)).collect()
        }
    };
    let id_fix = format!(
        "publish exactly one record: `_mta-sts.{domain}. IN TXT \"v=STSv1; id=YYYYMMDDhhmmss\"` (1 to 32 letters and digits; change the id whenever the policy changes)"
    );
    // tls-rpt-invalid / tls-rpt-missing (Rule S12).
    if let (None, Some(why)) = (&rpt.valid, &rpt.problem) {
        out.add(&TLS_RPT_INVALID, format!("_smtp._tls.{domain}"), format!("{why}: senders send no TLS reports"))
            .evidence_all(evidence(&rpt_txt, &rpt_name))
            .fix(format!("publish one record: `_smtp._tls.{domain}. IN TXT \"v=TLSRPTv1; rua=mailto:tls-reports@{domain}\"`"));
    }
    let dane = ctx.route.exchangers.iter().any(|e| {
        e.tlsa
            .as_ref()
            .is_some_and(|t| matches!(t.status, TlsaStatus::Usable | TlsaStatus::Unusable))
    });
    if (sts.valid.is_some() || file.is_some() || dane)
        && rpt.valid.is_none()
        && rpt.problem.is_none()
    {
        let what = if dane { "DANE" } else { "MTA-STS" };
        out.add(&TLS_RPT_MISSING, format!("_smtp._tls.{domain}"), format!("{domain} publishes {what} but no TLS-RPT record: senders that fail to deliver over TLS cannot tell anyone"))
            .evidence_all(evidence(&rpt_txt, &rpt_name))
            .fix(format!("publish `_smtp._tls.{domain}. IN TXT \"v=TLSRPTv1; rua=mailto:tls-reports@{domain}\"` (RFC 8460; the reports are daily JSON summaries)"));
    }
    // mta-sts-record-invalid (Rule S7).
    if let Some(why) = &sts.problem {
        out.add(
            &MTA_STS_RECORD_INVALID,
            format!("_mta-sts.{domain}"),
            format!("{why}: senders apply no MTA-STS policy to {domain}"),
        )
        .evidence_all(evidence(&sts_txt, &sts_name))
        .fix(id_fix.clone());
    } else if sts.valid.is_none() && file.is_some() {
        out.add(&MTA_STS_RECORD_INVALID, format!("_mta-sts.{domain}"), format!("a policy is given for {domain}, but there is no _mta-sts record: senders never fetch it"))
            .evidence_all(evidence(&sts_txt, &sts_name))
            .fix(id_fix.clone());
    }
    if sts.valid.is_none() && file.is_none() {
        return;
    }
    // The policy: the file given, else the live one.
    let url = format!("https://mta-sts.{domain}{POLICY_PATH}");
    let live = match (&config.fetcher, ctx.live) {
        (Some(fetcher), Some(live)) => Some(fetcher.fetch(live, domain).await),
        _ => None,
    };
    let judged = match (&file, &live) {
        (Some(body), _) => Policy::parse(body).ok().map(|policy| Judged {
            policy,
            text: String::from_utf8_lossy(body).into_owned(),
            source: "the policy file given".into(),
        }),
        (None, Some(Ok(body))) => match Policy::parse(body) {
            Ok(policy) => Some(Judged {
                policy,
                text: String::from_utf8_lossy(body).into_owned(),
                source: url.clone(),
            }),
            Err(why) => {
                out.add(
                    &MTA_STS_POLICY_INVALID,
                    url.clone(),
                    format!("the policy at {url} is invalid: {why}; senders apply no policy"),
                )
                .evidence(Evidence {
                    source: url.clone(),
                    query: Some("GET".into()),
                    answer: excerpt(body),
                })
                .fix(format!("serve a policy such as:\n{}", example(ctx)));
                None
            }
        },
        (None, Some(Err(e))) => {
            let (rule, verb) = if e.is_content() {
                (&MTA_STS_POLICY_INVALID, "is not a policy file")
            } else {
                (&MTA_STS_POLICY_UNREACHABLE, "cannot be fetched")
            };
            let fix = match e.kind() {
                "redirect" => {
                    format!("serve the policy at {url} itself: senders follow no redirect")
                }
                "tls" => format!(
                    "install a certificate for mta-sts.{domain} from a public CA (the host name must be in its subjectAltName)"
                ),
                "content_type" => format!("serve {url} as text/plain"),
                "size" => "keep the policy under 64 KiB".to_string(),
                "dns" => format!("publish an A or AAAA record for mta-sts.{domain}"),
                _ => format!("make {url} answer 200 with the policy, within 10 seconds"),
            };
            out.add(rule, url.clone(), format!("the policy at {url} {verb} ({}): {e}; senders apply no policy, or keep a cached one until it expires", e.kind()))
                .evidence(Evidence { source: url.clone(), query: Some("GET".into()), answer: e.to_string() })
                .fix(fix);
            None
        }
        (None, None) => {
            out.skipped(&[&MTA_STS_POLICY_UNREACHABLE, &MTA_STS_POLICY_INVALID, &MTA_STS_MX_MISMATCH, &MTA_STS_ID_STALE], "offline: the policy is not fetched (give --mta-sts-policy DOMAIN=FILE to check a policy file)");
            None
        }
    };
    let Some(judged) = judged else {
        return;
    };
    mx_mismatch(ctx, &judged, out);
    id_stale(ctx, &judged, &sts, live.as_ref(), out).await;
}

/// `mta-sts-mx-mismatch` (Rule S10): every exchanger the MX records name
/// (the domain itself for implicit MX) that no pattern matches.
fn mx_mismatch(ctx: &Context<'_>, judged: &Judged, out: &mut Findings) {
    let severity = match judged.policy.mode {
        Mode::Enforce => Severity::Error,
        Mode::Testing => Severity::Warning,
        Mode::None => return,
    };
    let names = exchanger_names(ctx);
    let missing: Vec<&String> = names.iter().filter(|n| !judged.policy.matches(n)).collect();
    if missing.is_empty() {
        return;
    }
    let mut fixed = judged.policy.clone();
    fixed.mx.extend(missing.iter().map(|n| n.to_string()));
    for name in &missing {
        let effect = if judged.policy.mode == Mode::Enforce {
            "enforcing senders do not deliver to it"
        } else {
            "in enforce mode senders would not deliver to it"
        };
        out.add(&MTA_STS_MX_MISMATCH, name.as_str(), format!("exchanger {name} matches none of the mx patterns of {} ({}): {effect}", judged.source, judged.policy.mx.join(", ")))
            .evidence(Evidence { source: judged.source.clone(), query: None, answer: excerpt(judged.text.as_bytes()) })
            .severity(severity)
            .fix(format!("list it in the policy (a `*.` pattern stands for exactly one label), change the TXT id, and serve:\n{}", fixed.to_text()));
    }
}

/// `mta-sts-id-stale`: the policy about to be served (a file given) or now
/// served differs from the one senders have under the same TXT id: the
/// live one (pre-publish), or the one in the cache.
async fn id_stale(
    ctx: &Context<'_>,
    judged: &Judged,
    sts: &Records<mta_sts::StsRecord>,
    live: Option<&Result<Vec<u8>, mta_sts::FetchError>>,
    out: &mut Findings,
) {
    let domain = ctx.domain.as_str();
    let Some(new_id) = sts.valid.as_ref().map(|r| r.id.clone()) else {
        return;
    };
    // The policy senders have now under `old_id`.
    let mut old: Option<(String, String, String)> = None;
    if let (Some(Ok(body)), Some(live_lookup)) = (live, ctx.live)
        && judged.source != format!("https://mta-sts.{domain}{POLICY_PATH}")
        && let Some((name, _)) = mta_sts::record_names(ctx.domain.name())
    {
        let answer = resolve(live_lookup, &name, RecordType::TXT).await;
        if let Some(r) = mta_sts::sts_records(&mta_sts::txt_strings(&answer.outcome)).valid {
            old = Some((
                r.id,
                String::from_utf8_lossy(body).into_owned(),
                "the live policy".into(),
            ));
        }
    }
    if old.is_none()
        && let Some(cached) = ctx
            .mta_sts
            .and_then(|c| c.cache.as_ref())
            .and_then(|c| c.get(domain))
    {
        old = Some((cached.id, cached.text, "the cached policy".into()));
    }
    let Some((old_id, old_text, what)) = old else {
        return;
    };
    let same_policy = Policy::parse(old_text.as_bytes()).ok().as_ref() == Some(&judged.policy);
    if old_id != new_id || same_policy {
        return;
    }
    out.add(&MTA_STS_ID_STALE, format!("_mta-sts.{domain}"), format!("{} differs from {what}, but both have id {new_id}: senders that cached the old policy keep it for up to its max_age", judged.source))
        .evidence(Evidence { source: what, query: None, answer: excerpt(old_text.as_bytes()) })
        .fix(format!("change the id with the policy: `_mta-sts.{domain}. IN TXT \"v=STSv1; id={}\"`", next_id(&new_id)));
}

/// A new id: the time now, `YYYYMMDDhhmmss` (UTC), as many publishers
/// use; never the old one.
fn next_id(old: &str) -> String {
    let now = crate::smtp::iso8601(mta_sts::now().min(i64::MAX as u64) as i64);
    let mut id: String = now.chars().filter(char::is_ascii_digit).collect();
    if id == old {
        id.push('2');
    }
    id
}

/// The policy text as evidence: one line, CR and LF shown.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned();
    text.replace('\r', "\\r").replace('\n', "\\n")
}

/// The exchangers the MX records name, or the domain itself for implicit
/// MX: the names a policy must match.
fn exchanger_names(ctx: &Context<'_>) -> Vec<String> {
    let mut names: Vec<String> = ctx
        .route
        .records
        .iter()
        .filter(|r| r.exchanger != ".")
        .map(|r| r.exchanger.clone())
        .collect();
    if ctx.route.outcome == RouteKind::ImplicitMx {
        names.push(ctx.domain.as_str().to_string());
    }
    names.dedup();
    names
}

/// A policy listing the domain's exchangers (or the domain, when it has
/// none), for a fix.
fn example(ctx: &Context<'_>) -> String {
    let mut mx = exchanger_names(ctx);
    if mx.is_empty() {
        mx.push(ctx.domain.as_str().to_string());
    }
    Policy {
        mode: Mode::Testing,
        max_age: 604_800,
        mx,
    }
    .to_text()
}

/// `mta-sts-certificate` (Rule S11), from the SMTP rules: the certificate
/// of an exchanger the policy applies to is not PKIX-valid for its name.
/// Severity: error under enforce, warning under testing. Returns whether
/// it fired.
pub(crate) fn certificate(
    ctx: &Context<'_>,
    out: &mut Findings,
    exchanger: &str,
    subject: &str,
    problems: &[String],
    evidence: Evidence,
) -> bool {
    let Some(policy) = ctx
        .route
        .mta_sts
        .as_ref()
        .and_then(|m| m.as_ref())
        .and_then(|m| m.policy.as_ref())
    else {
        return false;
    };
    let severity = match policy.mode {
        Mode::Enforce => Severity::Error,
        Mode::Testing => Severity::Warning,
        Mode::None => return false,
    };
    if !policy.matches(exchanger) {
        return false;
    }
    out.add(&MTA_STS_CERTIFICATE, subject, format!("{subject}: {}: MTA-STS senders ({} mode) do not accept it", problems.join("; "), policy.mode.as_str()))
        .evidence(evidence)
        .severity(severity)
        .fix(format!("install a certificate from a public CA whose subjectAltName holds {exchanger}, with its intermediate certificates"));
    true
}
