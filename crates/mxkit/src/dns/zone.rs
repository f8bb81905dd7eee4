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

mod store;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::RecordSet;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, NULL, PTR, SOA, SRV, TXT};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};
use hickory_proto::serialize::txt::Parser;

use self::store::{CUT, EXISTS, ZoneData};
use super::{MAX_CNAME_CHAIN, Name, RData, Record, RecordType, Response, Status};

/// TTL of a record that has none and follows no `$TTL` (Knot's `default-ttl`).
pub const DEFAULT_TTL: u32 = 3600;

/// Largest TTL accepted (RFC 2181 section 8: the top bit must be zero).
const MAX_TTL: u32 = i32::MAX as u32;

/// Deepest nesting of `$INCLUDE` (a loop of includes stops here).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// The SPF record type (RFC 4408; obsoleted by RFC 7208 but still met).
const SPF: u16 = 99;

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

/// Largest zone read, in bytes: the zone file and every file it
/// `$INCLUDE`s together (1 GiB). The text is read as a stream, so this is
/// not what the file costs in memory (a few times less: BENCHMARKS.md); it
/// stops `--zone` on a file that is not a zone (a disk image) and
/// `$INCLUDE` fan-out (a file including itself twice per level reads 2^16
/// copies within [`MAX_INCLUDE_DEPTH`]). Knot DNS has the same kind of
/// limit (`zone-max-size`).
pub const MAX_ZONE_BYTES: u64 = 1 << 30;

/// Most records in one zone: 20 million, four times the 200 MB zone of the
/// benchmark (BENCHMARKS.md). It bounds memory where the byte limit cannot:
/// a record can be written in ten bytes (`  A 1.2.3.4`) but costs about 40
/// in memory. named has the same kind of limit (`max-records`).
pub const MAX_RECORDS: usize = 20_000_000;

/// Longest entry, in bytes: one record or directive with its parenthesised
/// lines and comments, or one line (1 MiB). The longest record there can be
/// is 65535 octets of RDATA, at most four bytes of text per octet
/// (`\DDD`): about 256 KiB. An entry past the limit is almost always a
/// `(` or `"` left open; the limit also bounds the window the zone is read
/// through.
pub const MAX_ENTRY: usize = 1 << 20;

/// Most `$INCLUDE`s read for one zone (each file counts as often as it is
/// included).
pub const MAX_INCLUDES: usize = 1000;

/// The limits a zone is loaded with: every one of them, when hit, is an
/// error naming it (`FILE:LINE: ... exceeds the limit of N ...`). The
/// default is the constants above; a caller may choose others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the zone file and its includes together ([`MAX_ZONE_BYTES`]).
    pub bytes: u64,
    /// Records ([`MAX_RECORDS`]).
    pub records: usize,
    /// Bytes of one entry or line ([`MAX_ENTRY`]).
    pub entry: usize,
    /// `$INCLUDE`s read ([`MAX_INCLUDES`]).
    pub includes: usize,
    /// Nesting of `$INCLUDE` ([`MAX_INCLUDE_DEPTH`]).
    pub depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bytes: MAX_ZONE_BYTES,
            records: MAX_RECORDS,
            entry: MAX_ENTRY,
            includes: MAX_INCLUDES,
            depth: MAX_INCLUDE_DEPTH,
        }
    }
}

impl Limits {
    fn too_many_bytes(&self) -> String {
        format!(
            "exceeds the limit of {} bytes for a zone file and the files it includes",
            self.bytes
        )
    }
}

/// Open a zone file: a regular file (not `/dev/zero`, a FIFO or a
/// directory), and not larger than the `budget` left of the zone's bytes.
fn open_zone_file(path: &Path, budget: u64, limits: &Limits) -> std::io::Result<std::fs::File> {
    let file = crate::bounded::open_regular(path)?;
    if file.metadata()?.len() > budget {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            limits.too_many_bytes(),
        ));
    }
    Ok(file)
}

impl Zone {
    /// Load one zone file. The initial origin (for relative names before any
    /// `$ORIGIN`) comes from the file name when it looks like a zone name.
    pub fn load(path: &Path) -> Result<Zone, ZoneError> {
        Self::load_with(path, &Limits::default())
    }

    /// [`Zone::load`] with other limits.
    pub fn load_with(path: &Path, limits: &Limits) -> Result<Zone, ZoneError> {
        let file = open_zone_file(path, limits.bytes, limits)
            .map_err(|e| zone_error(path, 0, format!("cannot read zone file: {e}")))?;
        parse_zone(file, Arc::from(path), origin_from_file_name(path), limits)
    }

    /// Parse zone text. `label` stands for the file name in errors, in
    /// [`ZoneRecord::file`] and for relative `$INCLUDE`s; `origin` is the
    /// initial origin (when `None`, it is taken from `label` if that looks
    /// like a zone file name).
    pub fn parse(text: &str, label: &str, origin: Option<Name>) -> Result<Zone, ZoneError> {
        Self::parse_with(text, label, origin, &Limits::default())
    }

