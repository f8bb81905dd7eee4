//! The loaded zone in compact form: what a zone file costs in memory.
//!
//! A record as a hickory [`Record`] is about 200 bytes before its names
//! spill to the heap, and indexes keyed by [`Name`] copy every owner once
//! more: a 20 MB zone took 25 times its size. Here:
//!
//! - **names** are a tree of labels, each node (parent, label) stored once
//!   and found through one hash table, compared without regard to ASCII case
//!   as DNS compares names (RFC 4343); the spelling kept is the first one
//!   met. Owners, the names inside RDATA (an MX exchanger shared by ten
//!   thousand domains is one node) and the empty non-terminals between them
//!   and the origin are all nodes. A name costs its new labels, never the
//!   origin again, so a long `$ORIGIN` does not multiply memory;
//! - **records** are 24 bytes each (owner node, type, TTL as written, file,
//!   line, where the RDATA is), in file order;
//! - **RDATA** of the common types is packed into one byte arena, names as
//!   node numbers (A: 4 bytes, MX: 6, TXT: its strings); other types are
//!   kept as hickory [`RData`] values (rare in mail zones);
//! - the **index** lists each owner's records (a counting sort of record
//!   numbers by owner, 4 bytes a record), marks duplicates, and keeps the
//!   served TTL only of records whose RRset's last TTL differs from their
//!   own.
//!
//! Records and names are rebuilt as hickory values ([`Record`], [`Name`])
//! only when asked for, one answer at a time.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use hashbrown::HashTable;
use hickory_proto::rr::DNSClass;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, NULL, PTR, SOA, SRV, TXT};

use super::super::{Name, RData, Record, RecordType};

/// The root node.
pub(super) const ROOT: u32 = 0;

/// Node flag: the name exists in the zone (an owner, an empty non-terminal
/// between an owner and the origin, or the origin).
pub(super) const EXISTS: u8 = 1;
/// Node flag: the name holds NS records below the origin (a zone cut).
pub(super) const CUT: u8 = 2;

/// Record flag: the RDATA is in [`ZoneData::other`], not the arena.
const OTHER: u8 = 1;
/// Record flag: an exact copy of an earlier record (RFC 2181 section 5:
/// counted once); kept for `file:line` evidence, never served.
const DUPLICATE: u8 = 2;

/// What the store cannot take: one zone holds at most 2^32 names, 2^32
/// records, 65535 files and 4 GiB of packed RDATA.
#[derive(Debug, thiserror::Error)]
pub(super) enum StoreError {
    #[error("the zone has more names than one zone can hold (2^32)")]
    Names,
    /// A label longer than a length octet can say (loading never makes one:
    /// labels are at most 63 octets, RFC 1035 section 2.3.4).
    #[error("label longer than 255 bytes")]
    Label,
    #[error("more files than one zone can hold (65535)")]
    Files,
    #[error("more records than one zone can hold (2^32)")]
    Records,
    #[error("the zone's data is larger than one zone can hold (4 GiB)")]
    Data,
}

