//! `mxkit serve`: the routing library behind a web page, a JSON API and a
//! Prometheus exporter, in one self-hosted binary (docs/serve.md).
//!
//! Words:
//! - a **work** request runs routing or a check, or reads a store
//!   (`/route/..`, `/check/..`, `/api/v1/..`, `/probe`, `/trap`, `/r/..`);
//!   every other path (the home page, the style sheet, `/metrics`,
//!   `/healthz`) is cheap and never limited;
//! - the **guard** ([`limits`]) stands in front of every request: work
//!   requests pass the per-client rate limit (429) and the global
//!   concurrency cap (503), each with `Retry-After`, and run under one
//!   deadline; every response gets the security headers;
//! - **results** ([`work`]) are shared: the same question asked by many
//!   clients at once runs once, and its answer is kept for its TTL (at most
//!   [`work::MAX_TTL`]) in a bounded table.
//! - **kept** pages ([`Kept`]): every check and route page shown, kept in
//!   a store under a permalink (`/r/ID`) for `--keep-days`;
//! - the **trap** page reads the trap's store (`--trap-store`), never
//!   writes it.
//!
//! Besides DNS, the server connects out for SMTP probes and MTA-STS policy
//! fetches ([`Reach`]), and only to global addresses unless the operator
//! names other networks (`--allow-probe`, [`mxkit::targets`]): a public
//! checker must not be aimed at the network it runs in.

mod kept;
pub mod limits;
mod metrics;
mod pages;
mod probe;
mod trap;
pub mod work;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

pub use kept::Kept;
pub use limits::Limits;
pub use work::{Reach, Sources};

use metrics::Metrics;
use work::{Answer, Work};

/// Everything the handlers share.
pub struct App {
    work: Work,
    trap: Option<mxkit_trap::Store>,
    kept: Kept,
    limits: Limits,
    guard: limits::Guard,
    metrics: Metrics,
}

impl App {
    /// A server over `sources`, reaching out as `reach` says, within
    /// `limits`; with the trap's page and metrics when `trap` is given,
    /// and permalinks to the pages `kept`.
    pub fn new(
        sources: Sources,
        reach: Reach,
        limits: Limits,
        trap: Option<mxkit_trap::Store>,
        kept: Kept,
    ) -> Arc<App> {
        kept.start_expiry();
        Arc::new(App {
            work: Work::new(sources, reach),
            trap,
            kept,
            guard: limits::Guard::new(&limits),
            limits,
            metrics: Metrics::default(),
        })
    }
}

/// The routes of docs/serve.md, behind the guard.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/check", get(check_form))
        .route("/check/{domain}", get(check_page))
        .route("/route", get(route_form))
        .route("/route/{address}", get(route_page))
        .route("/api/v1/check", get(api_check))
        .route("/api/v1/route", get(api_route))
        .route("/probe", get(probe::probe))
        .route("/trap", get(trap::trap))
        .route("/r/{id}", get(permalink))
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/static/style.css", get(style))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            limits::guard,
        ))
        .with_state(app)
}

/// Serve `router` on every listener until `shutdown` resolves, then stop
/// accepting and let running requests finish (each within its deadline).
pub async fn run(
    listeners: Vec<tokio::net::TcpListener>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    for listener in listeners {
        let mut stop = stop_rx.clone();
        let service = router
            .clone()
            .into_make_service_with_connect_info::<SocketAddr>();
        servers.push(tokio::spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        }));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    for server in servers {
        server.await.map_err(std::io::Error::other)??;
    }
    Ok(())
}

/// The style sheet, compiled in (no CDN, no web font: the page works with
/// no Internet).
async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../static/style.css"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Form {
    #[serde(default)]
    q: String,
}

async fn home(State(app): State<Arc<App>>) -> Response {
    let recent = match app.kept.recent(10).await {
        Some(kept) => kept,
        None => app
            .work
            .recent()
            .into_iter()
            .map(|path| (path.clone(), path))
            .collect(),
    };
    pages::html(StatusCode::OK, pages::home(&recent))
}

/// `/r/ID`: a kept page, as it was shown.
async fn permalink(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.kept.get(&id).await {
        Ok(Some(body)) => pages::html(StatusCode::OK, maud::PreEscaped(body)),
        Ok(None) => pages::html(StatusCode::NOT_FOUND, pages::not_kept(&id)),
        Err(e) => pages::html(StatusCode::SERVICE_UNAVAILABLE, pages::store_error(&e)),
    }
}

/// The home page's form: an address goes to its route, a domain to its
/// check (plain HTML, no script).
async fn check_form(Query(form): Query<Form>) -> Response {
    let page = if form.q.contains('@') {
        "route"
    } else {
        "check"
    };
    to_page(page, &form.q)
}

/// `/route?q=`: always the route.
async fn route_form(Query(form): Query<Form>) -> Response {
    to_page("route", &form.q)
}

/// Redirect to `/PAGE/Q` (home when `q` is blank).
fn to_page(page: &str, q: &str) -> Response {
    let q = q.trim();
    if q.is_empty() {
        return Redirect::to("/").into_response();
    }
    Redirect::to(&format!("/{page}/{}", pages::path_escape(q))).into_response()
}

async fn check_page(State(app): State<Arc<App>>, Path(domain): Path<String>) -> Response {
    match app.work.check(&domain).await {
        Ok(Answer { value, took }) => {
            let resolvers = app.work.resolvers();
            let page = app
                .kept
                .page("check", &value.report.domain, |when| {
                    pages::check(&value, &resolvers, took, when)
                })
                .await;
            pages::html(StatusCode::OK, page)
        }
        Err(e) => pages::html(StatusCode::BAD_REQUEST, pages::bad_input(&domain, &e)),
    }
}

async fn route_page(State(app): State<Arc<App>>, Path(address): Path<String>) -> Response {
    match app.work.route(&address).await {
        Ok(Answer { value, took }) => {
            let page = app
                .kept
                .page("route", &address, |when| pages::route(&value, took, when))
                .await;
            pages::html(StatusCode::OK, page)
        }
        Err(e) => pages::html(StatusCode::BAD_REQUEST, pages::bad_input(&address, &e)),
    }
}

#[derive(Deserialize)]
struct CheckQuery {
    domain: String,
}

#[derive(Deserialize)]
struct RouteQuery {
    address: String,
}

/// `/api/v1/check?domain=`: `mxkit check --format json`.
async fn api_check(State(app): State<Arc<App>>, Query(q): Query<CheckQuery>) -> Response {
    match app.work.check(&q.domain).await {
        Ok(answer) => json(StatusCode::OK, &answer.value.report),
        Err(e) => api_error(&q.domain, &e),
    }
}

/// `/api/v1/route?address=`: `mxkit route --json`.
async fn api_route(State(app): State<Arc<App>>, Query(q): Query<RouteQuery>) -> Response {
    match app.work.route(&q.address).await {
        Ok(answer) => json(
            StatusCode::OK,
            &work::RouteJson::new(&q.address, &answer.value),
        ),
        Err(e) => api_error(&q.address, &e),
    }
}

/// Pretty JSON with a final line end, as the CLI prints it.
fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_string_pretty(value) {
        Ok(mut body) => {
            body.push('\n');
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A refused input: 400 with the CLI's message.
fn api_error(input: &str, error: &str) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({ "input": input, "error": error }),
    )
}

/// The deadline of one work request, and what a scrape may ask less of.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
