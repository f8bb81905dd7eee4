//! Zone files (`mxkit::dns::zone`): parsing (RFC 1035 section 5 and the
//! directives), errors with exact `FILE:LINE`, authoritative answers (RFC 1034
//! section 4.3.2, RFC 4592 wildcards, RFC 2308 negative TTLs), a property test
//! that no input panics, and cross-checks against a real knotd serving the
//! same zone text.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use mxkit::dns::zone::{Zone, ZoneError, ZoneSet};
use mxkit::dns::{
    Lookup, Name, Outcome, Overlay, RData, Record, RecordType, Response, Status, TempError, resolve,
};
use proptest::prelude::*;
use testbed::knot::Knot;

// ---------------------------------------------------------------------------
// Helpers.

fn n(s: &str) -> Name {
    let s = if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    };
    Name::from_ascii(&s).unwrap()
}

fn parse(text: &str) -> Zone {
    ZoneSet::from_str(text, "test.zone", None).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(label: &str, text: &str) -> String {
    match ZoneSet::from_str(text, label, None) {
        Ok(z) => panic!("expected an error, got {} records", z.records().len()),
        Err(e) => e.to_string(),
    }
}

fn set(texts: &[&str]) -> ZoneSet {
    let mut set = ZoneSet::new();
    for (i, text) in texts.iter().enumerate() {
        set.push(
            ZoneSet::from_str(text, &format!("zone{i}"), None).unwrap_or_else(|e| panic!("{e}")),
        );
    }
    set
}

/// A record as one lowercase line: `name ttl TYPE rdata`.
fn line(r: &Record) -> String {
    format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data).to_lowercase()
}

fn lines(records: &[Record]) -> Vec<String> {
    records.iter().map(line).collect()
}

fn ask(set: &ZoneSet, name: &str, rtype: RecordType) -> Response {
    set.answer(&n(name), rtype)
        .unwrap_or_else(|| panic!("{name} {rtype}: not answered from the zones"))
}

/// A folder removed on drop (the test writes zone files for $INCLUDE).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mxkit-zone-{tag}-{}-{k}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const EXAMPLE: &str = r#"; example.test: the zone most answer tests use
$ORIGIN example.test.
$TTL 3600
@       IN SOA ns1 hostmaster (
                2026010101 ; serial
                7200 900 1209600
                300 )      ; minimum
        IN NS  ns1
        IN MX  10 mx1
        IN MX  20 mx2.example.test.
ns1     IN A   192.0.2.53
mx1 300 IN A   192.0.2.10
mx1     IN AAAA 2001:db8::10
mx2     IN A   192.0.2.11
www     IN CNAME web
web     IN CNAME host
host    IN A   192.0.2.80
dangling IN CNAME nowhere
away    IN CNAME t.other.test.
outside IN CNAME mail.example.net.
loop1   IN CNAME loop2
loop2   IN CNAME loop1
txt     IN TXT "v=spf1 -all" "second; string"
x.y.deep IN A  192.0.2.99
*.wild  IN MX  10 mx1
*.wild  IN TXT "wild"
cw.wild IN A   192.0.2.7
*.alias IN CNAME host
sub     IN NS  ns.sub
ns.sub  IN A   192.0.2.54
mixed   100 IN A 192.0.2.1
mixed   200 IN A 192.0.2.2
dup     IN A   192.0.2.3
dup     IN A   192.0.2.3
"#;

const OTHER: &str = "$ORIGIN other.test.
@ 600 IN SOA ns1.example.test. hostmaster.example.test. 1 7200 900 1209600 900
@ IN NS ns1.example.test.
t IN A 192.0.2.20
";

// ---------------------------------------------------------------------------
// Parsing.

#[test]
fn rfc1035_directives_relative_names_and_owner_inheritance() {
    let z = parse(EXAMPLE);
    assert_eq!(z.origin, n("example.test"));
    let first = &z.records()[0];
    assert_eq!(first.record.name, n("example.test"));
    assert_eq!(first.line, 4, "a record's line is where its entry starts");
    let RData::SOA(soa) = &first.record.data else {
        panic!("not an SOA")
    };
    assert_eq!(soa.mname, n("ns1.example.test"));
    assert_eq!(soa.rname, n("hostmaster.example.test"));
    assert_eq!(
        (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum),
        (2026010101, 7200, 900, 1209600, 300)
    );
    // Blank owner: the previous owner (the apex), on the line after the SOA's parentheses.
    assert_eq!(z.records()[1].record.name, n("example.test"));
    assert_eq!(z.records()[1].line, 8);
    assert_eq!(
        z.records()[2].record.data,
        RData::MX(hickory_proto::rr::rdata::MX::new(10, n("mx1.example.test")))
    );
    // Explicit TTL, $TTL otherwise.
    let mx1 = z
        .iter()
        .find(|r| r.record.name == n("mx1.example.test"))
        .unwrap();
    assert_eq!(mx1.record.ttl, 300);
    assert_eq!(z.records()[1].record.ttl, 3600);
    assert!(
        z.records()
            .iter()
            .all(|r| r.file.as_ref() == Path::new("test.zone"))
    );
    // File order is kept.
    let lines: Vec<u32> = z.records().iter().map(|r| r.line).collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
}

#[test]
fn rfc1035_ttl_and_class_in_either_order_and_ttl_units() {
    let z = parse(
        "$ORIGIN t.\n\
         a 3600 IN A 192.0.2.1\n\
         b IN 3600 A 192.0.2.2\n\
         c 1h30m A 192.0.2.3\n\
         d IN 1W A 192.0.2.4\n\
         e 2d A 192.0.2.5\n\
         f in a 192.0.2.6\n\
         g A 192.0.2.7\n\
         $TTL 5m\n\
         h A 192.0.2.8\n",
    );
    let ttls: Vec<(String, u32)> = z
        .records()
        .iter()
        .map(|r| (r.record.name.to_string(), r.record.ttl))
        .collect();
    assert_eq!(
        ttls,
        [
            ("a.t.", 3600),
            ("b.t.", 3600),
            ("c.t.", 5400),
            ("d.t.", 604800),
            ("e.t.", 172800),
            ("f.t.", 3600),
            ("g.t.", 3600), // no $TTL yet: Knot's default 3600, not the previous record's TTL
            ("h.t.", 300),
        ]
        .map(|(a, b)| (a.to_string(), b))
    );
}

#[test]
fn rfc1035_parentheses_quotes_comments_and_escapes() {
    let z = parse(concat!(
        "$ORIGIN t.\n",
        "a TXT ( \"one (not a paren)\" ; a comment ( inside\n",
        "        \"two; not a comment\"\n",
        "        ) ; after\n",
        "b TXT \"q\\\"uote\" \\065bc x\\;y \"back\\\\slash\" \"\\255\"\n",
        "c\\.d A 192.0.2.1 ; an escaped dot in a label\n",
        "e TXT \"line\n",
        "break\"\n",
        "f A 192.0.2.2\n",
        "g\tIN\tMX\t( 10\n",
        "    mx.g )\n",
    ));
    let txt = |i: usize| match &z.records()[i].record.data {
        RData::TXT(t) => t.txt_data.iter().map(|s| s.to_vec()).collect::<Vec<_>>(),
        other => panic!("not TXT: {other:?}"),
    };
    assert_eq!(
        txt(0),
        [
            b"one (not a paren)".to_vec(),
            b"two; not a comment".to_vec()
        ]
    );
    assert_eq!(z.records()[0].line, 2);
    assert_eq!(
        txt(1),
        [
            b"q\"uote".to_vec(),
            b"Abc".to_vec(),
            b"x;y".to_vec(),
            b"back\\slash".to_vec(),
            vec![255u8]
        ]
    );
    assert_eq!(z.records()[1].line, 5);
    let dotted = &z.records()[2].record.name;
    assert_eq!(dotted.iter().next(), Some(&b"c.d"[..]));
    assert_eq!(dotted.iter().count(), 2);
    assert_eq!(txt(3), [b"line\nbreak".to_vec()]);
    assert_eq!(z.records()[3].line, 7);
    assert_eq!(
        z.records()[4].line,
        9,
        "lines after a multi-line string still count"
    );
    assert_eq!(z.records()[5].line, 10);
    assert_eq!(z.records()[5].record.data.to_string(), "10 mx.g.t.");
}

