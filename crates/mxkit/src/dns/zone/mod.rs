//! Zone files: master-format text (RFC 1035 section 5) loaded as
//! authoritative data, to try a zone before it is published (`--zone FILE`).
//!
//! Two halves:
//!
//! - **Loading** ([`Zone::load`], [`Zone::parse`], [`ZoneSet::load`]). The text
//!   is split into entries here, not by hickory, so that every record keeps
//!   the `file:line` where its entry starts (errors cite it, and so can later
//!   findings). Supported: `$ORIGIN`, `$TTL` (RFC 2308 section 4), `$INCLUDE`
//!   (a relative path is taken from the including file's folder; the optional
//!   origin applies to the included file only, RFC 1035 section 5.1), relative
//!   names, `@`, a blank owner (= the previous owner), parentheses spanning
//!   lines, quoted strings, comments, `\X` and `\DDD` escapes (decimal, RFC
//!   1035 section 5.1), TTL and class in either order, TTL units (`1h30m`), and
//!   the generic `TYPEnn \# len hex` form (RFC 3597 section 5). The RDATA of
//!   the common types (A, AAAA, NS, CNAME, PTR, MX, TXT, SPF, SOA, SRV) is
//!   parsed here; the other types go through hickory-proto's zone parser, fed
//!   one synthetic line per record.
//!
//!   As in Knot DNS: a record without a TTL takes `$TTL`, else 3600 (Knot's
//!   `default-ttl`); only class IN is accepted; the records of one RRset get
//!   the TTL of the last of them (RFC 2181 section 5.2 wants them equal);
//!   exact duplicates count once (RFC 2181 section 5); a CNAME with other
//!   data at the same name (RFC 1034 section 3.6.2, RFC 2181 section 10.1), a
//!   second SOA and a record outside the zone are errors.
//!
//!   Not supported (an error naming the line): `$GENERATE` (BIND), classes
//!   other than IN, DNAME, the DNSSEC types in text form (DNSKEY, DS, RRSIG,
//!   NSEC, NSEC3...: hickory-proto is built without its DNSSEC feature; the
//!   `\#` form loads them) and mnemonics hickory-proto does not know (LOC,
//!   RP, URI...: again, the `\#` form works).
//!
//!   The zone's origin is the owner of its SOA record; without one, the first
//!   `$ORIGIN`; without one, the origin given by the caller or taken from the
//!   file name (`example.org.zone`, `example.org.db`, `db.example.org`). The
//!   same origin (given or from the file name) is the initial origin for
//!   relative names met before any `$ORIGIN`.
//!
//! - **Storage** (the `store` module): records, names and RDATA packed, names
//!   interned as a tree of labels, each owner's records indexed; a loaded
//!   zone takes a small multiple of its file's size (BENCHMARKS.md) and
//!   hands out hickory records only when asked ([`Zone::iter`],
//!   [`Zone::records_at`], answers).
//!
//! - **Answering** ([`ZoneSet::answer`]), as an authoritative server would (RFC
//!   1034 section 4.3.2): the zone with the longest origin containing the name;
//!   a name at or below a zone cut is not ours (`None`: the caller asks live
//!   DNS); an RRset of the type; a CNAME, followed through the loaded zones
//!   with every step added to the answer (RFC 1034 section 4.3.2 step 3.a; a
//!   chain into a name that does not exist makes the response NXDOMAIN, RFC
//!   6604); NODATA for a name that exists or is an empty non-terminal (RFC
//!   8020); wildcards at the closest encloser (RFC 4592); else NXDOMAIN. The
//!   negative TTL is min(SOA TTL, SOA MINIMUM) (RFC 2308 section 5).
//!
//! Loading never panics, whatever the input: every problem is a [`ZoneError`]
//! shown as `FILE:LINE: message`. It has limits ([`Limits`]), each an error
//! naming it when hit: [`MAX_ZONE_BYTES`] for the file and its includes
//! together (the text is read as a stream, never whole), [`MAX_ENTRY`] for
//! one record or line, [`MAX_RECORDS`], [`MAX_INCLUDES`] and
//! [`MAX_INCLUDE_DEPTH`]; a zone file or an included one must be a regular
//! file (not `/dev/zero`, a FIFO or a directory).
//!
//! Files: `load` (with `lex`, the text into entries; `text`, the fields of
//! an entry; `rdata`, the RDATA of a record), `store`, and `answer`.

