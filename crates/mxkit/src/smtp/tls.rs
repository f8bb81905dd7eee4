//! STARTTLS: trust anchors, a reporting certificate verifier, certificate
//! details.
//!
//! The verifier wraps rustls' `WebPkiServerVerifier` and records, separately
//! (docs/rules/route.md, "Certificates"):
//! - **chain trust**: the chain leads to a trust anchor and is valid now.
//!   webpki checks the chain before the name, so a name error means the chain
//!   itself was fine;
//! - **name match** for the MX host name (RFC 7672 section 3.2.2 / Postfix
//!   `verify`) and for the recipient domain (posttls-finger's default
//!   `secure` level), checked here on the leaf's DNS subjectAltNames with
//!   x509-parser: case-insensitive, a wildcard is the whole leftmost label
//!   and stands for exactly one label (RFC 6125 section 6.4.3), and the
//!   subject CN counts only when there is no DNS SAN at all (RFC 6125
//!   section 6.4.4).
//!
//! What it then accepts depends on what the attempt needs ([`Need`]): in
//! opportunistic mode, any certificate (report, don't abort: RFC 7435
//! opportunistic security); in required mode (PKIX) an untrusted chain or
//! an MX-name mismatch fails the handshake; `dane-encrypt` takes any
//! certificate but TLS itself is mandatory; `dane` takes only a chain that a
//! usable TLSA record matches (docs/rules/secure.md, Rule S6): DANE-EE the
//! leaf or its key, no name or date checked; DANE-TA a certificate of the
//! chain, which the chain must verify to (webpki, with that certificate as
//! the only trust anchor) and a leaf naming the TLSA base or the MX name.
//! Handshake signatures are always verified for real, by the ring provider.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    SupportedCipherSuite,
};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::{CertInfo, Roots, SmtpError, TlsMode, TlsReport};
use crate::dane::{TlsRequirement, TlsaRecord, match_chain};
use crate::route::{Candidate, Route};

/// What one attempt needs of TLS: the walk's [`TlsMode`], and for
/// [`TlsMode::Policy`] what the route says of the candidate's exchanger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// No STARTTLS.
    Off,
    /// STARTTLS when offered; any certificate.
    Opportunistic,
    /// A trusted chain naming the MX host (`--tls required`).
    Pkix,
    /// STARTTLS mandatory, any certificate (`dane-encrypt`).
    Encrypt,
    /// STARTTLS mandatory, a certificate a usable TLSA record matches.
    Dane(Arc<Dane>),
    /// An MTA-STS policy in `enforce` mode (docs/rules/secure.md, Rule
    /// S11): as [`Need::Pkix`], reported as `mta-sts`.
    MtaSts,
    /// An MTA-STS policy in `testing` mode: as [`Need::Opportunistic`],
    /// with the PKIX verdict reported (`verified_by` or `error`).
    MtaStsTesting,
}

/// What DANE verification needs of one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dane {
    /// The TLSA base name (docs/rules/secure.md, Rule S3): SNI, and a name
    /// the DANE-TA leaf may carry.
    pub(crate) base: String,
    /// The usable records.
    pub(crate) records: Vec<TlsaRecord>,
}

impl Need {
    /// What `mode` needs for `candidate`, reading the route's exchanger for
    /// [`TlsMode::Policy`] (opportunistic when there is none).
    pub(crate) fn of(mode: TlsMode, route: Option<&Route>, candidate: &Candidate) -> Need {
        match mode {
            TlsMode::Off => Need::Off,
            TlsMode::Opportunistic => Need::Opportunistic,
            TlsMode::Required => Need::Pkix,
            TlsMode::Policy => {
                let exchanger =
                    route.and_then(|r| r.exchangers.iter().find(|e| e.name == candidate.exchanger));
                match exchanger.map(|e| (e.tls, e.tlsa.as_ref())) {
                    Some((Some(TlsRequirement::Dane), Some(tlsa))) => Need::Dane(Arc::new(Dane {
                        base: tlsa.base.clone(),
                        records: tlsa.usable().cloned().collect(),
                    })),
                    Some((Some(TlsRequirement::DaneEncrypt), _)) => Need::Encrypt,
                    Some((Some(TlsRequirement::MtaSts), _)) => Need::MtaSts,
                    Some((Some(TlsRequirement::MtaStsTesting), _)) => Need::MtaStsTesting,
                    _ => Need::Opportunistic,
                }
            }
        }
    }