#[test]
fn rfc1035_at_sign_and_absolute_names_and_crlf() {
    let z = parse("$ORIGIN t.\r\n@ MX 0 .\r\nwww.t. MX 10 @\r\n  A 192.0.2.9\r\nalias CNAME @\r\n");
    assert_eq!(z.records()[0].record.name, n("t"));
    assert_eq!(z.records()[0].record.data.to_string(), "0 .");
    assert_eq!(z.records()[1].record.data.to_string(), "10 t.");
    assert_eq!(z.records()[2].record.name, n("www.t"));
    assert_eq!(z.records()[2].line, 4);
    assert_eq!(z.records()[3].record.data.to_string(), "t.");
    assert_eq!(z.records().len(), 4);
}

#[test]
fn origin_comes_from_soa_then_first_origin_then_file_name() {
    // SOA owner wins, even over an earlier $ORIGIN.
    let z = ZoneSet::from_str(
        "$ORIGIN a.test.\nx A 192.0.2.1\n$ORIGIN test.\na SOA ns h 1 2 3 4 5\n",
        "f",
        None,
    )
    .unwrap();
    assert_eq!(z.origin, n("a.test"));
    // No SOA: the first $ORIGIN.
    let z = ZoneSet::from_str(
        "$ORIGIN b.test.\nx A 192.0.2.1\n$ORIGIN c.b.test.\ny A 192.0.2.2\n",
        "f",
        None,
    )
    .unwrap();
    assert_eq!(z.origin, n("b.test"));
    // Neither: the file name, which is also the origin of relative names.
    for label in ["dir/example.org.zone", "example.org.db", "db.example.org"] {
        let z = ZoneSet::from_str("www A 192.0.2.1\n", label, None).unwrap();
        assert_eq!(z.origin, n("example.org"), "{label}");
        assert_eq!(z.records()[0].record.name, n("www.example.org"), "{label}");
    }
    // The caller's origin.
    let z = ZoneSet::from_str("www A 192.0.2.1\n", "x", Some(n("given.test"))).unwrap();
    assert_eq!(z.origin, n("given.test"));
    // Nothing at all.
    assert_eq!(
        parse_err("records.txt", "www.example.org. A 192.0.2.1\n"),
        "records.txt: no zone origin: no SOA record, no $ORIGIN, and the file name is not a zone \
         name (example.org.zone, example.org.db or db.example.org)"
    );
    assert_eq!(
        parse_err("records.txt", "; comment\n\nwww A 192.0.2.1\n"),
        "records.txt:3: bad owner name \"www\": relative name but no origin is known (add $ORIGIN, \
         or end the name with a dot)"
    );
}

#[test]
fn include_is_relative_to_the_including_file_and_keeps_locations() {
    let dir = TempDir::new("include");
    dir.write(
        "inc/hosts.inc",
        "; hosts\nmx1 A 192.0.2.10\n\n  AAAA 2001:db8::10\n$ORIGIN deeper.example.test.\nin-deeper A 192.0.2.12\n",
    );
    dir.write(
        "inc/other.inc",
        "@ TXT \"at the include origin\"\nname A 192.0.2.13\n",
    );
    let main = dir.write(
        "example.test.zone",
        "$TTL 60\n@ SOA ns h 1 2 3 4 5\n$INCLUDE inc/hosts.inc\nafter A 192.0.2.11\n$INCLUDE \"inc/other.inc\" sub.example.test.\n  A 192.0.2.14\n",
    );
    let set = ZoneSet::load(std::slice::from_ref(&main)).unwrap();
    let z = &set.zones()[0];
    let got: Vec<(String, String, u32, u32)> = z
        .records()
        .iter()
        .map(|r| {
            (
                r.record.name.to_string(),
                r.file.strip_prefix(&dir.0).unwrap().display().to_string(),
                r.line,
                r.record.ttl,
            )
        })
        .collect();
    let want = [
        ("example.test.", "example.test.zone", 2, 60),
        ("mx1.example.test.", "inc/hosts.inc", 2, 60),
        ("mx1.example.test.", "inc/hosts.inc", 4, 60),
        ("in-deeper.deeper.example.test.", "inc/hosts.inc", 6, 60),
        // The include's $ORIGIN does not leak into the parent.
        ("after.example.test.", "example.test.zone", 4, 60),
        ("sub.example.test.", "inc/other.inc", 1, 60),
        ("name.sub.example.test.", "inc/other.inc", 2, 60),
        // The parent's previous owner is back after the include.
        ("after.example.test.", "example.test.zone", 6, 60),
    ]
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c, d));
    assert_eq!(got, want);
    assert_eq!(
        z.records()[2].location(),
        format!("{}:4", dir.0.join("inc/hosts.inc").display())
    );
}

#[test]
fn include_errors_cite_the_right_file_and_line() {
    let dir = TempDir::new("include-err");
    dir.write("bad.inc", "ok A 192.0.2.1\n\nbad A 192.0.2.300\n");
    let main = dir.write(
        "example.test.zone",
        "@ SOA ns h 1 2 3 4 5\n$INCLUDE bad.inc\n",
    );
    let err = ZoneSet::load(&[main]).unwrap_err();
    assert_eq!(err.file, dir.0.join("bad.inc"));
    assert_eq!(err.line, 3);
    assert_eq!(err.message, "bad IPv4 address \"192.0.2.300\" in A record");

    let main = dir.write(
        "missing.test.zone",
        "@ SOA ns h 1 2 3 4 5\n\n$INCLUDE nothere.inc\n",
    );
    let err = ZoneSet::load(std::slice::from_ref(&main)).unwrap_err();
    assert_eq!((err.file.clone(), err.line), (main, 3));
    assert!(
        err.message.starts_with(&format!(
            "cannot read included file {}: ",
            dir.0.join("nothere.inc").display()
        )),
        "{err}"
    );

    let looped = dir.write("loop.test.zone", "x A 192.0.2.1\n$INCLUDE loop.test.zone\n");
    let err = ZoneSet::load(&[looped]).unwrap_err();
    assert!(err.message.contains("nested more than"), "{err}");
}

/// One entry (a record or directive with its parenthesised lines and
/// comments) or line is at most 1 MiB: an unclosed `(` or `"` or a file
/// with no line end is refused at the entry where it starts, naming the
/// limit, instead of being read whole.
#[test]
fn an_entry_or_line_over_one_mib_is_refused_naming_the_limit() {
    let limit = "exceeds the limit of 1048576 bytes for one record or directive";
    let head = "$ORIGIN t.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n";
    // An unclosed parenthesis, then many lines.
    let text = format!("{head}a TXT ( \"x\"\n{}", "b A 192.0.2.1\n".repeat(100_000));
    let err = parse_err("t.zone", &text);
    assert!(err.starts_with("t.zone:4: this entry "), "{err}");
    assert!(err.contains(limit), "{err}");
    assert!(err.contains("the '(' of line 4 is never closed?"), "{err}");
    // An unclosed quote.
    let text = format!("{head}a TXT \"x\n{}", "b A 192.0.2.1\n".repeat(100_000));
    let err = parse_err("t.zone", &text);
    assert!(err.starts_with("t.zone:4: this entry "), "{err}");
    // One comment line of 2 MiB.
    let text = format!("{head}; {}\nb A 192.0.2.1\n", "c".repeat(2 << 20));
    let err = parse_err("t.zone", &text);
    assert!(err.starts_with("t.zone:4: this entry "), "{err}");
    assert!(err.contains(limit), "{err}");
    // No line end at all (as /dev/zero would be, were it a regular file).
    let text = format!("{head}{}", "\0".repeat(3 << 20));
    let err = parse_err("t.zone", &text);
    assert!(err.starts_with("t.zone:4: this entry "), "{err}");
    // Just under the limit: the longest RDATA there is (65535 octets, as
    // `\DDD` in 255-octet strings), and a long comment, load.
    let string = format!("\"{}\"", "\\065".repeat(255));
    let txt = vec![string; 256].join(" ");
    let text = format!(
        "{head}big TXT ( {txt} )\n; {}\nb A 192.0.2.1\n",
        "c".repeat(1000 << 10)
    );
    let z = parse(&text);
    assert_eq!(z.records().len(), 4);
    match &z.records()[2].record.data {
        RData::TXT(t) => assert_eq!(t.txt_data.len(), 256),
        other => panic!("not TXT: {other:?}"),
    }
}

