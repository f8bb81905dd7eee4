//! A TTL cache in front of any [`Lookup`], with in-flight de-duplication and
//! a size bound.
//!
//! RFC 2181 section 5.2: an RRset is cached for no longer than its lowest TTL
//! (a server that sends one RRset with several TTLs gets the lowest). RFC 2308
//! section 5: NXDOMAIN and NODATA are cached for the negative TTL (the SOA's
//! MINIMUM, capped by the SOA's own TTL), or not at all when the response had
//! no SOA. Temporary failures and truncated answers are never cached: the next
//! try asks again. The clock is tokio's, so tests move time with
//! `tokio::time::advance` instead of sleeping.
//!
//! Words:
//! - a **flight** is a question being asked of the inner source right now.
//!   The first asker (the **leader**) asks; everyone who asks the same
//!   question (name compared case-insensitively, type) meanwhile **joins** the
//!   flight and gets the same response, temporary failures included, without
//!   a query of their own. A leader that is dropped (cancelled) ends the
//!   flight; one of the joiners then asks in its place, so nobody waits on a
//!   question nobody asks;
//! - the **capacity** bounds the number of stored answers (flights are as
//!   many as the questions being asked). When an answer is to be stored and
//!   the capacity is reached, a **sweep** drops expired answers, then the
//!   least used answers (by a use count that is halved at every sweep, so
//!   old fame fades), until a quarter of the room is free again: a sweep
//!   costs O(capacity) once every capacity / 4 insertions. Exchangers
//!   shared by many domains are used again and again and stay; one-off
//!   answers (the MX of each domain of a bulk run) go first.
//!
//! Answers and flights are kept in two tables: the answers' is large and
//! probed at random (each probe likely a miss of the CPU's caches); the
//! flights' holds only the questions in flight, stays small and so in the
//! CPU's cache. A question of a type not stored (`keep_only`: a bulk
//! scan's MX, one per domain) touches only the small one.

use hashbrown::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{BoxFuture, Lookup, Name, Record, RecordType, Response, Status};

/// Longest time anything is kept, whatever the TTL says (one day, like
/// unbound's `cache-max-ttl`).
pub const MAX_TTL: u32 = 86_400;

/// Entries kept by [`Cache::new`].
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Caches the responses of an inner source.
pub struct Cache<L> {
    inner: L,
    /// The capacity of each stripe.
    capacity: usize,
    /// When set, only answers of these types are stored (the others are
    /// still shared while in flight).
    keep: Option<Vec<RecordType>>,
    /// The table, in stripes chosen by a question's hash ([`Cache::striped`]).
    stripes: Box<[Stripe]>,
    /// Picks a question's stripe.
    picker: foldhash::fast::RandomState,
}

/// One stripe of the table with its lock and counters, on cache lines of
/// its own: threads that ask questions of different stripes (a scan on
/// several threads) share no lock and no counter, so neither moves between
/// their cores.
#[repr(align(128))]
#[derive(Default)]
struct Stripe {
    state: Mutex<State>,
    hits: AtomicU64,
    joined: AtomicU64,
    misses: AtomicU64,
    evicted: AtomicU64,
}

/// A question as a key: the name in lower case in wire form (length
/// octets and labels, RFC 1035 section 3.1; RFC 4343: case does not
/// matter), then the type. Hashed in one go and compared with `memcmp`
/// (hickory's `Name` hashes octet by octet and compares label by label,
/// which showed in `scan` profiles). Short keys (most host names) live in
/// the table itself, so a lookup reads no other memory; longer ones are
/// boxed.
///
/// The hash is the name's alone ([`hash_key`]): the questions of one name
/// (an exchanger's AAAA, then its A) start their probe at the same place
/// of the table and most often sit in the same group of it, so the second
/// lookup finds in the CPU's cache what the first one loaded from memory
/// (the table is probed at random: each lookup of another name is a
/// miss). Two types of one name share a hash and a tag; their keys still
/// differ, in the type, and a lookup compares them.
#[derive(Clone)]
enum Key {
    Inline(u8, [u8; KEY_INLINE]),
    Boxed(Box<[u8]>),
}