    /// [`Zone::parse`] with other limits.
    pub fn parse_with(
        text: &str,
        label: &str,
        origin: Option<Name>,
        limits: &Limits,
    ) -> Result<Zone, ZoneError> {
        let path: Arc<Path> = Arc::from(Path::new(label));
        let origin = match origin {
            Some(mut o) => {
                o.set_fqdn(true);
                Some(o)
            }
            None => origin_from_file_name(&path),
        };
        parse_zone(text.as_bytes(), path, origin, limits)
    }

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
                let added = (|| -> Result<u32, String> {
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

/// The initial origin a file name implies: `example.org.zone`,
/// `example.org.db` and `db.example.org` all give `example.org.`.
pub fn origin_from_file_name(path: &Path) -> Option<Name> {
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".zone")
        .or_else(|| name.strip_suffix(".db"))
        .or_else(|| name.strip_prefix("db."))?;
    let stem = stem.strip_suffix('.').unwrap_or(stem);
    if stem.is_empty() || stem.starts_with('.') {
        return None;
    }
    let token = Token {
        text: format!("{stem}.").into_bytes(),
        quoted: false,
        line: 0,
    };
    parse_name(&token, None).ok()
}

// ---------------------------------------------------------------------------
// Lexer: the text into entries, each with the line where it starts.

#[derive(Clone, Debug)]
struct Token {
    /// The text as written, escapes kept, without the quotes of a quoted string.
    text: Vec<u8>,
    quoted: bool,
    line: u32,
}

impl Token {
    fn is(&self, bare: &str) -> bool {
        !self.quoted && self.text == bare.as_bytes()
    }

    fn shown(&self) -> String {
        shown(&self.text)
    }

    fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.text).ok()
    }
}

/// A token for messages: quoted, control characters escaped, cut if long.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(80).collect();
    if out.len() < text.len() {
        out.push_str("...");
    }
    format!("\"{}\"", out.escape_debug())
}

struct Entry {
    line: u32,
    /// The entry starts with a blank: the owner is the previous one.
    blank_owner: bool,
    tokens: Vec<Token>,
}

/// Bytes read from a zone file at a time.
const CHUNK: usize = 64 << 10;

/// What stopped the lexer: where (the line) and why.
struct LexError {
    line: u32,
    message: String,
}

impl LexError {
    fn at(line: u32, message: impl Into<String>) -> Self {
        LexError {
            line,
            message: message.into(),
        }
    }
}

/// Splits a zone file into entries, reading it as a stream: it holds a
/// window of the file (at most twice [`Limits::entry`] and a chunk), never
/// the whole file. Every byte read is taken from the zone's byte budget (the
/// file and its `$INCLUDE`s together, [`Limits::bytes`]).
struct Lexer<R> {
    reader: R,
    /// [`Limits::entry`].
    max_entry: usize,
    /// The message for [`Limits::bytes`].
    too_many_bytes: String,
    /// `buf[pos..]` is read but not yet lexed.
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    line: u32,
}

impl<R: std::io::Read> Lexer<R> {
    fn new(reader: R, limits: &Limits) -> Self {
        Lexer {
            reader,
            max_entry: limits.entry,
            too_many_bytes: limits.too_many_bytes(),
            buf: Vec::new(),
            pos: 0,
            eof: false,
            line: 1,
        }
    }

    /// Make sure the window holds the next [`Limits::entry`] bytes and one
    /// more, or the rest of the file: an entry that runs to the window's end
    /// before the file's is over the limit.
    fn fill(&mut self, budget: &mut u64) -> Result<(), LexError> {
        if self.eof || self.buf.len() - self.pos > self.max_entry {
            return Ok(());
        }
        self.buf.drain(..self.pos);
        self.pos = 0;
        while !self.eof && self.buf.len() < 2 * self.max_entry {
            let old = self.buf.len();
            // Small entry limits read in small pieces (the window's refills
            // are exercised by tests and fuzzing with small limits).
            self.buf.resize(old + CHUNK.min(self.max_entry + 1), 0);
            let n = loop {
                match self.reader.read(&mut self.buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.buf.truncate(old);
                        return Err(LexError::at(self.line, format!("cannot read: {e}")));
                    }
                }
            };
            self.buf.truncate(old + n);
            if n == 0 {
                self.eof = true;
            } else if n as u64 > *budget {
                return Err(LexError::at(
                    self.line,
                    format!("the zone {}", self.too_many_bytes),
                ));
            } else {
                *budget -= n as u64;
            }
        }
        Ok(())
    }

    /// The byte at the read position, if the window has it.
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// The entry that started on line `line` is longer than the limit (or
    /// the window ended before the file, which means the same).
    fn too_long(&self, line: u32, open: Option<u32>) -> LexError {
        let hint = match open {
            Some(paren) => format!(" (the '(' of line {paren} is never closed?)"),
            None => String::new(),
        };
        LexError::at(
            line,
            format!(
                "this entry exceeds the limit of {} bytes for one record or directive with \
                 its parenthesised lines and comments{hint}",
                self.max_entry
            ),
        )
    }

    /// The next entry with at least one token, or `None` at the end.
    fn next_entry(&mut self, budget: &mut u64) -> Result<Option<Entry>, LexError> {
        loop {
            self.fill(budget)?;
            if self.pos >= self.buf.len() {
                return Ok(None);
            }
            let start = self.pos;
            let start_line = self.line;
            let blank_owner = matches!(self.buf[self.pos], b' ' | b'\t');
            let mut tokens = Vec::new();
            let mut open: Option<u32> = None;
            while let Some(c) = self.peek() {
                match c {
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        if open.is_none() {
                            break;
                        }
                    }
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b';' => {
                        while self.peek().is_some_and(|c| c != b'\n') {
                            self.pos += 1;
                        }
                    }
                    b'(' => {
                        if let Some(first) = open {
                            return Err(LexError::at(
                                self.line,
                                format!("nested '(' (one is already open since line {first})"),
                            ));
                        }
                        open = Some(self.line);
                        self.pos += 1;
                    }
                    b')' => {
                        if open.is_none() {
                            return Err(LexError::at(self.line, "')' without a matching '('"));
                        }
                        open = None;
                        self.pos += 1;
                    }
                    b'"' => tokens.push(self.quoted(start_line, start)?),
                    _ => tokens.push(self.bare()),
                }
            }
            let line = tokens.first().map_or(start_line, |t: &Token| t.line);
            if self.pos - start > self.max_entry || (self.pos >= self.buf.len() && !self.eof) {
                return Err(self.too_long(line, open));
            }
            if let Some(line) = open {
                return Err(LexError::at(line, "'(' is never closed"));
            }
            if !tokens.is_empty() {
                return Ok(Some(Entry {
                    line,
                    blank_owner,
                    tokens,
                }));
            }
        }
    }

    fn bare(&mut self) -> Token {
        let line = self.line;
        let mut text = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                b'\\' => {
                    text.push(c);
                    self.pos += 1;
                    if let Some(next) = self.peek() {
                        if next == b'\n' {
                            self.line += 1;
                        }
                        text.push(next);
                        self.pos += 1;
                    }
                }
                _ => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        Token {
            text,
            quoted: false,
            line,
        }
    }

    /// A quoted string, in the entry that starts on `entry_line` at `start`.
    fn quoted(&mut self, entry_line: u32, start: usize) -> Result<Token, LexError> {
        let line = self.line;
        self.pos += 1;
        let mut text = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                if !self.eof || self.pos - start > self.max_entry {
                    return Err(self.too_long(entry_line, None));
                }
                return Err(LexError::at(line, "quoted string is never closed"));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    text.push(c);
                    if let Some(next) = self.peek() {
                        if next == b'\n' {
                            self.line += 1;
                        }
                        text.push(next);
                        self.pos += 1;
                    }
                }
                b'\n' => {
                    self.line += 1;
                    text.push(c);
                }
                _ => text.push(c),
            }
        }
        Ok(Token {
            text,
            quoted: true,
            line,
        })
    }
}