/// The other limits, made small here so that the test is quick: each one
/// is an error naming it, at the line where it was hit.
#[test]
fn zone_limits_are_errors_naming_the_limit() {
    use mxkit::dns::zone::{Limits, MAX_ENTRY, MAX_INCLUDES, MAX_RECORDS, MAX_ZONE_BYTES};
    let defaults = Limits::default();
    assert_eq!(
        (
            defaults.bytes,
            defaults.records,
            defaults.entry,
            defaults.includes,
            defaults.depth
        ),
        (MAX_ZONE_BYTES, MAX_RECORDS, MAX_ENTRY, MAX_INCLUDES, 16)
    );
    assert_eq!(
        (MAX_ZONE_BYTES, MAX_RECORDS, MAX_ENTRY),
        (1 << 30, 20_000_000, 1 << 20)
    );
    let head = "$ORIGIN t.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n";
    // Records.
    let text = format!("{head}{}", "b A 192.0.2.1\n".repeat(20));
    let limits = Limits {
        records: 10,
        ..Limits::default()
    };
    let err = Zone::parse_with(&text, "t.zone", None, &limits).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.zone:12: the zone exceeds the limit of 10 records"
    );
    assert!(Zone::parse_with(&text, "t.zone", None, &Limits::default()).is_ok());
    // One entry, at a limit of 100 bytes.
    let limits = Limits {
        entry: 100,
        ..Limits::default()
    };
    let text = format!("{head}a TXT \"{}\"\n", "x".repeat(120));
    let err = Zone::parse_with(&text, "t.zone", None, &limits).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.zone:4: this entry exceeds the limit of 100 bytes for one record or directive \
         with its parenthesised lines and comments"
    );
    let text = format!("{head}a TXT \"{}\"\n", "x".repeat(80));
    assert!(Zone::parse_with(&text, "t.zone", None, &limits).is_ok());

    // Bytes, includes and their nesting, across files.
    let dir = TempDir::new("limits");
    dir.write("one.inc", "x A 192.0.2.1\n");
    dir.write("big.inc", &"y A 192.0.2.2\n".repeat(100));
    let main = dir.write(
        "t.zone",
        &format!("{head}$INCLUDE one.inc\n$INCLUDE one.inc\n$INCLUDE one.inc\n$INCLUDE big.inc\n"),
    );
    let limits = Limits {
        includes: 2,
        ..Limits::default()
    };
    let err = Zone::load_with(&main, &limits).unwrap_err();
    assert_eq!((err.file.clone(), err.line), (main.clone(), 6));
    assert_eq!(
        err.message,
        "$INCLUDE exceeds the limit of 2 included files for one zone"
    );
    let limits = Limits {
        bytes: 1000,
        ..Limits::default()
    };
    let err = Zone::load_with(&main, &limits).unwrap_err();
    assert_eq!((err.file.clone(), err.line), (main.clone(), 7));
    assert_eq!(
        err.message,
        format!(
            "cannot read included file {}: exceeds the limit of 1000 bytes for a zone file and \
             the files it includes",
            dir.0.join("big.inc").display()
        )
    );
    let err = Zone::load_with(
        &main,
        &Limits {
            bytes: 100,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot read zone file: exceeds the limit of 100 bytes for a zone file and the \
             files it includes",
            main.display()
        )
    );
    assert_eq!(Zone::load(&main).unwrap().records().len(), 105);
    // A file that includes itself twice: stopped by the depth, whichever
    // limit comes first, not after 2^16 reads.
    let fan = dir.write("fan.zone", &format!("{head}$INCLUDE fan.inc\n"));
    dir.write("fan.inc", "$INCLUDE fan.inc\n$INCLUDE fan.inc\n");
    let err = Zone::load(&fan).unwrap_err();
    assert!(
        err.message.contains("exceeds the limit of 16 nested files"),
        "{err}"
    );
    // A zone file or an included one is a regular file.
    let dev = dir.write("dev.zone", &format!("{head}$INCLUDE /dev/zero\n"));
    let err = Zone::load(&dev).unwrap_err();
    assert_eq!(
        err.message,
        "cannot read included file /dev/zero: not a regular file"
    );
    let err = Zone::load(Path::new("/dev/zero")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/dev/zero: cannot read zone file: not a regular file"
    );
}

