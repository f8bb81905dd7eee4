//! The secure routing test bed, to try `mxkit route`, `probe`, `send`,
//! `check` and `scan --secure` by hand (root needed, as for the SMTP tests;
//! docs/secure.md was made with it):
//!
//! - knotd signing `signed.test` (testdata/secure/) and `dane.test`, serving
//!   `plain.test` unsigned and `expired.test` with signatures that expired
//!   in 2020; unbound validating in front of it, trusting the signed zones'
//!   keys;
//! - `dane.test MX 10 mx1.dane.test` (127.0.61.1) and `MX 20 mx2.dane.test`
//!   (127.0.61.2): two Postfix exchangers with certificates from a test CA;
//!   `_25._tcp.mx2.dane.test` names mx2's key (`3 1 1`), while
//!   `_25._tcp.mx1.dane.test` names a key mx1 does not have, so a DANE
//!   sender skips mx1 and delivers to mx2.
//!
//! `cargo run -p testbed --example secure_bed` prints the `--server`
//! address (unbound), then keeps everything running until its standard
//! input closes (Ctrl-D).

use std::io::Read;

use testbed::certs::{TestCa, tlsa};
use testbed::postfix::{Postfix, PostfixInstance};
use testbed::unbound::{Validating, testdata};

fn main() {
    let ca = TestCa::new();
    let mx1 = ca.leaf(&["mx1.dane.test"]);
    let mx2 = ca.leaf(&["mx2.dane.test"]);
    let lost = ca.leaf(&["mx1.dane.test"]);
    let dane = format!(
        "$TTL 300\n\
         dane.test. IN SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 300\n\
         dane.test. IN NS ns.dane.test.\n\
         ns.dane.test. IN A 127.0.0.1\n\
         dane.test. IN MX 10 mx1.dane.test.\n\
         dane.test. IN MX 20 mx2.dane.test.\n\
         mx1.dane.test. IN A 127.0.61.1\n\
         mx2.dane.test. IN A 127.0.61.2\n\
         _25._tcp.mx1.dane.test. IN TLSA {}\n\
         _25._tcp.mx2.dane.test. IN TLSA {}\n",
        tlsa(3, 1, 1, &lost.0),
        tlsa(3, 1, 1, &mx2.0),
    );
    let read = |f: &str| std::fs::read_to_string(testdata(f)).expect("testdata/secure");
    let (signed, plain, expired) = (
        read("signed.test.zone"),
        read("plain.test.zone"),
        read("expired.test.zone"),
    );
    let bed = Validating::start(
        &[("signed.test", &signed), ("dane.test", &dane)],
        &[("plain.test", &plain)],
        &[("expired.test", &expired)],
    );
    let postfix = Postfix::start_with(
        &[
            PostfixInstance::new("127.0.61.1:25".parse().unwrap(), "mx1.dane.test").tls(mx1),
            PostfixInstance::new("127.0.61.2:25".parse().unwrap(), "mx2.dane.test").tls(mx2),
        ],
        &["dane.test"],
        &[],
    );
    println!("--server {}", bed.resolver());
    println!("running; close standard input (Ctrl-D) to stop");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    for m in postfix.messages() {
        println!("--- delivered message ---\n{m}");
    }
}
