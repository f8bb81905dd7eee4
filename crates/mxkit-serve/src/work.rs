//! The work behind every page: routing and checks, shared.
//!
//! A question (a route for an address, a check of a domain) asked while the
//! same one runs joins it; an answer is kept for its TTL (the route's, at
//! most [`MAX_TTL`]) in a table of at most [`MAX_ENTRIES`] answers, so a
//! burst of identical requests costs one lookup. Inputs are parsed as the
//! CLI parses them and refused with its message.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use mxkit::address::{Address, Domain};
use mxkit::check::nameservers::EngineDirect;
use mxkit::check::smtp::SmtpCheck;
use mxkit::check::{CheckOptions, Direct, Report};
use mxkit::dns::Lookup;
use mxkit::dns::zone::ZoneSet;
use mxkit::mta_sts::MtaStsConfig;
use mxkit::route::{Route, RouteOptions};
use mxkit::smtp::{Attempt, Roots, SmtpOptions};
use mxkit::targets::Targets;
use serde::Serialize;

/// The longest an answer is kept.
pub const MAX_TTL: Duration = Duration::from_secs(300);
/// The most answers kept (and questions running) at once.
pub const MAX_ENTRIES: usize = 4096;
/// How many recent questions the home page lists.
const RECENT: usize = 10;

/// Where DNS answers come from, as the CLI builds them (`--server`,
/// `--zone`, `--offline`).
pub struct Sources {
    /// The resolver view: zone files over live DNS, or either alone.
    pub lookup: Arc<dyn Lookup>,
    /// Live DNS alone, for the check's pre-publish diff and name-server
    /// rules; `None` offline.
    pub live: Option<Arc<dyn Lookup>>,
    /// The loaded zone files.
    pub zones: ZoneSet,
    /// The resolvers asked, for `warn_remote_resolver`.
    pub servers: Vec<SocketAddr>,
    /// The resolvers, for reports (`127.0.0.1:53`), or `offline`.
    pub resolvers: String,
    /// The first try's timeout of the resolver (for the name-server rules'
    /// direct questions).
    pub timeout: Duration,
    /// `--dnssec ad`.
    pub dnssec: bool,
}

/// What the server does beyond DNS, and where it may connect.
#[derive(Clone, Debug)]
pub struct Reach {
    /// Probe the exchangers over SMTP in checks (not with `--no-smtp`).
    pub smtp: bool,
    /// Where SMTP probes and MTA-STS fetches may connect: global addresses,
    /// and the `--allow-probe` networks ([`mxkit::targets`]).
    pub targets: Targets,
    /// MTA-STS (`--mta-sts on`): its fetcher must carry `targets` too.
    pub mta_sts: Option<Arc<MtaStsConfig>>,
    /// Trust anchors for STARTTLS (`--ca-file`).
    pub roots: Roots,
    /// Our name in EHLO.
    pub helo: String,
}

impl Reach {
    /// The SMTP options of a probe for `domain`, within the targets.
    fn smtp_options(&self, domain: &str) -> SmtpOptions {
        // SmtpOptions::new: TLS as the route says, probe timeouts.
        let mut o = SmtpOptions::new(self.helo.clone(), domain);
        o.roots = self.roots.clone();
        o.targets = self.targets.clone();
        o
    }
}

/// `mxkit route --json`: the route with the input as typed.
#[derive(Serialize)]
pub struct RouteJson<'a> {
    input: &'a str,
    #[serde(flatten)]
    route: &'a Route,
}

impl<'a> RouteJson<'a> {
    /// The document for `route`, asked as `input`.
    pub fn new(input: &'a str, route: &'a Route) -> Self {
        RouteJson { input, route }
    }
}

/// A check, and what its page shows beside it: the reverse DNS names of
/// the exchangers' addresses.
pub struct Checked {
    /// The report (`mxkit check --format json`).
    pub report: Report,
    /// Each address's PTR names (empty: none), or why the lookup failed.
    pub ptrs: Vec<(std::net::IpAddr, Result<Vec<String>, String>)>,
}

/// An answer and how long it took to make.
pub struct Answer<T> {
    /// The route or report.
    pub value: Arc<T>,
    /// Time spent making it (zero when it was kept).
    pub took: Duration,
}

type Running<T> = Shared<BoxFuture<'static, (Arc<T>, Duration)>>;

/// One kind of question's table.
struct Table<T> {
    entries: HashMap<String, (Instant, Running<T>)>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            entries: HashMap::new(),
        }
    }
}

