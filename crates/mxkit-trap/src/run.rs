//! `mxkit trap run`: the decoy, the log readers, the detector and the
//! exporters in one process.
//!
//! Tasks: one accept loop per listen address ([`crate::listener`]); one
//! reader per primary log, storing each batch of events together with the
//! stream's cursor ([`crate::logs`]); and a ticker that every
//! [`crate::config::Config::interval`] decides what can be decided ([`crate::detect`]),
//! rewrites the exports whose bytes changed ([`crate::export`]) and, once
//! an hour, removes what is past its retention.
//!
//! The exports follow the store, not this process: every change to what is
//! listed moves the store's counter ([`Store::listings_changes`]) in the
//! same transaction, whoever made it (`mxkit trap delist` or `allow` in
//! another process, a detector on another host sharing a PostgreSQL
//! store), and the ticker rewrites the exports when the counter moved or a
//! listing ran out: within one interval of the change.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use mxkit::dns::engine::{Engine, EngineConfig};

use crate::detect::{Detector, Settings, Step};
use crate::dnswatch::{DnsWatch, watch_loop};
use crate::export::{self, ExportOptions, Format};
use crate::health::{Health, probe_loop};
use crate::listener::{self, Decoy, Limits};
use crate::logs::{
    self, FileFollower, FollowConfig, JournalConfig, JournalReader, LogError, ParserConfig,
    PostfixParser, StartAt,
};
use crate::model::{Listing, Micros, now};
use crate::store::{Retention, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Log(#[from] LogError),
    #[error("DNS (reverse lookups, MX watch): {0}")]
    Dns(String),
    #[error("{0}")]
    Export(#[from] export::ExportError),
}

/// Log lines per stored batch while a reader catches up (an idle stream
/// stores what it has every second). Each batch is one transaction, and
/// SQLite's cost per transaction is mostly the index pages it rewrites: 10x
/// larger batches doubled the ingestion rate (bench/trap-load).
pub const INGEST_BATCH: u64 = 100_000;

/// One export target.
#[derive(Clone, Debug)]
pub struct Target {
    pub format: Format,
    pub path: PathBuf,
}

/// One real MX host's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogSource {
    File(PathBuf),
    Journal,
}

impl LogSource {
    pub fn parse(s: &str) -> LogSource {
        if s == "journal" {
            LogSource::Journal
        } else {
            LogSource::File(PathBuf::from(s))
        }
    }

    /// The stream's name in the store: `journal`, or the file's path.
    pub fn name(&self) -> String {
        match self {
            LogSource::Journal => "journal".to_string(),
            LogSource::File(p) => p.display().to_string(),
        }
    }
}

/// Everything `trap run` needs, validated.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub listen: Vec<SocketAddr>,
    pub hostname: String,
    pub limits: Limits,
    pub logs: Vec<LogSource>,
    /// Read log files from their start the first time.
    pub read_from_start: bool,
    pub shadow: bool,
    pub allow: Vec<IpNet>,
    pub windows: crate::detect::Windows,
    pub exports: Vec<Target>,
    pub publish: ExportOptions,
    pub interval: Duration,
    pub retention: Retention,
    /// Look up candidates' forward-confirmed names (pool senders).
    pub fcrdns: bool,
    /// The domain whose MX plan is watched for the DNS-change grace.
    pub dns_watch: Option<String>,
    pub watch_interval: Duration,
    /// Resolvers for both (empty: those of /etc/resolv.conf).
    pub dns_servers: Vec<SocketAddr>,
    /// The primary's addresses to probe for health (`IP:25`); none: the
    /// primary's log alone tells whether it is up.
    pub probe: Vec<SocketAddr>,
    pub probe_interval: Duration,
}

impl RunSettings {
    /// What [`run`] refuses before anything listens: export options a
    /// target's format cannot use, and a target that is not a regular file
    /// (a device, a FIFO, a folder) or whose folder is missing.
    pub fn check_exports(&self) -> Result<(), export::ExportError> {
        for target in &self.exports {
            self.publish.validate(target.format)?;
            export::check_target(&target.path)?;
        }
        Ok(())
    }
}

/// What a running trap tells its caller (the CLI prints it).
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// A step of the detector that decided something, changed the lists,
    /// or paused or resumed listing.
    Step(&'a Step),
    /// A primary log became unreadable (`problem`), or readable again
    /// (`None`).
    Stream {
        name: &'a str,
        problem: Option<&'a str>,
    },
}

