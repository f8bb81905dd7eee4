//! The guard in front of every request (docs/serve.md, "Safety").
//!
//! A public checker is an amplification tool unless bounded: each client
//! (its /24 for IPv4, its /64 for IPv6) may start at most `rate` work
//! requests a minute (429 beyond, with `Retry-After` until its minute
//! ends); at most `max_concurrent` run at once (503 beyond, `Retry-After:
//! 1`), never queued; each runs under one deadline (503 when it passes).
//! Every response carries `Content-Security-Policy` (nothing but this
//! server's own style sheet), `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer` and `X-Frame-Options: DENY`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::App;

/// The limits (`--max-concurrent`, `--rate`, the deadline).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Work requests running at once.
    pub max_concurrent: usize,
    /// Work requests a client may start per minute.
    pub rate_per_min: u32,
    /// The longest a work request runs.
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent: 32,
            rate_per_min: 30,
            deadline: crate::DEFAULT_DEADLINE,
        }
    }
}

/// The most clients the rate limiter remembers; past it, clients whose
/// minute has ended are forgotten first, then every one.
const MAX_CLIENTS: usize = 65_536;
const WINDOW: Duration = Duration::from_secs(60);

/// The guard's state.
pub struct Guard {
    slots: Arc<Semaphore>,
    clients: Mutex<HashMap<u64, (Instant, u32)>>,
}

impl Guard {
    /// A guard for `limits`.
    pub fn new(limits: &Limits) -> Guard {
        Guard {
            slots: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Count one work request of `client`: `Err(seconds)` when it is over
    /// `rate` this minute.
    fn admit(&self, client: IpAddr, rate: u32) -> Result<(), u64> {
        let key = client_key(client);
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&key) {
            clients.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if clients.len() >= MAX_CLIENTS {
                clients.clear();
            }
        }
        let (start, count) = clients.entry(key).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= rate {
            let left = WINDOW.saturating_sub(now.duration_since(*start));
            return Err(left.as_secs().max(1));
        }
        *count += 1;
        Ok(())
    }
}

/// A client's /24 (IPv4, and IPv4-mapped IPv6) or /64 (IPv6), as one key.
fn client_key(ip: IpAddr) -> u64 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u64::from(u32::from(v4) >> 8),
        IpAddr::V6(v6) => (u128::from(v6) >> 64) as u64 | (1 << 63),
    }
}

/// Whether a path runs routing or a check.
pub fn is_work(path: &str) -> bool {
    ["/check/", "/route/", "/api/", "/probe", "/trap", "/r/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// The middleware: limits for work requests, headers for all, metrics.
pub async fn guard(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let kind = crate::metrics::kind(request.uri().path());
    let work = is_work(request.uri().path());
    let mut response = if work {
        limited(&app, peer.ip(), request, next).await
    } else {
        next.run(request).await
    };
    secure_headers(&mut response);
    app.metrics
        .observe(kind, response.status().as_u16(), started.elapsed());
    response
}

async fn limited(app: &App, client: IpAddr, request: Request, next: Next) -> Response {
    if let Err(wait) = app.guard.admit(client, app.limits.rate_per_min) {
        app.metrics.reject("rate");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            format!(
                "over the limit of {} requests a minute for your network; try again in {wait} s",
                app.limits.rate_per_min
            ),
        );
    }
    let Ok(_slot) = app.guard.slots.clone().try_acquire_owned() else {
        app.metrics.reject("busy");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            1,
            format!(
                "{} requests are running, the most this server runs at once; try again",
                app.limits.max_concurrent
            ),
        );
    };
    let _in_flight = app.metrics.in_flight();
    match tokio::time::timeout(app.limits.deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            app.metrics.reject("deadline");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                5,
                format!(
                    "no answer within {} s (a name server is slow or silent); try again",
                    app.limits.deadline.as_secs()
                ),
            )
        }
    }
}

fn refuse(status: StatusCode, retry_after: u64, message: String) -> Response {
    let mut response = (status, format!("{message}\n")).into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

fn secure_headers(response: &mut Response) {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_counted_by_network() {
        let guard = Guard::new(&Limits::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.200".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(guard.admit(a, 2), Ok(()));
        assert_eq!(guard.admit(b, 2), Ok(()));
        assert!(guard.admit(a, 2).is_err(), "same /24");
        assert_eq!(guard.admit(other, 2), Ok(()));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::ffff".parse().unwrap();
        assert_eq!(guard.admit(v6, 1), Ok(()));
        assert!(guard.admit(v6b, 1).is_err(), "same /64");
        let mapped: IpAddr = "::ffff:192.0.2.9".parse().unwrap();
        assert!(guard.admit(mapped, 2).is_err(), "IPv4-mapped is its IPv4");
    }
}