// ---------------------------------------------------------------------------
// Text fields.

/// Decode `\X` and `\DDD` (decimal) escapes.
fn unescape(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        match text.get(i + 1) {
            None => return Err("a '\\' ends the text".into()),
            Some(d) if d.is_ascii_digit() => {
                let digits = text
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(u8::is_ascii_digit));
                let Some(digits) = digits else {
                    return Err("\\DDD escape needs three decimal digits".into());
                };
                let value = digits
                    .iter()
                    .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
                let Ok(byte) = u8::try_from(value) else {
                    return Err(format!("escape \\{value:03} is above 255"));
                };
                out.push(byte);
                i += 4;
            }
            Some(&x) => {
                out.push(x);
                i += 2;
            }
        }
    }
    Ok(out)
}

/// A <character-string> (RFC 1035 section 3.3): at most 255 bytes.
fn character_string(token: &Token) -> Result<Vec<u8>, String> {
    let bytes = unescape(&token.text).map_err(|e| format!("bad string {}: {e}", token.shown()))?;
    if bytes.len() > 255 {
        return Err(format!(
            "string of {} bytes, longer than 255 (split it into several quoted strings)",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// A domain name: absolute if it ends with an unescaped dot, else relative to
/// `origin`; `@` is the origin.
fn parse_name(token: &Token, origin: Option<&Name>) -> Result<Name, String> {
    if token.is("@") {
        return origin
            .cloned()
            .ok_or_else(|| "\"@\" but no origin is known yet (add $ORIGIN)".into());
    }
    let text = &token.text;
    if text.is_empty() {
        return Err("empty name".into());
    }
    if text.as_slice() == b"." {
        return Ok(Name::root());
    }
    let mut labels: Vec<Vec<u8>> = Vec::new();
    let mut label = Vec::new();
    let mut absolute = false;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'.' => {
                if label.is_empty() {
                    return Err("empty label".into());
                }
                labels.push(std::mem::take(&mut label));
                if i + 1 == text.len() {
                    absolute = true;
                }
                i += 1;
            }
            b'\\' => {
                let end = match text.get(i + 1) {
                    Some(d) if d.is_ascii_digit() => (i + 4).min(text.len()),
                    Some(_) => i + 2,
                    None => i + 1,
                };
                label.extend(unescape(&text[i..end])?);
                i = end;
            }
            c => {
                label.push(c);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        labels.push(label);
    }
    if let Some(long) = labels.iter().find(|l| l.len() > 63) {
        return Err(format!("label of {} bytes, longer than 63", long.len()));
    }
    let mut wire = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
    if !absolute {
        let Some(origin) = origin else {
            return Err("relative name but no origin is known (add $ORIGIN, \
                        or end the name with a dot)"
                .into());
        };
        wire += origin.iter().map(|l| l.len() + 1).sum::<usize>();
        labels.extend(origin.iter().map(<[u8]>::to_vec));
    }
    if wire > 255 {
        return Err(format!("name of {wire} bytes, longer than 255"));
    }
    Name::from_labels(labels.iter().map(Vec::as_slice)).map_err(|e| e.to_string())
}

/// A TTL: seconds, or with units (`1w2d3h4m5s`).
fn parse_ttl(token: &Token) -> Result<u32, String> {
    let bad = || format!("bad TTL {}", token.shown());
    let text = token.as_str().ok_or_else(bad)?;
    if token.quoted || !text.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(number.unwrap_or(0) * 10 + u64::from(d));
            if number > Some(u64::from(u32::MAX)) {
                return Err(format!("TTL {} is too large", token.shown()));
            }
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        total += number.take().ok_or_else(bad)? * unit;
        if total > u64::from(u32::MAX) {
            return Err(format!("TTL {} is too large", token.shown()));
        }
    }
    total += number.unwrap_or(0);
    if total > u64::from(MAX_TTL) {
        return Err(format!(
            "TTL {} is above {MAX_TTL} (RFC 2181 section 8)",
            token.shown()
        ));
    }
    Ok(total as u32)
}

fn parse_u16(token: &Token, what: &str, rtype: &str) -> Result<u16, String> {
    token
        .as_str()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad {what} {} in {rtype} record (0-65535)", token.shown()))
}

fn parse_u32(token: &Token, what: &str, rtype: &str) -> Result<u32, String> {
    token
        .as_str()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "bad {what} {} in {rtype} record (0-4294967295)",
                token.shown()
            )
        })
}