/// The whole-zone byte limit at its default, from the file's size: a
/// sparse file of 1 GiB and one byte is refused before anything is read.
#[test]
fn a_zone_file_over_one_gib_is_refused_before_it_is_read() {
    let dir = TempDir::new("huge");
    let path = dir.0.join("huge.test.zone");
    std::fs::File::create(&path)
        .unwrap()
        .set_len((1 << 30) + 1)
        .unwrap();
    let start = Instant::now();
    let err = ZoneSet::load(std::slice::from_ref(&path)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot read zone file: exceeds the limit of 1073741824 bytes for a zone file \
             and the files it includes",
            path.display()
        )
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn unreadable_file_names_the_file() {
    let err = ZoneSet::load(&[PathBuf::from("/nonexistent/dir/example.org.zone")]).unwrap_err();
    assert_eq!(err.line, 0);
    assert!(
        err.to_string()
            .starts_with("/nonexistent/dir/example.org.zone: cannot read zone file: "),
        "{err}"
    );
}

// One table of broken files and the exact `FILE:LINE: message` each gives:
// long because the table is, and a table reads best whole.
#[test]
fn errors_cite_file_and_line_exactly() {
    let soa = "$ORIGIN bad.\n@ SOA ns h 1 2 3 4 5\n";
    let cases: &[(&str, &str)] = &[
        (
            "$ORIGIN bad.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n; comment\n\nns A 192.0.2.1\nwww A 300.1.1.1\n",
            "examples/bad.zone:7: bad IPv4 address \"300.1.1.1\" in A record",
        ),
        (
            "\n\nwww AAAA 2001:db8::g\n",
            "examples/bad.zone:3: bad IPv6 address \"2001:db8::g\" in AAAA record",
        ),
        (
            "www FOO bar\n",
            "examples/bad.zone:1: unknown record type \"FOO\"",
        ),
        (
            "www A 192.0.2.1\n  mail A 192.0.2.2\n",
            "examples/bad.zone:2: unknown record type \"mail\" (the line starts with a blank, so it \
             continues the previous owner: a name must start at the first column)",
        ),
        (
            "www MX 70000 mx\n",
            "examples/bad.zone:1: bad preference \"70000\" in MX record (0-65535)",
        ),
        (
            "www MX 10\n",
            "examples/bad.zone:1: MX record needs 2 fields (preference and exchange), found 1",
        ),
        (
            "x A 192.0.2.1\nwww MX ( 10\n mx\n",
            "examples/bad.zone:2: '(' is never closed",
        ),
        (
            "www A 192.0.2.1 )\n",
            "examples/bad.zone:1: ')' without a matching '('",
        ),
        (
            "x A 192.0.2.1\n\nwww TXT \"open\n\n",
            "examples/bad.zone:3: quoted string is never closed",
        ),
        (
            "www 1x A 192.0.2.1\n",
            "examples/bad.zone:1: bad TTL \"1x\"",
        ),
        (
            "$TTL forever\n",
            "examples/bad.zone:1: $TTL: bad TTL \"forever\"",
        ),
        (
            "www 4294967296 A 192.0.2.1\n",
            "examples/bad.zone:1: TTL \"4294967296\" is too large",
        ),
        (
            "www 2147483648 A 192.0.2.1\n",
            "examples/bad.zone:1: TTL \"2147483648\" is above 2147483647 (RFC 2181 section 8)",
        ),
        (
            "www CH A 192.0.2.1\n",
            "examples/bad.zone:1: class CH is not supported (only IN)",
        ),
        ("www 300 IN\n", "examples/bad.zone:1: missing record type"),
        (
            "  A 192.0.2.1\n",
            "examples/bad.zone:1: the line starts with a blank but there is no previous owner name (a name must start at the first column)",
        ),
        (
            "a..b A 192.0.2.1\n",
            "examples/bad.zone:1: bad owner name \"a..b\": empty label",
        ),
        (
            "www CNAME x..y\n",
            "examples/bad.zone:1: bad target \"x..y\" in CNAME record: empty label",
        ),
        (
            "www TXT \"\\999\"\n",
            "examples/bad.zone:1: TXT record: bad string \"\\\\999\": escape \\999 is above 255",
        ),
        (
            "$GENERATE 1-10 h$ A 192.0.2.$\n",
            "examples/bad.zone:1: $GENERATE (a BIND extension) is not supported",
        ),
        (
            "$FOO x\n",
            "examples/bad.zone:1: unknown directive \"$FOO\"",
        ),
        ("$ORIGIN\n", "examples/bad.zone:1: $ORIGIN needs one name"),
        (
            "www DNAME x\n",
            "examples/bad.zone:1: bad DNAME record: unsupported RecordType: DNAME",
        ),
        (
            "www RRSIG A 8 2 300 20260101000000 20250101000000 1 bad. AAAA\n",
            "examples/bad.zone:1: RRSIG records are not supported in text form (load the unsigned zone, \
             or write them as \"TYPE46 \\# LENGTH HEX\", RFC 3597)",
        ),
        (
            "www TYPE65280 foo\n",
            "examples/bad.zone:1: no text form known for TYPE65280: write it as \"TYPE65280 \\# LENGTH HEX\" (RFC 3597)",
        ),
        (
            "www TYPE1 \\# 3 c0000201\n",
            "examples/bad.zone:1: A record: \\# says 3 bytes but the hex has 4",
        ),
        (
            "www TYPE1 \\# 3 c00\n",
            "examples/bad.zone:1: A record: odd number of hex digits",
        ),
        (
            "www TYPE1 \\# 3 c00002\n",
            "examples/bad.zone:1: bad RDATA for A in \\# form: unexpected end of input reached",
        ),
    ];
    for (text, want) in cases {
        let got = parse_err("examples/bad.zone", text);
        assert_eq!(&got, want, "for {text:?}");
    }
    // Zone-level checks, with the SOA giving the origin.
    assert_eq!(
        parse_err(
            "z.zone",
            &format!("{soa}www A 192.0.2.1\nwww.elsewhere. A 192.0.2.2\n")
        ),
        "z.zone:4: www.elsewhere. is outside the zone bad. (origin from the SOA record)"
    );
    assert_eq!(
        parse_err("z.zone", "www.example.org. A 192.0.2.1\n"),
        "z.zone:1: www.example.org. is outside the zone z. (origin from the file name)"
    );
    assert_eq!(
        parse_err("z.zone", &format!("{soa}www CNAME a\nwww A 192.0.2.1\n")),
        "z.zone:4: www.bad. has a CNAME (z.zone:3) and a A record (z.zone:4): a CNAME must be alone \
         at its name (RFC 1034 section 3.6.2)"
    );
    assert_eq!(
        parse_err("z.zone", &format!("{soa}www A 192.0.2.1\nwww CNAME a\n")),
        "z.zone:4: www.bad. has a CNAME (z.zone:4) and a A record (z.zone:3): a CNAME must be alone \
         at its name (RFC 1034 section 3.6.2)"
    );
    assert_eq!(
        parse_err("z.zone", &format!("{soa}www CNAME a\nwww CNAME b\n")),
        "z.zone:4: www.bad. has a CNAME (z.zone:3) and a second CNAME (z.zone:4): a CNAME must be \
         alone at its name (RFC 1034 section 3.6.2)"
    );
    assert_eq!(
        parse_err("z.zone", &format!("{soa}\n@ SOA ns h 2 2 3 4 5\n")),
        "z.zone:4: a second SOA record (the first is at z.zone:2)"
    );
    assert_eq!(parse_err("z.zone", "; nothing\n"), "z.zone: no records");
    // ZoneError fields.
    let e: ZoneError = ZoneSet::from_str("\nwww A 1.2.3\n", "f.zone", None).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (Path::new("f.zone"), 2));
}

#[test]
fn other_types_go_through_hickory_and_generic_form_works() {
    let z = parse(concat!(
        "$ORIGIN t.\n",
        "@ CAA 0 issue \"ca.example.net; account=1\"\n",
        "_25._tcp.mx TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
        "host SSHFP 4 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
        "host HINFO \"PC\" \"Linux\"\n",
        "_sip._udp SRV 0 5 5060 sip\n",
        "r PTR host\n",
        "spf SPF \"v=spf1 -all\"\n",
        "g TYPE1 \\# 4 C0000201\n",
        "u TYPE65280 \\# 3 abcdef\n",
        "e TYPE65281 \\# 0\n",
    ));
    let types: Vec<String> = z
        .records()
        .iter()
        .map(|r| r.record.record_type().to_string())
        .collect();
    assert_eq!(&types[..6], ["CAA", "TLSA", "SSHFP", "HINFO", "SRV", "PTR"]);
    assert_eq!(z.records()[4].record.data.to_string(), "0 5 5060 sip.t.");
    assert_eq!(z.records()[5].record.data.to_string(), "host.t.");
    match &z.records()[6].record.data {
        RData::Unknown { code, rdata } => {
            assert_eq!(u16::from(*code), 99);
            assert_eq!(rdata.anything, b"\x0bv=spf1 -all");
        }
        other => panic!("SPF as {other:?}"),
    }
    assert_eq!(z.records()[7].record.data.to_string(), "192.0.2.1");
    match &z.records()[8].record.data {
        RData::Unknown { code, rdata } => {
            assert_eq!(u16::from(*code), 65280);
            assert_eq!(rdata.anything, [0xab, 0xcd, 0xef]);
        }
        other => panic!("TYPE65280 as {other:?}"),
    }
}

#[test]
fn txt_strings_are_at_most_255_bytes() {
    let long = "x".repeat(256);
    assert_eq!(
        parse_err("l.zone", &format!("\n@ TXT \"{long}\"\n")),
        "l.zone:2: TXT record: string of 256 bytes, longer than 255 (split it into several quoted strings)"
    );
    let ok = "x".repeat(255);
    parse(&format!("$ORIGIN t.\n@ TXT \"{ok}\" \"{ok}\"\n"));
}

// ---------------------------------------------------------------------------
// Answering.

