//! The exporters against their real consumers: Postfix's `postmap` reads
//! the cidr table, Knot serves the DNSBL zone, rbldnsd serves its dataset,
//! nft loads the script into a private network namespace. A missing program
//! is a failure that says which Debian package to install, never a skip.
//!
//! Debian packages: postfix (postmap), knot (knotd), bind9-dnsutils (dig),
//! rbldnsd, nftables (nft), util-linux (unshare), rspamd (rspamd, rspamc).

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mxkit_trap::export::{self, ExportOptions, Format, Written};
use mxkit_trap::model::{Grade, Listing, Micros, secs};
use testbed::knot::Knot;
use testbed::rbldnsd::{Dataset, Rbldnsd};
use testbed::rspamd::Rspamd;

/// A fixed "now", so the tests do not depend on the clock.
const NOW: Micros = 1_800_000_000 * 1_000_000;

const ZONE: &str = "mxtrap.test";

fn listing(ip: &str, grade: Grade, expires_in: i64) -> Listing {
    Listing {
        ip: ip.parse().unwrap(),
        grade,
        reason: format!("decoy-first {ip}"),
        first_seen: NOW - secs(7200),
        last_seen: NOW - secs(60),
        expires: NOW + secs(expires_in),
        events: 2,
        shadow: false,
    }
}

/// Listed: 192.0.2.7 trapped, 192.0.2.8 suspect, 198.51.100.9 repeat,
/// 2001:db8::7 trapped, 2001:db8::8 suspect, 2001:db8::9 repeat.
/// Not exported: a shadow listing, an expired one, a probe, an observed.
fn sample() -> Vec<Listing> {
    let mut shadow = listing("192.0.2.20", Grade::Trapped, 3600);
    shadow.shadow = true;
    vec![
        listing("198.51.100.9", Grade::Repeat, 7 * 86_400),
        listing("192.0.2.8", Grade::Suspect, 6 * 3600),
        listing("192.0.2.7", Grade::Trapped, 3600),
        listing("2001:db8::8", Grade::Suspect, 6 * 3600),
        listing("2001:db8::7", Grade::Trapped, 3600),
        listing("2001:db8::9", Grade::Repeat, 7200),
        shadow,
        listing("192.0.2.21", Grade::Trapped, 0),
        listing("192.0.2.22", Grade::Probe, 3600),
        listing("192.0.2.23", Grade::Observed, 3600),
    ]
}

/// Addresses that must never be answered as listed.
const UNLISTED: [&str; 6] = [
    "192.0.2.9",
    "192.0.2.20",
    "192.0.2.21",
    "192.0.2.22",
    "192.0.2.23",
    "2001:db8::a",
];

fn options() -> ExportOptions {
    ExportOptions {
        info_url: "https://mxtrap.example.org/lookup?ip={ip}".into(),
        zone: ZONE.into(),
        soa_mname: "ns1.example.org".into(),
        soa_rname: "hostmaster@example.org".into(),
        ns: vec!["ns1.example.org".into(), "ns2.example.org".into()],
        ..ExportOptions::default()
    }
}

fn program(name: &str, package: &str) -> PathBuf {
    testbed::sys::find_program(
        name,
        &[&format!("/usr/sbin/{name}"), &format!("/usr/bin/{name}")],
    )
    .unwrap_or_else(|| panic!("{name} not found: install Debian's package {package}"))
}

fn write(dir: &Path, name: &str, format: Format) -> PathBuf {
    let path = dir.join(name);
    let text = export::render(format, &sample(), NOW, &options()).unwrap();
    export::write_atomic(&path, text.as_bytes()).unwrap();
    path
}

