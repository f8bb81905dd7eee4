//! `mxkit trap`: the decoy MX ([`mxkit_trap`]) run, inspected and exported.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use ipnet::IpNet;
use mxkit_trap::config::{Config, check_hostname};
use mxkit_trap::export::{self, Format};
use mxkit_trap::model::{AllowEntry, now};
use mxkit_trap::run::{Event, LogSource, RunSettings, Target};
use mxkit_trap::store::{Store, StoreError};

use super::common::host_name;
use crate::Usage;
use crate::args::{
    TrapAllowArgs, TrapArgs, TrapCommand, TrapDelistArgs, TrapExpireArgs, TrapExportArgs,
    TrapListArgs, TrapRunArgs, TrapShowArgs, TrapStoreArgs,
};
use crate::exit;
use crate::output::trap as out;

pub fn run(args: TrapArgs) -> Result<u8> {
    match args.command {
        TrapCommand::Run(a) => run_trap(a),
        TrapCommand::List(a) => list(a),
        TrapCommand::Show(a) => show(a),
        TrapCommand::Allow(a) => allow(a),
        TrapCommand::Delist(a) => delist(a),
        TrapCommand::Expire(a) => expire(a),
        TrapCommand::Export(a) => export_once(a),
    }
}

/// Where a value came from, for its error: `FILE: key` or `--flag`.
fn from_config(args: &TrapStoreArgs, key: &str) -> String {
    match &args.config {
        Some(path) => format!("{}: {key}", path.display()),
        None => key.to_string(),
    }
}

/// The configuration file (if any) and the store URL from the flag or it.
fn config_and_store(args: &TrapStoreArgs) -> Result<(Config, String)> {
    let config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| Usage(e.to_string()))?,
        None => Config::default(),
    };
    let Some(url) = args.store.clone().or_else(|| config.store.clone()) else {
        return Err(Usage(
            "no store: give --store sqlite:PATH (or postgres://...), or `store` in --config".into(),
        )
        .into());
    };
    Ok((config, url))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Opens the store, creating it (`trap run`, `trap allow`).
async fn open(url: &str) -> Result<Store> {
    opened(url, Store::open(url).await)
}

/// Opens a store that must exist already: the commands that only read or
/// withdraw refuse a mistyped path instead of reporting an empty new store.
async fn open_existing(url: &str) -> Result<Store> {
    opened(url, Store::open_existing(url).await)
}

fn opened(url: &str, store: Result<Store, StoreError>) -> Result<Store> {
    match store {
        Ok(store) => Ok(store),
        Err(e @ StoreError::Url(_)) => Err(Usage(e.to_string()).into()),
        Err(StoreError::Missing(why)) => Err(Usage(format!("{why} ({})", out::redact(url))).into()),
        Err(e) => {
            Err(anyhow::Error::new(e)
                .context(format!("cannot open the store {}", out::redact(url))))
        }
    }
}

fn parse_ip(s: &str) -> Result<IpAddr> {
    s.trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_canonical())
        .map_err(|_| Usage(format!("{s:?} is not an IP address")).into())
}

fn parse_net(s: &str) -> Result<IpNet> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    s.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| {
        Usage(format!(
            "{s:?} is neither an IP address nor a network (CIDR)"
        ))
        .into()
    })
}

fn parse_format(s: &str) -> Result<Format> {
    s.parse::<Format>().map_err(|e| Usage(e.to_string()).into())
}

fn resolve_listen(s: &str) -> Result<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let mut addrs = s
        .to_socket_addrs()
        .map_err(|e| Usage(format!("--listen {s:?}: {e} (give ADDR:PORT, [IPV6]:PORT)")))?;
    addrs
        .next()
        .ok_or_else(|| Usage(format!("--listen {s:?}: no address")).into())
}

fn run_trap(args: TrapRunArgs) -> Result<u8> {
    let (config, url) = config_and_store(&args.store)?;
    let settings = run_settings(&args, &config)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let store = Arc::new(open(&url).await?);
        let mut err = io::stderr();
        if settings.logs.is_empty() {
            out::no_logs_warning(&mut err)?;
        }
        let shadow = settings.shadow;
        out::started(&mut err, &settings.listen, &url, &settings.logs, shadow)?;
        let report: mxkit_trap::run::Report =
            Arc::new(move |event: Event<'_>| report(event, shadow));
        mxkit_trap::run::run(settings, store, report, shutdown_signal()).await?;
        out::stopped(&mut err)?;
        Ok(exit::OK)
    })
}