/// Where [`Event`]s go.
pub type Report = Arc<dyn Fn(Event<'_>) + Send + Sync>;

/// Runs until `shutdown` completes or a task fails.
pub async fn run(
    settings: RunSettings,
    store: Arc<Store>,
    report: Report,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    settings.check_exports()?;
    let listeners = listener::bind(&settings.listen)?;
    let decoy = Arc::new(Decoy {
        hostname: settings.hostname.clone(),
        limits: settings.limits.clone(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    {
        let sink: Arc<dyn listener::Sink> = store.clone();
        tasks.spawn(async move {
            listener::serve(listeners, decoy, sink)
                .await
                .map_err(RunError::from)
        });
    }
    let started = now();
    for source in &settings.logs {
        let store = store.clone();
        let source = source.clone();
        let from_start = settings.read_from_start;
        let report = report.clone();
        tasks.spawn(async move { follow(source, store, from_start, report).await });
    }
    let lookup: Option<Arc<dyn mxkit::dns::Lookup>> =
        if settings.fcrdns || settings.dns_watch.is_some() {
            let config = if settings.dns_servers.is_empty() {
                EngineConfig::from_system().map_err(|e| RunError::Dns(e.to_string()))?
            } else {
                EngineConfig::new(settings.dns_servers.clone())
            };
            Some(Arc::new(Engine::new(config).await?))
        } else {
            None
        };
    let fcrdns = if settings.fcrdns {
        lookup.clone()
    } else {
        None
    };
    let dns_watch = match (&settings.dns_watch, &lookup) {
        (Some(domain), Some(lookup)) => {
            let watch = Arc::new(DnsWatch::new());
            let (domain, lookup, w, every) = (
                domain.clone(),
                lookup.clone(),
                watch.clone(),
                settings.watch_interval,
            );
            tasks.spawn(async move {
                watch_loop(domain, lookup, w, every).await;
                Ok(())
            });
            Some(watch)
        }
        _ => None,
    };
    let health = if settings.probe.is_empty() {
        None
    } else {
        let health = Arc::new(Health::new());
        let (targets, h, every) = (
            settings.probe.clone(),
            health.clone(),
            settings.probe_interval,
        );
        tasks.spawn(async move {
            probe_loop(targets, h, every).await;
            Ok(())
        });
        Some(health)
    };
    let detector = Detector::new(
        Settings {
            windows: settings.windows.clone(),
            shadow: settings.shadow,
            allow: settings.allow.clone(),
            streams: settings.logs.iter().map(LogSource::name).collect(),
            fcrdns,
            health,
            dns_watch,
        },
        started,
    );
    let ticker = tick(detector, settings.clone(), store.clone(), report);
    tokio::pin!(shutdown);
    tokio::select! {
        _ = &mut shutdown => Ok(()),
        r = ticker => r,
        Some(done) = tasks.join_next() => match done {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(RunError::Io(std::io::Error::other(e))),
        },
    }
}

async fn tick(
    detector: Detector,
    settings: RunSettings,
    store: Arc<Store>,
    report: Report,
) -> Result<(), RunError> {
    let mut interval = tokio::time::interval(settings.interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_expire: Micros = 0;
    // The store's count of listing changes the exports were written at.
    let mut written: Option<i64> = None;
    // The earliest expiry among the exported listings: the lists are
    // rewritten then, so an expired address leaves them on time.
    let mut next_expiry = Micros::MAX;
    loop {
        interval.tick().await;
        let t = now();
        let step = detector.step(&store, t).await?;
        if step.eventful() {
            report(Event::Step(&step));
        }
        if t - last_expire >= 3_600_000_000 {
            store.expire(t, settings.retention).await?;
            last_expire = t;
        }
        // Read before the listings: a change made in between is written
        // now and again at the next tick, never missed.
        let changes = store.listings_changes().await?;
        if written != Some(changes) || t >= next_expiry {
            next_expiry = write_exports(&store, &settings, t).await?;
            written = Some(changes);
        }
    }
}

/// Writes every export whose bytes changed; returns the earliest expiry
/// among the listings written.
pub async fn write_exports(
    store: &Store,
    settings: &RunSettings,
    now: Micros,
) -> Result<Micros, RunError> {
    let listings: Vec<Listing> = store.listings(now).await?;
    let next = listings
        .iter()
        .filter(|l| !l.shadow)
        .map(|l| l.expires)
        .min()
        .unwrap_or(Micros::MAX);
    for target in &settings.exports {
        export::export(
            &target.path,
            target.format,
            &listings,
            now,
            &settings.publish,
        )?;
    }
    Ok(next)
}

/// Reads one log stream for ever, storing each batch with the stream's new
/// cursor in one transaction: a restart resumes exactly after what was
/// stored, so nothing is read twice or lost. A file that cannot be read is
/// reported when that starts and when it ends.
async fn follow(
    source: LogSource,
    store: Arc<Store>,
    from_start: bool,
    report: Report,
) -> Result<(), RunError> {
    let name = source.name();
    let resume = store.stream(&name).await?;
    let mut parser_config = ParserConfig::new(&name);
    if let LogSource::File(_) = source {
        // Classic syslog time stamps carry no zone: they are this host's.
        parser_config.utc_offset = logs::postfix::system_utc_offset().unwrap_or(0);
    }
    let parser = PostfixParser::new(parser_config);
    match source {
        LogSource::File(path) => {
            let mut config = FollowConfig::new(path);
            config.max_batch = INGEST_BATCH;
            if from_start {
                config.start = StartAt::Beginning;
            }
            let mut reader = FileFollower::new(config, parser, resume.as_ref())?;
            let mut problem: Option<String> = None;
            loop {
                let batch = reader.next_batch().await?;
                store.ingest(&batch.state, &batch.observations).await?;
                if batch.state.problem != problem {
                    problem = batch.state.problem;
                    report(Event::Stream {
                        name: &name,
                        problem: problem.as_deref(),
                    });
                }
            }
        }
        LogSource::Journal => {
            let config = JournalConfig::for_syslog_names(&["postfix".to_string()]);
            let mut reader = JournalReader::spawn(config, parser, resume.as_ref())?;
            loop {
                let batch = reader.next_batch().await?;
                store.ingest(&batch.state, &batch.observations).await?;
            }
        }
    }
}
