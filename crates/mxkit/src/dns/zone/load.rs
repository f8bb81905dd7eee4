//! Loading a zone: the file read as a stream of entries (`lex`), the
//! directives (`$ORIGIN`, `$TTL`, `$INCLUDE`) applied, each record parsed
//! (`text`, `rdata`) into the zone's store, the whole zone checked, and
//! every limit ([`Limits`]) kept.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::lex::{Entry, Lexer, Token};
use super::rdata::{RdataError, parse_rdata};
use super::store::{StoreError, ZoneData};
use super::text::{NameError, TtlError, is_class, parse_name, parse_ttl, parse_type, unescape};
use super::{Name, RecordType, Zone, ZoneError, ZoneSet, fqdn, zone_error};

/// TTL of a record that has none and follows no `$TTL` (Knot's `default-ttl`).
pub const DEFAULT_TTL: u32 = 3600;

/// Deepest nesting of `$INCLUDE` (a loop of includes stops here).
pub const MAX_INCLUDE_DEPTH: usize = 16;

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
    pub(super) fn too_many_bytes(&self) -> String {
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
    /// [`ZoneRecord::file`](super::ZoneRecord::file) and for relative
    /// `$INCLUDE`s; `origin` is the initial origin (when `None`, it is taken
    /// from `label` if that looks like a zone file name).
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
}

impl ZoneSet {
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

/// Why a record entry is bad (a token at fault, shown, where there is
/// one).
#[derive(Debug, thiserror::Error)]
enum RecordError {
    #[error(
        "the line starts with a blank but there is no previous owner name \
         (a name must start at the first column)"
    )]
    NoPreviousOwner,
    #[error("bad owner name {shown}: {why}")]
    Owner { shown: String, why: NameError },
    #[error("missing record type")]
    MissingType,
    #[error("expected a TTL, class or type, found {0}")]
    Quoted(String),
    #[error("a second TTL {0}")]
    SecondTtl(String),
    #[error(transparent)]
    Ttl(#[from] TtlError),
    #[error("a second class {0}")]
    SecondClass(String),
    /// A class other than IN (upper case).
    #[error("class {0} is not supported (only IN)")]
    Class(String),
    /// Neither a TTL, a class nor a type; `continues_owner`: the entry
    /// starts with a blank and this is its first token.
    #[error(
        "unknown record type {shown}{}",
        if *.continues_owner {
            " (the line starts with a blank, so it continues the previous \
             owner: a name must start at the first column)"
        } else {
            ""
        }
    )]
    UnknownType {
        shown: String,
        continues_owner: bool,
    },
    #[error(transparent)]
    Rdata(#[from] RdataError),
    /// Where the first SOA is (`FILE:LINE`).
    #[error("a second SOA record (the first is at {0})")]
    SecondSoa(String),
    #[error("the zone exceeds the limit of {0} records")]
    TooManyRecords(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

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
        .map_err(|e| zone_error(&path, 0, e.to_string()))?;
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
    let apex = data
        .index(&origin)
        .map_err(|e| zone_error(&path, 0, e.to_string()))?;
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
                    .map_err(|e| zone_error(&ctx.path, line, e.to_string()))?;
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
                let file = self
                    .data
                    .file(path.clone())
                    .map_err(|e| err(e.to_string()))?;
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

    fn record(&mut self, ctx: &mut FileCtx, entry: Entry) -> Result<(), RecordError> {
        let tokens = &entry.tokens;
        let mut i = 0;
        let owner = if entry.blank_owner {
            ctx.last_owner
                .as_ref()
                .map(|(_, id)| *id)
                .ok_or(RecordError::NoPreviousOwner)?
        } else {
            i = 1;
            let owner =
                parse_name(&tokens[0], ctx.origin.as_ref()).map_err(|why| RecordError::Owner {
                    shown: tokens[0].shown(),
                    why,
                })?;
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
                return Err(RecordError::MissingType);
            };
            i += 1;
            let upper = String::from_utf8_lossy(&tok.text).to_ascii_uppercase();
            if tok.quoted {
                return Err(RecordError::Quoted(tok.shown()));
            }
            if upper.starts_with(|c: char| c.is_ascii_digit()) {
                if ttl.is_some() {
                    return Err(RecordError::SecondTtl(tok.shown()));
                }
                ttl = Some(parse_ttl(tok)?);
                continue;
            }
            if is_class(&upper) {
                if class_seen {
                    return Err(RecordError::SecondClass(tok.shown()));
                }
                if upper != "IN" && upper != "CLASS1" {
                    return Err(RecordError::Class(upper));
                }
                class_seen = true;
                continue;
            }
            match parse_type(&upper) {
                Some(t) => break t,
                None => {
                    return Err(RecordError::UnknownType {
                        shown: tok.shown(),
                        continues_owner: entry.blank_owner && i == 1,
                    });
                }
            }
        };
        let data = parse_rdata(rtype, &tokens[i..], ctx.origin.as_ref())?;
        if rtype == RecordType::SOA
            && let Some(first) = self.data.soa
        {
            return Err(RecordError::SecondSoa(self.data.location(first)));
        }
        if self.data.recs.len() >= self.limits.records {
            return Err(RecordError::TooManyRecords(self.limits.records));
        }
        let ttl = ttl.or(ctx.default_ttl).unwrap_or(DEFAULT_TTL);
        self.data.add(owner, ttl, &data, ctx.file, entry.line)?;
        Ok(())
    }
}
