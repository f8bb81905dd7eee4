//! Zones signed ahead of time with ldns (`ldns-keygen`, `ldns-signzone`),
//! for DNSSEC failures a signing server will not produce on demand: a zone
//! whose signatures have expired is bogus to a validating resolver that
//! trusts its key ([`expired`]). Knot serves the signed text as it is, with
//! its own signing off.
//!
//! Never skips: a missing ldns tool is a panic that says which Debian
//! package to install.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A zone text signed with signatures valid only in the past.
pub struct Presigned {
    /// The signed zone text (with its DNSKEY, RRSIG and NSEC records).
    pub text: String,
    /// The DS record of its key-signing key (SHA-256), in presentation
    /// format: a trust anchor for a validating resolver.
    pub ds: String,
}

/// Sign `text` (the zone `zone`) with a fresh ECDSA P-256 key pair and
/// signatures valid from 2020-01-01 to 2020-02-01: expired (a validating
/// resolver answers SERVFAIL, RFC 8914 EDE 7).
pub fn expired(zone: &str, text: &str) -> Presigned {
    sign(zone, text, "20200101000000", "20200201000000")
}

fn sign(zone: &str, text: &str, inception: &str, expiration: &str) -> Presigned {
    let zone = if zone.ends_with('.') {
        zone.to_owned()
    } else {
        format!("{zone}.")
    };
    let dir = tempfile::Builder::new()
        .prefix("mxkit-presign-")
        .tempdir()
        .unwrap_or_else(|e| panic!("testbed::presign: cannot create a temporary folder: {e}"));
    let file = dir.path().join("zone");
    fs::write(&file, text).unwrap_or_else(|e| panic!("testbed::presign: cannot write: {e}"));
    let ksk = run(
        dir.path(),
        "ldns-keygen",
        &["-a", "ECDSAP256SHA256", "-k", &zone],
    );
    let zsk = run(dir.path(), "ldns-keygen", &["-a", "ECDSAP256SHA256", &zone]);
    let (ksk, zsk) = (ksk.trim(), zsk.trim());
    run(
        dir.path(),
        "ldns-signzone",
        &[
            "-i", inception, "-e", expiration, "-o", &zone, "zone", ksk, zsk,
        ],
    );
    let signed = read(&dir.path().join("zone.signed"));
    let ds = run(
        dir.path(),
        "ldns-key2ds",
        &["-n", "-2", &format!("{ksk}.key")],
    );
    Presigned {
        text: signed,
        ds: ds.trim().to_owned(),
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("testbed::presign: cannot read {}: {e}", path.display()))
}

/// Run an ldns tool in `dir`; its standard output. Panics when it is
/// missing or fails.
fn run(dir: &Path, tool: &str, args: &[&str]) -> String {
    let program: PathBuf = crate::sys::find_program(tool, &[&format!("/usr/bin/{tool}")])
        .unwrap_or_else(|| {
            panic!("{tool} not found: install Debian's package ldnsutils (scripts/test does this)")
        });
    let out = Command::new(&program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("testbed::presign: cannot run {tool}: {e}"));
    if !out.status.success() {
        panic!(
            "testbed::presign: {tool} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}
