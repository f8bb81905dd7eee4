//! The DNS-change watch against a real authoritative server (knotd on
//! loopback): the plan it records is the one a sender would follow, and a
//! server that does not answer leaves the watermark where it was.

use std::time::Duration;

use mxkit::dns::engine::{Engine, EngineConfig};
use mxkit_trap::dnswatch::{DnsWatch, check};
use mxkit_trap::model::now;
use testbed::knot::Knot;

#[tokio::test]
async fn the_watch_routes_the_domain_as_a_sender_does() {
    let zone = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns hostmaster 1 7200 900 1209600 300\n\
                @ NS ns\nns A 127.0.0.1\n@ 1800 MX 10 mx1\n@ 1800 MX 99 mx99\n\
                mx1 A 192.0.2.10\nmx99 A 192.0.2.99\n";
    let knot = tokio::task::spawn_blocking(move || Knot::start(&[("example.test", zone)]))
        .await
        .unwrap();
    let mut config = EngineConfig::new(vec![knot.addr()]);
    config.timeout = Duration::from_millis(300);
    let engine = Engine::new(config).await.unwrap();
    let watch = DnsWatch::new();
    let before = now();
    assert!(check("example.test", &engine, &watch).await);
    assert!(watch.checked() >= before);
    assert!(!watch.in_grace(now()));
    // Another check of the same plan opens no grace.
    assert!(check("example.test", &engine, &watch).await);
    assert!(!watch.in_grace(now()));

    // No server answering (nothing listens on 127.0.0.1:9) is a temporary
    // failure: nothing recorded, the watermark kept, so decisions wait.
    let checked = watch.checked();
    let dead = Engine::new({
        let mut c = EngineConfig::new(vec!["127.0.0.1:9".parse().unwrap()]);
        c.timeout = Duration::from_millis(100);
        c
    })
    .await
    .unwrap();
    assert!(!check("example.test", &dead, &watch).await);
    assert_eq!(watch.checked(), checked);
}
