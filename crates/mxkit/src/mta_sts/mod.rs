//! MTA-STS (RFC 8461) and TLS-RPT (RFC 8460): the policy layer of secure
//! routing (docs/rules/secure.md, Rules S7 to S12).
//!
//! A domain publishes a TXT record at `_mta-sts.<domain>` whose `id` names
//! the current policy ([`record`], Rule S7), and the policy itself at
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt` ([`fetch`], Rule S8;
//! [`policy`] parses it). Senders keep the policy for its `max_age`
//! ([`cache`], Rule S9) and, in `enforce` mode, deliver only to exchangers
//! that match its `mx` patterns (Rule S10) over TLS with a PKIX-valid
//! certificate (Rule S11). [`discover`] is the whole sender's decision for
//! one domain, as [`crate::route`] applies it.

pub mod cache;
pub mod fetch;
pub mod policy;
pub mod record;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

pub use cache::{Cache, Cached};
pub use fetch::{FetchError, Fetcher};
pub use policy::{Mode, Policy, pattern_matches};
pub use record::{Records, StsRecord, TlsRptRecord, sts_records, tlsrpt_records, txt_strings};

use crate::dns::{Answer, Lookup, Name};

/// How a sender finds and keeps policies: the `--mta-sts*` options.
#[derive(Clone, Debug, Default)]
pub struct MtaStsConfig {
    /// Fetch policies over HTTPS; none when offline (`--offline`): then
    /// only files and the cache give policies.
    pub fetcher: Option<Fetcher>,
    /// Policy files given for domains (`--mta-sts-policy DOMAIN=FILE`): the
    /// domain (A-labels, lower case) and the file's content, which takes
    /// the place of the fetched policy.
    pub files: Vec<(String, Vec<u8>)>,
    /// Where fetched policies are kept (`--mta-sts-cache`); none: not kept.
    pub cache: Option<Cache>,
}

impl MtaStsConfig {
    /// Nothing is fetched, no file given, no cache: only the records are
    /// read (`scan --secure`).
    pub fn dns_only(&self) -> bool {
        self.fetcher.is_none() && self.files.is_empty() && self.cache.is_none()
    }
}

/// Where the policy in force came from. Serialized in lower case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Fetched now.
    Fetched,
    /// From the cache (same `id`, or the fetch failed, or no record now).
    Cache,
    /// From a file given for the domain (`--mta-sts-policy`).
    File,
}

/// The route's `mta_sts`: the policy a sender applies to the domain, or
/// why a published one is not applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MtaSts {
    /// The mode in force; `null` when no policy is applied.
    pub mode: Option<Mode>,
    /// The TXT record's `id` (the cached policy's when the record is gone).
    pub id: Option<String>,
    /// The policy's `max_age`.
    pub max_age: Option<u32>,
    /// Its `mx` patterns.
    pub mx: Vec<String>,
    /// Where the policy came from; `null` when none is applied.
    pub source: Option<Source>,
    /// What went wrong on the way, if anything: a record that does not
    /// parse, a fetch that failed (with a cached policy applied or not).
    pub error: Option<String>,
    /// The policy applied.
    #[serde(skip)]
    pub policy: Option<Policy>,
}

impl MtaSts {
    fn applied(policy: Policy, id: Option<String>, source: Source, error: Option<String>) -> Self {
        MtaSts {
            mode: Some(policy.mode),
            id,
            max_age: Some(policy.max_age),
            mx: policy.mx.clone(),
            source: Some(source),
            error,
            policy: Some(policy),
        }
    }

    fn not_applied(id: Option<String>, error: String) -> Self {
        MtaSts {
            mode: None,
            id,
            max_age: None,
            mx: Vec::new(),
            source: None,
            error: Some(error),
            policy: None,
        }
    }
}

/// What [`discover`] found.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    /// The policy decision: none when the domain publishes no policy and
    /// none is cached.
    pub mta_sts: Option<MtaSts>,
    /// A fetched policy could not be stored in the cache: why.
    pub cache_error: Option<String>,
}

/// The names of a domain's two records.
pub fn record_names(domain: &Name) -> Option<(Name, Name)> {
    let sts = Name::from_ascii("_mta-sts")
        .ok()?
        .append_domain(domain)
        .ok()?;
    let rpt = Name::from_ascii("_smtp._tls")
        .ok()?
        .append_domain(domain)
        .ok()?;
    Some((sts, rpt))
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// docs/rules/secure.md, Rules S7 to S9: the policy a sender applies to
/// `domain` (A-labels, lower case, no final dot), given the answer to its
/// `_mta-sts` TXT question, at time `now`.
///
/// - A policy file given for the domain is applied as it is.
/// - A valid record whose `id` is the cached policy's: the cached policy.
/// - A valid record otherwise: fetch; a valid policy is applied and
///   cached; a failed fetch falls back to the unexpired cached policy.
/// - No valid record (none, several, broken, or the lookup failed): the
///   unexpired cached policy (RFC 8461 section 5.1: a policy that vanished
///   from DNS is still applied until it expires), else none.
///
/// Nothing here fails permanently: the worst is "no policy".
pub async fn discover<L: Lookup + ?Sized>(
    lookup: &L,
    domain: &str,
    txt: &Answer,
    config: &MtaStsConfig,
    now: u64,
) -> Discovery {
    let records = sts_records(&txt_strings(&txt.outcome));
    let id = records.valid.as_ref().map(|r| r.id.clone());
    let mut found = Discovery::default();
    if let Some((_, body)) = config.files.iter().find(|(d, _)| d == domain) {
        found.mta_sts = Some(match Policy::parse(body) {
            Ok(policy) => MtaSts::applied(policy, id, Source::File, None),
            Err(why) => MtaSts::not_applied(id, format!("the policy file is invalid: {why}")),
        });
        return found;
    }
    let cached = config.cache.as_ref().and_then(|c| c.get(domain));
    let fresh = cached.as_ref().and_then(|c| Some((c, c.fresh(now)?)));
    let from_cache = |why: Option<String>| {
        fresh
            .clone()
            .map(|(c, policy)| MtaSts::applied(policy, Some(c.id.clone()), Source::Cache, why))
    };
    let Some(record) = records.valid else {
        let why = if txt.outcome.is_temporary() {
            Some(format!("the _mta-sts TXT lookup failed: {}", txt.outcome))
        } else {
            records.problem.clone()
        };
        found.mta_sts = match (from_cache(why.clone()), why) {
            (Some(cached), _) => Some(cached),
            // A record that looks like one but is not valid: say why no
            // policy applies.
            (None, Some(why)) if !records.candidates.is_empty() => {
                Some(MtaSts::not_applied(None, format!("no policy: {why}")))
            }
            (None, _) => None,
        };
        return found;
    };
    if let Some((c, policy)) = &fresh
        && c.id == record.id
    {
        found.mta_sts = Some(MtaSts::applied(
            policy.clone(),
            Some(record.id),
            Source::Cache,
            None,
        ));
        return found;
    }
    let Some(fetcher) = &config.fetcher else {
        let why = "the policy is not fetched: fetching is off (--offline, or a scan)".to_string();
        found.mta_sts = Some(
            from_cache(Some(format!("{why}; the cached policy applies")))
                .unwrap_or_else(|| MtaSts::not_applied(Some(record.id.clone()), why)),
        );
        return found;
    };
    let fetched = fetcher.fetch(lookup, domain).await;
    let why = match fetched.map(|body| (Policy::parse(&body), body)) {
        Ok((Ok(policy), body)) => {
            if let Some(cache) = &config.cache {
                let entry = Cached {
                    domain: domain.to_string(),
                    id: record.id.clone(),
                    fetched_at: now,
                    text: String::from_utf8_lossy(&body).into_owned(),
                };
                if let Err(e) = cache.put(&entry) {
                    found.cache_error = Some(format!(
                        "cannot store the MTA-STS policy of {domain} in {}: {e}",
                        cache.dir().display()
                    ));
                }
            }
            found.mta_sts = Some(MtaSts::applied(
                policy,
                Some(record.id),
                Source::Fetched,
                None,
            ));
            return found;
        }
        Ok((Err(why), _)) => format!(
            "the policy at https://mta-sts.{domain}{} is invalid: {why}",
            fetch::POLICY_PATH
        ),
        Err(e) => format!(
            "fetching https://mta-sts.{domain}{} failed: {e}",
            fetch::POLICY_PATH
        ),
    };
    found.mta_sts = Some(
        from_cache(Some(format!("{why}; the cached policy applies")))
            .unwrap_or_else(|| MtaSts::not_applied(Some(record.id), why)),
    );
    found
}

/// Read a policy file given for a domain (`--mta-sts-policy DOMAIN=FILE`):
/// a regular file of at most [`policy::MAX_POLICY_SIZE`] octets that
/// parses.
pub fn read_policy_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let body = crate::bounded::read_file(path, policy::MAX_POLICY_SIZE as u64)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Policy::parse(&body).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(body)
}