/// A record type mnemonic or `TYPEnn` (RFC 3597 section 5).
fn parse_type(upper: &str) -> Option<RecordType> {
    if let Some(n) = upper.strip_prefix("TYPE") {
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return n.parse::<u16>().ok().map(RecordType::from);
    }
    if upper == "SPF" {
        return Some(RecordType::from(SPF));
    }
    if upper == "*" {
        return None;
    }
    upper.parse::<RecordType>().ok()
}

fn is_class(upper: &str) -> bool {
    matches!(upper, "IN" | "CH" | "CS" | "HS" | "NONE")
        || upper
            .strip_prefix("CLASS")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn type_name(rtype: RecordType) -> String {
    match rtype {
        RecordType::Unknown(SPF) => "SPF".into(),
        RecordType::Unknown(n) => format!("TYPE{n}"),
        t => t.to_string(),
    }
}

// ---------------------------------------------------------------------------
// RDATA.

fn fields<'t>(
    tokens: &'t [Token],
    n: usize,
    rtype: &str,
    desc: &str,
) -> Result<&'t [Token], String> {
    if tokens.len() == n {
        Ok(tokens)
    } else {
        Err(format!(
            "{rtype} record needs {n} field{} ({desc}), found {}",
            if n == 1 { "" } else { "s" },
            tokens.len()
        ))
    }
}

fn rdata_name(
    token: &Token,
    origin: Option<&Name>,
    what: &str,
    rtype: &str,
) -> Result<Name, String> {
    parse_name(token, origin)
        .map_err(|e| format!("bad {what} {} in {rtype} record: {e}", token.shown()))
}