    /// TLS must be used: no plaintext, not even after a failed handshake.
    pub(crate) fn mandatory(&self) -> bool {
        matches!(
            self,
            Need::Pkix | Need::Encrypt | Need::Dane(_) | Need::MtaSts
        )
    }

    /// A failed handshake or a refused STARTTLS may be followed by
    /// plaintext (RFC 7435; RFC 8461 section 5: testing mode delivers as
    /// without a policy).
    pub(crate) fn falls_back(&self) -> bool {
        matches!(self, Need::Opportunistic | Need::MtaStsTesting)
    }

    /// Its word in reports (`tls.policy`).
    pub(crate) fn word(&self) -> &'static str {
        match self {
            Need::Off => "off",
            Need::Opportunistic => TlsRequirement::Opportunistic.as_str(),
            Need::Pkix => "required",
            Need::Encrypt => TlsRequirement::DaneEncrypt.as_str(),
            Need::Dane(_) => TlsRequirement::Dane.as_str(),
            Need::MtaSts => TlsRequirement::MtaSts.as_str(),
            Need::MtaStsTesting => TlsRequirement::MtaStsTesting.as_str(),
        }
    }
}

/// Largest CA file read, in bytes: about 70 times Debian's whole bundle of
/// trusted roots (`/etc/ssl/certs/ca-certificates.crt`, about 220 KB), so
/// any real bundle fits and `/dev/zero` or a huge file does not.
pub const MAX_CA_FILE: u64 = 16 << 20;

impl Roots {
    /// Load the trust anchors. A PEM file must be a regular file of at most
    /// [`MAX_CA_FILE`] bytes and hold at least one certificate. The CLI calls this early to report a bad `--ca-file` as
    /// a usage error; the walk calls it once.
    pub fn load(&self) -> Result<RootCertStore, SmtpError> {
        match self {
            Roots::WebPki => Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }),
            Roots::PemFile(path) => {
                let bad = |detail: String| SmtpError::CaFile {
                    path: path.clone(),
                    detail,
                };
                let mut store = RootCertStore::empty();
                let pem =
                    crate::bounded::read_file(path, MAX_CA_FILE).map_err(|e| bad(e.to_string()))?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| bad(e.to_string()))?;
                    store.add(cert).map_err(|e| bad(e.to_string()))?;
                }
                if store.is_empty() {
                    return Err(bad("no certificate in the file".into()));
                }
                Ok(store)
            }
        }
    }
}

/// What one walk needs for TLS: the provider and the verifier for its roots.
#[derive(Clone, Debug)]
pub(crate) struct TlsContext {
    provider: Arc<CryptoProvider>,
    webpki: Arc<WebPkiServerVerifier>,
}

impl TlsContext {
    pub(crate) fn new(roots: &Roots) -> Result<Self, SmtpError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let store = Arc::new(roots.load()?);
        let webpki = WebPkiServerVerifier::builder_with_provider(store, provider.clone())
            .build()
            .map_err(|e| SmtpError::CaFile {
                path: match roots {
                    Roots::PemFile(p) => p.clone(),
                    Roots::WebPki => "webpki-roots".into(),
                },
                detail: e.to_string(),
            })?;
        Ok(TlsContext { provider, webpki })
    }

    /// A client configuration for one handshake with `candidate`, the name to
    /// connect with, and where the verifier leaves its findings.
    pub(crate) fn client(
        &self,
        need: &Need,
        candidate: &Candidate,
        recipient_domain: &str,
    ) -> Result<Handshake, SmtpError> {
        let record = Arc::new(Mutex::new(None));
        let (server_name, sni) = match need {
            // docs/rules/secure.md, Rule S6: SNI is the TLSA base name.
            Need::Dane(dane) => match ServerName::try_from(dane.base.clone()) {
                Ok(name) => (name, Some(dane.base.clone())),
                Err(_) => server_name(candidate),
            },
            _ => server_name(candidate),
        };
        let verifier = ReportingVerifier {
            inner: self.webpki.clone(),
            provider: self.provider.clone(),
            need: need.clone(),
            mx_name: candidate.exchanger.clone(),
            address: candidate.address,
            domain: recipient_domain.to_string(),
            record: record.clone(),
        };
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| SmtpError::Tls {
                detail: e.to_string(),
            })?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Handshake {
            config: Arc::new(config),
            server_name,
            sni,
            policy: need.word(),
            record,
        })
    }
}