/// Longest key kept inline: with its length and tag, 40 octets, the size
/// of the boxed form's room.
const KEY_INLINE: usize = 38;

impl Key {
    fn new(bytes: &[u8]) -> Key {
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= KEY_INLINE => {
                let mut inline = [0; KEY_INLINE];
                inline[..bytes.len()].copy_from_slice(bytes);
                Key::Inline(len, inline)
            }
            _ => Key::Boxed(bytes.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline(len, bytes) => &bytes[..usize::from(*len)],
            Key::Boxed(bytes) => bytes,
        }
    }
}

/// The name of a key's octets: all but the type's two.
#[inline]
fn name_part(key: &[u8]) -> &[u8] {
    &key[..key.len().saturating_sub(2)]
}

/// A key's hash: its name's, whatever the type (see [`Key`]). `Key` and
/// [`Asked`] both hash this way, so a lookup by a question's octets finds
/// the stored key.
#[inline]
fn hash_key<H: std::hash::Hasher>(key: &[u8], state: &mut H) {
    state.write(name_part(key));
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        hash_key(self.as_bytes(), state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

/// A question's key octets (a [`KeyBuf`]'s), looked up without making a
/// [`Key`]: hashed as `Key` is, equal to the key of the same octets.
#[derive(Clone, Copy)]
struct Asked<'a>(&'a [u8]);

impl std::hash::Hash for Asked<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        hash_key(self.0, state);
    }
}

impl hashbrown::Equivalent<Key> for Asked<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.0 == key.as_bytes()
    }
}

/// Room for the longest key (a 255-octet wire name and the type), rounded
/// up to whole 16-octet chunks for [`KeyBuf::new`]'s lower-casing.
const KEY_ROOM: usize = 272;

/// A key written into a buffer on the stack: looking up needs no allocation
/// ([`Asked`] hashes as `Key` does, so the two find the same entries).
struct KeyBuf {
    bytes: [u8; KEY_ROOM],
    len: usize,
}