#[test]
fn rrset_of_the_type_with_file_ttls() {
    let s = set(&[EXAMPLE, OTHER]);
    let r = ask(&s, "example.test", RecordType::MX);
    assert_eq!(r.status, Status::NoError);
    assert_eq!(
        lines(&r.answers),
        [
            "example.test. 3600 mx 10 mx1.example.test.",
            "example.test. 3600 mx 20 mx2.example.test."
        ]
    );
    assert_eq!(&*r.server, "zone zone0");
    assert!(!r.authentic);
    let r = ask(&s, "MX1.Example.TEST.", RecordType::A);
    assert_eq!(lines(&r.answers), ["mx1.example.test. 300 a 192.0.2.10"]);
    // A name that is not fully qualified is read as absolute.
    let r = s
        .answer(
            &Name::from_ascii("mx1.example.test").unwrap(),
            RecordType::AAAA,
        )
        .unwrap();
    assert_eq!(
        lines(&r.answers),
        ["mx1.example.test. 3600 aaaa 2001:db8::10"]
    );
    // The records of one RRset share the TTL of the last one (as knotd does);
    // the zone keeps what the file says.
    let r = ask(&s, "mixed.example.test", RecordType::A);
    assert_eq!(
        lines(&r.answers),
        [
            "mixed.example.test. 200 a 192.0.2.1",
            "mixed.example.test. 200 a 192.0.2.2"
        ]
    );
    let kept: Vec<u32> = s.zones()[0]
        .records()
        .iter()
        .filter(|r| r.record.name == n("mixed.example.test"))
        .map(|r| r.record.ttl)
        .collect();
    assert_eq!(kept, [100, 200]);
    // Exact duplicates count once.
    assert_eq!(ask(&s, "dup.example.test", RecordType::A).answers.len(), 1);
}

#[test]
fn rfc1034_cname_chain_is_followed_inside_the_zone_set() {
    let s = set(&[EXAMPLE, OTHER]);
    let r = ask(&s, "www.example.test", RecordType::A);
    assert_eq!(r.status, Status::NoError);
    assert_eq!(
        lines(&r.answers),
        [
            "www.example.test. 3600 cname web.example.test.",
            "web.example.test. 3600 cname host.example.test.",
            "host.example.test. 3600 a 192.0.2.80",
        ]
    );
    // Asking for the CNAME itself: just the CNAME.
    let r = ask(&s, "www.example.test", RecordType::CNAME);
    assert_eq!(
        lines(&r.answers),
        ["www.example.test. 3600 cname web.example.test."]
    );
    // Into another loaded zone: followed (RFC 1034 section 4.3.2 searches the available zones).
    let r = ask(&s, "away.example.test", RecordType::A);
    assert_eq!(
        lines(&r.answers),
        [
            "away.example.test. 3600 cname t.other.test.",
            "t.other.test. 3600 a 192.0.2.20"
        ]
    );
    assert_eq!(&*r.server, "zone zone0, zone1");
    // To a name that does not exist: NXDOMAIN with the CNAME (RFC 6604), the negative TTL of the target's zone.
    let r = ask(&s, "dangling.example.test", RecordType::A);
    assert_eq!(r.status, Status::NxDomain);
    assert_eq!(
        lines(&r.answers),
        ["dangling.example.test. 3600 cname nowhere.example.test."]
    );
    assert_eq!(r.negative_ttl, Some(300));
    // Out of every zone: the CNAME alone, for the caller to chase.
    let r = ask(&s, "outside.example.test", RecordType::MX);
    assert_eq!(r.status, Status::NoError);
    assert_eq!(
        lines(&r.answers),
        ["outside.example.test. 3600 cname mail.example.net."]
    );
    assert_eq!(r.negative_ttl, None);
    // A loop stops where it closes.
    let r = ask(&s, "loop1.example.test", RecordType::A);
    assert_eq!(r.status, Status::NoError);
    assert_eq!(r.answers.len(), 2);
}

#[test]
fn resolve_through_the_overlay() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let overlay = Overlay {
        zones: set(&[EXAMPLE, OTHER]),
        fallback: None,
    };
    let a = rt.block_on(resolve(&overlay, &n("www.example.test"), RecordType::A));
    assert_eq!(
        a.cname_chain,
        [n("web.example.test"), n("host.example.test")]
    );
    assert_eq!(
        lines(a.outcome.records()),
        ["host.example.test. 3600 a 192.0.2.80"]
    );
    let a = rt.block_on(resolve(
        &overlay,
        &n("outside.example.test"),
        RecordType::MX,
    ));
    assert_eq!(
        a.outcome,
        Outcome::Temporary(TempError::Offline("mail.example.net.".into()))
    );
    let a = rt.block_on(resolve(&overlay, &n("loop1.example.test"), RecordType::A));
    assert!(
        matches!(a.outcome, Outcome::Temporary(TempError::CnameLoop(_))),
        "{:?}",
        a.outcome
    );
    let a = rt.block_on(resolve(&overlay, &n("nope.example.test"), RecordType::MX));
    assert_eq!(
        a.outcome,
        Outcome::NxDomain {
            negative_ttl: Some(300)
        }
    );
    let a = rt.block_on(resolve(&overlay, &n("mx2.example.test"), RecordType::MX));
    assert_eq!(
        a.outcome,
        Outcome::NoData {
            negative_ttl: Some(300)
        }
    );
    // Outside every zone, offline: temporary.
    let r = rt.block_on(overlay.query(&n("example.com"), RecordType::MX));
    assert_eq!(
        r.status,
        Status::Temporary(TempError::Offline("example.com.".into()))
    );
}

#[test]
fn rfc2308_nodata_empty_non_terminal_and_nxdomain() {
    let s = set(&[EXAMPLE]);
    // The name exists without the type.
    let r = ask(&s, "mx2.example.test", RecordType::MX);
    assert_eq!(
        (r.status, r.answers.len(), r.negative_ttl),
        (Status::NoError, 0, Some(300))
    );
    // Empty non-terminals: names above x.y.deep (RFC 8020: they exist).
    for name in ["y.deep.example.test", "deep.example.test"] {
        let r = ask(&s, name, RecordType::A);
        assert_eq!((r.status, r.answers.len()), (Status::NoError, 0), "{name}");
    }
    // Below a name that does not exist.
    let r = ask(&s, "z.y.deep.example.test", RecordType::A);
    assert_eq!(r.status, Status::NxDomain);
    let r = ask(&s, "nope.example.test", RecordType::A);
    assert_eq!((r.status, r.negative_ttl), (Status::NxDomain, Some(300)));
    // The negative TTL is min(SOA TTL, MINIMUM).
    let s = set(&["$ORIGIN m.\n@ 60 SOA ns h 1 2 3 4 600\n"]);
    assert_eq!(ask(&s, "x.m", RecordType::A).negative_ttl, Some(60));
    // No SOA: no negative TTL.
    let s = set(&["$ORIGIN m.\nwww A 192.0.2.1\n"]);
    let r = ask(&s, "x.m", RecordType::A);
    assert_eq!((r.status, r.negative_ttl), (Status::NxDomain, None));
}