/// `postmap -q KEY cidr:PATH`: Some(result) when found, None when not.
fn postmap_query(postmap: &Path, table: &Path, key: &str) -> Option<String> {
    let out = Command::new(postmap)
        .arg("-q")
        .arg(key)
        .arg(format!("cidr:{}", table.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", postmap.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) if stderr.trim().is_empty() => Some(stdout),
        // postmap(1): exit status 1 when the key was not found.
        Some(1) if stdout.is_empty() && stderr.trim().is_empty() => None,
        _ => panic!(
            "postmap -q {key} cidr:{} failed ({}): {stdout}{stderr}",
            table.display(),
            out.status
        ),
    }
}

#[test]
fn postfix_cidr_table_answers_through_postmap() {
    let postmap = program("postmap", "postfix");
    let dir = tempfile::tempdir().unwrap();
    let table = write(dir.path(), "mxtrap.cidr", Format::PostfixCidr);
    let text = fs::read_to_string(&table).unwrap();
    assert!(
        text.contains("2001:db8::7/128 554 5.7.1"),
        "IPv6 is written plainly:\n{text}"
    );
    assert!(!text.contains('['), "no brackets in a cidr table:\n{text}");

    for (ip, action) in [
        ("192.0.2.7", "554 5.7.1"),
        ("192.0.2.8", "450 4.7.1"),
        ("198.51.100.9", "554 5.7.1"),
        ("2001:db8::7", "554 5.7.1"),
        ("2001:db8::8", "450 4.7.1"),
        ("2001:db8::9", "554 5.7.1"),
    ] {
        let got = postmap_query(&postmap, &table, ip)
            .unwrap_or_else(|| panic!("{ip} should be listed in\n{text}"));
        assert!(got.starts_with(action), "{ip}: {got}");
        assert!(
            got.contains(&format!("https://mxtrap.example.org/lookup?ip={ip}")),
            "{ip}: the info URL is in the reply: {got}"
        );
        assert!(got.contains(&format!("decoy-first {ip}")), "{ip}: {got}");
    }
    for ip in UNLISTED {
        assert_eq!(postmap_query(&postmap, &table, ip), None, "{ip}");
    }
}

/// `dig +short` answers for NAME TYPE, and the response status.
fn dig_short(dig: impl Fn(&[&str]) -> String, name: &str, rtype: &str) -> (String, Vec<String>) {
    let full = dig(&["+noall", "+comments", "+answer", "+norec", name, rtype]);
    let status = full
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| panic!("no status in dig output:\n{full}"))
        .to_string();
    let short = dig(&["+short", "+norec", name, rtype]);
    (status, short.lines().map(str::to_string).collect())
}

/// The RFC 5782 checks and the sample's answers, asked of a DNSBL server.
fn check_dnsbl(dig: impl Fn(&[&str]) -> String + Copy, what: &str) {
    let v4 = |ip: &str| {
        let o: Vec<&str> = ip.split('.').rev().collect();
        format!("{}.{ZONE}", o.join("."))
    };
    let v6 = |ip: &str| {
        let ip: IpAddr = ip.parse().unwrap();
        format!("{}.{ZONE}", export::reverse_label(ip))
    };
    // RFC 5782 section 5: 127.0.0.2 listed, 127.0.0.1 not.
    let (status, a) = dig_short(dig, &v4("127.0.0.2"), "A");
    assert_eq!(
        (status.as_str(), a),
        ("NOERROR", vec!["127.0.0.2".into()]),
        "{what}"
    );
    let (_, txt) = dig_short(dig, &v4("127.0.0.2"), "TXT");
    assert_eq!(txt.len(), 1, "{what}: test entry TXT {txt:?}");
    let (status, a) = dig_short(dig, &v4("127.0.0.1"), "A");
    assert_eq!(
        status, "NXDOMAIN",
        "{what}: 127.0.0.1 must not be listed ({a:?})"
    );
    let (status, a) = dig_short(dig, &v6("::ffff:7f00:2"), "A");
    assert_eq!(
        (status.as_str(), a),
        ("NOERROR", vec!["127.0.0.2".into()]),
        "{what}"
    );
    let (status, _) = dig_short(dig, &v6("::ffff:7f00:1"), "A");
    assert_eq!(
        status, "NXDOMAIN",
        "{what}: ::FFFF:7F00:1 must not be listed"
    );

    for (ip, code, grade) in [
        ("192.0.2.7", "127.0.0.2", "trapped"),
        ("192.0.2.8", "127.0.0.3", "suspect"),
        ("198.51.100.9", "127.0.0.4", "repeat"),
        ("2001:db8::7", "127.0.0.2", "trapped"),
        ("2001:db8::8", "127.0.0.3", "suspect"),
        ("2001:db8::9", "127.0.0.4", "repeat"),
    ] {
        let name = if ip.contains(':') { v6(ip) } else { v4(ip) };
        let (status, a) = dig_short(dig, &name, "A");
        assert_eq!(
            (status.as_str(), a),
            ("NOERROR", vec![code.into()]),
            "{what}: {ip}"
        );
        let (_, txt) = dig_short(dig, &name, "TXT");
        let want =
            format!("\"{grade}: decoy-first {ip}; see https://mxtrap.example.org/lookup?ip={ip}\"");
        assert_eq!(txt, vec![want], "{what}: {ip} TXT");
    }
    for ip in UNLISTED {
        let name = if ip.contains(':') { v6(ip) } else { v4(ip) };
        let (status, a) = dig_short(dig, &name, "A");
        assert_eq!(
            status, "NXDOMAIN",
            "{what}: {ip} must not be listed ({a:?})"
        );
    }
}

