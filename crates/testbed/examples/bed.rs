//! A small multi-MX test bed to try `mxkit probe` and `mxkit send` by hand
//! (root needed, as for the SMTP tests): knotd serving `example.test` on a
//! free port of 127.0.0.1, whose MX records are
//!
//! - 10 mx1.example.test -> 127.0.60.9 (nothing listens: connection refused),
//! - 20 mx2.example.test -> 127.0.60.4 (smtp-sink greeting 421),
//! - 30 mx3.example.test -> 127.0.60.3 (Postfix with a certificate from a test CA).
//!
//! `cargo run -p testbed --example bed` prints the `--server` address and the
//! CA file, then keeps everything running until its standard input closes
//! (press Ctrl-D). Delivered messages are listed when it stops.

use std::io::Read;

use testbed::certs::TestCa;
use testbed::knot::Knot;
use testbed::postfix::{Postfix, PostfixInstance};
use testbed::smtp_sink::SmtpSink;

fn main() {
    let ca = TestCa::new();
    let mx3 = "127.0.60.3:25".parse().unwrap();
    let postfix = Postfix::start(&[
        PostfixInstance::new(mx3, "mx3.example.test").tls(ca.leaf(&["mx3.example.test"]))
    ]);
    let _sink = SmtpSink::greet_421("127.0.60.4:25".parse().unwrap(), "mx2.example.test");
    let zone = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns hostmaster 1 7200 900 1209600 300\n@ NS ns\nns A 127.0.0.1\n\
                @ MX 10 mx1\n@ MX 20 mx2\n@ MX 30 mx3\nmx1 A 127.0.60.9\nmx2 A 127.0.60.4\nmx3 A 127.0.60.3\n";
    let knot = Knot::start(&[("example.test", zone)]);
    println!("--server {}", knot.addr());
    println!("--ca-file {}", ca.ca_pem_path().display());
    println!("running; close standard input (Ctrl-D) to stop");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    for m in postfix.messages() {
        println!("--- delivered message ---\n{m}");
    }
}