/// Interned names: a tree of labels.
#[derive(Clone, Debug)]
pub(super) struct Names {
    /// Node -> its parent (the root is its own parent).
    parent: Vec<u32>,
    /// Node -> where its label starts in `labels` (a length byte, then the label).
    label: Vec<u32>,
    /// Node -> [`EXISTS`], [`CUT`].
    flags: Vec<u8>,
    labels: Vec<u8>,
    /// Nodes, by (parent, lower-case label).
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Names {
    fn new() -> Self {
        Names {
            parent: vec![ROOT],
            label: vec![0],
            flags: vec![0],
            labels: vec![0],
            table: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// How many nodes (the root included).
    pub(super) fn len(&self) -> usize {
        self.parent.len()
    }

    pub(super) fn flags(&self, id: u32) -> u8 {
        self.flags[id as usize]
    }

    fn label(&self, id: u32) -> &[u8] {
        let at = self.label[id as usize] as usize;
        let len = usize::from(self.labels[at]);
        &self.labels[at + 1..at + 1 + len]
    }

    fn parent(&self, id: u32) -> u32 {
        self.parent[id as usize]
    }

    fn hash(hasher: &foldhash::fast::RandomState, parent: u32, label: &[u8]) -> u64 {
        let mut lower = [0u8; 63];
        let n = label.len().min(63);
        lower[..n].copy_from_slice(&label[..n]);
        lower[..n].make_ascii_lowercase();
        hasher.hash_one((parent, &lower[..n]))
    }

    /// The child of `parent` with this label, if the tree has it.
    pub(super) fn child(&self, parent: u32, label: &[u8]) -> Option<u32> {
        let hash = Self::hash(&self.hasher, parent, label);
        self.table
            .find(hash, |&id| {
                self.parent(id) == parent && self.label(id).eq_ignore_ascii_case(label)
            })
            .copied()
    }

    /// The node for `name`, added with its ancestors when missing.
    pub(super) fn intern(&mut self, name: &Name) -> Result<u32, StoreError> {
        let mut node = ROOT;
        for label in name.iter().rev() {
            node = match self.child(node, label) {
                Some(id) => id,
                None => self.add(node, label)?,
            };
        }
        Ok(node)
    }

    fn add(&mut self, parent: u32, label: &[u8]) -> Result<u32, StoreError> {
        let id = u32::try_from(self.len()).map_err(|_| StoreError::Names)?;
        let at = u32::try_from(self.labels.len()).map_err(|_| StoreError::Names)?;
        let len = u8::try_from(label.len()).map_err(|_| StoreError::Label)?;
        self.labels.push(len);
        self.labels.extend_from_slice(label);
        self.parent.push(parent);
        self.label.push(at);
        self.flags.push(0);
        let hash = Self::hash(&self.hasher, parent, label);
        let (parents, starts, labels, hasher) =
            (&self.parent, &self.label, &self.labels, &self.hasher);
        self.table.insert_unique(hash, id, |&other| {
            let at = starts[other as usize] as usize;
            let len = usize::from(labels[at]);
            Self::hash(
                hasher,
                parents[other as usize],
                &labels[at + 1..at + 1 + len],
            )
        });
        Ok(id)
    }

    /// The node for `name`, if the tree has it (without adding anything).
    pub(super) fn find(&self, name: &Name) -> Option<u32> {
        let mut node = ROOT;
        for label in name.iter().rev() {
            node = self.child(node, label)?;
        }
        Some(node)
    }

    /// The name of a node, as a hickory [`Name`] (absolute).
    pub(super) fn name(&self, id: u32) -> Name {
        let mut labels: Vec<&[u8]> = Vec::new();
        let mut node = id;
        while node != ROOT {
            labels.push(self.label(node));
            node = self.parent(node);
        }
        // Every node was made from the labels of a valid name, so they make
        // a valid name again.
        Name::from_labels(labels).unwrap_or_else(|_| Name::root())
    }

    /// True when `ancestor` is `id` or above it.
    pub(super) fn is_at_or_below(&self, id: u32, ancestor: u32) -> bool {
        let mut node = id;
        loop {
            if node == ancestor {
                return true;
            }
            if node == ROOT {
                return false;
            }
            node = self.parent(node);
        }
    }

    pub(super) fn is_wildcard(&self, id: u32) -> bool {
        id != ROOT && self.label(id) == b"*"
    }
}

/// One record: 24 bytes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rec {
    pub(super) owner: u32,
    /// The TTL as written (or defaulted).
    pub(super) ttl: u32,
    pub(super) line: u32,
    /// Where the RDATA starts in the arena, or its index in `other`.
    data: u32,
    rtype: u16,
    /// Index in [`ZoneData::files`].
    file: u16,
    flags: u8,
}

impl Rec {
    pub(super) fn rtype(&self) -> RecordType {
        RecordType::from(self.rtype)
    }

    pub(super) fn is_duplicate(&self) -> bool {
        self.flags & DUPLICATE != 0
    }
}

/// A zone's records, names and index.
#[derive(Clone, Debug)]
pub(super) struct ZoneData {
    pub(super) names: Names,
    /// Every record, in file order (`$INCLUDE`d ones where the directive is).
    pub(super) recs: Vec<Rec>,
    rdata: Vec<u8>,
    other: Vec<RData>,
    /// The files the records come from (the zone file, then each include).
    files: Vec<Arc<Path>>,
    /// Node -> where its records start in `order` (one more entry at the end).
    first: Vec<u32>,
    /// Record numbers grouped by owner, file order within an owner.
    order: Vec<u32>,
    /// Record -> the TTL its RRset is served with (that of the last record
    /// written), only where it differs from the record's own.
    rrset_ttl: HashMap<u32, u32, foldhash::fast::RandomState>,
    /// The first SOA record.
    pub(super) soa: Option<u32>,
    /// Some owner's first label is `*`.
    pub(super) wildcards: bool,
    /// Some node is a [`CUT`].
    pub(super) cuts: bool,
}

/// A record that breaks a rule of the whole zone, found by [`ZoneData::check`].
pub(super) struct Broken {
    /// The record at fault (where the error is reported).
    pub(super) rec: u32,
    pub(super) message: String,
    /// The record's owner is outside the zone (the caller says where the
    /// origin came from).
    pub(super) outside: bool,
}

impl ZoneData {
    pub(super) fn new() -> Self {
        ZoneData {
            names: Names::new(),
            recs: Vec::new(),
            rdata: Vec::new(),
            other: Vec::new(),
            files: Vec::new(),
            first: Vec::new(),
            order: Vec::new(),
            rrset_ttl: HashMap::default(),
            soa: None,
            wildcards: false,
            cuts: false,
        }
    }

    /// Register a file records come from; its number for [`ZoneData::add`].
    pub(super) fn file(&mut self, path: Arc<Path>) -> Result<u16, StoreError> {
        let id = u16::try_from(self.files.len()).map_err(|_| StoreError::Files)?;
        self.files.push(path);
        Ok(id)
    }

    pub(super) fn file_path(&self, rec: u32) -> &Arc<Path> {
        &self.files[usize::from(self.recs[rec as usize].file)]
    }

    /// `FILE:LINE` of a record.
    pub(super) fn location(&self, rec: u32) -> String {
        let r = &self.recs[rec as usize];
        format!("{}:{}", self.files[usize::from(r.file)].display(), r.line)
    }

    /// Add a record; `owner` is a node of [`ZoneData::names`].
    pub(super) fn add(
        &mut self,
        owner: u32,
        ttl: u32,
        data: &RData,
        file: u16,
        line: u32,
    ) -> Result<u32, StoreError> {
        let rtype = data.record_type();
        let id = u32::try_from(self.recs.len()).map_err(|_| StoreError::Records)?;
        let (flags, at) = match self.encode(rtype, data)? {
            Some(at) => (0, at),
            None => {
                let at = u32::try_from(self.other.len()).map_err(|_| StoreError::Records)?;
                self.other.push(data.clone());
                (OTHER, at)
            }
        };
        if rtype == RecordType::SOA && self.soa.is_none() {
            self.soa = Some(id);
        }
        self.recs.push(Rec {
            owner,
            ttl,
            line,
            data: at,
            rtype: u16::from(rtype),
            file,
            flags,
        });
        Ok(id)
    }

    /// Pack `data` into the arena: where it starts, or `None` for the types
    /// kept as values.
    fn encode(&mut self, rtype: RecordType, data: &RData) -> Result<Option<u32>, StoreError> {
        let start = self.rdata.len();
        let at = u32::try_from(start).map_err(|_| StoreError::Data)?;
        let name = |names: &mut Names, n: &Name| names.intern(n).map(u32::to_be_bytes);
        match (rtype, data) {
            (RecordType::A, RData::A(a)) => self.rdata.extend_from_slice(&a.0.octets()),
            (RecordType::AAAA, RData::AAAA(a)) => self.rdata.extend_from_slice(&a.0.octets()),
            (RecordType::NS, RData::NS(NS(n)))
            | (RecordType::CNAME, RData::CNAME(CNAME(n)))
            | (RecordType::PTR, RData::PTR(PTR(n))) => {
                let id = name(&mut self.names, n)?;
                self.rdata.extend_from_slice(&id);
            }
            (RecordType::MX, RData::MX(mx)) => {
                let id = name(&mut self.names, &mx.exchange)?;
                self.rdata.extend_from_slice(&mx.preference.to_be_bytes());
                self.rdata.extend_from_slice(&id);
            }
            (RecordType::SRV, RData::SRV(srv)) => {
                let id = name(&mut self.names, &srv.target)?;
                for n in [srv.priority, srv.weight, srv.port] {
                    self.rdata.extend_from_slice(&n.to_be_bytes());
                }
                self.rdata.extend_from_slice(&id);
            }
            (RecordType::SOA, RData::SOA(soa)) => {
                let mname = name(&mut self.names, &soa.mname)?;
                let rname = name(&mut self.names, &soa.rname)?;
                self.rdata.extend_from_slice(&mname);
                self.rdata.extend_from_slice(&rname);
                for n in [
                    soa.serial,
                    soa.refresh as u32,
                    soa.retry as u32,
                    soa.expire as u32,
                    soa.minimum,
                ] {
                    self.rdata.extend_from_slice(&n.to_be_bytes());
                }
            }
            (RecordType::TXT, RData::TXT(txt)) => {
                let len: usize = txt.txt_data.iter().map(|s| s.len() + 1).sum();
                let (Ok(len), true) = (
                    u16::try_from(len),
                    txt.txt_data.iter().all(|s| s.len() <= 255),
                ) else {
                    return Ok(None);
                };
                self.rdata.extend_from_slice(&len.to_be_bytes());
                for s in &txt.txt_data {
                    self.rdata.push(s.len() as u8);
                    self.rdata.extend_from_slice(s);
                }
            }
            (RecordType::Unknown(_), RData::Unknown { code, rdata }) if *code == rtype => {
                let Ok(len) = u16::try_from(rdata.anything.len()) else {
                    return Ok(None);
                };
                self.rdata.extend_from_slice(&len.to_be_bytes());
                self.rdata.extend_from_slice(&rdata.anything);
            }
            _ => return Ok(None),
        }
        Ok(Some(at))
    }

    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut b = [0u8; N];
        b.copy_from_slice(&self.rdata[at..at + N]);
        b
    }

    fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes(self.bytes(at))
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.bytes(at))
    }

    fn name_at(&self, at: usize) -> Name {
        self.names.name(self.u32_at(at))
    }

    /// The packed RDATA of a record (empty for the types kept as values).
    fn packed(&self, r: &Rec) -> &[u8] {
        if r.flags & OTHER != 0 {
            return &[];
        }
        let at = r.data as usize;
        let len = match r.rtype() {
            RecordType::A => 4,
            RecordType::AAAA => 16,
            RecordType::NS | RecordType::CNAME | RecordType::PTR => 4,
            RecordType::MX => 6,
            RecordType::SRV => 10,
            RecordType::SOA => 28,
            _ => 2 + usize::from(self.u16_at(at)),
        };
        &self.rdata[at..at + len]
    }

    /// The RDATA of record `rec`.
    pub(super) fn rdata(&self, rec: u32) -> RData {
        let r = &self.recs[rec as usize];
        if r.flags & OTHER != 0 {
            return self.other[r.data as usize].clone();
        }
        let at = r.data as usize;
        match r.rtype() {
            RecordType::A => RData::A(A(Ipv4Addr::from(self.bytes::<4>(at)))),
            RecordType::AAAA => RData::AAAA(AAAA(Ipv6Addr::from(self.bytes::<16>(at)))),
            RecordType::NS => RData::NS(NS(self.name_at(at))),
            RecordType::CNAME => RData::CNAME(CNAME(self.name_at(at))),
            RecordType::PTR => RData::PTR(PTR(self.name_at(at))),
            RecordType::MX => RData::MX(MX::new(self.u16_at(at), self.name_at(at + 2))),
            RecordType::SRV => RData::SRV(SRV::new(
                self.u16_at(at),
                self.u16_at(at + 2),
                self.u16_at(at + 4),
                self.name_at(at + 6),
            )),
            RecordType::SOA => RData::SOA(SOA::new(
                self.name_at(at),
                self.name_at(at + 4),
                self.u32_at(at + 8),
                self.u32_at(at + 12) as i32,
                self.u32_at(at + 16) as i32,
                self.u32_at(at + 20) as i32,
                self.u32_at(at + 24),
            )),
            RecordType::TXT => {
                let wire = &self.packed(r)[2..];
                let mut strings = Vec::new();
                let mut i = 0;
                while i < wire.len() {
                    let len = usize::from(wire[i]);
                    strings.push(&wire[i + 1..i + 1 + len]);
                    i += 1 + len;
                }
                RData::TXT(TXT::from_bytes(strings))
            }
            code => {
                let bytes = &self.packed(r)[2..];
                RData::Unknown {
                    code,
                    rdata: if bytes.is_empty() {
                        NULL::new()
                    } else {
                        NULL::with(bytes.to_vec())
                    },
                }
            }
        }
    }

    /// The name inside a CNAME record's RDATA.
    pub(super) fn cname_target(&self, rec: u32) -> Option<Name> {
        match self.rdata(rec) {
            RData::CNAME(CNAME(target)) => Some(target),
            _ => None,
        }
    }

    /// Record `rec` as written: owner, TTL as written, RDATA.
    pub(super) fn record(&self, rec: u32) -> Record {
        let r = &self.recs[rec as usize];
        let mut record = Record::from_rdata(self.names.name(r.owner), r.ttl, self.rdata(rec));
        record.dns_class = DNSClass::IN;
        record
    }

    /// Record `rec` as served: with its RRset's TTL.
    pub(super) fn served(&self, rec: u32) -> Record {
        let mut record = self.record(rec);
        if let Some(&ttl) = self.rrset_ttl.get(&rec) {
            record.ttl = ttl;
        }
        record
    }

    /// The records owned by node `id`, file order, duplicates included.
    pub(super) fn at(&self, id: u32) -> &[u32] {
        match (self.first.get(id as usize), self.first.get(id as usize + 1)) {
            (Some(&start), Some(&end)) => &self.order[start as usize..end as usize],
            _ => &[],
        }
    }

    /// True when the two records have the same type and RDATA.
    fn same(&self, a: u32, b: u32) -> bool {
        let (ra, rb) = (&self.recs[a as usize], &self.recs[b as usize]);
        if ra.rtype != rb.rtype || ra.flags & OTHER != rb.flags & OTHER {
            return false;
        }
        if ra.flags & OTHER != 0 {
            return self.other[ra.data as usize] == self.other[rb.data as usize];
        }
        self.packed(ra) == self.packed(rb)
    }

    fn content_hash(&self, hasher: &foldhash::fast::RandomState, rec: u32) -> u64 {
        let r = &self.recs[rec as usize];
        if r.flags & OTHER != 0 {
            hasher.hash_one((r.rtype, &self.other[r.data as usize]))
        } else {
            hasher.hash_one((r.rtype, self.packed(r)))
        }
    }

    /// The rules of the zone as a whole, for a zone whose apex is node
    /// `origin`: every owner at or below it, and a CNAME alone at its name
    /// (RFC 1034 section 3.6.2, RFC 2181 section 10.1). The first broken
    /// record in file order. Needs [`ZoneData::index`] first.
    pub(super) fn check(&self, origin: u32) -> Option<Broken> {
        // Owners outside the zone: the first in file order.
        let mut inside = vec![0u8; self.names.len()]; // 0 unknown, 1 inside, 2 outside
        for (i, r) in self.recs.iter().enumerate() {
            let known = &mut inside[r.owner as usize];
            if *known == 0 {
                *known = if self.names.is_at_or_below(r.owner, origin) {
                    1
                } else {
                    2
                };
            }
            if *known == 2 {
                return Some(Broken {
                    rec: i as u32,
                    message: format!(
                        "{} is outside the zone {}",
                        self.names.name(r.owner),
                        self.names.name(origin)
                    ),
                    outside: true,
                });
            }
        }
        // A CNAME and other data at one name: the pair whose other record
        // comes first in file order, reported at the later of the two.
        let mut worst: Option<(u32, u32)> = None;
        for id in 0..self.names.len() as u32 {
            let recs = self.at(id);
            if recs.len() < 2 {
                continue;
            }
            let Some(&c) = recs
                .iter()
                .find(|&&i| self.recs[i as usize].rtype() == RecordType::CNAME)
            else {
                continue;
            };
            let offending = recs.iter().copied().find(|&i| {
                let t = self.recs[i as usize].rtype();
                i != c
                    && !matches!(t, RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3)
                    && !(t == RecordType::CNAME && self.same(i, c))
            });
            if let Some(i) = offending
                && worst.is_none_or(|(w, _)| i < w)
            {
                worst = Some((i, c));
            }
        }
        let (i, c) = worst?;
        let what = match self.recs[i as usize].rtype() {
            RecordType::CNAME => "a second CNAME".to_string(),
            t => format!("a {} record", super::text::type_name(t)),
        };
        Some(Broken {
            rec: i.max(c),
            message: format!(
                "{} has a CNAME ({}) and {what} ({}): a CNAME must be alone at its name \
                 (RFC 1034 section 3.6.2)",
                self.names.name(self.recs[i as usize].owner),
                self.location(c),
                self.location(i)
            ),
            outside: false,
        })
    }

    /// Build the index for a zone whose apex is `origin` (records outside
    /// it are left out of the names that exist).
    pub(super) fn index(&mut self, origin: &Name) -> Result<u32, StoreError> {
        let origin = self.names.intern(origin)?;
        // Names that exist: the origin, every owner at or below it, and the
        // nodes between (empty non-terminals, RFC 8020).
        self.names.flags[origin as usize] |= EXISTS;
        for r in &self.recs {
            if self.names.is_at_or_below(r.owner, origin) {
                let mut node = r.owner;
                while self.names.flags[node as usize] & EXISTS == 0 {
                    self.names.flags[node as usize] |= EXISTS;
                    node = self.names.parent(node);
                }
            }
            if r.rtype() == RecordType::NS && r.owner != origin {
                self.names.flags[r.owner as usize] |= CUT;
                self.cuts = true;
            }
            if self.names.is_wildcard(r.owner) {
                self.wildcards = true;
            }
        }
        // Records by owner: a counting sort.
        let nodes = self.names.len();
        let mut first = vec![0u32; nodes + 1];
        for r in &self.recs {
            first[r.owner as usize + 1] += 1;
        }
        for i in 1..first.len() {
            first[i] += first[i - 1];
        }
        let mut next = first.clone();
        let mut order = vec![0u32; self.recs.len()];
        for (i, r) in self.recs.iter().enumerate() {
            let slot = &mut next[r.owner as usize];
            order[*slot as usize] = i as u32;
            *slot += 1;
        }
        drop(next);
        self.first = first;
        self.order = order;
        self.order.shrink_to_fit();
        // Per owner: exact duplicates (counted once), and the TTL of each
        // RRset (the last one written, as knotd serves it: RFC 2181 section
        // 5.2 wants them equal).
        let hasher = foldhash::fast::RandomState::default();
        let mut seen: HashTable<u32> = HashTable::new();
        let mut last_ttl: HashMap<u16, u32, foldhash::fast::RandomState> = HashMap::default();
        let mut served = HashMap::default();
        for id in 0..nodes as u32 {
            let (start, end) = (self.first[id as usize], self.first[id as usize + 1]);
            if end - start < 2 {
                continue;
            }
            seen.clear();
            last_ttl.clear();
            for k in start..end {
                let rec = self.order[k as usize];
                let hash = self.content_hash(&hasher, rec);
                let dup = seen.find(hash, |&other| self.same(other, rec)).is_some();
                if dup {
                    self.recs[rec as usize].flags |= DUPLICATE;
                } else {
                    seen.insert_unique(hash, rec, |&other| self.content_hash(&hasher, other));
                }
                let r = &self.recs[rec as usize];
                last_ttl.insert(r.rtype, r.ttl);
            }
            for k in start..end {
                let rec = self.order[k as usize];
                let r = &self.recs[rec as usize];
                if let Some(&ttl) = last_ttl.get(&r.rtype)
                    && ttl != r.ttl
                {
                    served.insert(rec, ttl);
                }
            }
        }
        self.rrset_ttl = served;
        self.recs.shrink_to_fit();
        self.rdata.shrink_to_fit();
        Ok(origin)
    }
}
