//! A test certificate authority made with rcgen: one CA certificate
//! (`ca.pem`) and as many leaf certificates as tests need, each with
//! subjectAltName dNSName entries (an entry that parses as an IP address
//! becomes an iPAddress entry) and extendedKeyUsage serverAuth, so that
//! strict verifiers (rustls/webpki, OpenSSL with `-verify_hostname`) accept
//! them against [`TestCa::ca_pem_path`].
//!
//! Keys are ECDSA P-256 (rcgen's default), written as PKCS#8 PEM. Every file
//! lives in a temporary folder that is removed when the [`TestCa`] is
//! dropped; [`crate::postfix::Postfix`] copies the files it is given, so the
//! CA may go away before the servers do.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};

/// The CA certificate's common name.
pub const CA_NAME: &str = "mxkit test CA";

/// A test CA; its folder (with `ca.pem` and the leaves) is removed on drop.
pub struct TestCa {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    next: AtomicUsize,
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    /// Make a new CA (CN "mxkit test CA", CA:TRUE, keyCertSign) and write
    /// `ca.pem` into a fresh temporary folder.
    pub fn new() -> TestCa {
        let dir = tempfile::Builder::new()
            .prefix("mxkit-ca-")
            .tempdir()
            .unwrap_or_else(|e| panic!("testbed::certs: cannot create a temporary folder: {e}"));
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, CA_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2099, 12, 31);
        let key = KeyPair::generate()
            .unwrap_or_else(|e| panic!("testbed::certs: cannot generate the CA key: {e}"));
        let cert = params
            .self_signed(&key)
            .unwrap_or_else(|e| panic!("testbed::certs: cannot sign the CA certificate: {e}"));
        let ca_pem = cert.pem();
        write(&dir.path().join("ca.pem"), &ca_pem);
        TestCa {
            dir,
            issuer: Issuer::new(params, key),
            ca_pem,
            next: AtomicUsize::new(0),
        }
    }

    /// The folder holding `ca.pem` and the leaves.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of the CA certificate (PEM), to give clients as their trust
    /// anchor (`openssl s_client -CAfile`, rustls root store).
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The CA certificate (PEM text).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A leaf certificate for `names` (the first is also the subject CN),
    /// signed by this CA, written into the CA's folder. Returns the paths of
    /// the certificate (the leaf alone, PEM) and of its private key (PKCS#8
    /// PEM).
    pub fn leaf(&self, names: &[&str]) -> (PathBuf, PathBuf) {
        let (cert, key) = self.leaf_pem(names);
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let stem = format!(
            "leaf{n}-{}",
            sanitize(names.first().copied().unwrap_or("leaf"))
        );
        let cert_path = self.dir.path().join(format!("{stem}.crt.pem"));
        let key_path = self.dir.path().join(format!("{stem}.key.pem"));
        write(&cert_path, &cert);
        write(&key_path, &key);
        (cert_path, key_path)
    }

    /// A file beside `leaf` (a certificate PEM file) holding the leaf and
    /// then this CA's certificate: the chain a server presents for DANE-TA
    /// (RFC 7672 section 3.1.2: the trust anchor must be in the chain).
    pub fn chain_file(&self, leaf: &Path) -> PathBuf {
        let path = leaf.with_extension("chain.pem");
        let mut text = fs::read_to_string(leaf)
            .unwrap_or_else(|e| panic!("testbed::certs: cannot read {}: {e}", leaf.display()));
        text.push_str(&self.ca_pem);
        write(&path, &text);
        path
    }

    /// Like [`TestCa::leaf`], without files: (certificate PEM, key PEM).
    pub fn leaf_pem(&self, names: &[&str]) -> (String, String) {
        assert!(
            !names.is_empty(),
            "testbed::certs: a leaf needs at least one name"
        );
        let owned: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(owned)
            .unwrap_or_else(|e| panic!("testbed::certs: bad names {names:?}: {e}"));
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2099, 12, 31);
        let key = KeyPair::generate()
            .unwrap_or_else(|e| panic!("testbed::certs: cannot generate a leaf key: {e}"));
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("testbed::certs: cannot sign a leaf for {names:?}: {e}"));
        (cert.pem(), key.serialize_pem())
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write(path: &Path, text: &str) {
    fs::write(path, text)
        .unwrap_or_else(|e| panic!("testbed::certs: cannot write {}: {e}", path.display()));
}

/// The TLSA record data (`USAGE SELECTOR MATCHING HEX`) for the certificate
/// in the PEM file `cert`, computed by the openssl command-line tool, not by
/// mxkit: selector 0 hashes the whole certificate (DER), selector 1 its
/// SubjectPublicKeyInfo; matching type 1 is SHA-256, 2 SHA-512, 0 the data
/// itself. Panics when openssl is missing or fails.
pub fn tlsa(usage: u8, selector: u8, matching: u8, cert: &Path) -> String {
    let openssl = crate::sys::find_program("openssl", &["/usr/bin/openssl"]).unwrap_or_else(|| {
        panic!("openssl not found: install Debian's package openssl (scripts/test does this)")
    });
    let run = |args: &[&str], input: &[u8]| -> Vec<u8> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new(&openssl)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("testbed::certs: cannot run openssl: {e}"));
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(input)
            .unwrap_or_else(|e| panic!("testbed::certs: openssl stdin: {e}"));
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("testbed::certs: openssl: {e}"));
        assert!(
            out.status.success(),
            "testbed::certs: openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let pem = fs::read(cert)
        .unwrap_or_else(|e| panic!("testbed::certs: cannot read {}: {e}", cert.display()));
    let selected = match selector {
        0 => run(&["x509", "-outform", "DER"], &pem),
        1 => {
            let key = run(&["x509", "-noout", "-pubkey"], &pem);
            run(&["pkey", "-pubin", "-outform", "DER"], &key)
        }
        _ => panic!("testbed::certs: selector {selector} has no data"),
    };
    let data = match matching {
        0 => selected,
        1 | 2 => {
            let alg = if matching == 1 { "-sha256" } else { "-sha512" };
            run(&["dgst", alg, "-binary"], &selected)
        }
        _ => panic!("testbed::certs: matching type {matching} has no data"),
    };
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    format!("{usage} {selector} {matching} {hex}")
}