/// Everything for one handshake.
pub(crate) struct Handshake {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
    pub(crate) sni: Option<String>,
    policy: &'static str,
    record: Arc<Mutex<Option<Findings>>>,
}

impl Handshake {
    /// The report so far: what the verifier found, plus the negotiated
    /// parameters when the handshake completed.
    pub(crate) fn report(&self, conn: Option<&rustls::ClientConnection>) -> TlsReport {
        let found = self
            .record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        let mut report = TlsReport {
            policy: self.policy,
            verified_by: found.verified_by,
            tlsa_matched: found.tlsa_matched,
            error: found.error,
            version: String::new(),
            cipher: String::new(),
            sni: self.sni.clone(),
            certificate: found.certificate,
            chain_trusted: found.chain_trusted,
            chain_error: found.chain_error,
            mx_name_matches: found.mx_name_matches,
            domain_name_matches: found.domain_name_matches,
            completed: conn.is_some(),
            kx_group: None,
        };
        if let Some(conn) = conn {
            report.version = match conn.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
                Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            report.cipher = conn
                .negotiated_cipher_suite()
                .map(|s| {
                    let suite = s.suite();
                    suite
                        .as_str()
                        .map_or_else(|| format!("{suite:?}"), str::to_string)
                })
                .unwrap_or_default();
            report.kx_group = conn
                .negotiated_key_exchange_group()
                .map(|g| format!("{:?}", g.name()));
        }
        report
    }
}

/// SNI and verification name: the MX host name; for an address literal (or
/// a name rustls cannot use) the IP address, which sends no SNI (RFC 6066
/// section 3: literal IP addresses are not permitted in SNI).
fn server_name(candidate: &Candidate) -> (ServerName<'static>, Option<String>) {
    let name = candidate.exchanger.trim_end_matches('.');
    if !name.starts_with('[')
        && name.parse::<IpAddr>().is_err()
        && let Ok(server) = ServerName::try_from(name.to_string())
    {
        return (server, Some(name.to_string()));
    }
    (ServerName::IpAddress(candidate.address.into()), None)
}

/// What the verifier saw.
#[derive(Clone, Debug, Default)]
struct Findings {
    certificate: Option<CertInfo>,
    chain_trusted: bool,
    chain_error: Option<String>,
    mx_name_matches: bool,
    domain_name_matches: bool,
    verified_by: Option<&'static str>,
    tlsa_matched: Vec<String>,
    error: Option<String>,
}

#[derive(Debug)]
struct ReportingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    need: Need,
    mx_name: String,
    address: IpAddr,
    domain: String,
    record: Arc<Mutex<Option<Findings>>>,
}

impl ServerCertVerifier for ReportingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        // webpki verifies the chain first and the name last: a name error
        // means the chain is trusted.
        let (chain_trusted, chain_error) = match &result {
            Ok(_) => (true, None),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => (true, None),
            Err(e) => (false, Some(e.to_string())),
        };
        let mut found = Findings {
            chain_trusted,
            chain_error,
            ..Findings::default()
        };
        let mut ids = None;
        if let Ok((_, cert)) = X509Certificate::from_der(end_entity.as_ref()) {
            let found_ids = Identities::of(&cert);
            found.mx_name_matches = found_ids.matches(&self.mx_name, self.address);
            found.domain_name_matches = found_ids.matches(&self.domain, self.address);
            found.certificate = Some(cert_info(&cert, &found_ids, end_entity, &self.provider));
            ids = Some(found_ids);
        }
        let verdict = match &self.need {
            Need::Off | Need::Opportunistic | Need::Encrypt => Ok(()),
            Need::Pkix | Need::MtaSts | Need::MtaStsTesting => {
                let verdict = if !found.chain_trusted {
                    result.map(|_| ())
                } else if !found.mx_name_matches {
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForName,
                    ))
                } else {
                    found.verified_by = Some("pkix");
                    Ok(())
                };
                if let Err(e) = &verdict
                    && self.need != Need::Pkix
                {
                    // docs/rules/secure.md, Rule S11: say why the
                    // certificate fails the policy.
                    found.error = Some(format!(
                        "the certificate is not PKIX-valid for {}: {e}",
                        self.mx_name
                    ));
                }
                match self.need {
                    // Testing mode reports and goes on.
                    Need::MtaStsTesting => Ok(()),
                    _ => verdict,
                }
            }
            Need::Dane(dane) => {
                let chain = DaneChain {
                    end_entity,
                    intermediates,
                    now,
                    ids: ids.as_ref(),
                };
                self.dane(dane, &chain, &mut found)
            }
        };
        *self.record.lock().unwrap_or_else(|e| e.into_inner()) = Some(found);
        verdict.map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The presented chain, for DANE.