fn parse_rdata(
    rtype: RecordType,
    tokens: &[Token],
    origin: Option<&Name>,
) -> Result<RData, String> {
    let tn = type_name(rtype);
    let t = tn.as_str();
    if tokens.first().is_some_and(|t| t.is("\\#")) {
        return generic_rdata(rtype, &tokens[1..]);
    }
    let rdata = match rtype {
        RecordType::A => {
            let f = fields(tokens, 1, t, "an IPv4 address")?;
            let addr = f[0]
                .as_str()
                .and_then(|s| s.parse::<Ipv4Addr>().ok())
                .filter(|_| !f[0].quoted)
                .ok_or_else(|| format!("bad IPv4 address {} in A record", f[0].shown()))?;
            RData::A(A(addr))
        }
        RecordType::AAAA => {
            let f = fields(tokens, 1, t, "an IPv6 address")?;
            let addr = f[0]
                .as_str()
                .and_then(|s| s.parse::<Ipv6Addr>().ok())
                .filter(|_| !f[0].quoted)
                .ok_or_else(|| format!("bad IPv6 address {} in AAAA record", f[0].shown()))?;
            RData::AAAA(AAAA(addr))
        }
        RecordType::NS => {
            let f = fields(tokens, 1, t, "a name server")?;
            RData::NS(NS(rdata_name(&f[0], origin, "name server", t)?))
        }
        RecordType::CNAME => {
            let f = fields(tokens, 1, t, "a target name")?;
            RData::CNAME(CNAME(rdata_name(&f[0], origin, "target", t)?))
        }
        RecordType::PTR => {
            let f = fields(tokens, 1, t, "a target name")?;
            RData::PTR(PTR(rdata_name(&f[0], origin, "target", t)?))
        }
        RecordType::MX => {
            let f = fields(tokens, 2, t, "preference and exchange")?;
            let preference = parse_u16(&f[0], "preference", t)?;
            RData::MX(MX::new(
                preference,
                rdata_name(&f[1], origin, "exchange", t)?,
            ))
        }
        RecordType::SRV => {
            let f = fields(tokens, 4, t, "priority, weight, port and target")?;
            RData::SRV(SRV::new(
                parse_u16(&f[0], "priority", t)?,
                parse_u16(&f[1], "weight", t)?,
                parse_u16(&f[2], "port", t)?,
                rdata_name(&f[3], origin, "target", t)?,
            ))
        }
        RecordType::SOA => {
            let f = fields(
                tokens,
                7,
                t,
                "primary, mailbox, serial, refresh, retry, expire and minimum",
            )?;
            let timer = |tok: &Token, what: &str| {
                parse_ttl(tok).map_err(|_| format!("bad {what} {} in SOA record", tok.shown()))
            };
            RData::SOA(SOA::new(
                rdata_name(&f[0], origin, "primary name server", t)?,
                rdata_name(&f[1], origin, "mailbox", t)?,
                parse_u32(&f[2], "serial", t)?,
                timer(&f[3], "refresh")? as i32,
                timer(&f[4], "retry")? as i32,
                timer(&f[5], "expire")? as i32,
                timer(&f[6], "minimum")?,
            ))
        }
        RecordType::TXT | RecordType::Unknown(SPF) => {
            if tokens.is_empty() {
                return Err(format!("{t} record needs at least one string"));
            }
            let strings = tokens
                .iter()
                .map(|tok| character_string(tok).map_err(|e| format!("{t} record: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            if rtype == RecordType::TXT {
                RData::TXT(TXT::from_bytes(strings.iter().map(Vec::as_slice).collect()))
            } else {
                let mut wire = Vec::new();
                for s in &strings {
                    wire.push(s.len() as u8);
                    wire.extend_from_slice(s);
                }
                if wire.len() > usize::from(u16::MAX) {
                    return Err(format!("{t} record longer than 65535 bytes"));
                }
                RData::Unknown {
                    code: rtype,
                    rdata: NULL::with(wire),
                }
            }
        }
        RecordType::ANY
        | RecordType::AXFR
        | RecordType::IXFR
        | RecordType::OPT
        | RecordType::TSIG
        | RecordType::SIG
        | RecordType::ZERO => {
            return Err(format!("{t} is not a type of record a zone can hold"));
        }
        RecordType::DNSKEY
        | RecordType::CDNSKEY
        | RecordType::KEY
        | RecordType::DS
        | RecordType::CDS
        | RecordType::NSEC
        | RecordType::NSEC3
        | RecordType::NSEC3PARAM
        | RecordType::RRSIG => {
            return Err(format!(
                "{t} records are not supported in text form (load the unsigned zone, \
                 or write them as \"TYPE{} \\# LENGTH HEX\", RFC 3597)",
                u16::from(rtype)
            ));
        }
        RecordType::Unknown(n) => {
            return Err(format!(
                "no text form known for TYPE{n}: write it as \"TYPE{n} \\# LENGTH HEX\" (RFC 3597)"
            ));
        }
        _ => hickory_rdata(rtype, tokens, origin)?,
    };
    Ok(rdata)
}

/// `\# LENGTH HEX...` (RFC 3597 section 5).
fn generic_rdata(rtype: RecordType, tokens: &[Token]) -> Result<RData, String> {
    let t = type_name(rtype);
    let Some((len, hex)) = tokens.split_first() else {
        return Err(format!("{t} record: \\# needs a length"));
    };
    let len = parse_u16(len, "\\# length", &t)?;
    let mut digits = Vec::new();
    for tok in hex {
        if tok.quoted || !tok.text.iter().all(u8::is_ascii_hexdigit) {
            return Err(format!("bad hex {} in {t} record", tok.shown()));
        }
        digits.extend_from_slice(&tok.text);
    }
    if digits.len() % 2 != 0 {
        return Err(format!("{t} record: odd number of hex digits"));
    }
    let bytes: Vec<u8> = digits
        .chunks(2)
        .map(|p| {
            let v = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            (v(p[0]) << 4) | v(p[1])
        })
        .collect();
    if bytes.len() != usize::from(len) {
        return Err(format!(
            "{t} record: \\# says {len} bytes but the hex has {}",
            bytes.len()
        ));
    }
    if bytes.is_empty() && matches!(rtype, RecordType::Unknown(_)) {
        return Ok(RData::Unknown {
            code: rtype,
            rdata: NULL::new(),
        });
    }
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        let mut decoder = BinDecoder::new(&bytes);
        RData::read(&mut decoder, rtype, Restrict::new(len))
    }));
    match decoded {
        Ok(Ok(RData::Update0(_))) | Err(_) => Err(format!("bad RDATA for {t} in \\# form")),
        Ok(Ok(rdata)) => Ok(rdata),
        Ok(Err(e)) => Err(format!("bad RDATA for {t} in \\# form: {e}")),
    }
}

/// The other types: one synthetic line through hickory-proto's zone parser.
fn hickory_rdata(
    rtype: RecordType,
    tokens: &[Token],
    origin: Option<&Name>,
) -> Result<RData, String> {
    let t = type_name(rtype);
    let origin_text = origin.map_or_else(|| ".".to_string(), Name::to_ascii);
    let mut text = format!("$ORIGIN {origin_text}\n@ 0 IN {t}");
    for tok in tokens {
        let content = if tok.quoted {
            let bytes =
                unescape(&tok.text).map_err(|e| format!("bad string {}: {e}", tok.shown()))?;
            String::from_utf8_lossy(&bytes).into_owned()
        } else if tok.is("@") {
            origin_text.clone()
        } else {
            String::from_utf8_lossy(&tok.text).into_owned()
        };
        text.push_str(" \"");
        for c in content.chars() {
            if c == '"' || c == '\\' {
                text.push('\\');
            }
            text.push(c);
        }
        text.push('"');
    }
    text.push('\n');
    let parsed = catch_unwind(AssertUnwindSafe(|| Parser::new(text, None, None).parse()));
    let map = match parsed {
        Ok(Ok((_, map))) => map,
        Ok(Err(e)) => return Err(format!("bad {t} record: {e}")),
        Err(_) => return Err(format!("bad {t} record")),
    };
    map.into_values()
        .next()
        .as_ref()
        .and_then(RecordSet::record)
        .map(|r| r.data.clone())
        .ok_or_else(|| format!("bad {t} record"))
}