impl KeyBuf {
    /// The name's labels in wire form (a length octet, the label in lower
    /// case), the root's empty label, the type. A hickory `Name` is at most
    /// 255 octets in wire form, so it always fits; were one longer, its
    /// last labels would be left out (and it would share an entry only
    /// with names cut the same way).
    #[inline]
    fn new(name: &Name, rtype: RecordType) -> KeyBuf {
        let mut bytes = [0u8; KEY_ROOM];
        let mut len = 0;
        for label in name.iter() {
            let end = len + 1 + label.len();
            // Room is kept for the root's label and the type.
            if end > KEY_ROOM - 3 {
                break;
            }
            let Some((size, room)) = bytes.get_mut(len..end).and_then(<[u8]>::split_first_mut)
            else {
                break;
            };
            *size = u8::try_from(label.len()).unwrap_or(u8::MAX);
            room.copy_from_slice(label);
            len = end;
        }
        // Lower case in one pass over whole chunks, which the compiler
        // turns into vector instructions: the length octets (at most 63,
        // RFC 1035 section 2.3.4) are not letters, and past the labels
        // the buffer is zeros. Before the type, whose octets may be.
        let upto = len.next_multiple_of(16).min(KEY_ROOM);
        for chunk in bytes[..upto].chunks_exact_mut(16) {
            for b in chunk {
                *b = b.to_ascii_lowercase();
            }
        }
        // The root's empty label (the array is zeroed), then the type.
        len += 1;
        bytes[len..len + 2].copy_from_slice(&u16::from(rtype).to_be_bytes());
        KeyBuf {
            bytes,
            len: len + 2,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn asked(&self) -> Asked<'_> {
        Asked(self.as_bytes())
    }

    fn key(&self) -> Key {
        Key::new(self.as_bytes())
    }
}

#[derive(Default)]
struct State {
    /// The stored answers. foldhash: the keys are short and looked up
    /// millions of times in a bulk run (SipHash showed in `scan` profiles);
    /// it is seeded per process, so a crafted input cannot aim at one
    /// bucket ahead of time.
    map: HashMap<Key, Stored, foldhash::fast::RandomState>,
    /// The questions being asked, with who waits for their answers.
    flights: HashMap<Key, Vec<oneshot::Sender<Response>>, foldhash::fast::RandomState>,
}

/// An answer, good until `until`; `uses` counts the hits (halved at each
/// sweep).
///
/// It is kept in the table itself, not boxed: the table is probed
/// at random millions of times in a bulk run, each probe missing the CPU
/// cache, and a boxed answer was a second miss that had to wait for the
/// first (the box's address is in the entry). Inline, the entry's lines
/// are loaded together once the bucket is known (a time profile of a scan
/// put the lookup's own time at 13.5% of the run boxed and 12.7% inline).
/// A stored answer is NOERROR or NXDOMAIN ([`Cache::lifetime`]), so its
/// status is one flag, not a [`Status`] with room for a failure's texts:
/// 112 octets with its key (168 with the whole `Response`), so more of a
/// bulk run's table stays in the CPU's cache.
struct Stored {
    until: Instant,
    /// The answer section ([`Response::answers`]).
    answers: Arc<[Record]>,
    /// Who answered ([`Response::server`]).
    server: Arc<str>,
    /// [`Response::negative_ttl`].
    negative_ttl: Option<u32>,
    /// Highest TTL among the stored answers: while it is at most the time
    /// left, a hit hands the stored answers out as they are.
    top_ttl: u32,
    uses: u32,
    /// NXDOMAIN (else NOERROR).
    nx_domain: bool,
    /// [`Response::authentic`], [`Response::authoritative`],
    /// [`Response::owners_asked`].
    authentic: bool,
    authoritative: bool,
    owners_asked: bool,
}

impl Stored {
    /// A response to keep until `until`: one with a [`Cache::lifetime`],
    /// which only NOERROR and NXDOMAIN have.
    fn new(resp: &Response, until: Instant) -> Stored {
        debug_assert!(matches!(resp.status, Status::NoError | Status::NxDomain));
        Stored {
            until,
            answers: Arc::clone(&resp.answers),
            server: Arc::clone(&resp.server),
            negative_ttl: resp.negative_ttl,
            top_ttl: top_ttl(resp),
            uses: 0,
            nx_domain: matches!(resp.status, Status::NxDomain),
            authentic: resp.authentic,
            authoritative: resp.authoritative,
            owners_asked: resp.owners_asked,
        }
    }
}

/// What a cache did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Questions answered from a stored answer.
    pub hits: u64,
    /// Questions that joined a flight (asked once for all of them).
    pub joined: u64,
    /// Questions asked of the inner source.
    pub misses: u64,
    /// Answers dropped before they expired to keep within the capacity.
    pub evicted: u64,
}

impl CacheStats {
    /// What was done since `start` (an earlier reading of the same cache).
    pub fn since(&self, start: &CacheStats) -> CacheStats {
        CacheStats {
            hits: self.hits - start.hits,
            joined: self.joined - start.joined,
            misses: self.misses - start.misses,
            evicted: self.evicted - start.evicted,
        }
    }
}

impl<L: Lookup> Cache<L> {
    /// An empty cache in front of `inner`, holding at most
    /// [`DEFAULT_CAPACITY`] entries.
    pub fn new(inner: L) -> Self {
        Self::with_capacity(inner, DEFAULT_CAPACITY)
    }

    /// An empty cache in front of `inner`, holding at most `capacity`
    /// entries (at least 16).
    pub fn with_capacity(inner: L, capacity: usize) -> Self {
        Cache {
            inner,
            capacity: capacity.max(16),
            keep: None,
            stripes: Box::new([Stripe::default()]),
            picker: foldhash::fast::RandomState::default(),
        }
    }