struct DaneChain<'c, 'i> {
    end_entity: &'c CertificateDer<'c>,
    intermediates: &'c [CertificateDer<'c>],
    now: UnixTime,
    ids: Option<&'i Identities>,
}

impl ReportingVerifier {
    /// docs/rules/secure.md, Rule S6: DANE-EE first (the leaf or its key
    /// matches: done), then each DANE-TA match: the chain must verify to
    /// the matching certificate and the leaf must name the TLSA base or the
    /// MX host. The findings say which record matched and how, or why none
    /// would do.
    fn dane(
        &self,
        dane: &Dane,
        chain: &DaneChain<'_, '_>,
        found: &mut Findings,
    ) -> Result<(), rustls::Error> {
        let mut certs: Vec<&[u8]> = vec![chain.end_entity.as_ref()];
        certs.extend(chain.intermediates.iter().map(|c| c.as_ref()));
        let matched = match_chain(&dane.records, &certs);
        if !matched.end_entity.is_empty() {
            found.verified_by = Some("dane-ee");
            found.tlsa_matched = matched.end_entity.iter().map(|r| r.to_string()).collect();
            return Ok(());
        }
        let names_host = chain.ids.is_some_and(|ids| {
            ids.matches(&dane.base, self.address) || ids.matches(&self.mx_name, self.address)
        });
        let mut why = format!(
            "no usable TLSA record of _25._tcp.{} matches the certificate chain",
            dane.base
        );
        for (record, at) in &matched.trust_anchors {
            let Some(anchor) = certs.get(*at).filter(|_| *at > 0) else {
                why = format!("TLSA {record} (DANE-TA) matches the leaf itself, not an issuer");
                continue;
            };
            match self.verify_to(anchor, chain, &dane.base) {
                Ok(()) if names_host => {
                    found.verified_by = Some("dane-ta");
                    found.tlsa_matched = vec![record.to_string()];
                    return Ok(());
                }
                Ok(()) => {
                    why = format!(
                        "TLSA {record} (DANE-TA) matches, but the certificate names neither {} nor {}",
                        dane.base, self.mx_name
                    );
                }
                Err(e) => {
                    why = format!(
                        "TLSA {record} (DANE-TA) matches, but the chain does not verify to it: {e}"
                    );
                }
            }
        }
        found.error = Some(why);
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
    }

    /// Verify the chain with `anchor` as its only trust anchor (names are
    /// checked by the caller: a name error here still means the chain
    /// verified, as webpki checks names last).
    fn verify_to(
        &self,
        anchor: &[u8],
        chain: &DaneChain<'_, '_>,
        base: &str,
    ) -> Result<(), rustls::Error> {
        let mut store = RootCertStore::empty();
        store.add(CertificateDer::from(anchor.to_vec()))?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        let name = ServerName::try_from(base.to_string())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        match verifier.verify_server_cert(
            chain.end_entity,
            chain.intermediates,
            &name,
            &[],
            chain.now,
        ) {
            Ok(_)
            | Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The names a certificate is valid for.
struct Identities {
    dns: Vec<String>,
    ips: Vec<IpAddr>,
    common_names: Vec<String>,
}

impl Identities {
    fn of(cert: &X509Certificate<'_>) -> Self {
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(n) => dns.push(n.to_string()),
                    GeneralName::IPAddress(bytes) => {
                        if let Ok(b) = <[u8; 4]>::try_from(*bytes) {
                            ips.push(IpAddr::from(b));
                        } else if let Ok(b) = <[u8; 16]>::try_from(*bytes) {
                            ips.push(IpAddr::from(b));
                        }
                    }
                    _ => {}
                }
            }
        }
        let common_names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_string))
            .collect();
        Identities {
            dns,
            ips,
            common_names,
        }
    }

    /// Is `name` (a host name, or an address literal `[192.0.2.1]`,
    /// `[IPv6:...]`) one of these identities? An address literal matches IP
    /// SANs only (`fallback` is the candidate's address).
    fn matches(&self, name: &str, fallback: IpAddr) -> bool {
        if let Some(inner) = name.strip_prefix('[') {
            let inner = inner.trim_end_matches(']');
            let inner = inner
                .get(..5)
                .filter(|t| t.eq_ignore_ascii_case("ipv6:"))
                .map_or(inner, |_| &inner[5..]);
            let ip = inner.parse::<IpAddr>().unwrap_or(fallback);
            return self.ips.contains(&ip);
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.ips.contains(&ip);
        }
        let patterns = if self.dns.is_empty() {
            &self.common_names
        } else {
            &self.dns
        };
        patterns.iter().any(|p| name_matches(p, name))
    }
}