/// The settings of `trap run`: its flags over the configuration file,
/// checked (errors are usage errors, naming the flag or `FILE: key`).
fn run_settings(args: &TrapRunArgs, config: &Config) -> Result<RunSettings> {
    let at = |key: &str| from_config(&args.store, key);
    let mut listen = Vec::new();
    for s in &config.listen {
        listen.push(resolve_listen(s).map_err(|e| Usage(format!("{}: {e}", at("listen"))))?);
    }
    for s in &args.listen {
        listen.push(resolve_listen(s)?);
    }
    if listen.is_empty() {
        bail!(Usage(
            "nothing to listen on: give --listen ADDR:PORT (the decoy's own address), or `listen` in --config".into()
        ));
    }
    let logs: Vec<LogSource> = config
        .primary_log
        .iter()
        .chain(&args.primary_logs)
        .map(|s| LogSource::parse(s))
        .collect();
    let mut allow = Vec::new();
    for s in &config.allow {
        allow.push(parse_net(s).map_err(|e| Usage(format!("{}: {e}", at("allow"))))?);
    }
    for s in &args.allow {
        allow.push(parse_net(s).map_err(|e| Usage(format!("--allow: {e}")))?);
    }
    let mut exports = Vec::new();
    for e in &config.export {
        exports.push(Target {
            format: parse_format(&e.format)
                .map_err(|err| Usage(format!("{}: {err}", at("export.format"))))?,
            path: e.path.clone(),
        });
    }
    for s in &args.exports {
        let Some((format, path)) = s.split_once(':') else {
            bail!(Usage(format!(
                "--export {s:?}: give FORMAT:PATH, e.g. postfix-cidr:/var/lib/mxkit/mxtrap.cidr"
            )));
        };
        exports.push(Target {
            format: parse_format(format)?,
            path: path.into(),
        });
    }
    let mut probe = Vec::new();
    for s in &config.primary_probe {
        probe.push(resolve_listen(s).map_err(|_| {
            Usage(format!(
                "{}: {s:?}: give IP:PORT, e.g. \"192.0.2.10:25\"",
                at("primary_probe")
            ))
        })?);
    }
    if let Some(both) = listen.iter().find(|a| probe.contains(a)) {
        bail!(Usage(format!(
            "{both} is both a decoy address (--listen) and the primary's (primary_probe): the \
             decoy needs an address of its own"
        )));
    }
    // The name goes into every greeting and EHLO reply: CR, LF or an
    // escape in it would let a flag or a file write SMTP to clients. (The
    // file's `hostname` was checked when it was read.)
    if let Some(name) = &args.hostname {
        check_hostname(name).map_err(|reason| {
            Usage(format!(
                "--hostname {:?}: {reason}",
                crate::output::sanitize(&name.chars().take(80).collect::<String>())
            ))
        })?;
    }
    let hostname = match args.hostname.clone().or_else(|| config.hostname.clone()) {
        Some(name) => name,
        None => {
            let name = host_name();
            check_hostname(&name).map_err(|reason| {
                Usage(format!(
                    "this host's name {:?} {reason}: give --hostname NAME",
                    crate::output::sanitize(&name)
                ))
            })?;
            name
        }
    };
    let settings = RunSettings {
        listen,
        hostname,
        limits: config.limits(),
        logs,
        read_from_start: config.read_from_start,
        shadow: args.shadow || config.shadow,
        allow,
        windows: config.windows(),
        exports,
        publish: config.export_options(),
        interval: config.interval(),
        retention: config.retention(),
        fcrdns: config.dns.fcrdns,
        dns_watch: config.dns.watch.clone(),
        watch_interval: config.watch_interval(),
        dns_servers: config.dns_servers().map_err(|e| match &args.store.config {
            Some(path) => Usage(format!("{}: {e}", path.display())),
            None => Usage(e.to_string()),
        })?,
        probe,
        probe_interval: config.probe_interval(),
    };
    // What `run` would refuse before it listens is a usage error here.
    settings.check_exports().map_err(|e| Usage(e.to_string()))?;
    Ok(settings)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// What the running trap says on standard error (a failed write there is
/// no reason to stop the trap).
fn report(event: Event<'_>, shadow: bool) {
    let mut err = io::stderr().lock();
    let _ = match event {
        Event::Step(step) => out::step(&mut err, step, shadow, now()),
        Event::Stream { name, problem } => out::stream(&mut err, name, problem),
    };
}

fn list(args: TrapListArgs) -> Result<u8> {
    let (_, url) = config_and_store(&args.store)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let store = open_existing(&url).await?;
        let at = if args.all { i64::MIN } else { now() };
        let listings = store.listings(at).await?;
        let pause = store.last_pause().await?.filter(|p| p.ended.is_none());
        if let Some(p) = &pause
            && args.json
        {
            out::pause_warning(&mut io::stderr(), p)?;
        }
        let mut stdout = io::stdout().lock();
        if let Some(p) = &pause
            && !args.json
        {
            out::pause_text(&mut stdout, p, now())?;
        }
        if args.json {
            out::listings_json(&mut stdout, &listings)?;
        } else {
            out::listings_text(&mut stdout, &listings, now())?;
        }
        Ok(exit::OK)
    })
}

