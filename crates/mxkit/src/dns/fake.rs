//! A scripted source for tests: zone text for the normal answers, plus
//! per-question overrides for what zone data cannot say (SERVFAIL, timeouts,
//! truncation), and a log of every question asked (to check, say, that a null
//! MX causes no A query, or that an address literal causes none at all).

use std::collections::HashMap;
use std::sync::Mutex;

use super::zone::{ZoneError, ZoneSet};
use super::{BoxFuture, Lookup, Name, RecordType, Response, Status, TempError};

/// A scripted DNS source.
#[derive(Default)]
pub struct Fake {
    zones: ZoneSet,
    overrides: HashMap<(Name, RecordType), Response>,
    log: Mutex<Vec<(Name, RecordType)>>,
}

impl Fake {
    /// An empty fake: every name is outside every zone (answered NXDOMAIN).
    pub fn new() -> Self {
        Fake::default()
    }

    /// Load a zone from text (`$ORIGIN` or an SOA owner names it).
    pub fn zone(mut self, text: &str) -> Result<Self, ZoneError> {
        let zone = ZoneSet::parse_str(text, "fake", None)?;
        self.zones.push(zone);
        Ok(self)
    }

    /// Answer `name`/`rtype` with this response instead.
    pub fn set(mut self, name: &str, rtype: RecordType, resp: Response) -> Self {
        self.overrides.insert((name_of(name), rtype), resp);
        self
    }

    /// Answer `name`/`rtype` with SERVFAIL.
    pub fn servfail(self, name: &str, rtype: RecordType) -> Self {
        self.set(
            name,
            rtype,
            Response::status(
                Status::Temporary(TempError::ServFail("fake".into())),
                "fake",
            ),
        )
    }

    /// Answer `name`/`rtype` with a timeout.
    pub fn timeout(self, name: &str, rtype: RecordType) -> Self {
        let e = TempError::Timeout {
            servers: "fake".into(),
            ignored: 0,
            last_ignored: None,
        };
        self.set(name, rtype, Response::status(Status::Temporary(e), "fake"))
    }

    /// Answer `name`/`rtype` as truncated with no full answer over TCP.
    pub fn truncated(self, name: &str, rtype: RecordType) -> Self {
        self.set(name, rtype, Response::status(Status::Truncated, "fake"))
    }

    /// Every question asked so far, in order.
    pub fn asked(&self) -> Vec<(Name, RecordType)> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How often `name` was asked for `rtype`.
    pub fn count(&self, name: &str, rtype: RecordType) -> usize {
        let name = name_of(name);
        self.asked()
            .iter()
            .filter(|(n, t)| *n == name && *t == rtype)
            .count()
    }
}

fn name_of(s: &str) -> Name {
    let s = if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    };
    Name::from_ascii(&s).unwrap_or_else(|e| panic!("bad name {s:?} in a test: {e}"))
}

impl Lookup for Fake {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            self.log
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((name.clone(), rtype));
            if let Some(resp) = self.overrides.get(&(name.clone(), rtype)) {
                return resp.clone();
            }
            self.zones
                .answer(name, rtype)
                .unwrap_or_else(|| Response::status(Status::NxDomain, "fake"))
        })
    }
}