/// RFC 6125 section 6.4: exact match, or a wildcard that is the whole
/// leftmost label and stands for exactly one label; never `*.tld`.
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if pattern.is_empty() || name.is_empty() {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(rest) => {
            if rest.contains('*') || !rest.contains('.') {
                return false;
            }
            match name.split_once('.') {
                Some((first, tail)) => !first.is_empty() && tail == rest,
                None => false,
            }
        }
        None => !pattern.contains('*') && pattern == name,
    }
}

fn cert_info(
    cert: &X509Certificate<'_>,
    ids: &Identities,
    der: &CertificateDer<'_>,
    provider: &CryptoProvider,
) -> CertInfo {
    let mut sans = ids.dns.clone();
    sans.extend(ids.ips.iter().map(IpAddr::to_string));
    let validity = cert.validity();
    CertInfo {
        subject: cert.subject().to_string(),
        sans,
        issuer: cert.issuer().to_string(),
        not_before: iso8601(validity.not_before.timestamp()),
        not_after: iso8601(validity.not_after.timestamp()),
        sha256: sha256_hex(provider, der.as_ref()),
        spki_sha256: sha256_hex(provider, cert.tbs_certificate.subject_pki.raw),
    }
}

/// SHA-256 through the provider's own hash (no extra dependency).
fn sha256_hex(provider: &CryptoProvider, data: &[u8]) -> String {
    for suite in &provider.cipher_suites {
        let hash = match suite {
            SupportedCipherSuite::Tls13(s) => s.common.hash_provider,
            SupportedCipherSuite::Tls12(s) => s.common.hash_provider,
        };
        if hash.algorithm() == rustls::crypto::hash::HashAlgorithm::SHA256 {
            let digest = hash.hash(data);
            let mut hex = String::with_capacity(64);
            for b in digest.as_ref() {
                let _ = write!(hex, "{b:02x}");
            }
            return hex;
        }
    }
    String::new()
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (ISO 8601, UTC).
pub fn iso8601(secs: i64) -> String {
    let (y, m, d, hh, mm, ss, _) = super::message::civil(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(name_matches("mx1.example.test", "MX1.example.test."));
        assert!(name_matches("*.example.test", "mx1.example.test"));
        assert!(!name_matches("*.example.test", "example.test"));
        assert!(!name_matches("*.example.test", "a.mx1.example.test"));
        assert!(!name_matches("*.test", "example.test"));
        assert!(!name_matches("m*.example.test", "mx.example.test"));
        assert!(!name_matches("*.*.example.test", "a.b.example.test"));
        assert!(!name_matches("", ""));
    }

    /// A certificate with 500 names: every name is read, a name at the end
    /// still matches, and DANE-EE matching does not care how many there
    /// are.
    #[test]
    fn certificates_with_many_names() {
        let names: Vec<String> = (0..500).map(|i| format!("mx{i}.example.test")).collect();
        let cert = rcgen::generate_simple_self_signed(names).unwrap();
        let der = cert.cert.der().to_vec();
        let (_, parsed) = X509Certificate::from_der(&der).unwrap();
        let ids = Identities::of(&parsed);
        assert_eq!(ids.dns.len(), 500);
        let any = "192.0.2.1".parse().unwrap();
        assert!(ids.matches("mx499.example.test", any));
        assert!(!ids.matches("mx500.example.test", any));
        let digest = ring::digest::digest(&ring::digest::SHA256, &der);
        let record = crate::dane::TlsaRecord {
            usage: 3,
            selector: 0,
            matching: 1,
            data: digest.as_ref().to_vec(),
        };
        let found = match_chain(&[record], &[&der]);
        assert_eq!(found.end_entity.len(), 1);
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(-86_400), "1969-12-31T00:00:00Z");
    }
}
