//! The MTA-STS test bed, to try `mxkit route`, `probe` and `check` with
//! MTA-STS by hand (root needed: the policy server listens on port 443;
//! the MTA-STS part of docs/secure.md was made with it): knotd serving
//! `testdata/mta-sts/sts.test.zone`, the HTTPS policy server on
//! 127.0.171.1:443 answering every policy host of that zone as its case
//! needs, and two Postfix exchangers for `probe.sts.test` (127.0.174.1 with
//! a certificate for another name, 127.0.174.2 with the right one).
//!
//! `cargo run -p testbed --example sts_bed` prints the `--server` address
//! and the `--ca-file` to pass, then keeps everything running until its
//! standard input closes (Ctrl-D).

use std::io::Read;

use testbed::postfix::{Postfix, PostfixInstance};
use testbed::sts::StsBed;

fn main() {
    let bed = StsBed::start();
    let _postfix = Postfix::start_with(
        &[
            PostfixInstance::new("127.0.174.1:25".parse().unwrap(), "mx-bad.probe.sts.test")
                .tls(bed.ca.leaf(&["www.probe.sts.test"])),
            PostfixInstance::new("127.0.174.2:25".parse().unwrap(), "mx-good.probe.sts.test")
                .tls(bed.ca.leaf(&["mx-good.probe.sts.test"])),
        ],
        &["probe.sts.test"],
        &[],
    );
    println!("--server {}", bed.knot.addr());
    println!("--ca-file {}", bed.ca.ca_pem_path().display());
    println!("(Ctrl-D stops the bed)");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
