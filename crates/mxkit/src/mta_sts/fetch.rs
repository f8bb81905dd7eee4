//! The policy fetch (RFC 8461 section 3.3; docs/rules/secure.md, Rule S8):
//! `GET https://mta-sts.<domain>/.well-known/mta-sts.txt`.
//!
//! The host's addresses come from mxkit's own DNS ([`Lookup`]), so
//! `--server`, `--zone`, `--offline` and the test bed apply to the fetch as
//! to everything else; the connection is ours (tokio TCP, tokio-rustls with
//! a PKIX verifier for `mta-sts.<domain>` over the chosen roots) and hyper
//! speaks HTTP/1.1 over it (docs/design.md, "Chosen dependencies": why hyper). No
//! redirect is followed, no cache header is sent or honoured, the status
//! must be 200 and the type `text/plain`, the body is read to at most
//! [`MAX_POLICY_SIZE`] octets, and the whole fetch, from the first DNS
//! question to the last octet, has one deadline.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::policy::MAX_POLICY_SIZE;
use crate::dns::{Lookup, Name, Outcome, RData, RecordType, resolve};

/// The path of the policy (RFC 8461 section 3.3).
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";
/// The default deadline of one fetch (`--mta-sts-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response head read.
const MAX_HEAD: usize = 16 * 1024;

/// Why a fetch gave no policy body. [`FetchError::kind`] names the class,
/// as `check` reports it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The policy host's addresses could not be found.
    #[error("{host}: {detail}")]
    Dns {
        /// `mta-sts.<domain>`.
        host: String,
        /// What DNS said.
        detail: String,
    },
    /// No address took the TCP connection.
    #[error("cannot connect to {host}: {detail}")]
    Connect {
        /// `mta-sts.<domain>`.
        host: String,
        /// Per address, what happened.
        detail: String,
    },
    /// The TLS handshake failed: most often a certificate not valid for the
    /// name.
    #[error("TLS with {host} failed: {detail}")]
    Tls {
        /// `mta-sts.<domain>`.
        host: String,
        /// What rustls said.
        detail: String,
    },
    /// A redirect, never followed (RFC 8461 section 3.3).
    #[error(
        "HTTP {status} redirect to {location}: redirects are not followed (RFC 8461 section 3.3)"
    )]
    Redirect {
        /// The status code.
        status: u16,
        /// Its Location header (`(none)` if absent).
        location: String,
    },
    /// Any other status than 200.
    #[error("HTTP status {0}, not 200")]
    Status(u16),
    /// Not `text/plain`.
    #[error("content type {0:?}, not text/plain")]
    ContentType(String),
    /// The body is larger than the limit.
    #[error("the policy is larger than {MAX_POLICY_SIZE} octets")]
    TooLarge,
    /// The deadline passed.
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    /// The server broke HTTP.
    #[error("HTTP error: {0}")]
    Http(String),
}

impl FetchError {
    /// The class, for reports: `dns`, `connect`, `tls`, `redirect`,
    /// `status`, `content_type`, `size`, `timeout`, `http`.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Dns { .. } => "dns",
            FetchError::Connect { .. } => "connect",
            FetchError::Tls { .. } => "tls",
            FetchError::Redirect { .. } => "redirect",
            FetchError::Status(_) => "status",
            FetchError::ContentType(_) => "content_type",
            FetchError::TooLarge => "size",
            FetchError::Timeout(_) => "timeout",
            FetchError::Http(_) => "http",
        }
    }

    /// The server answered, but not with a policy file (its type or size):
    /// the policy is invalid rather than unreachable.
    pub fn is_content(&self) -> bool {
        matches!(self, FetchError::ContentType(_) | FetchError::TooLarge)
    }
}

/// How to fetch.
#[derive(Clone, Debug)]
pub struct Fetcher {
    /// TLS with a PKIX verifier over the chosen roots.
    pub tls: Arc<ClientConfig>,
    /// The whole fetch's deadline.
    pub timeout: Duration,
    /// The HTTPS port: 443, always, outside tests of the library.
    pub port: u16,
    /// Which addresses may be dialled ([`crate::targets`]): any, or global
    /// ones only (`mxkit serve`).
    pub targets: crate::targets::Targets,
}

impl Fetcher {
    /// A fetcher trusting `roots` (the built-in Mozilla set or `--ca-file`).
    pub fn new(roots: rustls::RootCertStore, timeout: Duration) -> Fetcher {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Fetcher {
            tls: Arc::new(tls),
            timeout,
            port: 443,
            targets: crate::targets::Targets::Any,
        }
    }

