//! JSON output. The schema is the library's serde types: `mxkit::route::Route`
//! and what it holds (their doc comments document every key); this module only
//! adds the input as typed.

use std::io::Write;

use mxkit::route::Route;
use serde::Serialize;

/// `mxkit route --json`: the route, plus `input` (as typed) and `seed` (when given).
#[derive(Serialize)]
struct RouteJson<'a> {
    input: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(flatten)]
    route: &'a Route,
}

/// Write the route as one pretty-printed JSON object.
pub fn route(
    out: &mut impl Write,
    input: &str,
    seed: Option<u64>,
    route: &Route,
) -> std::io::Result<()> {
    let doc = RouteJson { input, seed, route };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// `mxkit check --format json`: the report as one object (the schema is
/// `mxkit::check::Report`).
pub fn check(out: &mut impl Write, report: &mxkit::check::Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}