#[test]
fn rfc4592_wildcards() {
    let s = set(&[EXAMPLE]);
    let r = ask(&s, "anything.wild.example.test", RecordType::MX);
    assert_eq!(
        lines(&r.answers),
        ["anything.wild.example.test. 3600 mx 10 mx1.example.test."]
    );
    let r = ask(&s, "a.b.wild.example.test", RecordType::TXT);
    assert_eq!(lines(&r.answers), ["a.b.wild.example.test. 3600 txt wild"]);
    // The wildcard exists without the type: NODATA.
    let r = ask(&s, "anything.wild.example.test", RecordType::A);
    assert_eq!((r.status, r.answers.len()), (Status::NoError, 0));
    // A name that exists is never synthesized.
    let r = ask(&s, "cw.wild.example.test", RecordType::MX);
    assert_eq!((r.status, r.answers.len()), (Status::NoError, 0));
    // Below an existing name the closest encloser is that name, which has no "*" child.
    let r = ask(&s, "x.cw.wild.example.test", RecordType::MX);
    assert_eq!(r.status, Status::NxDomain);
    // The parent of the wildcard exists (empty non-terminal).
    let r = ask(&s, "wild.example.test", RecordType::MX);
    assert_eq!((r.status, r.answers.len()), (Status::NoError, 0));
    // The wildcard owner asked literally.
    let r = ask(&s, "*.wild.example.test", RecordType::MX);
    assert_eq!(
        lines(&r.answers),
        ["*.wild.example.test. 3600 mx 10 mx1.example.test."]
    );
    // A wildcard CNAME is synthesized and followed.
    let r = ask(&s, "q.alias.example.test", RecordType::A);
    assert_eq!(
        lines(&r.answers),
        [
            "q.alias.example.test. 3600 cname host.example.test.",
            "host.example.test. 3600 a 192.0.2.80"
        ]
    );
}

#[test]
fn delegations_are_not_answered() {
    let s = set(&[EXAMPLE]);
    for name in [
        "sub.example.test",
        "ns.sub.example.test",
        "deep.below.sub.example.test",
    ] {
        for t in [RecordType::A, RecordType::NS, RecordType::MX] {
            assert!(s.answer(&n(name), t).is_none(), "{name} {t}");
        }
    }
    // DS belongs to the parent side of the cut.
    let r = ask(&s, "sub.example.test", RecordType::DS);
    assert_eq!((r.status, r.answers.len()), (Status::NoError, 0));
    // Outside every zone.
    assert!(s.answer(&n("example.com"), RecordType::A).is_none());
    assert!(s.answer(&n("test"), RecordType::A).is_none());
}

#[test]
fn the_longest_zone_wins() {
    let child = "$ORIGIN sub.example.test.\n@ SOA ns h 1 2 3 4 30\n@ NS ns\nns A 192.0.2.54\nmail A 192.0.2.55\n";
    let s = set(&[EXAMPLE, child, OTHER]);
    let r = ask(&s, "mail.sub.example.test", RecordType::A);
    assert_eq!(
        lines(&r.answers),
        ["mail.sub.example.test. 3600 a 192.0.2.55"]
    );
    assert_eq!(&*r.server, "zone zone1");
    let r = ask(&s, "nope.sub.example.test", RecordType::A);
    assert_eq!((r.status, r.negative_ttl), (Status::NxDomain, Some(30)));
    let r = ask(&s, "sub.example.test", RecordType::NS);
    assert_eq!(
        lines(&r.answers),
        ["sub.example.test. 3600 ns ns.sub.example.test."]
    );
    assert_eq!(
        &*ask(&s, "host.example.test", RecordType::A).server,
        "zone zone0"
    );
    assert_eq!(s.zones().len(), 3);
    assert!(!s.is_empty());
    assert!(ZoneSet::new().is_empty());
}

#[test]
fn two_files_for_one_zone_are_an_error_in_load() {
    let dir = TempDir::new("dup");
    let a = dir.write("a/example.test.zone", "www A 192.0.2.1\n");
    let b = dir.write("b/example.test.zone", "www A 192.0.2.2\n");
    let err = ZoneSet::load(&[a.clone(), b.clone()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: zone example.test. is already loaded from {}",
            b.display(),
            a.display()
        )
    );
}

#[test]
fn a_100k_record_zone_loads_and_answers_fast() {
    let mut text = String::from("$ORIGIN big.test.\n$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n");
    for i in 0..100_000u32 {
        text.push_str(&format!("h{i}.d{} MX 10 mx{}\n", i % 1000, i % 7));
    }
    let start = Instant::now();
    let mut s = ZoneSet::new();
    s.push(ZoneSet::from_str(&text, "big.test.zone", None).unwrap());
    let loaded = start.elapsed();
    let start = Instant::now();
    for i in 0..20_000u32 {
        let r = ask(&s, &format!("h{i}.d{}.big.test", i % 1000), RecordType::MX);
        assert_eq!(r.answers.len(), 1);
        let r = ask(&s, &format!("x{i}.d{}.big.test", i % 1000), RecordType::MX);
        assert_eq!(r.status, Status::NxDomain);
    }
    let answered = start.elapsed();
    // Generous bounds (unoptimized builds on a busy machine): a linear scan
    // per question would take minutes.
    assert!(loaded < Duration::from_secs(30), "load took {loaded:?}");
    assert!(
        answered < Duration::from_secs(20),
        "40k answers took {answered:?}"
    );
}

// ---------------------------------------------------------------------------
// No input panics.

fn zoneish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("$ORIGIN".to_string()),
        Just("$TTL".to_string()),
        Just("$INCLUDE".to_string()),
        Just("@".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("\"".to_string()),
        Just(";".to_string()),
        Just("\\".to_string()),
        Just("\\#".to_string()),
        Just("\n".to_string()),
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("IN".to_string()),
        Just("*".to_string()),
        prop::sample::select(vec![
            "A",
            "AAAA",
            "MX",
            "NS",
            "CNAME",
            "SOA",
            "TXT",
            "SRV",
            "PTR",
            "CAA",
            "TLSA",
            "SSHFP",
            "HINFO",
            "NAPTR",
            "SVCB",
            "HTTPS",
            "SPF",
            "TYPE1",
            "TYPE65280",
            "OPENPGPKEY",
            "CSYNC",
            "CERT",
            "NULL",
            "ANAME",
            "SMIMEA",
            "DS",
            "ANY",
        ])
        .prop_map(str::to_string),
        "[0-9]{1,12}[smhdw]?".prop_map(|s| s),
        "[a-z0-9*_.-]{1,20}\\.?".prop_map(|s| s),
        "[0-9a-f]{1,8}".prop_map(|s| s),
        "\\\\[0-9]{3}".prop_map(|s| s),
        "\\PC{0,6}".prop_map(|s| s),
    ];
    prop::collection::vec(token, 0..60).prop_map(|parts| parts.join(" ").replace(" \n ", "\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,300}") {
        let _ = ZoneSet::from_str(&text, "p.zone", None);
        let _ = ZoneSet::from_str(&text, "p", Some(n("p.test")));
    }

    #[test]
    fn zone_like_text_never_panics(text in zoneish(), q in "[a-z*]{1,3}(\\.[a-z*]{1,3}){0,3}") {
        for origin in [None, Some(n("example.test"))] {
            if let Ok(zone) = ZoneSet::from_str(&text, "example.test.zone", origin) {
                let mut s = ZoneSet::new();
                s.push(zone);
                let Ok(name) = Name::from_ascii(format!("{q}.example.test.")) else { continue };
                for t in [RecordType::A, RecordType::MX, RecordType::CNAME, RecordType::ANY, RecordType::DS] {
                    let _ = s.answer(&name, t);
                }
            }
        }
    }

    #[test]
    fn answers_are_well_formed_for_random_valid_zones(
        lines in prop::collection::vec(
            (
                prop::sample::select(vec!["@", "a", "b.a", "*", "*.a", "c", "d.c", "x.y.z", "sub", "h.sub"]),
                prop::sample::select(vec![
                    "A 192.0.2.1", "A 192.0.2.2", "AAAA 2001:db8::1", "MX 10 a", "MX 0 .", "TXT \"t\"",
                    "CNAME a", "CNAME b.a", "CNAME nowhere", "CNAME c", "CNAME out.example.", "NS ns.example.",
                ]),
                prop::option::of(0u32..100_000),
            ),
            0..25,
        ),
        extra in "[a-z*]{1,2}(\\.[a-z*]{1,2}){0,2}",
    ) {
        let mut text = String::from("$ORIGIN p.test.\n@ 60 SOA ns h 1 2 3 4 30\n");
        for (owner, rr, ttl) in &lines {
            match ttl {
                Some(t) => text.push_str(&format!("{owner} {t} {rr}\n")),
                None => text.push_str(&format!("{owner} {rr}\n")),
            }
        }
        // CNAME and other data together is an error; anything else loads.
        let Ok(zone) = ZoneSet::from_str(&text, "p.test.zone", None) else { return Ok(()) };
        let mut s = ZoneSet::new();
        s.push(zone);
        let mut names: Vec<String> = lines.iter().map(|(o, _, _)| o.replace('@', "").to_string()).collect();
        names.push(extra);
        for name in names {
            let name = if name.is_empty() { "p.test.".to_string() } else { format!("{name}.p.test.") };
            let Ok(q) = Name::from_ascii(&name) else { continue };
            for t in [RecordType::A, RecordType::MX, RecordType::CNAME, RecordType::TXT, RecordType::NS] {
                let Some(r) = s.answer(&q, t) else { continue };
                prop_assert!(matches!(r.status, Status::NoError | Status::NxDomain));
                prop_assert!(r.answers.len() <= mxkit::dns::MAX_CNAME_CHAIN + 1 + lines.len());
                // CNAMEs first, then at most one RRset of the asked type.
                let split = r.answers.iter().position(|a| a.record_type() != RecordType::CNAME || t == RecordType::CNAME);
                if let Some(i) = split {
                    prop_assert!(r.answers[i..].iter().all(|a| a.record_type() == t), "{name} {t}: {:?}", r.answers);
                    prop_assert_eq!(r.status.clone(), Status::NoError);
                }
                // The chain starts at the question.
                if let Some(first) = r.answers.first() {
                    prop_assert_eq!(&first.name, &q);
                }
                if r.status == Status::NxDomain || r.answers.is_empty() {
                    prop_assert_eq!(r.negative_ttl, Some(30));
                }
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = ZoneSet::from_str(&text, "p.zone", None);
    }
}

// ---------------------------------------------------------------------------
// Cross-checks with knotd.

/// What a server said: rcode, the answer RRsets as sorted lines, and the
/// negative TTL (the SOA TTL in the authority section).
#[derive(Debug, PartialEq)]
struct Said {
    rcode: &'static str,
    answers: BTreeSet<String>,
    negative_ttl: Option<u32>,
}

fn knot_said(knot: &Knot, name: &str, rtype: RecordType) -> Option<Said> {
    let m = knot.query(name, rtype);
    if !m.metadata.authoritative {
        // A referral (delegation): ours must not answer either.
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NoError,
            "{name} {rtype}"
        );
        assert!(m.answers.is_empty(), "{name} {rtype}");
        return None;
    }
    let rcode = match m.metadata.response_code {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::NXDomain => "NXDOMAIN",
        other => panic!("knotd said {other} to {name} {rtype}"),
    };
    let negative_ttl = m
        .authorities
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.ttl);
    Some(Said {
        rcode,
        answers: m.answers.iter().map(line).collect(),
        negative_ttl,
    })
}

