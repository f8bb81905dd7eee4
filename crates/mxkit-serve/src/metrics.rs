//! `/metrics`: the server's own metrics, in the OpenMetrics text format
//! (prometheus-client). Labels name the kind of page and the status, never
//! a domain (a label per domain would grow without bound).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::App;

/// The content type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    durations: Family<Labels, Histogram>,
    rejected: Family<Labels, Counter>,
    in_flight: Gauge<i64, std::sync::atomic::AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        let durations = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
        });
        let rejected = Family::<Labels, Counter>::default();
        let in_flight = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        registry.register(
            "mxkit_serve_requests",
            "HTTP requests answered, by kind of page and status",
            requests.clone(),
        );
        registry.register(
            "mxkit_serve_request_duration_seconds",
            "Time to answer a request, by kind of page",
            durations.clone(),
        );
        registry.register(
            "mxkit_serve_rejected",
            "Work requests refused: rate (429), busy (503), deadline (503)",
            rejected.clone(),
        );
        registry.register(
            "mxkit_serve_in_flight",
            "Work requests running now",
            in_flight.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            rejected,
            in_flight,
        }
    }
}

/// While it lives, one work request is counted as running.
pub struct InFlight(Gauge<i64, std::sync::atomic::AtomicI64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// One request answered.
    pub fn observe(&self, kind: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&vec![
                ("kind", kind.to_string()),
                ("code", status.to_string()),
            ])
            .inc();
        self.durations
            .get_or_create(&vec![("kind", kind.to_string())])
            .observe(took.as_secs_f64());
    }

    /// One work request refused, and why.
    pub fn reject(&self, reason: &'static str) {
        self.rejected
            .get_or_create(&vec![("reason", reason.to_string())])
            .inc();
    }

    /// Count a work request as running until the guard is dropped.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }
}

/// The kind of page a path is, for labels.
pub fn kind(path: &str) -> &'static str {
    match path {
        "/" => "home",
        "/metrics" => "metrics",
        "/healthz" => "healthz",
        "/probe" => "probe",
        "/trap" => "trap",
        p if p.starts_with("/r/") => "permalink",
        p if p.starts_with("/check") => "check",
        p if p.starts_with("/route") => "route",
        p if p.starts_with("/api/v1/check") => "api_check",
        p if p.starts_with("/api/v1/route") => "api_route",
        p if p.starts_with("/static/") => "static",
        _ => "other",
    }
}

/// Encode a registry, with its content type.
pub fn encoded(registry: &Registry) -> Response {
    let mut body = String::new();
    match encode(&mut body, registry) {
        Ok(()) => ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response(),
        Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The server's metrics, and the trap's with `--trap-store` (read now; a
/// store that cannot be read is said in a comment, the server's metrics
/// still answered).
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    let Some(store) = &app.trap else {
        return encoded(&app.metrics.registry);
    };
    let mut body = String::new();
    if let Err(e) = encode(&mut body, &app.metrics.registry) {
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    // One exposition: the first registry's end marker goes.
    if let Some(cut) = body.rfind("# EOF") {
        body.truncate(cut);
    }
    match crate::trap::registry(store).await {
        Ok(trap) => {
            if let Err(e) = encode(&mut body, &trap) {
                return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
                    .into_response();
            }
        }
        Err(e) => {
            let why = e.replace(['\r', '\n'], " ");
            body.push_str(&format!(
                "# the trap's store cannot be read: {why}\n# EOF\n"
            ));
        }
    }
    ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response()
}

/// A gauge of seconds (or any fraction).
pub type Float = Gauge<f64, AtomicU64>;