    /// Split the table into `stripes` (rounded up to a power of two, at
    /// most 256), each with its own lock, counters and a share of the
    /// capacity (at least 16 entries): for a cache shared by threads
    /// (`scan --threads`), whose lookups would otherwise all wait on one
    /// lock and bounce its cache line between cores. Call it before use.
    pub fn striped(mut self, stripes: usize) -> Self {
        let n = stripes.clamp(1, 256).next_power_of_two();
        let total = self.capacity * self.stripes.len();
        self.capacity = (total / n).max(16);
        self.stripes = (0..n).map(|_| Stripe::default()).collect();
        self
    }

    /// The stripe of a question (by its name, as the table's hash: the
    /// types of one name are in one stripe).
    #[inline]
    fn stripe(&self, key: &[u8]) -> &Stripe {
        let n = self.stripes.len();
        if n == 1 {
            return &self.stripes[0];
        }
        use std::hash::BuildHasher;
        let i = (self.picker.hash_one(Asked(key)) as usize) & (n - 1);
        &self.stripes[i]
    }

    /// Store only the answers to questions of these types; questions of
    /// other types are still asked once while in flight, but their answers
    /// are not kept. `scan` keeps A and AAAA only: the exchangers' addresses
    /// are asked by thousands of domains, each domain's MX once, and
    /// storing those would only push the shared answers out.
    pub fn keep_only(mut self, types: &[RecordType]) -> Self {
        self.keep = Some(types.to_vec());
        self
    }

    /// Whether answers to questions of this type are stored.
    fn keeps(&self, rtype: RecordType) -> bool {
        self.keep.as_ref().is_none_or(|k| k.contains(&rtype))
    }

    /// The live stored answer to a question, counted as a hit, or `None`
    /// (nothing stored, expired, in flight, or a type not kept): what
    /// [`Lookup::ready`] gives, so that a hit needs no future. Asking again
    /// after `None` (with [`Lookup::query`]) joins or begins the flight.
    pub fn hit(&self, name: &Name, rtype: RecordType) -> Option<Response> {
        if !self.keeps(rtype) {
            return None;
        }
        let key = KeyBuf::new(name, rtype);
        let stripe = self.stripe(key.as_bytes());
        let resp = stripe.lock().live(&key)?;
        stripe.hits.fetch_add(1, Ordering::Relaxed);
        Some(resp)
    }

    /// The source behind the cache.
    pub fn inner(&self) -> &L {
        &self.inner
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

    /// Number of live answers (flights not counted).
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.count(|state| state.map.values().filter(|s| s.until > now).count())
    }

    /// The sum of `per` over the stripes.
    fn count(&self, per: impl Fn(&State) -> usize) -> usize {
        self.stripes.iter().map(|stripe| per(&stripe.lock())).sum()
    }

    /// True when nothing live is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Questions being asked of the inner source right now.
    pub fn in_flight(&self) -> usize {
        self.count(|state| state.flights.len())
    }