#[test]
fn dnsbl_zone_served_by_knot() {
    let text = export::render(Format::DnsblZone, &sample(), NOW, &options()).unwrap();
    let knot = Knot::start_on(
        IpAddr::V4(Ipv4Addr::new(127, 0, 72, 1)),
        None,
        &[(ZONE, &text)],
    );
    let (status, soa) = dig_short(|a| knot.dig(a), ZONE, "SOA");
    assert_eq!(status, "NOERROR");
    assert_eq!(
        soa,
        vec!["ns1.example.org. hostmaster.example.org. 1 3600 600 604800 300".to_string()]
    );
    check_dnsbl(|a| knot.dig(a), "knot");
    let log = knot.log();
    assert!(!log.contains("error"), "knotd log:\n{log}");
}

#[test]
fn rbldnsd_serves_the_combined_dataset() {
    let text = export::render(Format::Rbldnsd, &sample(), NOW, &options()).unwrap();
    let server = Rbldnsd::start_on(
        IpAddr::V4(Ipv4Addr::new(127, 0, 72, 3)),
        &[Dataset {
            zone: ZONE,
            kind: "combined",
            text: &text,
        }],
    );
    let (status, mut ns) = dig_short(|a| server.dig(a), ZONE, "NS");
    assert_eq!(status, "NOERROR");
    ns.sort();
    assert_eq!(
        ns,
        vec![
            "ns1.example.org.".to_string(),
            "ns2.example.org.".to_string()
        ]
    );
    check_dnsbl(|a| server.dig(a), "rbldnsd");
    let log = server.log();
    assert!(
        log.contains("ip4set") && log.contains("ip6trie"),
        "rbldnsd loaded both datasets:\n{log}"
    );
}

const MESSAGE: &[u8] =
    b"From: a@example.org\r\nTo: b@example.org\r\nSubject: test\r\nMessage-ID: <1@example.org>\r\n\r\nhello\r\n";

#[test]
fn rspamd_multimap_reads_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let map = write(dir.path(), "mxtrap.map", Format::Rspamd);
    // The snippet the export module documents, as local.d/multimap.conf
    // would hold it.
    let conf = format!(
        "multimap {{\n  MX_TRAP {{\n    type = \"ip\";\n    map = \"{}\";\n    \
         symbol = \"MX_TRAP\";\n    score = 5.0;\n    \
         description = \"Connected to the decoy MX first (mxkit trap)\";\n  }}\n}}\n",
        map.display()
    );
    let rspamd = Rspamd::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 72, 5)), &conf);
    let hit = |ip: &str| {
        let out = rspamd.symbols(ip, MESSAGE);
        out.contains(&format!("Symbol: MX_TRAP (5.00)[{ip}]"))
    };
    for ip in [
        "192.0.2.7",
        "192.0.2.8",
        "198.51.100.9",
        "2001:db8::7",
        "2001:db8::8",
        "2001:db8::9",
    ] {
        assert!(hit(ip), "{ip} should hit MX_TRAP\n{}", rspamd.log());
    }
    for ip in UNLISTED {
        assert!(!hit(ip), "{ip} must not hit MX_TRAP");
    }
    // A new export without 192.0.2.7, renamed over the map: rspamd notices.
    let later: Vec<Listing> = sample()
        .into_iter()
        .filter(|l| l.ip.to_string() != "192.0.2.7")
        .collect();
    assert_eq!(
        export::export(&map, Format::Rspamd, &later, NOW, &options()).unwrap(),
        Written::Replaced
    );
    let reloaded =
        testbed::sys::poll_until(std::time::Duration::from_secs(30), || !hit("192.0.2.7"));
    assert!(reloaded, "rspamd did not reload the map\n{}", rspamd.log());
    assert!(hit("198.51.100.9"));
}