fn ours_said(set: &ZoneSet, name: &str, rtype: RecordType) -> Option<Said> {
    let r = set.answer(&n(name), rtype)?;
    let rcode = match r.status {
        Status::NoError => "NOERROR",
        Status::NxDomain => "NXDOMAIN",
        other => panic!("ours said {other:?} to {name} {rtype}"),
    };
    Some(Said {
        rcode,
        answers: r.answers.iter().map(line).collect(),
        negative_ttl: r.negative_ttl,
    })
}

/// The answer holds a CNAME into another zone than the question's.
fn leaves_zone(set: &ZoneSet, question: &str, answers: &BTreeSet<String>) -> bool {
    let zone_of = |name: &Name| {
        set.zones()
            .iter()
            .filter(|z| z.origin.zone_of(name))
            .max_by_key(|z| z.origin.num_labels())
            .map(|z| z.origin.clone())
    };
    let home = zone_of(&n(question));
    answers.iter().any(|line| {
        let f: Vec<&str> = line.split(' ').collect();
        f.len() == 4 && f[2] == "cname" && zone_of(&n(f[3])) != home
    })
}

fn cross_check(zones: &[(&str, &str)], questions: &[(&str, RecordType)]) {
    let knot = Knot::start(zones);
    let mut set = ZoneSet::new();
    for (origin, text) in zones {
        set.push(
            ZoneSet::from_str(text, &format!("{origin}.zone"), Some(n(origin)))
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let mut failures = Vec::new();
    for &(name, rtype) in questions {
        let theirs = knot_said(&knot, name, rtype);
        let ours = ours_said(&set, name, rtype);
        if theirs != ours {
            failures.push(format!(
                "{name} {rtype}:\n  knotd: {theirs:?}\n  ours:  {ours:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "answers differ from knotd's:\n{}",
        failures.join("\n")
    );
}

#[test]
fn cross_check_with_knotd() {
    use RecordType::*;
    let questions: &[(&str, RecordType)] = &[
        ("example.test", SOA),
        ("example.test", NS),
        ("example.test", MX),
        ("example.test", A),
        ("example.test", TXT),
        ("Example.TEST", MX),
        ("mx1.example.test", A),
        ("mx1.example.test", AAAA),
        ("mx1.example.test", MX),
        ("mx2.example.test", A),
        ("www.example.test", A),
        ("www.example.test", AAAA),
        ("www.example.test", CNAME),
        ("web.example.test", A),
        ("dangling.example.test", A),
        ("txt.example.test", TXT),
        ("x.y.deep.example.test", A),
        ("y.deep.example.test", A),
        ("deep.example.test", TXT),
        ("z.y.deep.example.test", A),
        ("nope.example.test", A),
        ("nope.example.test", MX),
        ("a.wild.example.test", MX),
        ("a.wild.example.test", TXT),
        ("a.wild.example.test", A),
        ("b.a.wild.example.test", MX),
        ("cw.wild.example.test", A),
        ("cw.wild.example.test", MX),
        ("x.cw.wild.example.test", MX),
        ("wild.example.test", MX),
        ("*.wild.example.test", MX),
        ("q.alias.example.test", A),
        ("q.alias.example.test", CNAME),
        ("sub.example.test", A),
        ("sub.example.test", NS),
        ("ns.sub.example.test", A),
        ("x.sub.example.test", MX),
        ("mixed.example.test", A),
        ("dup.example.test", A),
        ("outside.example.test", A),
        ("t.other.test", A),
        ("other.test", SOA),
        ("nope.other.test", A),
    ];
    cross_check(
        &[("example.test", EXAMPLE), ("other.test", OTHER)],
        questions,
    );
}

#[test]
fn cross_check_with_knotd_across_zones() {
    // knotd stops a CNAME chain at its zone's edge; we go on through the
    // loaded zones: the part knotd gives must be the start of ours.
    let knot = Knot::start(&[("example.test", EXAMPLE), ("other.test", OTHER)]);
    let set = set(&[EXAMPLE, OTHER]);
    let theirs = knot_said(&knot, "away.example.test", RecordType::A).unwrap();
    let ours = ours_said(&set, "away.example.test", RecordType::A).unwrap();
    assert_eq!(theirs.rcode, ours.rcode);
    assert!(
        theirs.answers.is_subset(&ours.answers),
        "{theirs:?} {ours:?}"
    );
    let rest: BTreeSet<String> = ours.answers.difference(&theirs.answers).cloned().collect();
    assert_eq!(
        rest,
        knot_said(&knot, "t.other.test", RecordType::A)
            .unwrap()
            .answers
    );
}

#[test]
fn cross_check_with_knotd_on_unusual_syntax() {
    let text = concat!(
        "$ORIGIN syntax.test.\n",
        "$TTL 1h\n",
        "@ IN 2h SOA ns1 host\\.master ( 1 2h 30m 2w\n",
        "   1d ) ; timers with units\n",
        "  NS ns1\n",
        "ns1 A 192.0.2.1\n",
        "t TXT \"a\\065b\" \"\\\"q\\\"\" x\\;y ( \"multi\"\n",
        "  \"line\" )\n",
        "c\\.d A 192.0.2.2\n",
        "SPF SPF \"v=spf1 -all\"\n",
        "caa CAA 0 issue \"ca.example.net\"\n",
        "srv SRV 0 5 25 ns1\n",
        "g TYPE1 \\# 4 c0000203\n",
        "u TYPE65280 \\# 3 abcdef\n",
        "late 7d IN MX 0 .\n",
        "$ORIGIN sub.syntax.test.\n",
        "rel A 192.0.2.4\n",
        "@ MX 10 rel\n",
        "$TTL 60\n",
        "sixty A 192.0.2.60\n",
    );
    use RecordType::*;
    cross_check(
        &[("syntax.test", text)],
        &[
            ("syntax.test", SOA),
            ("syntax.test", NS),
            ("t.syntax.test", TXT),
            ("c\\.d.syntax.test", A),
            ("spf.syntax.test", RecordType::from(99)),
            ("caa.syntax.test", CAA),
            ("srv.syntax.test", SRV),
            ("g.syntax.test", A),
            ("u.syntax.test", RecordType::from(65280)),
            ("late.syntax.test", MX),
            ("rel.sub.syntax.test", A),
            ("sub.syntax.test", MX),
            ("sixty.sub.syntax.test", A),
        ],
    );
}

#[test]
fn cross_check_with_knotd_on_ttls_chains_and_cuts() {
    let text = concat!(
        "$ORIGIN edge.test.\n",
        "@ 600 SOA ns h 1 2 3 4 120\n",
        "@ 600 NS ns\n",
        "@ MX 10 a\n",
        "ns 100 A 192.0.2.1\n",
        "a A 192.0.2.2 ; no $TTL yet: 3600\n",
        "rev 200 A 192.0.2.3\n",
        "rev 100 A 192.0.2.4\n",
        "tosub CNAME x.sub\n",
        "sub NS ns.elsewhere.test.\n",
        "*.w A 192.0.2.5\n",
        "c1 CNAME c2\n",
        "c2 CNAME c3\n",
        "c3 CNAME c4\n",
        "c4 CNAME c5\n",
        "c5 CNAME c6\n",
        "c6 A 192.0.2.6\n",
        "$TTL 30\n",
        "late A 192.0.2.7\n",
        "*.x.late A 192.0.2.8\n",
    );
    use RecordType::*;
    cross_check(
        &[("edge.test", text)],
        &[
            ("edge.test", SOA),
            ("edge.test", MX),
            ("edge.test", NS),
            ("edge.test", AAAA),
            ("a.edge.test", A),
            ("rev.edge.test", A),
            ("tosub.edge.test", A),
            ("sub.edge.test", DS),
            ("q.w.edge.test", A),
            ("q.w.edge.test", MX),
            ("w.edge.test", A),
            ("x.*.w.edge.test", A),
            ("c1.edge.test", A),
            ("c4.edge.test", MX),
            ("late.edge.test", A),
            ("x.late.edge.test", A),
            ("y.x.late.edge.test", A),
            ("nope.edge.test", A),
        ],
    );
}

/// Every zone file the project ships (examples/, testdata/): the same
/// answers from knotd and from the loaded files, for every owner name (and a
/// name below each, and a sibling that does not exist) and the types mail
/// routing asks.
#[test]
fn cross_check_with_knotd_on_shipped_zone_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in ["examples", "testdata"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            paths.extend(
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "zone")),
            );
        }
    }
    paths.sort();
    if paths.is_empty() {
        return;
    }
    let zones: Vec<Zone> = paths
        .iter()
        .map(|p| Zone::load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let texts: Vec<(String, String)> = paths
        .iter()
        .zip(&zones)
        .map(|(p, z)| (z.origin.to_string(), std::fs::read_to_string(p).unwrap()))
        .collect();
    let served: Vec<(&str, &str)> = texts
        .iter()
        .map(|(o, t)| (o.as_str(), t.as_str()))
        .collect();
    let knot = Knot::start(&served);
    let mut set = ZoneSet::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for z in zones {
        for r in &z.records() {
            let owner = r.record.name.to_ascii();
            names.insert(format!("below.{owner}"));
            names.insert(owner);
        }
        names.insert(format!("no-such-name-here.{}", z.origin));
        set.push(z);
    }
    let mut failures = Vec::new();
    for name in &names {
        for rtype in [
            RecordType::MX,
            RecordType::A,
            RecordType::AAAA,
            RecordType::TXT,
            RecordType::CNAME,
        ] {
            let theirs = knot_said(&knot, name, rtype);
            let mut ours = ours_said(&set, name, rtype);
            // knotd stops a CNAME chain at its zone's edge; we go on through
            // the loaded zones: compare the part knotd gives.
            if let (Some(t), Some(o)) = (&theirs, &mut ours)
                && leaves_zone(&set, name, &t.answers)
                && t.answers.is_subset(&o.answers)
            {
                *o = Said {
                    rcode: t.rcode,
                    answers: t.answers.clone(),
                    negative_ttl: t.negative_ttl,
                };
            }
            if theirs != ours {
                failures.push(format!(
                    "{name} {rtype}:\n  knotd: {theirs:?}\n  ours:  {ours:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "answers differ from knotd's:\n{}",
        failures.join("\n")
    );
}

#[test]
fn knot_testbed_dig_and_second_address() {
    let zone = "$ORIGIN two.test.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 127.0.0.11\n@ MX 10 mx\nmx A 192.0.2.25\n";
    let a = Knot::start_on("127.0.0.11".parse().unwrap(), None, &[("two.test", zone)]);
    assert_eq!(a.addr().ip().to_string(), "127.0.0.11");
    let b = Knot::start(&[("two.test", zone)]);
    assert_ne!(a.addr(), b.addr());
    let short = a.dig(&["+short", "+time=2", "+tries=1", "two.test", "MX"]);
    assert_eq!(short.trim(), "10 mx.two.test.");
    let answer = testbed::knot::dig(&[
        &format!("@{}", b.addr().ip()),
        "-p",
        &b.addr().port().to_string(),
        "+noall",
        "+answer",
        "mx.two.test",
        "A",
    ]);
    assert!(answer.contains("192.0.2.25"), "{answer}");
}

#[test]
#[should_panic(expected = "knotd reported an error")]
fn knot_testbed_panics_with_the_log_when_a_zone_is_rejected() {
    let _knot = Knot::start(&[(
        "bad.test",
        "$ORIGIN bad.test.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 300.1.1.1\n",
    )]);
}

#[test]
fn overlay_answers_from_the_zone_before_the_fallback() {
    // A fallback that must never be asked for names inside the zone.
    struct Never;
    impl Lookup for Never {
        fn query<'a>(
            &'a self,
            name: &'a Name,
            _: RecordType,
        ) -> mxkit::dns::BoxFuture<'a, Response> {
            let name = name.to_string();
            Box::pin(
                async move { Response::status(Status::NxDomain, format!("fallback for {name}")) },
            )
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let overlay = Overlay {
        zones: set(&[EXAMPLE]),
        fallback: Some(Arc::new(Never)),
    };
    let r = rt.block_on(overlay.query(&n("example.test"), RecordType::MX));
    assert_eq!(&*r.server, "zone zone0");
    let r = rt.block_on(overlay.query(&n("ns.sub.example.test"), RecordType::A));
    assert_eq!(&*r.server, "fallback for ns.sub.example.test.");
}
