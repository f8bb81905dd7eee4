//! `/trap`, with `--trap-store`: the trap's current listings, its recent
//! decisions about decoy sessions, and two charts drawn on the server as
//! inline SVG (no script, no image request): decoy sessions per hour over
//! the last seven days, and listings per grade. The store is opened as it
//! exists (nothing is created) and only read.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use mxkit_trap::Grade;
use mxkit_trap::model::{Decision, Listing};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::App;
use crate::pages::{html as page, layout};

/// The charts' span.
const DAYS: i64 = 7;
const HOUR_MICROS: i64 = 3_600_000_000;
/// Decisions shown.
const RECENT: u32 = 50;
/// Listings shown (the most severe first).
const MAX_LISTINGS: usize = 500;

/// What the page shows.
struct View {
    listings: Vec<Listing>,
    recent: Vec<Decision>,
    /// Sessions per hour, oldest first, `DAYS * 24` of them.
    hours: Vec<u64>,
    now: i64,
}

/// Read the store: listings, sessions per hour, and the newest `recent`
/// decisions (none asked for with 0: the metrics do not show them).
async fn view(store: &mxkit_trap::Store, recent: u32) -> Result<View, String> {
    let now = mxkit_trap::model::now();
    let first_hour = now.div_euclid(HOUR_MICROS) - DAYS * 24 + 1;
    let decisions = async {
        match recent {
            0 => Ok(Vec::new()),
            n => store.recent_decisions(n).await,
        }
    };
    let (listings, recent, counted) = futures::try_join!(
        store.listings(now),
        decisions,
        store.decoy_hours(first_hour * HOUR_MICROS, now + 1),
    )
    .map_err(|e| e.to_string())?;
    let mut hours = vec![0u64; (DAYS * 24) as usize];
    for (hour, n) in counted {
        if let Some(slot) = usize::try_from(hour - first_hour)
            .ok()
            .and_then(|i| hours.get_mut(i))
        {
            *slot = n;
        }
    }
    Ok(View {
        listings,
        recent,
        hours,
        now,
    })
}

pub async fn trap(State(app): State<Arc<App>>) -> Response {
    let Some(store) = &app.trap else {
        return page(
            StatusCode::NOT_FOUND,
            layout(
                "Trap",
                html! { h1 { "Trap" } p { "This server was started without --trap-store." } },
            ),
        );
    };
    match view(store, RECENT).await {
        Ok(v) => page(StatusCode::OK, render(&v)),
        Err(e) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            layout(
                "Trap",
                html! { h1 { "Trap" } p { "The trap's store cannot be read: " (e) } },
            ),
        ),
    }
}

fn time(micros: i64) -> String {
    mxkit::smtp::iso8601(micros.div_euclid(1_000_000))
}

fn render(v: &View) -> Markup {
    let mut listings: Vec<&Listing> = v.listings.iter().collect();
    listings.sort_by(|a, b| b.grade.cmp(&a.grade).then(b.last_seen.cmp(&a.last_seen)));
    let total: u64 = v.hours.iter().sum();
    layout(
        "Trap",
        html! {
            h1 { "Trap" }
            p.summary { (v.listings.len()) " addresses listed; " (total) " decoy sessions in the last " (DAYS) " days (as of " (time(v.now)) ")." }
            h2 { "Decoy sessions per hour" }
            (hours_chart(&v.hours))
            h2 { "Listings per grade" }
            (grades_chart(&v.listings))
            h2 { "Listed now" }
            @if listings.is_empty() {
                p { "Nothing is listed." }
            } @else {
                table {
                    thead { tr { th { "Address" } th { "Grade" } th { "Reason" } th { "Last seen" } th { "Expires" } } }
                    tbody {
                        @for l in listings.iter().take(MAX_LISTINGS) {
                            tr {
                                td { (l.ip) }
                                td { (l.grade.as_str()) @if l.shadow { " (shadow)" } }
                                td { (l.reason) }
                                td { (time(l.last_seen)) }
                                td { (time(l.expires)) }
                            }
                        }
                    }
                }
                @if listings.len() > MAX_LISTINGS {
                    p { "… and " (listings.len() - MAX_LISTINGS) " more (`mxkit trap list` shows them all)." }
                }
            }
            h2 { "Recent decoy sessions" }
            @if v.recent.is_empty() {
                p { "No decoy session has been judged yet." }
            } @else {
                table {
                    thead { tr { th { "Judged" } th { "Client" } th { "Grade" } th { "Why" } } }
                    tbody {
                        @for d in &v.recent {
                            tr { td { (time(d.decided)) } td { (d.client) } td { (d.grade.as_str()) } td { (d.reason) } }
                        }
                    }
                }
            }
        },
    )
}