// ---------------------------------------------------------------------------
// Loader: entries into records.

struct FileCtx {
    path: Arc<Path>,
    /// The file's number in the zone's data.
    file: u16,
    origin: Option<Name>,
    default_ttl: Option<u32>,
    /// The previous owner and its node.
    last_owner: Option<(Name, u32)>,
    depth: usize,
}

struct Loader {
    data: ZoneData,
    first_dollar_origin: Option<Name>,
    limits: Limits,
    /// What is left of the zone's bytes ([`Limits::bytes`]).
    bytes_left: u64,
    /// `$INCLUDE`s read so far.
    includes: usize,
}

fn parse_zone(
    src: impl std::io::Read,
    path: Arc<Path>,
    initial: Option<Name>,
    limits: &Limits,
) -> Result<Zone, ZoneError> {
    let mut loader = Loader {
        data: ZoneData::new(),
        first_dollar_origin: None,
        limits: *limits,
        bytes_left: limits.bytes,
        includes: 0,
    };
    let file = loader
        .data
        .file(path.clone())
        .map_err(|e| zone_error(&path, 0, e))?;
    let ctx = FileCtx {
        path: path.clone(),
        file,
        origin: initial.clone(),
        default_ttl: None,
        last_owner: None,
        depth: 0,
    };
    loader.file(src, ctx)?;
    let Loader {
        mut data,
        first_dollar_origin,
        ..
    } = loader;
    let (origin, from) = if let Some(i) = data.soa {
        (
            data.names.name(data.recs[i as usize].owner),
            "the SOA record",
        )
    } else if let Some(o) = first_dollar_origin {
        (o, "the first $ORIGIN")
    } else if let Some(o) = initial {
        (o, "the file name")
    } else {
        return Err(zone_error(
            &path,
            0,
            "no zone origin: no SOA record, no $ORIGIN, and the file name is not a zone \
             name (example.org.zone, example.org.db or db.example.org)",
        ));
    };
    if data.recs.is_empty() {
        return Err(zone_error(&path, 0, "no records"));
    }
    let apex = data.index(&origin).map_err(|e| zone_error(&path, 0, e))?;
    if let Some(broken) = data.check(apex) {
        let message = if broken.outside {
            format!("{} (origin from {from})", broken.message)
        } else {
            broken.message
        };
        return Err(zone_error(
            data.file_path(broken.rec),
            data.recs[broken.rec as usize].line,
            message,
        ));
    }
    Ok(Zone::new(origin, path, data, apex))
}

impl Loader {
    fn file(&mut self, src: impl std::io::Read, mut ctx: FileCtx) -> Result<(), ZoneError> {
        let mut lexer = Lexer::new(src, &self.limits);
        loop {
            let entry = lexer
                .next_entry(&mut self.bytes_left)
                .map_err(|e| zone_error(&ctx.path, e.line, e.message))?;
            let Some(entry) = entry else {
                return Ok(());
            };
            let first = &entry.tokens[0];
            if !first.quoted && first.text.first() == Some(&b'$') {
                self.directive(&mut ctx, &entry)?;
            } else {
                let line = entry.line;
                self.record(&mut ctx, entry)
                    .map_err(|message| zone_error(&ctx.path, line, message))?;
            }
        }
    }

    fn directive(&mut self, ctx: &mut FileCtx, entry: &Entry) -> Result<(), ZoneError> {
        let line = entry.line;
        let err = |message: String| zone_error(&ctx.path, line, message);
        let name = String::from_utf8_lossy(&entry.tokens[0].text).to_ascii_uppercase();
        let args = &entry.tokens[1..];
        match name.as_str() {
            "$ORIGIN" => {
                let [arg] = args else {
                    return Err(err("$ORIGIN needs one name".into()));
                };
                let origin = parse_name(arg, ctx.origin.as_ref())
                    .map_err(|e| err(format!("bad $ORIGIN {}: {e}", arg.shown())))?;
                if self.first_dollar_origin.is_none() {
                    self.first_dollar_origin = Some(origin.clone());
                }
                ctx.origin = Some(origin);
            }
            "$TTL" => {
                let [arg] = args else {
                    return Err(err("$TTL needs one TTL".into()));
                };
                ctx.default_ttl = Some(parse_ttl(arg).map_err(|e| err(format!("$TTL: {e}")))?);
            }
            "$INCLUDE" => {
                let (file, origin) = match args {
                    [file] => (file, ctx.origin.clone()),
                    [file, origin] => {
                        let o = parse_name(origin, ctx.origin.as_ref()).map_err(|e| {
                            err(format!("bad $INCLUDE origin {}: {e}", origin.shown()))
                        })?;
                        (file, Some(o))
                    }
                    _ => {
                        return Err(err(
                            "$INCLUDE needs a file name and an optional origin".into()
                        ));
                    }
                };
                let limits = self.limits;
                if ctx.depth >= limits.depth {
                    return Err(err(format!(
                        "$INCLUDE nested more than {0} deep: exceeds the limit of {0} nested \
                         files (an include loop?)",
                        limits.depth
                    )));
                }
                if self.includes >= limits.includes {
                    return Err(err(format!(
                        "$INCLUDE exceeds the limit of {} included files for one zone",
                        limits.includes
                    )));
                }
                self.includes += 1;
                let name = unescape(&file.text).map_err(|e| err(format!("bad file name: {e}")))?;
                let name = PathBuf::from(String::from_utf8_lossy(&name).into_owned());
                let path = if name.is_absolute() {
                    name
                } else {
                    ctx.path.parent().unwrap_or(Path::new("")).join(name)
                };
                let src = open_zone_file(&path, self.bytes_left, &limits).map_err(|e| {
                    err(format!("cannot read included file {}: {e}", path.display()))
                })?;
                let path: Arc<Path> = Arc::from(path.as_path());
                let file = self.data.file(path.clone()).map_err(err)?;
                let sub = FileCtx {
                    path,
                    file,
                    origin,
                    default_ttl: ctx.default_ttl,
                    last_owner: None,
                    depth: ctx.depth + 1,
                };
                self.file(src, sub)?;
            }
            "$GENERATE" => return Err(err("$GENERATE (a BIND extension) is not supported".into())),
            _ => {
                return Err(err(format!(
                    "unknown directive {}",
                    entry.tokens[0].shown()
                )));
            }
        }
        Ok(())
    }