/// Run `sh -c SCRIPT` in a fresh network namespace of its own (`unshare
/// -n`): nft changes nothing outside it, and it vanishes when sh exits.
fn in_private_netns(script: &str) -> String {
    let unshare = program("unshare", "util-linux");
    let out = Command::new(unshare)
        .arg("-n")
        .arg("sh")
        .arg("-ec")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run unshare: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "nft in a private network namespace failed ({}): this needs root (CAP_SYS_ADMIN \
         for unshare -n) and nf_tables in the kernel\nscript: {script}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn nftables_script_loads_into_a_private_netns() {
    let nft = program("nft", "nftables");
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "mxtrap.nft", Format::Nftables);
    let text = fs::read_to_string(&first).unwrap();
    for ip in ["192.0.2.8", "2001:db8::8"] {
        assert!(!text.contains(ip), "suspects are not in nftables:\n{text}");
    }
    // A later export: 192.0.2.7 has left, the rest stays.
    let later: Vec<Listing> = sample()
        .into_iter()
        .filter(|l| l.ip.to_string() != "192.0.2.7")
        .collect();
    let second = dir.path().join("mxtrap2.nft");
    let opts = options();
    export::write_atomic(
        &second,
        export::render(Format::Nftables, &later, NOW, &opts)
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let nft = nft.display();
    let list = format!("{nft} list set inet mxtrap mxtrap4; {nft} list set inet mxtrap mxtrap6");
    let out = in_private_netns(&format!(
        "{nft} -f {first}; {list}; echo ===; {nft} -f {second}; {list}",
        first = first.display(),
        second = second.display()
    ));
    let (before, after) = out.split_once("===").unwrap();
    for (ip, timeout) in [
        ("192.0.2.7", "timeout 1h"),
        ("198.51.100.9", "timeout 7d"),
        ("2001:db8::7", "timeout 1h"),
        ("2001:db8::9", "timeout 2h"),
    ] {
        assert!(
            before.contains(&format!("{ip} {timeout}")),
            "{ip} {timeout} in\n{before}"
        );
    }
    assert!(before.contains("flags timeout"), "{before}");
    assert!(!after.contains("192.0.2.7 "), "flushed on reload:\n{after}");
    assert!(after.contains("198.51.100.9 timeout 7d"), "{after}");
    for ip in UNLISTED.iter().chain(&["192.0.2.8", "2001:db8::8"]) {
        assert!(
            !out.contains(&format!("{ip} ")),
            "{ip} is not in a set:\n{out}"
        );
    }
}

#[test]
fn nftables_table_name_is_configurable() {
    let nft = program("nft", "nftables");
    let dir = tempfile::tempdir().unwrap();
    let opts = ExportOptions {
        nft_table: "ip filter_mx".into(),
        nft_set4: "trap_v4".into(),
        nft_set6: "trap_v6".into(),
        ..options()
    };
    let path = dir.path().join("t.nft");
    export::write_atomic(
        &path,
        export::render(Format::Nftables, &sample(), NOW, &opts)
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let nft = nft.display();
    let out = in_private_netns(&format!(
        "{nft} -f {}; {nft} list set ip filter_mx trap_v4; {nft} list set ip filter_mx trap_v6",
        path.display()
    ));
    assert!(out.contains("192.0.2.7 timeout 1h"), "{out}");
    assert!(out.contains("2001:db8::7 timeout 1h"), "{out}");

    // Nothing listed: the script still loads, and empties the sets.
    let empty = dir.path().join("empty.nft");
    export::write_atomic(
        &empty,
        export::render(Format::Nftables, &[], NOW, &opts)
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let out = in_private_netns(&format!(
        "{nft} -f {}; {nft} -f {}; {nft} list set ip filter_mx trap_v4; \
         {nft} list set ip filter_mx trap_v6",
        path.display(),
        empty.display()
    ));
    assert!(
        out.contains("set trap_v4") && out.contains("set trap_v6"),
        "{out}"
    );
    assert!(!out.contains("elements"), "the sets are empty:\n{out}");
}

#[test]
fn atomic_write_never_shows_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list");
    let a: Arc<Vec<u8>> = Arc::new([vec![b'a'; 300_000], b"END-A\n".to_vec()].concat());
    let b: Arc<Vec<u8>> = Arc::new([vec![b'b'; 70_000], b"END-B\n".to_vec()].concat());
    export::write_atomic(&path, &a).unwrap();
    set_mode(&path, 0o600);

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, a, b, done) = (path.clone(), a.clone(), b.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !done.load(Ordering::Acquire) || reads < 100 {
                let got = fs::read(&path).expect("the file is always there");
                assert!(
                    got == *a || got == *b,
                    "a partial or mixed file: {} bytes",
                    got.len()
                );
                reads += 1;
            }
            reads
        })
    };
    for i in 0..400 {
        export::write_atomic(&path, if i % 2 == 0 { &b } else { &a }).unwrap();
    }
    done.store(true, Ordering::Release);
    let reads = reader.join().expect("the reader saw only whole files");
    assert!(reads >= 100, "{reads} reads");
    assert_eq!(mode(&path), 0o600, "the old file's permissions are kept");
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["list".to_string()], "no temporary file is left");

    let fresh = dir.path().join("fresh");
    export::write_atomic(&fresh, b"x\n").unwrap();
    assert_eq!(mode(&fresh), 0o644, "a new file is 0644");
}