    /// What the cache did so far.
    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats::default();
        for s in self.stripes.iter() {
            stats.hits += s.hits.load(Ordering::Relaxed);
            stats.joined += s.joined.load(Ordering::Relaxed);
            stats.misses += s.misses.load(Ordering::Relaxed);
            stats.evicted += s.evicted.load(Ordering::Relaxed);
        }
        stats
    }

    /// The flight of `key` is over: store the answer when it may be kept
    /// (sweeping first when the table is full), hand it to everyone who
    /// joined.
    fn land(&self, stripe: &Stripe, key: Key, rtype: RecordType, resp: &Response) {
        let kept = self.keeps(rtype);
        let lifetime = Self::lifetime(resp).filter(|_| kept);
        let waiters = {
            let mut state = stripe.lock();
            // No flight: it was ended meanwhile (cannot happen while we
            // lead); keep what is there.
            let waiters = state.flights.remove(&key);
            match (&waiters, lifetime) {
                (Some(_), Some(ttl)) => {
                    if state.map.len() >= self.capacity && !state.map.contains_key(&key) {
                        self.sweep(stripe, &mut state);
                    }
                    let until = Instant::now() + Duration::from_secs(u64::from(ttl));
                    state.map.insert(key, Stored::new(resp, until));
                }
                // An expired answer asked again whose new one is not kept.
                (Some(_), None) if kept => {
                    state.map.remove(&key);
                }
                _ => {}
            }
            waiters.unwrap_or_default()
        };
        for w in waiters {
            // A joiner that was dropped meanwhile does not care.
            let _ = w.send(resp.clone());
        }
    }

    /// Make room: expired answers first, then the least used ones, until
    /// at most three quarters of the capacity is taken; then halve the use
    /// counts.
    fn sweep(&self, stripe: &Stripe, state: &mut State) {
        let now = Instant::now();
        let target = self.capacity - self.capacity / 4;
        let before = state.map.len();
        state.map.retain(|_, stored| stored.until > now);
        let mut evicted = 0u64;
        let mut floor = 0u32;
        while state.map.len() > target {
            let mut excess = state.map.len() - target;
            let mut higher = u32::MAX;
            state.map.retain(|_, stored| {
                if stored.uses <= floor && excess > 0 {
                    excess -= 1;
                    evicted += 1;
                    false
                } else {
                    if stored.uses > floor {
                        higher = higher.min(stored.uses);
                    }
                    true
                }
            });
            if higher == u32::MAX {
                // Nothing is left to drop.
                break;
            }
            floor = higher;
        }
        for stored in state.map.values_mut() {
            stored.uses /= 2;
        }
        stripe.evicted.fetch_add(evicted, Ordering::Relaxed);
        tracing::trace!(before, after = state.map.len(), evicted, "cache sweep");
    }
}

/// An empty answer section, one per thread: handed out for every stored
/// answer without records, its count in this core's cache (a count shared
/// by threads would move between their cores at every hit).
fn no_answers() -> Arc<[Record]> {
    thread_local! {
        static NONE: Arc<[Record]> = Arc::new([]);
    }
    NONE.with(Arc::clone)
}

/// The highest TTL among the answers of a response (0 when none).
fn top_ttl(resp: &Response) -> u32 {
    resp.answers.iter().map(|r| r.ttl).max().unwrap_or(0)
}

/// Ends a flight whose leader was dropped before the answer came: the
/// joiners see their sender dropped and one of them asks again.
struct Leader<'a> {
    /// The stripe of the flight.
    stripe: &'a Stripe,
    key: Option<Key>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.stripe.lock().flights.remove(&key);
        }
    }
}

impl<L: Lookup> Lookup for Cache<L> {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response> {
        Box::pin(self.ask(name, rtype))
    }

    fn ready(&self, name: &Name, rtype: RecordType) -> Option<Response> {
        self.hit(name, rtype)
    }
}

/// A shared cache seen through one of its sources: questions it leads are
/// asked of `source` ([`Cache::ask_through`]); answers and flights are
/// shared with every other `Through` of the same cache.
pub struct Through<L, S> {
    /// The shared cache.
    pub cache: Arc<Cache<L>>,
    /// This user's source.
    pub source: S,
}

impl<L: Lookup, S: Lookup> Lookup for Through<L, S> {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> BoxFuture<'a, Response> {
        Box::pin(self.cache.ask_through(&self.source, name, rtype))
    }

    fn ready(&self, name: &Name, rtype: RecordType) -> Option<Response> {
        self.cache.hit(name, rtype)
    }
}

/// What a question finds in the table.
enum Found {
    /// A live answer: a hit.
    Hit(Response),
    /// A flight: its answer comes on this receiver (or the sender is dropped
    /// with the leader).
    Join(oneshot::Receiver<Response>),
    /// Nothing live: a flight was begun under this key, and the asker
    /// leads it.
    Lead(Key),
}

impl<L: Lookup> Cache<L> {
    /// A stored answer, the answer of the flight joined, or the inner
    /// source's answer as the flight's leader.
    async fn ask(&self, name: &Name, rtype: RecordType) -> Response {
        self.ask_through(&self.inner, name, rtype).await
    }