mod answer;
mod lex;
mod load;
mod rdata;
mod store;
mod text;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use self::store::{StoreError, ZoneData};
use super::{Name, RData, Record, RecordType};

pub use self::load::{
    DEFAULT_TTL, Limits, MAX_ENTRY, MAX_INCLUDE_DEPTH, MAX_INCLUDES, MAX_RECORDS, MAX_ZONE_BYTES,
    origin_from_file_name,
};

/// A zone file could not be loaded: `FILE:LINE: message` (line 0: the file as
/// a whole, shown as `FILE: message`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), LineSuffix(*line))]
pub struct ZoneError {
    /// The file at fault (for an included file, the included file).
    pub file: PathBuf,
    /// The line where the faulty entry starts, 1-based; 0 for the whole file.
    pub line: u32,
    /// What is wrong, on one line.
    pub message: String,
}

struct LineSuffix(u32);

impl fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, ":{n}"),
        }
    }
}

fn zone_error(file: &Path, line: u32, message: impl Into<String>) -> ZoneError {
    let message: String = message.into();
    ZoneError {
        file: file.to_path_buf(),
        line,
        message: message.replace(['\n', '\r'], " "),
    }
}

/// One record of a zone and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneRecord {
    /// The record, owner absolute, TTL as written (or defaulted).
    pub record: Record,
    /// The file it comes from (an included file for records under `$INCLUDE`).
    pub file: Arc<Path>,
    /// The line where its entry starts, 1-based.
    pub line: u32,
}

impl ZoneRecord {
    /// `FILE:LINE`, for messages and evidence.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// One loaded zone: its origin and its records, held compactly (see
/// `store`): records come out as [`ZoneRecord`]s when asked for. Cheap to
/// clone (the data is shared).
#[derive(Clone)]
pub struct Zone {
    /// The apex: the SOA owner, else the first `$ORIGIN`, else the given or
    /// file-name origin.
    pub origin: Name,
    /// The file (or label) the zone was loaded from.
    pub file: Arc<Path>,
    data: Arc<ZoneData>,
    /// The origin's node in `data.names`.
    apex: u32,
    /// min(SOA TTL, SOA MINIMUM), kept for answers.
    negative_ttl: Option<u32>,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zone")
            .field("origin", &self.origin.to_string())
            .field("file", &self.file)
            .field("records", &self.len())
            .finish()
    }
}

impl Zone {
    /// How many records the zone has (duplicates included).
    pub fn len(&self) -> usize {
        self.data.recs.len()
    }

    /// True when the zone has no record (a loaded zone always has one).
    pub fn is_empty(&self) -> bool {
        self.data.recs.is_empty()
    }

    fn zone_record(&self, rec: u32) -> ZoneRecord {
        ZoneRecord {
            record: self.data.record(rec),
            file: self.data.file_path(rec).clone(),
            line: self.data.recs[rec as usize].line,
        }
    }

