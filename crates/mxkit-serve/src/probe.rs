//! `/probe?target=&module=route|check|smtp`: a multi-target exporter in the
//! blackbox_exporter convention. Each scrape builds a fresh registry for
//! its target: `probe_success`, `probe_duration_seconds` and `mxkit_*`
//! gauges in base units. The scrape's own deadline
//! (`X-Prometheus-Scrape-Timeout-Seconds`, less half a second) bounds the
//! work when it is shorter than the server's. `debug=true` answers the
//! probe's log as text instead: what was asked and the result as JSON.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mxkit::check::{Report, Severity};
use mxkit::dns::Dnssec;
use mxkit::route::{Route, RouteVerdict};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;

use crate::App;
use crate::metrics::{Float, encoded};

#[derive(Deserialize)]
pub struct ProbeQuery {
    target: String,
    #[serde(default = "default_module")]
    module: String,
    #[serde(default)]
    debug: bool,
}

fn default_module() -> String {
    "route".into()
}

/// The header Prometheus sends with the scrape's timeout.
const SCRAPE_TIMEOUT: &str = "x-prometheus-scrape-timeout-seconds";

pub async fn probe(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<ProbeQuery>,
) -> Response {
    let deadline = scrape_deadline(&headers).unwrap_or(app.limits.deadline);
    let mut registry = Registry::default();
    let success = Gauge::<i64>::default();
    let duration = Float::default();
    registry.register(
        "probe_success",
        "Whether the probe succeeded: the target is deliverable (route) and has no error finding (check)",
        success.clone(),
    );
    registry.register(
        "probe_duration_seconds",
        "How long the probe took",
        duration.clone(),
    );
    let run = async {
        match q.module.as_str() {
            "route" => app.work.route(&q.target).await.map(|a| {
                let ok = route_gauges(&mut registry, &a.value);
                (ok, a.took, serde_json::to_string_pretty(&*a.value))
            }),
            "check" => app.work.check(&q.target).await.map(|a| {
                let report = &a.value.report;
                let ok = route_gauges(&mut registry, &report.route)
                    & check_gauges(&mut registry, report);
                (ok, a.took, serde_json::to_string_pretty(report))
            }),
            "smtp" => app.work.smtp(&q.target).await.map(|a| {
                let ok = smtp_gauges(&mut registry, &a.value);
                (ok, a.took, serde_json::to_string_pretty(&*a.value))
            }),
            other => Err(format!("unknown module {other:?}: route, check or smtp")),
        }
    };
    let (ok, took, log) = match tokio::time::timeout(deadline, run).await {
        Ok(Ok(found)) => found,
        Ok(Err(why)) => return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
        Err(_) => (
            false,
            deadline,
            Ok(format!("no answer within {deadline:?}")),
        ),
    };
    success.set(i64::from(ok));
    duration.set(took.as_secs_f64());
    if q.debug {
        let log = log.unwrap_or_else(|e| e.to_string());
        let text = format!(
            "probe {} of {} (success {}, {:.3} s)\n{log}\n",
            q.module,
            q.target,
            i64::from(ok),
            took.as_secs_f64()
        );
        return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
    }
    encoded(&registry)
}

/// The scrape's timeout, less half a second for the way back.
fn scrape_deadline(headers: &HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get(SCRAPE_TIMEOUT)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs.is_finite() && secs > 0.0)
        .then(|| Duration::from_secs_f64((secs - 0.5).clamp(0.5, 300.0)))
}