    /// A stored answer, the answer of the flight joined, or (as the
    /// flight's leader) the answer of `source` instead of the inner source.
    ///
    /// For a cache shared by several sources of the same view ([`Through`]):
    /// a scan on several threads gives each thread its own engine (its own
    /// sockets and runtime) and one cache for all, so an exchanger shared by
    /// thousands of domains is still asked once, by whichever thread asks
    /// first, and every other thread joins that flight or finds the answer.
    pub async fn ask_through<S: Lookup + ?Sized>(
        &self,
        source: &S,
        name: &Name,
        rtype: RecordType,
    ) -> Response {
        loop {
            // The key on the stack is made again after a dropped leader
            // (rare) rather than kept across the wait: it is 280 octets,
            // and the future that holds it is moved into a box per question.
            let (stripe, found) = {
                let key = KeyBuf::new(name, rtype);
                let stripe = self.stripe(key.as_bytes());
                (stripe, self.find(stripe, &key, rtype))
            };
            match found {
                Found::Hit(resp) => {
                    stripe.hits.fetch_add(1, Ordering::Relaxed);
                    return resp;
                }
                Found::Join(rx) => {
                    if let Ok(resp) = rx.await {
                        stripe.joined.fetch_add(1, Ordering::Relaxed);
                        return resp;
                    }
                    // The leader was dropped: ask (or join) again.
                }
                Found::Lead(key) => return self.lead(source, stripe, key, name, rtype).await,
            }
        }
    }

    /// Look the question up, under the lock: hand out a live answer (of a
    /// type kept), join the flight, or begin one.
    fn find(&self, stripe: &Stripe, key: &KeyBuf, rtype: RecordType) -> Found {
        let mut state = stripe.lock();
        if self.keeps(rtype)
            && let Some(resp) = state.live(key)
        {
            return Found::Hit(resp);
        }
        if let Some(waiters) = state.flights.get_mut(&key.asked()) {
            let (tx, rx) = oneshot::channel();
            waiters.push(tx);
            return Found::Join(rx);
        }
        let lead = key.key();
        state.flights.insert(lead.clone(), Vec::new());
        Found::Lead(lead)
    }

    /// Ask `source` as the flight's leader and land its answer; a leader
    /// dropped meanwhile ends the flight ([`Leader`]).
    async fn lead<S: Lookup + ?Sized>(
        &self,
        source: &S,
        stripe: &Stripe,
        key: Key,
        name: &Name,
        rtype: RecordType,
    ) -> Response {
        stripe.misses.fetch_add(1, Ordering::Relaxed);
        let mut leader = Leader {
            stripe,
            key: Some(key),
        };
        let resp = source.query(name, rtype).await;
        if let Some(key) = leader.key.take() {
            self.land(stripe, key, rtype, &resp);
        }
        resp
    }
}

impl State {
    /// The live stored answer to the question of `key`, handed out (a hit).
    fn live(&mut self, key: &KeyBuf) -> Option<Response> {
        let now = Instant::now();
        match self.map.get_mut(&key.asked()) {
            Some(stored) if stored.until > now => Some(stored.hand_out(now)),
            _ => None,
        }
    }
}

impl Stored {
    /// Count a hit and hand the answer out with the time left as its TTL,
    /// as a caching resolver does; rounded up: an answer stored a moment
    /// ago keeps its TTL.
    #[inline]
    fn hand_out(&mut self, now: Instant) -> Response {
        self.uses = self.uses.saturating_add(1);
        let left = self.until - now;
        let left = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let left = u32::try_from(left).unwrap_or(MAX_TTL);
        let answers = if self.answers.is_empty() {
            // No answers (NODATA, NXDOMAIN: an exchanger's AAAA, often):
            // the thread's shared empty section instead of the stored one,
            // whose count lies elsewhere in memory (a miss to read it).
            no_answers()
        } else {
            if self.top_ttl > left {
                // Stamp the stored answers with the time left (TTLs only go
                // down, so the stamped answers serve every later hit too,
                // until the next second). In place when no earlier hit's
                // response holds them any more (in a bulk run, nearly
                // always: a route is done in milliseconds, the next hit of
                // an exchanger comes a second later), else into a copy
                // (`make_mut`: copy on write).
                for r in Arc::make_mut(&mut self.answers) {
                    r.ttl = r.ttl.min(left);
                }
                self.top_ttl = left;
            }
            Arc::clone(&self.answers)
        };
        Response {
            status: if self.nx_domain {
                Status::NxDomain
            } else {
                Status::NoError
            },
            answers,
            negative_ttl: self.negative_ttl,
            authentic: self.authentic,
            authoritative: self.authoritative,
            server: Arc::clone(&self.server),
            owners_asked: self.owners_asked,
        }
    }
}