impl<T: Send + Sync + 'static> Table<T> {
    /// The running or kept answer for `key`, or the one `make` starts.
    /// `ttl` says how long a finished answer stays.
    fn get_or_start(
        &mut self,
        key: &str,
        make: impl FnOnce() -> BoxFuture<'static, (Arc<T>, Duration)>,
    ) -> Running<T> {
        let now = Instant::now();
        if let Some((expires, running)) = self.entries.get(key)
            && *expires > now
        {
            return running.clone();
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.retain(|_, (expires, _)| *expires > now);
        }
        if self.entries.len() >= MAX_ENTRIES {
            // Still full of live entries: answer without keeping.
            return make().shared();
        }
        let running = make().shared();
        // Until it finishes it is joined; `settle` sets the real TTL.
        self.entries
            .insert(key.to_string(), (now + MAX_TTL, running.clone()));
        running
    }

    /// Keep `key`'s answer for `ttl` from now (zero: drop it).
    fn settle(&mut self, key: &str, ttl: Duration) {
        if ttl.is_zero() {
            self.entries.remove(key);
        } else if let Some((expires, _)) = self.entries.get_mut(key) {
            *expires = Instant::now() + ttl.min(MAX_TTL);
        }
    }
}

/// Routing and checks, shared by every request.
pub struct Work {
    sources: Arc<Sources>,
    reach: Arc<Reach>,
    probes: Mutex<Table<Vec<Attempt>>>,
    routes: Mutex<Table<Route>>,
    checks: Mutex<Table<Checked>>,
    recent: Mutex<Vec<String>>,
}

impl Work {
    /// Work over `sources`, reaching out as `reach` says.
    pub fn new(sources: Sources, reach: Reach) -> Work {
        Work {
            sources: Arc::new(sources),
            reach: Arc::new(reach),
            probes: Mutex::default(),
            routes: Mutex::default(),
            checks: Mutex::default(),
            recent: Mutex::default(),
        }
    }

    /// The resolvers, as reports name them.
    pub fn resolvers(&self) -> String {
        self.sources.resolvers.clone()
    }

    /// The latest questions, newest first.
    pub fn recent(&self) -> Vec<String> {
        lock(&self.recent).clone()
    }

    fn remember(&self, what: String) {
        let mut recent = lock(&self.recent);
        recent.retain(|r| *r != what);
        recent.insert(0, what);
        recent.truncate(RECENT);
    }

    /// The route for `input` (an address or a domain), as `mxkit route`
    /// makes it (the route options of a sending MTA: loopback counts as
    /// this host). Err: the input is refused, with the CLI's message.
    pub async fn route(&self, input: &str) -> Result<Answer<Route>, String> {
        let address = Address::parse(input).map_err(|e| e.to_string())?;
        let key = address.destination.to_string();
        let sources = self.sources.clone();
        let reach = self.reach.clone();
        let running = lock(&self.routes).get_or_start(&key, || {
            async move {
                let started = Instant::now();
                let options = route_options(&sources, &reach, true);
                let mut route =
                    mxkit::route::route(sources.lookup.as_ref(), &address.destination, &options)
                        .await;
                route.warn_remote_resolver(&sources.servers);
                (Arc::new(route), started.elapsed())
            }
            .boxed()
        });
        let (route, took) = running.await;
        lock(&self.routes).settle(&key, Duration::from_secs(route.ttl.unwrap_or(0).into()));
        self.remember(format!("/route/{key}"));
        Ok(Answer { value: route, took })
    }