fn show(args: TrapShowArgs) -> Result<u8> {
    let ip = parse_ip(&args.ip)?;
    let (config, url) = config_and_store(&args.store)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let store = open_existing(&url).await?;
        let since = now() - config.retention().decisions;
        let listing = store.listing(ip).await?;
        let decisions = store.decisions(ip, since).await?;
        let observations = store.observations(ip, since).await?;
        let allowed: Vec<AllowEntry> = store
            .allowlist()
            .await?
            .into_iter()
            .filter(|a| a.net.contains(&ip))
            .collect();
        let about = out::About {
            ip,
            listing: listing.as_ref(),
            decisions: &decisions,
            observations: &observations,
            allowed: &allowed,
        };
        let mut stdout = io::stdout().lock();
        if args.json {
            out::show_json(&mut stdout, &about)?;
        } else {
            out::show_text(&mut stdout, &about, now())?;
        }
        Ok(exit::OK)
    })
}

fn allow(args: TrapAllowArgs) -> Result<u8> {
    let net = parse_net(&args.net)?;
    let (_, url) = config_and_store(&args.store)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let store = open(&url).await?;
        let mut stdout = io::stdout().lock();
        if args.remove {
            let removed = store.unallow(net).await?;
            if !removed {
                bail!(Usage(format!("{net} is not on the allowlist")));
            }
            out::unallowed(&mut stdout, net)?;
            return Ok(exit::OK);
        }
        store
            .allow(&AllowEntry {
                net,
                note: args.note.clone(),
                added: now(),
            })
            .await?;
        // Withdraw what is listed inside the network now.
        let mut withdrawn = Vec::new();
        for l in store.listings(i64::MIN).await? {
            if net.contains(&l.ip) && store.delist(l.ip).await? {
                withdrawn.push(l.ip);
            }
        }
        out::allowed(&mut stdout, net, &withdrawn)?;
        Ok(exit::OK)
    })
}

fn delist(args: TrapDelistArgs) -> Result<u8> {
    let ip = parse_ip(&args.ip)?;
    let (_, url) = config_and_store(&args.store)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let store = open_existing(&url).await?;
        if !store.delist(ip).await? {
            bail!(Usage(format!("{ip} is not listed")));
        }
        out::delisted(&mut io::stdout(), ip)?;
        Ok(exit::OK)
    })
}

fn expire(args: TrapExpireArgs) -> Result<u8> {
    let (config, url) = config_and_store(&args.store)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let store = open_existing(&url).await?;
        let e = store.expire(now(), config.retention()).await?;
        out::expired(&mut io::stdout().lock(), &e, args.json)?;
        Ok(exit::OK)
    })
}

fn export_once(args: TrapExportArgs) -> Result<u8> {
    let format = parse_format(&args.format)?;
    let (config, url) = config_and_store(&args.store)?;
    let options = config.export_options();
    if let Some(path) = &args.out {
        export::check_target(Path::new(path)).map_err(|e| Usage(format!("--out: {e}")))?;
    }
    let rt = runtime()?;
    rt.block_on(async move {
        let store = open_existing(&url).await?;
        let t = now();
        let listings = store.listings(t).await?;
        match &args.out {
            Some(path) => {
                export::export(Path::new(path), format, &listings, t, &options)?;
            }
            None => {
                let text = export::render(format, &listings, t, &options)?;
                out::blocklist(&mut io::stdout().lock(), &text)?;
            }
        }
        Ok(exit::OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets_and_addresses() {
        assert_eq!(parse_net("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_net("192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
        assert!(parse_net("nonsense").is_err());
        assert_eq!(
            parse_ip("::ffff:192.0.2.1").unwrap(),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
