//! A TTL cache in front of any [`Lookup`].
//!
//! RFC 2181 section 5.2: an RRset is cached for no longer than its lowest TTL
//! (a server that sends one RRset with several TTLs gets the lowest). RFC 2308
//! section 5: NXDOMAIN and NODATA are cached for the negative TTL (the SOA's
//! MINIMUM, capped by the SOA's own TTL), or not at all when the response had
//! no SOA. Temporary failures and truncated answers are never cached: the next
//! try asks again. The clock is tokio's, so tests move time with
//! `tokio::time::advance` instead of sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{BoxFuture, Lookup, Name, RecordType, Response, Status};

/// Longest time anything is kept, whatever the TTL says (one day, like
/// unbound's `cache-max-ttl`).
pub const MAX_TTL: u32 = 86_400;

/// Caches the responses of an inner source.
pub struct Cache<L> {
    inner: L,
    entries: Mutex<HashMap<(Name, RecordType), (Instant, Response)>>,
}

impl<L: Lookup> Cache<L> {
    /// An empty cache in front of `inner`.
    pub fn new(inner: L) -> Self {
        Cache {
            inner,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// How long a response may be kept, or `None` when it must not be.
    pub fn lifetime(resp: &Response) -> Option<u32> {
        let ttl = match resp.status {
            Status::NoError if !resp.answers.is_empty() => resp.answers.iter().map(|r| r.ttl).min(),
            Status::NoError | Status::NxDomain => resp.negative_ttl,
            Status::Truncated | Status::Temporary(_) => None,
        }?;
        (ttl > 0).then_some(ttl.min(MAX_TTL))
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.values().filter(|(until, _)| *until > now).count()
    }

    /// True when nothing live is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<L: Lookup> Lookup for Cache<L> {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let key = (name.to_lowercase(), rtype);
            let now = Instant::now();
            {
                let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
                match map.get(&key) {
                    Some((until, resp)) if *until > now => {
                        // Hand out the remaining TTL, as a caching resolver does.
                        let left = (*until - now).as_secs() as u32;
                        let mut resp = resp.clone();
                        for r in &mut resp.answers {
                            r.ttl = r.ttl.min(left);
                        }
                        return resp;
                    }
                    Some(_) => {
                        map.remove(&key);
                    }
                    None => {}
                }
            }
            let resp = self.inner.query(name, rtype).await;
            if let Some(ttl) = Self::lifetime(&resp) {
                let until = Instant::now() + Duration::from_secs(u64::from(ttl));
                let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
                map.insert(key, (until, resp.clone()));
            }
            resp
        })
    }
}
