//! The MTA-STS test bed (docs/rules/secure.md, Rules S7 to S12): knotd
//! serving `testdata/mta-sts/sts.test.zone` on a free port of 127.0.0.1,
//! and the HTTPS policy server ([`crate::https`]) on [`POLICY_ADDR`], port
//! 443, answering every policy host of that zone as its case needs, with
//! certificates from a fresh [`TestCa`] (clients trust its `ca.pem` with
//! `--ca-file`).
//!
//! One per test binary at a time (the address is fixed by the zone): share
//! it with [`crate::shared::Shared`].

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::certs::TestCa;
use crate::https::{Behavior, PolicyServer, Site};
use crate::knot::Knot;

/// Where the zone's policy hosts point.
pub const POLICY_ADDR: &str = "127.0.171.1:443";

/// The policy of `good.sts.test`.
pub const GOOD_POLICY: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.good.sts.test\r\nmx: *.backup.good.sts.test\r\nmax_age: 86400\r\n";

/// The running bed.
pub struct StsBed {
    /// The CA of the policy server's certificates.
    pub ca: TestCa,
    /// knotd serving `sts.test`.
    pub knot: Knot,
    /// The policy server.
    pub https: PolicyServer,
}

/// `testdata/mta-sts/FILE`.
pub fn testdata(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/mta-sts")
        .join(file)
}

/// An enforce policy allowing exactly `mx`.
pub fn enforce(mx: &str) -> String {
    format!("version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 604800\n")
}

impl StsBed {
    /// Start the bed. Needs root (port 443).
    pub fn start() -> StsBed {
        let zone = fs::read_to_string(testdata("sts.test.zone")).unwrap_or_else(|e| {
            panic!("testbed::sts: cannot read testdata/mta-sts/sts.test.zone: {e}")
        });
        let knot = Knot::start(&[("sts.test", &zone)]);
        let ca = TestCa::new();
        let addr: SocketAddr = POLICY_ADDR.parse().expect("a socket address");
        let https = PolicyServer::start(addr, &ca, sites());
        StsBed { ca, knot, https }
    }

    /// Requests the policy server read for `mta-sts.<domain>`.
    pub fn fetches(&self, domain: &str) -> usize {
        self.https.requests_for(&format!("mta-sts.{domain}")).len()
    }
}

/// What each policy host of the zone does.
fn sites() -> Vec<Site> {
    let host = |d: &str| format!("mta-sts.{d}.sts.test");
    let policy = |d: &str, text: &str| Site::new(&host(d), Behavior::policy(text));
    let serve = |d: &str, status: u16, ctype: Option<&str>, body: &[u8]| {
        Site::new(
            &host(d),
            Behavior::Serve {
                status,
                content_type: ctype.map(str::to_string),
                body: body.to_vec(),
            },
        )
    };
    let mut sites = vec![
        policy("good", GOOD_POLICY),
        policy("nomatch", &enforce("other.nomatch.sts.test")),
        policy(
            "testing",
            "version: STSv1\nmode: testing\nmx: mx1.testing.sts.test\nmax_age: 3600\n",
        ),
        policy("none", "version: STSv1\nmode: none\nmax_age: 3600\n"),
        policy("implicit", &enforce("implicit.sts.test")),
        policy("split", &enforce("mx.split.sts.test")),
        policy("mixed", &enforce("mx.mixed.sts.test")),
        policy("target", &enforce("mx.redirect.sts.test")),
        Site::new(
            &host("redirect"),
            Behavior::Redirect {
                location: "https://mta-sts.target.sts.test/.well-known/mta-sts.txt".into(),
            },
        ),
        serve("notfound", 404, Some("text/plain"), b"not found"),
        serve(
            "ctype",
            200,
            Some("text/html"),
            enforce("mx.ctype.sts.test").as_bytes(),
        ),
        serve(
            "noctype",
            200,
            None,
            enforce("mx.noctype.sts.test").as_bytes(),
        ),
        serve("oversize", 200, Some("text/plain"), &vec![b'#'; 100 * 1024]),
        Site::new(&host("endless"), Behavior::Endless),
        Site::new(
            &host("slow"),
            Behavior::Trickle {
                body: enforce("mx.slow.sts.test").into_bytes(),
                every: Duration::from_secs(1),
            },
        ),
        Site::new(&host("stall"), Behavior::StallAfterHeaders),
        Site::new(&host("handshake"), Behavior::StallHandshake),
        policy("wrongname", &enforce("mx.wrongname.sts.test"))
            .with_cert_names(&["www.wrongname.sts.test"]),
        policy(
            "cronly",
            "version: STSv1\rmode: enforce\rmx: mx.cronly.sts.test\rmax_age: 86400\r",
        ),
        Site::new(
            &host("chunked"),
            Behavior::Chunked {
                content_type: "text/plain".into(),
                body: enforce("mx.chunked.sts.test").into_bytes(),
            },
        ),
        policy(
            "dupkeys",
            "version: STSv1\nmode: enforce\nmode: testing\nmx: mx.dupkeys.sts.test\nmax_age: 86400\n",
        ),
        policy(
            "bigage",
            "version: STSv1\nmode: enforce\nmx: mx.bigage.sts.test\nmax_age: 99999999999\n",
        ),
        policy(
            "wildwild",
            "version: STSv1\nmode: enforce\nmx: *.*.sts.test\nmax_age: 86400\n",
        ),
        serve(
            "html",
            200,
            Some("text/plain"),
            b"<html><body>hello</body></html>\n",
        ),
        policy("gone", &enforce("mx.gone.sts.test")),
        policy("probe", &enforce("*.probe.sts.test")),
    ];
    // Hosts whose records do not parse: a policy is there, and must never
    // be fetched.
    for d in ["two", "noid", "longid", "spacing"] {
        sites.push(policy(d, &enforce(&format!("mx.{d}.sts.test"))));
    }
    sites
}