/// The route's gauges; true when it is deliverable.
fn route_gauges(registry: &mut Registry, route: &Route) -> bool {
    let gauge = |registry: &mut Registry, name: &str, help: &str, value: i64| {
        let g = Gauge::<i64>::default();
        g.set(value);
        registry.register(name, help, g);
    };
    gauge(
        registry,
        "mxkit_candidates",
        "Addresses in the delivery plan",
        route.candidates.len() as i64,
    );
    gauge(
        registry,
        "mxkit_exchangers",
        "Exchangers considered (listed or implicit)",
        route.exchangers.len() as i64,
    );
    gauge(
        registry,
        "mxkit_dnssec_secure",
        "Whether the MX lookup was DNSSEC-validated (the resolver's AD bit)",
        i64::from(route.dnssec == Some(Dnssec::Secure)),
    );
    if let Some(ttl) = route.ttl {
        gauge(
            registry,
            "mxkit_route_ttl_seconds",
            "How long the plan may be kept",
            ttl.into(),
        );
    }
    let verdict = Family::<Vec<(&'static str, String)>, Gauge>::default();
    verdict
        .get_or_create(&vec![("outcome", route.outcome.code().to_string())])
        .set(1);
    registry.register("mxkit_route_info", "The route's outcome", verdict);
    if let Some(Some(sts)) = &route.mta_sts
        && let Some(mode) = sts.mode
    {
        let modes = Family::<Vec<(&'static str, String)>, Gauge>::default();
        modes
            .get_or_create(&vec![("mode", mode.as_str().to_string())])
            .set(1);
        registry.register(
            "mxkit_mta_sts_mode_info",
            "The MTA-STS policy's mode",
            modes,
        );
    }
    route.status == RouteVerdict::Deliverable
}

/// The SMTP probe's gauges, per candidate address; true when one of them
/// got through (to STARTTLS, or EHLO when TLS is not offered).
fn smtp_gauges(registry: &mut Registry, attempts: &[mxkit::smtp::Attempt]) -> bool {
    let up = Family::<Vec<(&'static str, String)>, Gauge>::default();
    let not_after = Family::<Vec<(&'static str, String)>, Float>::default();
    let mut any = false;
    for a in attempts {
        let labels = vec![
            ("exchanger", a.candidate.exchanger.clone()),
            ("address", a.candidate.address.to_string()),
        ];
        let reached = matches!(a.outcome, mxkit::smtp::AttemptOutcome::Reached { .. });
        any |= reached;
        up.get_or_create(&labels).set(i64::from(reached));
        if let Some(secs) = a
            .tls
            .as_ref()
            .and_then(|t| t.certificate.as_ref())
            .and_then(|c| epoch(&c.not_after))
        {
            not_after.get_or_create(&labels).set(secs as f64);
        }
    }
    registry.register(
        "mxkit_smtp_up",
        "Whether the address got through SMTP to STARTTLS",
        up,
    );
    registry.register(
        "mxkit_tls_cert_not_after_timestamp_seconds",
        "When the certificate the address presented expires (Unix time)",
        not_after,
    );
    any
}

/// `YYYY-MM-DDTHH:MM:SSZ` as seconds since the Unix epoch.
fn epoch(iso: &str) -> Option<i64> {
    let b = iso.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| iso.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The check's gauges; true when no finding is an error.
fn check_gauges(registry: &mut Registry, report: &Report) -> bool {
    let findings = Family::<Vec<(&'static str, String)>, Gauge>::default();
    for severity in [
        Severity::Error,
        Severity::Warning,
        Severity::Notice,
        Severity::Info,
    ] {
        let n = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .count();
        findings
            .get_or_create(&vec![("severity", severity.as_str().to_string())])
            .set(n as i64);
    }
    registry.register(
        "mxkit_check_findings",
        "Findings of the check, by severity",
        findings,
    );
    let incomplete = Gauge::<i64>::default();
    incomplete.set(report.incomplete.len() as i64);
    registry.register(
        "mxkit_check_incomplete",
        "Rules that could not be decided (a lookup failed)",
        incomplete,
    );
    report.summary.errors == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_dates_to_unix_time() {
        assert_eq!(super::epoch("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(super::epoch("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(super::epoch("2099-12-31T00:00:00Z"), Some(4_102_358_400));
        assert_eq!(super::epoch("2099-12-31"), None);
    }
}
