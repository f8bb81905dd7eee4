//! The policy cache (RFC 8461 section 5.1; docs/rules/secure.md, Rule S9):
//! one file per domain in a directory, `<domain>.json`, holding the policy
//! text as fetched, its TXT `id` and when it was fetched. A file is written
//! to a temporary name in the same directory and renamed over the old one,
//! so a reader sees the old policy or the new one, never half of either,
//! and two runs that store at once leave one whole file.
//!
//! A cached policy is kept for its `max_age` from the fetch. A file that
//! cannot be read or parsed is as if absent (it is replaced by the next
//! fetch); an unusable directory makes storing fail, which is reported and
//! never stops routing.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::policy::{MAX_POLICY_SIZE, Policy};

/// Largest cache file read: the largest policy, escaped, and its fields.
const MAX_FILE: u64 = (MAX_POLICY_SIZE as u64) * 7 + 4096;

/// A policy kept in the cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cached {
    /// The domain, A-labels.
    pub domain: String,
    /// The TXT record's `id` when the policy was fetched.
    pub id: String,
    /// When it was fetched, in seconds since the Unix epoch.
    pub fetched_at: u64,
    /// The policy file as fetched.
    pub text: String,
}

impl Cached {
    /// The policy, parsed (a cache file with an invalid policy counts as
    /// none).
    pub fn policy(&self) -> Option<Policy> {
        Policy::parse(self.text.as_bytes()).ok()
    }

    /// Still valid at `now` (seconds since the epoch): within `max_age` of
    /// the fetch.
    pub fn fresh(&self, now: u64) -> Option<Policy> {
        let policy = self.policy()?;
        (now < self.fetched_at.saturating_add(u64::from(policy.max_age))).then_some(policy)
    }
}

/// A cache directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// A cache in `dir` (created when the first policy is stored).
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    /// The default directory: `$XDG_CACHE_HOME/mxkit/mta-sts`, else
    /// `$HOME/.cache/mxkit/mta-sts`; none when neither is set.
    pub fn default_dir() -> Option<PathBuf> {
        let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => {
                PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache")
            }
        };
        Some(base.join("mxkit").join("mta-sts"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `domain`; none for a name that is not a plain host name
    /// (a file name must never come from text that could hold `/` or `..`).
    fn file(&self, domain: &str) -> Option<PathBuf> {
        let ok = !domain.is_empty()
            && domain.len() <= 253
            && !domain.starts_with('.')
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        ok.then(|| {
            self.dir
                .join(format!("{}.json", domain.to_ascii_lowercase()))
        })
    }

    /// The cached policy of `domain`, if any.
    pub fn get(&self, domain: &str) -> Option<Cached> {
        let path = self.file(domain)?;
        let bytes = crate::bounded::read_file(&path, MAX_FILE).ok()?;
        let cached: Cached = serde_json::from_slice(&bytes).ok()?;
        (cached.domain.eq_ignore_ascii_case(domain)).then_some(cached)
    }

    /// Store `cached`, atomically.
    pub fn put(&self, cached: &Cached) -> std::io::Result<()> {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let path = self.file(&cached.domain).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a host name")
        })?;
        fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            cached.domain.to_ascii_lowercase(),
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(&serde_json::to_vec(cached).map_err(std::io::Error::other)?)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(domain: &str, id: &str, max_age: u32) -> Cached {
        Cached {
            domain: domain.into(),
            id: id.into(),
            fetched_at: 1000,
            text: format!("version: STSv1\nmode: enforce\nmx: mx.{domain}\nmax_age: {max_age}\n"),
        }
    }

    #[test]
    fn stores_reads_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("sub"));
        assert!(cache.get("example.org").is_none());
        let c = cached("example.org", "a1", 60);
        cache.put(&c).unwrap();
        let back = cache.get("Example.ORG").unwrap();
        assert_eq!(back, c);
        assert!(back.fresh(1059).is_some());
        assert!(back.fresh(1060).is_none());
        // Replaced whole; no temporary file left.
        cache.put(&cached("example.org", "a2", 60)).unwrap();
        assert_eq!(cache.get("example.org").unwrap().id, "a2");
        let names: Vec<_> = fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn hostile_names_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        for bad in ["../etc", "a/b", "", ".hidden"] {
            assert!(cache.put(&cached(bad, "x", 5)).is_err(), "{bad}");
            assert!(cache.get(bad).is_none());
        }
        fs::write(dir.path().join("broken.example.json"), b"{not json").unwrap();
        assert!(cache.get("broken.example").is_none());
        // A file for another domain under this name is not used.
        let other = cached("other.example", "x", 5);
        fs::write(
            dir.path().join("this.example.json"),
            serde_json::to_vec(&other).unwrap(),
        )
        .unwrap();
        assert!(cache.get("this.example").is_none());
    }
}
