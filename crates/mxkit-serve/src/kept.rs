//! Permalinks: the pages this server made, kept in a store (`--store`,
//! the trap's store code: SQLite, or PostgreSQL for several servers behind
//! one balancer) for `--keep-days`, each under an id (`/r/ID`). What is kept
//! is the page as it was shown, so a permalink shows exactly what the
//! person who shared it saw, whatever the code or DNS say later.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use maud::Markup;
use mxkit_trap::Store;
use mxkit_trap::store::SavedResult;

use crate::pages::Stamp;

/// The store of kept pages, if any, and how long they stay.
pub struct Kept {
    store: Option<Store>,
    keep: Duration,
    base: String,
}

/// How often old pages are dropped.
const EXPIRE_EVERY: Duration = Duration::from_secs(3600);

impl Kept {
    /// Pages kept in `store` for `keep`; none with `store` none. `base`
    /// (`--base-url`, e.g. `https://mxkit.example.org`): permalinks are
    /// absolute URLs under it; empty: paths (`/r/ID`).
    pub fn new(store: Option<Store>, keep: Duration, base: &str) -> Kept {
        Kept {
            store,
            keep,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// Drop pages older than `keep` now and then every hour, for as long as
    /// the runtime runs.
    pub fn start_expiry(&self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let keep = i64::try_from(self.keep.as_micros()).unwrap_or(i64::MAX);
        tokio::spawn(async move {
            loop {
                let before = mxkit_trap::model::now().saturating_sub(keep);
                if let Err(e) = store.expire_results(before).await {
                    tracing::warn!("cannot drop old kept pages: {e}");
                }
                tokio::time::sleep(EXPIRE_EVERY).await;
            }
        });
    }

    /// Render a page, keep it under a new id when there is a store, and
    /// return it (with its permalink only when it was kept).
    pub async fn page(
        &self,
        kind: &str,
        subject: &str,
        render: impl Fn(&Stamp<'_>) -> Markup,
    ) -> Markup {
        let at = mxkit_trap::model::now();
        let secs = at.div_euclid(1_000_000);
        let Some(store) = &self.store else {
            return render(&Stamp {
                at: secs,
                permalink: None,
            });
        };
        let id = new_id(kind, subject, at);
        let link = format!("{}/r/{id}", self.base);
        let page = render(&Stamp {
            at: secs,
            permalink: Some(&link),
        });
        let saved = SavedResult {
            id,
            kind: kind.to_string(),
            subject: subject.to_string(),
            at,
            body: page.clone().into_string(),
        };
        match store.put_result(&saved).await {
            Ok(()) => page,
            Err(e) => {
                tracing::warn!("cannot keep the page of {subject}: {e}");
                render(&Stamp {
                    at: secs,
                    permalink: None,
                })
            }
        }
    }

    /// The page kept under `id`. `Err`: the store cannot be read.
    pub async fn get(&self, id: &str) -> Result<Option<String>, String> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        if id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        store
            .result(id)
            .await
            .map(|r| r.map(|r| r.body))
            .map_err(|e| e.to_string())
    }

    /// The newest kept pages as (link, what) pairs; `None` without a store
    /// (or when it cannot be read).
    pub async fn recent(&self, n: u32) -> Option<Vec<(String, String)>> {
        let store = self.store.as_ref()?;
        let list = store.recent_results(n).await.ok()?;
        Some(
            list.into_iter()
                .map(|r| {
                    let when = mxkit::smtp::iso8601(r.at.div_euclid(1_000_000));
                    (
                        format!("/r/{}", r.id),
                        format!("{} {} ({when})", r.kind, r.subject),
                    )
                })
                .collect(),
        )
    }
}

/// An id no one can guess from the ones they have seen: 16 hex digits of
/// a keyed hash (the process's random hasher keys) of what, when, and a
/// counter.
fn new_id(kind: &str, subject: &str, at: i64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static KEYS: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(RandomState::new);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}", keys.hash_one((kind, subject, at, n)))
}
