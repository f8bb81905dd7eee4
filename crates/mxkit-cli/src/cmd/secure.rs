//! The MTA-STS flags and `--ca-file`, shared by `route`, `check`, `probe`
//! and `send` -> the trust anchors and [`MtaStsConfig`]. Every file named is
//! read here, before any network work, and a bad one is a usage error
//! (exit 64).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use mxkit::address::Domain;
use mxkit::mta_sts::{Cache, Fetcher, MtaStsConfig, fetch::DEFAULT_TIMEOUT, read_policy_file};
use mxkit::smtp::{Roots, SmtpError};

use super::common::parse_duration;
use crate::Usage;
use crate::args::{OnOffArg, SecureArgs};

/// The longest `--mta-sts-timeout`.
const MAX_FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// The trust anchors: `--ca-file`, read now, or the built-in Mozilla set.
pub fn roots(args: &SecureArgs) -> Result<Roots> {
    let Some(path) = &args.ca_file else {
        return Ok(Roots::WebPki);
    };
    let roots = Roots::PemFile(path.clone());
    // Read now: a file that is missing, unreadable or holds no certificate
    // would otherwise fail every attempt, after DNS.
    if let Err(e) = roots.load() {
        let reason = match e {
            SmtpError::CaFile { detail, .. } => detail,
            other => other.to_string(),
        };
        return Err(Usage::about(
            Some("--ca-file"),
            &path.display().to_string(),
            format!("cannot use it: {reason}"),
        )
        .into());
    }
    Ok(roots)
}

/// The MTA-STS configuration; `None` with `--mta-sts off`. `offline`:
/// nothing is fetched (files and the cache still apply).
pub fn mta_sts(args: &SecureArgs, offline: bool) -> Result<Option<Arc<MtaStsConfig>>> {
    if args.mta_sts == OnOffArg::Off {
        if !args.mta_sts_policy.is_empty() {
            return Err(Usage("--mta-sts-policy needs --mta-sts on".into()).into());
        }
        return Ok(None);
    }
    let mut files = Vec::new();
    for given in &args.mta_sts_policy {
        let flag = Some("--mta-sts-policy");
        let Some((domain, file)) = given.split_once('=') else {
            return Err(Usage::about(flag, given, "expected DOMAIN=FILE").into());
        };
        let domain = Domain::parse(domain).map_err(|e| Usage::about(flag, given, e))?;
        let body = read_policy_file(Path::new(file)).map_err(|e| Usage::about(flag, given, e))?;
        let domain = domain.as_str().to_ascii_lowercase();
        if files.iter().any(|(d, _)| *d == domain) {
            return Err(Usage::about(flag, given, "a second policy for the same domain").into());
        }
        files.push((domain, body));
    }
    let cache = match args.mta_sts_cache.as_deref() {
        Some("none") => None,
        Some("") => {
            return Err(Usage("--mta-sts-cache: give a directory, or none".into()).into());
        }
        Some(dir) => Some(Cache::new(dir)),
        None => Cache::default_dir().map(Cache::new),
    };
    let timeout = match &args.mta_sts_timeout {
        Some(t) => {
            let t = parse_duration("--mta-sts-timeout", t)?;
            if t > MAX_FETCH_TIMEOUT {
                return Err(Usage::about(
                    Some("--mta-sts-timeout"),
                    args.mta_sts_timeout.as_deref().unwrap_or(""),
                    "at most 5m",
                )
                .into());
            }
            t
        }
        None => DEFAULT_TIMEOUT,
    };
    let fetcher = if offline {
        None
    } else {
        let store = roots(args)?
            .load()
            .map_err(|e| Usage(format!("--ca-file: {e}")))?;
        Some(Fetcher::new(store, timeout))
    };
    Ok(Some(Arc::new(MtaStsConfig {
        fetcher,
        files,
        cache,
    })))
}