    /// Fetch the policy body of `domain` (A-labels, no final dot).
    pub async fn fetch<L: Lookup + ?Sized>(
        &self,
        lookup: &L,
        domain: &str,
    ) -> Result<Vec<u8>, FetchError> {
        let host = format!("mta-sts.{domain}");
        match tokio::time::timeout(self.timeout, self.fetch_from(lookup, &host)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(self.timeout)),
        }
    }

    async fn fetch_from<L: Lookup + ?Sized>(
        &self,
        lookup: &L,
        host: &str,
    ) -> Result<Vec<u8>, FetchError> {
        let addresses = addresses(lookup, host).await?;
        let server_name = ServerName::try_from(host.to_string()).map_err(|e| FetchError::Dns {
            host: host.to_string(),
            detail: e.to_string(),
        })?;
        let mut failures = Vec::new();
        let mut tcp = None;
        for ip in addresses {
            if let Err(why) = self.targets.check(ip) {
                failures.push(why);
                continue;
            }
            match TcpStream::connect(SocketAddr::new(ip, self.port)).await {
                Ok(stream) => {
                    tcp = Some(stream);
                    break;
                }
                Err(e) => failures.push(format!("{ip}: {e}")),
            }
        }
        let tcp = tcp.ok_or_else(|| FetchError::Connect {
            host: host.to_string(),
            detail: failures.join("; "),
        })?;
        let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
        let tls = connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| FetchError::Tls {
                host: host.to_string(),
                detail: e.to_string(),
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(MAX_HEAD.max(8192))
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;
        // The connection is driven beside the exchange and dropped with it.
        let exchange = async move {
            let request = Request::get(POLICY_PATH)
                .header(HOST, host)
                .header(USER_AGENT, concat!("mxkit/", env!("CARGO_PKG_VERSION")))
                .header(CONNECTION, "close")
                .body(Empty::<Bytes>::new())
                .map_err(|e| FetchError::Http(e.to_string()))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| FetchError::Http(e.to_string()))?;
            read_policy(response).await
        };
        tokio::pin!(conn);
        tokio::pin!(exchange);
        let mut conn_done = false;
        loop {
            tokio::select! {
                result = &mut exchange => return result,
                done = &mut conn, if !conn_done => {
                    conn_done = true;
                    if let Err(e) = done {
                        return Err(FetchError::Http(e.to_string()));
                    }
                }
            }
        }
    }
}

/// Check the head and read the body, bounded.
async fn read_policy(
    response: hyper::Response<hyper::body::Incoming>,
) -> Result<Vec<u8>, FetchError> {
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(LOCATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_else(|| "(none)".into());
        return Err(FetchError::Redirect {
            status: status.as_u16(),
            location,
        });
    }
    if status != StatusCode::OK {
        return Err(FetchError::Status(status.as_u16()));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("text/plain") {
        return Err(FetchError::ContentType(content_type));
    }
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_POLICY_SIZE as u64) {
        return Err(FetchError::TooLarge);
    }
    let mut body = response.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| FetchError::Http(e.to_string()))?;
        if let Some(data) = frame.data_ref() {
            if out.len() + data.len() > MAX_POLICY_SIZE {
                return Err(FetchError::TooLarge);
            }
            out.extend_from_slice(data);
        }
    }
    Ok(out)
}

/// The policy host's addresses, IPv6 first, as the exchangers' are tried.
async fn addresses<L: Lookup + ?Sized>(lookup: &L, host: &str) -> Result<Vec<IpAddr>, FetchError> {
    let dns_error = |detail: String| FetchError::Dns {
        host: host.to_string(),
        detail,
    };
    let name = Name::from_ascii(format!("{host}.")).map_err(|e| dns_error(e.to_string()))?;
    let (v6, v4) = futures::future::join(
        resolve(lookup, &name, RecordType::AAAA),
        resolve(lookup, &name, RecordType::A),
    )
    .await;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (rtype, answer) in [("AAAA", &v6), ("A", &v4)] {
        match &answer.outcome {
            Outcome::Records(records) => out.extend(records.iter().filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })),
            other => problems.push(format!("{rtype}: {other}")),
        }
    }
    if out.is_empty() {
        return Err(dns_error(format!("no address ({})", problems.join("; "))));
    }
    Ok(out)
}