#[test]
fn unchanged_exports_leave_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options();
    for format in [
        Format::Rspamd,
        Format::PostfixCidr,
        Format::DnsblZone,
        Format::Rbldnsd,
        Format::Json,
    ] {
        let path = dir.path().join(format.as_str());
        assert_eq!(
            export::export(&path, format, &sample(), NOW, &opts).unwrap(),
            Written::Replaced
        );
        let first = fs::read(&path).unwrap();
        let inode = ino(&path);
        // Later, with the same listings in another order: same bytes.
        let mut shuffled = sample();
        shuffled.reverse();
        assert_eq!(
            export::export(&path, format, &shuffled, NOW + secs(30), &opts).unwrap(),
            Written::Unchanged,
            "{format}"
        );
        assert_eq!(fs::read(&path).unwrap(), first, "{format}");
        assert_eq!(ino(&path), inode, "{format}: not renamed over");
        // A change is written.
        let fewer = &sample()[1..];
        assert_eq!(
            export::export(&path, format, fewer, NOW + secs(60), &opts).unwrap(),
            Written::Replaced,
            "{format}"
        );
        assert_ne!(fs::read(&path).unwrap(), first, "{format}");
    }
}

fn soa_serial(zone_text: &str) -> u32 {
    let line = zone_text
        .lines()
        .find(|l| l.starts_with("@ IN SOA"))
        .expect("an SOA line");
    line.split_whitespace().nth(5).unwrap().parse().unwrap()
}

#[test]
fn zone_serial_moves_forward_only_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mxtrap.zone");
    let opts = options();
    export::export(&path, Format::DnsblZone, &sample(), NOW, &opts).unwrap();
    let s1 = soa_serial(&fs::read_to_string(&path).unwrap());
    assert_eq!(
        i64::from(s1),
        NOW / 1_000_000,
        "the first serial is the time"
    );
    let later = NOW + secs(600);
    assert_eq!(
        export::export(&path, Format::DnsblZone, &sample(), later, &opts).unwrap(),
        Written::Unchanged
    );
    export::export(&path, Format::DnsblZone, &sample()[1..], later, &opts).unwrap();
    let s2 = soa_serial(&fs::read_to_string(&path).unwrap());
    assert_eq!(i64::from(s2), later / 1_000_000);
    // Two changes within the same second (or a clock that went back):
    // the serial still goes forward.
    export::export(&path, Format::DnsblZone, &sample()[2..], later, &opts).unwrap();
    let s3 = soa_serial(&fs::read_to_string(&path).unwrap());
    assert_eq!(s3, s2 + 1);
    // And Knot accepts the file written this way.
    let text = fs::read_to_string(&path).unwrap();
    let knot = Knot::start_on(
        IpAddr::V4(Ipv4Addr::new(127, 0, 72, 1)),
        None,
        &[(ZONE, &text)],
    );
    let (_, soa) = dig_short(|a| knot.dig(a), ZONE, "SOA");
    assert!(soa[0].contains(&format!(" {s3} ")), "{soa:?}");
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
fn ino(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).unwrap().ino()
}