    /// The check of `input` (a domain), as `mxkit check` makes it, its SMTP
    /// probes and MTA-STS fetch within the targets. Err: the input is
    /// refused, with the CLI's message.
    pub async fn check(&self, input: &str) -> Result<Answer<Checked>, String> {
        let domain = Domain::parse(input).map_err(|e| e.to_string())?;
        let key = domain.as_str().to_string();
        let sources = self.sources.clone();
        let reach = self.reach.clone();
        let running = lock(&self.checks).get_or_start(&key, || {
            async move {
                let started = Instant::now();
                let smtp = if reach.smtp {
                    SmtpCheck::Run(Box::new(reach.smtp_options(domain.as_str())))
                } else {
                    SmtpCheck::Skip("--no-smtp: the exchangers were not probed over SMTP".into())
                };
                let options = CheckOptions {
                    smtp,
                    dnssec: sources.dnssec,
                    mta_sts: reach.mta_sts.clone(),
                    ..CheckOptions::default()
                };
                let direct = EngineDirect::for_check(sources.timeout);
                let direct_ref: Option<&dyn Direct> =
                    sources.live.as_ref().map(|_| &direct as &dyn Direct);
                let mut report = mxkit::check::check(
                    &domain,
                    sources.lookup.as_ref(),
                    sources.live.as_deref(),
                    direct_ref,
                    &sources.zones,
                    &options,
                )
                .await;
                report.route.warn_remote_resolver(&sources.servers);
                let ptrs = reverse_names(sources.lookup.as_ref(), &report.route).await;
                (Arc::new(Checked { report, ptrs }), started.elapsed())
            }
            .boxed()
        });
        let (report, took) = running.await;
        // A check is kept as long as its route, and never past a minute:
        // its findings also rest on answers with shorter lives.
        let ttl = Duration::from_secs(report.report.route.ttl.unwrap_or(0).min(60).into());
        lock(&self.checks).settle(&key, ttl);
        self.remember(format!("/check/{key}"));
        Ok(Answer {
            value: report,
            took,
        })
    }
}

impl Work {
    /// Every candidate of `input`'s route probed over SMTP to STARTTLS
    /// (what `mxkit probe --all` does), within the targets. Err: the input
    /// is refused, or SMTP probes are off.
    pub async fn smtp(&self, input: &str) -> Result<Answer<Vec<Attempt>>, String> {
        if !self.reach.smtp {
            return Err("SMTP probes are off on this server (--no-smtp)".into());
        }
        let address = Address::parse(input).map_err(|e| e.to_string())?;
        let key = address.destination.to_string();
        let sources = self.sources.clone();
        let reach = self.reach.clone();
        let running = lock(&self.probes).get_or_start(&key, || {
            async move {
                let started = Instant::now();
                // As `mxkit probe` routes: a sender elsewhere, for whom this
                // host's loopback is not itself.
                let options = route_options(&sources, &reach, false);
                let route =
                    mxkit::route::route(sources.lookup.as_ref(), &address.destination, &options)
                        .await;
                let opts = reach.smtp_options(&route.domain);
                let attempts = mxkit::smtp::probe_all(&route, &opts).await;
                (Arc::new(attempts), started.elapsed())
            }
            .boxed()
        });
        let (attempts, took) = running.await;
        // A probe's result is news for a minute at most.
        lock(&self.probes).settle(&key, Duration::from_secs(60));
        Ok(Answer {
            value: attempts,
            took,
        })
    }
}

/// How this server routes: DNSSEC as `--dnssec` says, MTA-STS as the
/// server's reach says; `loopback_is_self` as `route` (an MTA's view, true)
/// or `probe` (a sender elsewhere, false) count it.
fn route_options(sources: &Sources, reach: &Reach, loopback_is_self: bool) -> RouteOptions {
    RouteOptions {
        dnssec: sources.dnssec,
        mta_sts: reach.mta_sts.clone(),
        loopback_is_self,
        ..RouteOptions::default()
    }
}

/// The PTR names of every address of the route's exchangers, at once.
async fn reverse_names(
    lookup: &dyn Lookup,
    route: &Route,
) -> Vec<(std::net::IpAddr, Result<Vec<String>, String>)> {
    let mut ips: Vec<std::net::IpAddr> = Vec::new();
    for ip in route.exchangers.iter().flat_map(|e| e.addresses.iter()) {
        if !ips.contains(ip) {
            ips.push(*ip);
        }
    }
    let answers = futures::future::join_all(ips.iter().map(|ip| {
        let name = mxkit::check::reverse::reverse_name(*ip);
        async move { mxkit::dns::resolve(lookup, &name, mxkit::dns::RecordType::PTR).await }
    }))
    .await;
    ips.into_iter()
        .zip(answers)
        .map(|(ip, a)| {
            let names = match &a.outcome {
                mxkit::dns::Outcome::Records(records) => Ok(records
                    .iter()
                    .filter_map(|r| match &r.data {
                        mxkit::dns::RData::PTR(p) => Some(mxkit::address::display_name(&p.0)),
                        _ => None,
                    })
                    .collect()),
                o if o.is_temporary() => Err(o.to_string()),
                _ => Ok(Vec::new()),
            };
            (ip, names)
        })
        .collect()
}

/// A lock that a panicked holder left is still usable: the tables hold no
/// invariant a half-done update could break.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