    fn record(&mut self, ctx: &mut FileCtx, entry: Entry) -> Result<(), String> {
        let tokens = &entry.tokens;
        let mut i = 0;
        let owner = if entry.blank_owner {
            ctx.last_owner.as_ref().map(|(_, id)| *id).ok_or(
                "the line starts with a blank but there is no previous owner name \
                 (a name must start at the first column)",
            )?
        } else {
            i = 1;
            let owner = parse_name(&tokens[0], ctx.origin.as_ref())
                .map_err(|e| format!("bad owner name {}: {e}", tokens[0].shown()))?;
            let id = match &ctx.last_owner {
                Some((last, id)) if *last == owner => *id,
                _ => self.data.names.intern(&owner)?,
            };
            ctx.last_owner = Some((owner, id));
            id
        };
        let mut ttl = None;
        let mut class_seen = false;
        let rtype = loop {
            let Some(tok) = tokens.get(i) else {
                return Err("missing record type".into());
            };
            i += 1;
            let upper = String::from_utf8_lossy(&tok.text).to_ascii_uppercase();
            if tok.quoted {
                return Err(format!(
                    "expected a TTL, class or type, found {}",
                    tok.shown()
                ));
            }
            if upper.starts_with(|c: char| c.is_ascii_digit()) {
                if ttl.is_some() {
                    return Err(format!("a second TTL {}", tok.shown()));
                }
                ttl = Some(parse_ttl(tok)?);
                continue;
            }
            if is_class(&upper) {
                if class_seen {
                    return Err(format!("a second class {}", tok.shown()));
                }
                if upper != "IN" && upper != "CLASS1" {
                    return Err(format!("class {upper} is not supported (only IN)"));
                }
                class_seen = true;
                continue;
            }
            match parse_type(&upper) {
                Some(t) => break t,
                None => {
                    let hint = if entry.blank_owner && i == 1 {
                        " (the line starts with a blank, so it continues the previous \
                         owner: a name must start at the first column)"
                    } else {
                        ""
                    };
                    return Err(format!("unknown record type {}{hint}", tok.shown()));
                }
            }
        };
        let data = parse_rdata(rtype, &tokens[i..], ctx.origin.as_ref())?;
        if rtype == RecordType::SOA
            && let Some(first) = self.data.soa
        {
            return Err(format!(
                "a second SOA record (the first is at {})",
                self.data.location(first)
            ));
        }
        if self.data.recs.len() >= self.limits.records {
            return Err(format!(
                "the zone exceeds the limit of {} records",
                self.limits.records
            ));
        }
        let ttl = ttl.or(ctx.default_ttl).unwrap_or(DEFAULT_TTL);
        self.data.add(owner, ttl, &data, ctx.file, entry.line)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Answering.

fn fqdn(name: &Name) -> Name {
    let mut n = name.clone();
    n.set_fqdn(true);
    n
}

/// What one zone says about one name.
enum Step {
    Records(Vec<Record>),
    Cname(Box<Record>, Name),
    NoData,
    NxDomain,
}

/// The loaded zones, answering as their authoritative server would.
#[derive(Clone, Default)]
pub struct ZoneSet {
    zones: Vec<Zone>,
    by_origin: HashMap<Name, usize>,
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

    /// Load zone files (`--zone FILE`, repeatable); two files for the same
    /// origin are an error (naming the second file).
    pub fn load(paths: &[PathBuf]) -> Result<ZoneSet, ZoneError> {
        Self::load_with(paths, &Limits::default())
    }

    /// [`ZoneSet::load`] with other limits (each zone has its own).
    pub fn load_with(paths: &[PathBuf], limits: &Limits) -> Result<ZoneSet, ZoneError> {
        let mut set = ZoneSet::new();
        for path in paths {
            let zone = Zone::load_with(path, limits)?;
            if let Some(&i) = set.by_origin.get(&fqdn(&zone.origin)) {
                return Err(zone_error(
                    path,
                    0,
                    format!(
                        "zone {} is already loaded from {}",
                        zone.origin,
                        set.zones[i].file.display()
                    ),
                ));
            }
            set.push(zone);
        }
        Ok(set)
    }

    /// Parse zone text (for tests and callers that hold the text): see
    /// [`Zone::parse`]. Add the result with [`ZoneSet::push`].
    pub fn from_str(text: &str, label: &str, origin: Option<Name>) -> Result<Zone, ZoneError> {
        Zone::parse(text, label, origin)
    }

    /// Same as [`ZoneSet::from_str`].
    pub fn parse_str(text: &str, label: &str, origin: Option<Name>) -> Result<Zone, ZoneError> {
        Zone::parse(text, label, origin)
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

    /// The zone with the longest origin that contains `name`.
    fn zone_for(&self, name: &Name) -> Option<usize> {
        if self.by_origin.is_empty() {
            return None;
        }
        let mut n = fqdn(name);
        loop {
            if let Some(&i) = self.by_origin.get(&n) {
                return Some(i);
            }
            if n.is_root() {
                return None;
            }
            n = n.base_name();
        }
    }

    /// The authoritative answer for a name inside a loaded zone, or `None`
    /// when no loaded zone holds the name or it is at or below a zone cut (a
    /// delegation: the data is not ours, ask live DNS). See the module
    /// documentation for the rules.
    pub fn answer(&self, name: &Name, rtype: RecordType) -> Option<Response> {
        let mut zi = self.zone_for(name)?;
        let mut step = self.step(zi, name, rtype)?;
        let mut zones_used = vec![zi];
        let mut answers: Vec<Record> = Vec::new();
        let mut seen: HashSet<Name> = HashSet::from([fqdn(name)]);
        let (status, negative_ttl) = loop {
            match step {
                Step::Records(records) => {
                    answers.extend(records);
                    break (Status::NoError, None);
                }
                Step::NoData => break (Status::NoError, self.zones[zi].negative_ttl),
                Step::NxDomain => break (Status::NxDomain, self.zones[zi].negative_ttl),
                Step::Cname(record, target) => {
                    answers.push(*record);
                    // A loop or a long chain: stop here, the caller's
                    // resolve() reports it.
                    if !seen.insert(fqdn(&target)) || answers.len() > MAX_CNAME_CHAIN {
                        break (Status::NoError, None);
                    }
                    let next = self
                        .zone_for(&target)
                        .and_then(|z| Some((z, self.step(z, &target, rtype)?)));
                    let Some((z, next)) = next else {
                        // The target is not ours: the caller asks for it.
                        break (Status::NoError, None);
                    };
                    if !zones_used.contains(&z) {
                        zones_used.push(z);
                    }
                    zi = z;
                    step = next;
                }
            }
        };
        let files: Vec<String> = zones_used
            .iter()
            .map(|&z| self.zones[z].file.display().to_string())
            .collect();
        Some(Response {
            status,
            answers: answers.into(),
            negative_ttl,
            authentic: false,
            // Zone data is the authority itself (RFC 1035 section 4.1.1).
            authoritative: true,
            server: format!("zone {}", files.join(", ")).into(),
        })
    }

    /// What zone `zi` says about `name`; `None` at or below a zone cut.
    fn step(&self, zi: usize, name: &Name, rtype: RecordType) -> Option<Step> {
        let zone = &self.zones[zi];
        let data = &zone.data;
        let labels: Vec<&[u8]> = name.iter().collect();
        let below = labels.len().checked_sub(zone.origin.iter().count())?;
        // Down from the apex, one label at a time, while the name exists:
        // the deepest node reached is the name itself or its closest
        // encloser (RFC 4592 section 3.3.1).
        let mut node = zone.apex;
        let mut depth = 0;
        for label in labels[..below].iter().rev() {
            match data.names.child(node, label) {
                Some(child) if data.names.flags(child) & EXISTS != 0 => {
                    node = child;
                    depth += 1;
                }
                _ => break,
            }
            if data.cuts && data.names.flags(node) & CUT != 0 {
                // At or below a zone cut the data is not ours, except DS at
                // the cut itself: the parent side answers it (RFC 4035
                // section 3.1.4.1).
                if !(depth == below && rtype == RecordType::DS) {
                    return None;
                }
            }
        }
        if depth == below {
            if data.at(node).is_empty() {
                return Some(Step::NoData);
            }
            return Some(self.at_node(zi, node, None, rtype));
        }
        if data.wildcards
            && let Some(star) = data.names.child(node, b"*")
            && !data.at(star).is_empty()
        {
            return Some(self.at_node(zi, star, Some(name), rtype));
        }
        Some(Step::NxDomain)
    }

    /// The records at one node; `owner` renames them (wildcard synthesis).
    fn at_node(&self, zi: usize, node: u32, owner: Option<&Name>, rtype: RecordType) -> Step {
        let data = &self.zones[zi].data;
        let serve = |i: u32| {
            let mut r = data.served(i);
            if let Some(owner) = owner {
                r.name = owner.clone();
            }
            r
        };
        let recs = || {
            data.at(node)
                .iter()
                .copied()
                .filter(|&i| !data.recs[i as usize].is_duplicate())
        };
        let records: Vec<Record> = recs()
            .filter(|&i| {
                let t = data.recs[i as usize].rtype();
                t == rtype || rtype == RecordType::ANY
            })
            .map(serve)
            .collect();
        if !records.is_empty() {
            return Step::Records(records);
        }
        if rtype != RecordType::CNAME {
            for i in recs() {
                if data.recs[i as usize].rtype() == RecordType::CNAME
                    && let Some(target) = data.cname_target(i)
                {
                    return Step::Cname(Box::new(serve(i)), target);
                }
            }
        }
        Step::NoData
    }
}