impl Stripe {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::hash::BuildHasher;

    proptest! {
        /// A key is the name's wire form with each label in ASCII lower
        /// case (other octets as they are), the root's label, the type:
        /// whatever the octets, labels' lengths and types (HTTPS is 65,
        /// an upper-case `A` were it lowered).
        #[test]
        fn a_key_is_the_lowered_wire_name_and_type(
            labels in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![any::<u8>(), b'A'..=b'Z', b'a'..=b'z'],
                    1..64,
                ),
                0..8,
            ),
            rtype in prop_oneof![Just(65u16), Just(90u16), any::<u16>()],
        ) {
            // Only names hickory accepts (at most 255 octets in wire form).
            let Ok(name) = Name::from_labels(labels.clone()) else {
                return Ok(());
            };
            let mut want = Vec::new();
            for label in &labels {
                want.push(label.len() as u8);
                want.extend(label.iter().map(u8::to_ascii_lowercase));
            }
            want.push(0);
            want.extend(rtype.to_be_bytes());
            let key = KeyBuf::new(&name, RecordType::from(rtype));
            prop_assert_eq!(key.as_bytes(), &want[..]);
        }
    }

    /// Keys short and long hash and compare as their octets, so a lookup
    /// by octets finds them; a table entry has the size `Stored` says.
    #[test]
    fn keys_are_their_octets() {
        let hasher = foldhash::fast::RandomState::default();
        for len in [0, 1, KEY_INLINE - 1, KEY_INLINE, KEY_INLINE + 1, 265] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let key = Key::new(&bytes);
            assert_eq!(key.as_bytes(), &bytes[..]);
            assert_eq!(matches!(key, Key::Inline(..)), len <= KEY_INLINE);
            assert_eq!(hasher.hash_one(&key), hasher.hash_one(Asked(&bytes)));
            let mut map: HashMap<Key, u32, foldhash::fast::RandomState> = HashMap::default();
            map.insert(key.clone(), 7);
            assert_eq!(map.get(&Asked(&bytes)), Some(&7));
            let mut other = bytes.clone();
            other.push(0);
            assert_eq!(map.get(&Asked(&other)), None);
        }
        // The types of one name hash alike (and so probe the same group of
        // the table) and are still different keys.
        let name = Name::from_ascii("MX1.Example.ORG.").unwrap();
        let (a, aaaa) = (
            KeyBuf::new(&name, RecordType::A),
            KeyBuf::new(&name, RecordType::AAAA),
        );
        assert_eq!(hasher.hash_one(a.asked()), hasher.hash_one(aaaa.asked()));
        assert_eq!(hasher.hash_one(a.key()), hasher.hash_one(aaaa.key()));
        let mut map: HashMap<Key, RecordType, foldhash::fast::RandomState> = HashMap::default();
        map.insert(a.key(), RecordType::A);
        assert_eq!(map.get(&aaaa.asked()), None);
        map.insert(aaaa.key(), RecordType::AAAA);
        assert_eq!(map.get(&a.asked()), Some(&RecordType::A));
        assert_eq!(map.get(&aaaa.asked()), Some(&RecordType::AAAA));
        // The entry's size, as the documentation of `Stored` gives it.
        assert_eq!(size_of::<(Key, Stored)>(), 112);
    }
}
