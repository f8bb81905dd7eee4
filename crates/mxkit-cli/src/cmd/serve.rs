//! `mxkit serve`: arguments -> DNS sources and limits -> [`mxkit_serve`]
//! on every `--listen` address until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use mxkit::dns::Lookup;
use mxkit::targets::{Prefix, Targets};

use super::common::host_name;
use super::dns::DnsSettings;
use crate::Usage;
use crate::args::ServeArgs;
use crate::exit;

/// Run `mxkit serve`; returns the exit code.
pub fn run(args: ServeArgs) -> Result<u8> {
    let listen = args
        .listen
        .iter()
        .map(|l| {
            l.parse::<SocketAddr>().map_err(|_| {
                Usage::about(
                    Some("--listen"),
                    l,
                    "expected ADDR:PORT, e.g. 127.0.0.1:8025 or [::1]:8025",
                )
                .into()
            })
        })
        .collect::<Result<Vec<SocketAddr>>>()?;
    let dns = DnsSettings::from_args(&args.dns, true)?;
    let base_url = match &args.base_url {
        None => String::new(),
        Some(url) => {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && !url.chars().any(|c| {
                    c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>'
                });
            if !ok {
                return Err(Usage::about(
                    Some("--base-url"),
                    url,
                    "expected an http:// or https:// URL",
                )
                .into());
            }
            url.clone()
        }
    };
    let allowed = args
        .allow_probe
        .iter()
        .map(|p| {
            p.parse::<Prefix>()
                .map_err(|e| Usage::about(Some("--allow-probe"), p, e).into())
        })
        .collect::<Result<Vec<Prefix>>>()?;
    let targets = Targets::Global(allowed);
    // MTA-STS fetches stay within the targets too.
    let mta_sts = super::secure::mta_sts(&args.secure, dns.offline)?.map(|c| {
        let mut c = (*c).clone();
        if let Some(f) = &mut c.fetcher {
            f.targets = targets.clone();
        }
        Arc::new(c)
    });
    let reach = mxkit_serve::Reach {
        smtp: !args.no_smtp && !dns.offline,
        targets,
        mta_sts,
        roots: super::secure::roots(&args.secure)?,
        helo: host_name(),
    };
    let limits = mxkit_serve::Limits {
        max_concurrent: args.max_concurrent as usize,
        rate_per_min: args.rate,
        ..mxkit_serve::Limits::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut listeners = Vec::new();
        for addr in &listen {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => listeners.push(l),
                Err(e) => {
                    eprintln!("mxkit serve: cannot listen on {addr}: {e}");
                    return Ok(exit::TEMPORARY);
                }
            }
        }
        let trap = match &args.trap_store {
            None => None,
            Some(url) => match mxkit_trap::Store::open_existing(url).await {
                Ok(store) => Some(store),
                Err(e) => {
                    eprintln!("mxkit serve: --trap-store {url}: {e}");
                    return Ok(exit::TEMPORARY);
                }
            },
        };
        let kept = match store_url(args.store.as_deref()) {
            None => None,
            Some(url) => match mxkit_trap::Store::open(&url).await {
                Ok(store) => Some(store),
                Err(e) => {
                    eprintln!("mxkit serve: --store {url}: {e}");
                    return Ok(exit::TEMPORARY);
                }
            },
        };
        let kept = mxkit_serve::Kept::new(
            kept,
            std::time::Duration::from_secs(u64::from(args.keep_days) * 86_400),
            &base_url,
        );
        let sources = dns.sources().await?;
        let live = sources
            .engine
            .clone()
            .map(|e| Arc::new(e) as Arc<dyn Lookup>);
        let app = mxkit_serve::App::new(
            mxkit_serve::Sources {
                lookup: sources.lookup,
                live,
                zones: sources.zones,
                servers: sources.servers,
                resolvers: sources.resolvers,
                timeout: sources.timeout,
                dnssec: dns.dnssec,
            },
            reach,
            limits,
            trap,
            kept,
        );
        for l in &listeners {
            if let Ok(addr) = l.local_addr() {
                eprintln!("mxkit serve: listening on http://{addr}/");
            }
        }
        mxkit_serve::run(listeners, mxkit_serve::router(app), stop_signal())
            .await
            .context("serving")?;
        eprintln!("mxkit serve: stopped");
        anyhow::Ok(exit::OK)
    })
}

/// The store of kept pages: `--store`, `none` for none, else a SQLite file
/// in the user's data directory (none when there is no home).
fn store_url(given: Option<&str>) -> Option<String> {
    match given {
        Some("none") => None,
        Some(url) => Some(url.to_string()),
        None => {
            let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
                Some(dir) => std::path::PathBuf::from(dir),
                None => {
                    std::path::PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?)
                        .join(".local/share")
                }
            };
            let dir = base.join("mxkit");
            std::fs::create_dir_all(&dir).ok()?;
            Some(format!("sqlite:{}", dir.join("serve.db").display()))
        }
    }
}

/// SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, run until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