/// One bar per hour, oldest on the left, a tick per day.
fn hours_chart(hours: &[u64]) -> Markup {
    let max = hours.iter().copied().max().unwrap_or(0).max(1);
    let (w, h) = (4u64, 100u64);
    let width = w * hours.len() as u64;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (width) " " (h + 14) } role="img"
            aria-label={ "decoy sessions per hour, most " (max) } {
            @for (i, n) in hours.iter().enumerate() {
                @let bar = n * h / max;
                rect x=(i as u64 * w) y=(h - bar) width=(w - 1) height=(bar) fill="currentColor" { title { (n) " sessions" } }
            }
            @for day in 0..=(hours.len() / 24) {
                line x1=(day as u64 * 24 * w) x2=(day as u64 * 24 * w) y1="0" y2=(h) stroke="gray" stroke-width="0.5" {}
            }
            text x="0" y=(h + 12) font-size="10" fill="gray" { (hours.len() / 24) " days ago" }
            text x=(width) y=(h + 12) font-size="10" fill="gray" text-anchor="end" { "now (most " (max) "/h)" }
        }
    }
}

/// One horizontal bar per grade that lists.
fn grades_chart(listings: &[Listing]) -> Markup {
    let grades = [Grade::Suspect, Grade::Trapped, Grade::Repeat];
    let counts: Vec<(Grade, usize)> = grades
        .iter()
        .map(|g| (*g, listings.iter().filter(|l| l.grade == *g).count()))
        .collect();
    let max = counts.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    html! {
        svg.chart.grades xmlns="http://www.w3.org/2000/svg" viewBox="0 0 420 66" role="img" aria-label="listings per grade" {
            @for (i, (grade, n)) in counts.iter().enumerate() {
                @let y = i * 22;
                text x="0" y=(y + 14) font-size="12" fill="currentColor" { (grade.as_str()) }
                rect x="70" y=(y + 3) width=(n * 300 / max) height="14" fill="currentColor" {}
                text x=(74 + n * 300 / max) y=(y + 14) font-size="12" fill="currentColor" { (n) }
            }
        }
    }
}

/// The trap's metrics, read at scrape time: listings per grade, decoy
/// sessions in the last hour and day.
pub async fn registry(store: &mxkit_trap::Store) -> Result<Registry, String> {
    let v = view(store, 0).await?;
    let mut registry = Registry::default();
    let listings = Family::<Vec<(&'static str, String)>, Gauge>::default();
    for grade in [Grade::Suspect, Grade::Trapped, Grade::Repeat] {
        let n = v.listings.iter().filter(|l| l.grade == grade).count();
        listings
            .get_or_create(&vec![("grade", grade.as_str().to_string())])
            .set(n as i64);
    }
    registry.register(
        "mxkit_trap_listings",
        "Addresses listed now, by grade",
        listings,
    );
    let last = |hours: usize| -> i64 { v.hours.iter().rev().take(hours).sum::<u64>() as i64 };
    let hour = Gauge::<i64>::default();
    hour.set(last(1));
    registry.register(
        "mxkit_trap_decoy_sessions_this_hour",
        "Decoy sessions since the start of this hour",
        hour,
    );
    let day = Gauge::<i64>::default();
    day.set(last(24));
    registry.register(
        "mxkit_trap_decoy_sessions_day",
        "Decoy sessions in the last 24 hours",
        day,
    );
    Ok(registry)
}