    /// Every record in file order (`$INCLUDE`d records where the directive
    /// is), each made when the iterator reaches it.
    pub fn iter(&self) -> impl Iterator<Item = ZoneRecord> + '_ {
        (0..self.len() as u32).map(|i| self.zone_record(i))
    }

    /// Every record in file order, all at once: for tests and small zones
    /// (a large zone is better walked with [`Zone::iter`]).
    pub fn records(&self) -> Vec<ZoneRecord> {
        self.iter().collect()
    }

    /// The records owned by `name` (any case), in file order, exact
    /// duplicates included: the `file:line` evidence for a name.
    pub fn records_at(&self, name: &Name) -> Vec<ZoneRecord> {
        let Some(id) = self.data.names.find(name) else {
            return Vec::new();
        };
        self.data
            .at(id)
            .iter()
            .map(|&i| self.zone_record(i))
            .collect()
    }

    /// The SOA record, if the zone has one.
    pub fn soa(&self) -> Option<ZoneRecord> {
        self.data.soa.map(|i| self.zone_record(i))
    }

    /// The negative-caching TTL, min(SOA TTL, SOA MINIMUM) (RFC 2308 section
    /// 5), when the zone has an SOA.
    pub fn negative_ttl(&self) -> Option<u32> {
        self.negative_ttl
    }

    fn new(origin: Name, file: Arc<Path>, data: ZoneData, apex: u32) -> Zone {
        let negative_ttl = data.soa.and_then(|i| match data.rdata(i) {
            RData::SOA(soa) => Some(data.recs[i as usize].ttl.min(soa.minimum)),
            _ => None,
        });
        Zone {
            origin,
            file,
            data: Arc::new(data),
            apex,
            negative_ttl,
        }
    }

    /// Both zones' records in one zone (same origin as `self`), without the
    /// checks of loading (as [`ZoneSet::push`] merges). Records past what
    /// one zone can hold are left out, with a warning.
    fn merged(&self, other: &Zone) -> Zone {
        let mut data = ZoneData::new();
        let mut files: HashMap<Arc<Path>, u16> = HashMap::new();
        'zones: for zone in [self, other] {
            for i in 0..zone.len() as u32 {
                let path = zone.data.file_path(i);
                let added = (|| -> Result<u32, StoreError> {
                    let file = match files.get(path) {
                        Some(&f) => f,
                        None => {
                            let f = data.file(path.clone())?;
                            files.insert(path.clone(), f);
                            f
                        }
                    };
                    let r = zone.data.record(i);
                    let owner = data.names.intern(&r.name)?;
                    data.add(owner, r.ttl, &r.data, file, zone.data.recs[i as usize].line)
                })();
                if let Err(e) = added {
                    tracing::warn!("zone {}: records left out of the merge: {e}", self.origin);
                    break 'zones;
                }
            }
        }
        let apex = match data.index(&self.origin) {
            Ok(apex) => apex,
            Err(e) => {
                tracing::warn!("zone {}: cannot merge: {e}", self.origin);
                return self.clone();
            }
        };
        Zone::new(self.origin.clone(), self.file.clone(), data, apex)
    }
}

fn fqdn(name: &Name) -> Name {
    let mut n = name.clone();
    n.set_fqdn(true);
    n
}

/// The loaded zones, answering as their authoritative server would.
#[derive(Clone, Default)]
pub struct ZoneSet {
    zones: Vec<Zone>,
    by_origin: HashMap<Name, usize>,
    /// Origins of zones whose answers count as DNSSEC-secure: zones live
    /// DNS serves signed, whose new version is expected to be signed the
    /// same way once published ([`ZoneSet::assume_signed`]).
    signed: std::collections::HashSet<Name>,
}

impl fmt::Debug for ZoneSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.zones
                    .iter()
                    .map(|z| (z.origin.to_string(), z.file.display().to_string())),
            )
            .finish()
    }
}

impl ZoneSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a zone. When a zone with the same origin is already loaded, the
    /// new zone's records are added to it (its first SOA stays the SOA).
    pub fn push(&mut self, zone: Zone) {
        let origin = fqdn(&zone.origin);
        if let Some(&i) = self.by_origin.get(&origin) {
            self.zones[i] = self.zones[i].merged(&zone);
            return;
        }
        self.by_origin.insert(origin, self.zones.len());
        self.zones.push(zone);
    }

    /// The loaded zones, in the order they were added.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// True when no zone is loaded.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// Take the answers of the zone at `origin` as DNSSEC-secure (the AD
    /// bit set), because live DNS serves that zone signed and its new
    /// version is expected to be signed too when published: the
    /// pre-publish view of DANE (docs/rules/secure.md, "Where the status
    /// comes from"). mxkit checks no signature of a zone file. Other zones'
    /// answers stay insecure.
    pub fn assume_signed(&mut self, origin: &Name) {
        self.signed.insert(fqdn(origin));
    }

    /// The origins taken as signed ([`ZoneSet::assume_signed`]).
    pub fn assumed_signed(&self) -> impl Iterator<Item = &Name> {
        self.signed.iter()
    }

    /// Whether zone `index` is taken as signed.
    pub(super) fn is_signed(&self, index: usize) -> bool {
        self.signed.contains(&fqdn(&self.zones[index].origin))
    }
}
