//! The live engine against the fault server: each test names the rule it checks.
//!
//! Tests that expect a reply use a long per-try timeout (they end as soon as
//! the reply comes); tests that expect a timeout use a short one (a configured
//! timeout, not a sleep). Query IDs are seeded.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use mxkit::dns::engine::{ConfigError, Engine, EngineConfig, MAX_ANSWERS};
use mxkit::dns::{Lookup, Response, Status, TempError};
use testbed::fault::{self, FaultServer, POISON, Reply, Request, Transport};

const PATIENT: Duration = Duration::from_secs(5);
const SHORT: Duration = Duration::from_millis(200);

type Handler = fn(&Request) -> Reply;

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn config(servers: &[&FaultServer], timeout: Duration, attempts: u32) -> EngineConfig {
    let mut cfg = EngineConfig::new(servers.iter().map(|s| s.addr()).collect());
    cfg.timeout = timeout;
    cfg.attempts = attempts;
    cfg.seed = Some(20_250_601);
    cfg
}

async fn engine(servers: &[&FaultServer], timeout: Duration, attempts: u32) -> Engine {
    Engine::new(config(servers, timeout, attempts))
        .await
        .unwrap()
}

async fn ask(engine: &Engine, qname: &str, rtype: RecordType) -> Response {
    engine.query(&name(qname), rtype).await
}

fn addresses(resp: &Response) -> Vec<Ipv4Addr> {
    resp.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn exchanges(resp: &Response) -> Vec<(u16, String)> {
    resp.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
            _ => None,
        })
        .collect()
}

/// The timeout's details, or a panic naming what came instead.
fn timeout_details(resp: &Response) -> (String, u32, Option<String>) {
    match &resp.status {
        Status::Temporary(TempError::Timeout {
            servers,
            ignored,
            last_ignored,
        }) => (servers.clone(), *ignored, last_ignored.clone()),
        other => panic!("expected a timeout, got {other:?} with {:?}", resp.answers),
    }
}

// ---- rcodes and sections (RFC 1035 section 4.1.1, RFC 2308) ----

#[tokio::test]
async fn noerror_returns_every_answer_record_the_ad_bit_and_the_server() {
    let server = FaultServer::start(|req| {
        Reply::mx(req, &[(10, "mx1.example."), (20, "mx2.example.")]).with_ad()
    });
    let engine = engine(&[&server], PATIENT, 1).await;
    let resp = ask(&engine, "example.", RecordType::MX).await;
    assert_eq!(resp.status, Status::NoError);
    assert_eq!(
        exchanges(&resp),
        vec![(10, "mx1.example.".into()), (20, "mx2.example.".into())]
    );
    assert!(
        resp.authentic,
        "AD bit of the reply (RFC 4035 section 3.2.3)"
    );
    assert_eq!(&*resp.server, server.addr().to_string());
    assert_eq!(resp.negative_ttl, None);
}

#[tokio::test]
async fn query_sets_rd_and_ad_and_carries_edns0_with_the_configured_payload() {
    let seen = Arc::new(Mutex::new(None));
    let seen2 = Arc::clone(&seen);
    let server = FaultServer::start(move |req| {
        let m = &req.message;
        *seen2.lock().unwrap() = Some((
            m.metadata.recursion_desired,
            m.metadata.authentic_data,
            m.edns.as_ref().map(|e| e.max_payload()),
            m.queries.len(),
        ));
        Reply::a(req, &["192.0.2.1"])
    });
    let mut cfg = config(&[&server], PATIENT, 1);
    cfg.edns_payload = 1400;
    let engine = Engine::new(cfg).await.unwrap();
    ask(&engine, "example.", RecordType::A).await;
    assert_eq!(*seen.lock().unwrap(), Some((true, true, Some(1400), 1)));
}

#[tokio::test]
async fn nxdomain_negative_ttl_is_min_of_soa_ttl_and_soa_minimum_rfc2308_section5() {
    let server = FaultServer::start(|req| match req.name().as_str() {
        "minimum-lower.example." => Reply::nxdomain(req, 3600, 300),
        _ => Reply::nxdomain(req, 60, 900),
    });
    let engine = engine(&[&server], PATIENT, 1).await;
    let resp = ask(&engine, "minimum-lower.example.", RecordType::MX).await;
    assert_eq!(resp.status, Status::NxDomain);
    assert_eq!(resp.negative_ttl, Some(300));
    let resp = ask(&engine, "ttl-lower.example.", RecordType::MX).await;
    assert_eq!(resp.status, Status::NxDomain);
    assert_eq!(resp.negative_ttl, Some(60));
}

#[tokio::test]
async fn nodata_is_noerror_with_no_answer_and_the_soa_negative_ttl() {
    let server = FaultServer::start(|req| Reply::nodata(req, 600, 120));
    let engine = engine(&[&server], PATIENT, 1).await;
    let resp = ask(&engine, "example.", RecordType::MX).await;
    assert_eq!(resp.status, Status::NoError);
    assert!(resp.answers.is_empty());
    assert_eq!(resp.negative_ttl, Some(120));
}

#[tokio::test]
async fn nxdomain_is_final_and_the_next_server_is_not_asked() {
    let first = FaultServer::start(|req| Reply::nxdomain(req, 300, 300));
    let second = FaultServer::start(|req| Reply::a(req, &["192.0.2.1"]));
    let engine = engine(&[&first, &second], PATIENT, 3).await;
    let resp = ask(&engine, "gone.example.", RecordType::A).await;
    assert_eq!(resp.status, Status::NxDomain);
    assert_eq!(second.queries().len(), 0);
}

#[tokio::test]
async fn servfail_from_every_server_is_temporary_servfail_after_asking_each_once() {
    let first = FaultServer::start(|_| Reply::ServFail);
    let second = FaultServer::start(|_| Reply::ServFail);
    let engine = engine(&[&first, &second], PATIENT, 3).await;
    let resp = ask(&engine, "example.", RecordType::MX).await;
    assert_eq!(
        resp.status,
        Status::Temporary(TempError::ServFail(second.addr().to_string()))
    );
    assert!(resp.answers.is_empty());
    // A server that answered SERVFAIL is not asked again in later rounds.
    assert_eq!(first.queries().len(), 1);
    assert_eq!(second.queries().len(), 1);
}

#[tokio::test]
async fn servfail_moves_on_to_the_next_server_which_answers() {
    let first = FaultServer::start(|_| Reply::ServFail);
    let second = FaultServer::start(|req| Reply::a(req, &["192.0.2.7"]));
    let engine = engine(&[&first, &second], PATIENT, 1).await;
    let resp = ask(&engine, "example.", RecordType::A).await;
    assert_eq!(resp.status, Status::NoError);
    assert_eq!(addresses(&resp), vec![Ipv4Addr::new(192, 0, 2, 7)]);
    assert_eq!(&*resp.server, second.addr().to_string());
}

#[tokio::test]
async fn refused_is_temporary_refused() {
    let server = FaultServer::start(|_| Reply::Refused);
    let engine = engine(&[&server], PATIENT, 2).await;
    let resp = ask(&engine, "example.", RecordType::MX).await;
    assert_eq!(
        resp.status,
        Status::Temporary(TempError::Refused(server.addr().to_string()))
    );
}

#[tokio::test]
async fn other_error_rcode_is_temporary_with_its_mnemonic() {
    let server = FaultServer::start(|req| Reply::rcode(req, ResponseCode::NotImp));
    let engine = engine(&[&server], PATIENT, 1).await;
    let resp = ask(&engine, "example.", RecordType::MX).await;
    assert_eq!(
        resp.status,
        Status::Temporary(TempError::Rcode {
            rcode: "NOTIMP".into(),
            server: server.addr().to_string(),
        })
    );
}

// ---- timeouts and retries ----

#[tokio::test]
async fn silence_is_a_timeout_after_every_round_naming_the_servers() {
    let server = FaultServer::start(|_| Reply::Silence);
    let engine = engine(&[&server], SHORT, 2).await;
    let resp = ask(&engine, "example.", RecordType::MX).await;
    let (servers, ignored, last) = timeout_details(&resp);
    assert_eq!(servers, server.addr().to_string());
    assert_eq!((ignored, last), (0, None));
    assert_eq!(server.queries().len(), 2, "one try per round");
}

#[tokio::test]
async fn second_server_is_used_when_the_first_is_silent() {
    let silent = FaultServer::start(|_| Reply::Silence);
    let good = FaultServer::start(|req| Reply::a(req, &["192.0.2.2"]));
    let engine = engine(&[&silent, &good], SHORT, 1).await;
    let resp = ask(&engine, "example.", RecordType::A).await;
    assert_eq!(resp.status, Status::NoError);
    assert_eq!(addresses(&resp), vec![Ipv4Addr::new(192, 0, 2, 2)]);
    assert_eq!(&*resp.server, good.addr().to_string());
    assert_eq!(silent.queries().len(), 1);
}

#[tokio::test]
async fn a_lost_query_is_retried_in_the_next_round() {
    let asked = Arc::new(Mutex::new(0));
    let asked2 = Arc::clone(&asked);
    let server = FaultServer::start(move |req| {
        let mut n = asked2.lock().unwrap();
        *n += 1;
        if *n == 1 {
            Reply::Silence
        } else {
            Reply::a(req, &["192.0.2.3"])
        }
    });
    let engine = engine(&[&server], SHORT, 2).await;
    let resp = ask(&engine, "example.", RecordType::A).await;
    assert_eq!(addresses(&resp), vec![Ipv4Addr::new(192, 0, 2, 3)]);
    assert_eq!(server.queries().len(), 2);
}

/// Each round waits twice as long as the one before (glibc's `retrans <<
/// try`), give or take an eighth, up to 8 times the first; the engine's
/// budget covers every wait.
#[tokio::test]
async fn later_rounds_wait_twice_as_long_exponential_backoff() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let server = FaultServer::start(move |_| {
        seen2.lock().unwrap().push(std::time::Instant::now());
        Reply::Silence
    });
    let first = Duration::from_millis(100);
    let cfg = config(&[&server], first, 4);
    let waits: Vec<Duration> = (0..5).map(|round| cfg.try_timeout(round)).collect();
    assert_eq!(waits, [100, 200, 400, 800, 800].map(Duration::from_millis));
    assert_eq!(cfg.budget(), Duration::from_millis(1500) * 9 / 8);
    let engine = Engine::new(cfg).await.unwrap();
    let started = std::time::Instant::now();
    let resp = ask(&engine, "example.", RecordType::MX).await;
    let took = started.elapsed();
    assert!(matches!(
        resp.status,
        Status::Temporary(TempError::Timeout { .. })
    ));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "one try per round");
    for (i, pair) in seen.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        let least = waits[i] - waits[i] / 8;
        assert!(
            gap >= least,
            "round {i}: the next try came after {gap:?}, before {least:?}"
        );
    }
    let least: Duration = waits[..4].iter().map(|w| *w - *w / 8).sum();
    assert!(took >= least, "gave up after {took:?}, before {least:?}");
}

// ---- reply matching (RFC 5452 section 9.1: ID, source address, question) ----

#[tokio::test]
async fn wrong_id_reply_is_ignored_and_the_right_reply_is_used() {
    let server = FaultServer::start(|req| {
        Reply::Sequence(vec![Reply::WrongId, Reply::a(req, &["192.0.2.4"])])
    });
    let engine = engine(&[&server], PATIENT, 1).await;
    let resp = ask(&engine, "example.", RecordType::A).await;
    assert_eq!(addresses(&resp), vec![Ipv4Addr::new(192, 0, 2, 4)]);
}

#[tokio::test]
async fn wrong_id_alone_ends_in_a_timeout_that_says_wrong_id() {
    let server = FaultServer::start(|_| Reply::WrongId);
    let engine = engine(&[&server], SHORT, 1).await;
    let resp = ask(&engine, "example.", RecordType::A).await;
    let (_, ignored, last) = timeout_details(&resp);
    assert_eq!(ignored, 1);
    assert!(last.unwrap().contains("wrong ID"));
    assert!(!addresses(&resp).contains(&POISON));
}

#[tokio::test]
async fn wrong_question_reply_is_ignored_and_the_right_reply_is_used() {
    let server = FaultServer::start(|req| {
        Reply::Sequence(vec![Reply::WrongQuestion, Reply::a(req, &["192.0.2.5"])])
    });
    let engine = engine(&[&server], PATIENT, 1).await;
    let resp = ask(&engine, "example.", RecordType::A).await;
    assert_eq!(addresses(&resp), vec![Ipv4Addr::new(192, 0, 2, 5)]);
}

#[tokio::test]
async fn wrong_question_alone_ends_in_a_timeout_that_says_wrong_question() {
    let server = FaultServer::start(|_| Reply::WrongQuestion);
    let engine = engine(&[&server], SHORT, 1).await;
    let resp = ask(&engine, "example.", RecordType::A).await;
    let (_, ignored, last) = timeout_details(&resp);
    assert_eq!(ignored, 1);
    assert!(last.unwrap().contains("wrong question"));
}

#[tokio::test]
async fn reply_with_another_type_in_the_question_is_ignored() {
    let server = FaultServer::start(|req| {
        let mut msg = fault::response(req);
        msg.queries[0].query_type = RecordType::AAAA;
        Reply::Answer(msg)
    });
    let engine = engine(&[&server], SHORT, 1).await;
    let resp = ask(&engine, "example.", RecordType::A).await;
    let (_, _, last) = timeout_details(&resp);
    assert!(last.unwrap().contains("wrong question"));
}

#[tokio::test]
async fn question_name_is_matched_case_insensitively_rfc4343() {
    let server = FaultServer::start(|req| {
        let Reply::Answer(mut msg) = Reply::a(req, &["192.0.2.6"]) else {
            unreachable!()
        };
        msg.queries[0].name = name("EXAMPLE.Org.");
        Reply::Answer(msg)
    });
    let engine = engine(&[&server], PATIENT, 1).await;
    let resp = ask(&engine, "example.org.", RecordType::A).await;
    assert_eq!(resp.status, Status::NoError);
    assert_eq!(addresses(&resp), vec![Ipv4Addr::new(192, 0, 2, 6)]);
}

#[tokio::test]
async fn reply_without_the_qr_bit_is_ignored() {
    let server = FaultServer::start(|req| Reply::Raw(fault::encode(&req.message)));
    let engine = engine(&[&server], SHORT, 1).await;
    let resp = ask(&engine, "example.", RecordType::A).await;
    let (_, ignored, last) = timeout_details(&resp);
    assert_eq!(ignored, 1);
    assert!(last.unwrap().contains("QR"));
}

#[tokio::test]
async fn reply_from_an_address_not_asked_is_ignored_and_the_right_reply_is_used() {
    let server = FaultServer::start(|req| {
        Reply::Sequence(vec![
            Reply::Spoofed(Box::new(Reply::a(req, &[&POISON.to_string()]))),
            Reply::a(req, &["192.0.2.8"]),
        ])
    });
    let engine = engine(&[&server], PATIENT, 1).await;
    let resp = ask(&engine, "example.", RecordType::A).await;
    assert_eq!(addresses(&resp), vec![Ipv4Addr::new(192, 0, 2, 8)]);
}

#[tokio::test]
async fn reply_from_an_address_not_asked_alone_ends_in_a_timeout_that_says_so() {
    let server =
        FaultServer::start(|req| Reply::Spoofed(Box::new(Reply::a(req, &[&POISON.to_string()]))));
    let engine = engine(&[&server], SHORT, 1).await;
    let resp = ask(&engine, "example.", RecordType::A).await;
    let (_, ignored, last) = timeout_details(&resp);
    assert_eq!(ignored, 1);
    assert!(last.unwrap().contains("unexpected address"));
}

// ---- malformed replies: ignored, never a panic ----

#[tokio::test]
async fn undecodable_replies_are_ignored_then_timeout_says_undecodable() {
    let cases: Vec<(&str, Handler)> = vec![
        ("garbage after a right ID", |req| {
            let mut bytes = req.id().to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xff, 0xfe, 0x17]);
            Reply::Raw(bytes)
        }),
        ("compression loop", |req| {
            Reply::Raw(fault::compression_loop(req))
        }),
        ("packet cut short", |req| {
            let Reply::Answer(msg) = Reply::mx(req, &[(10, "mx.example.")]) else {
                unreachable!()
            };
            let full = fault::encode(&msg).len();
            Reply::Raw(fault::cut_short(&msg, full - 3))
        }),
        ("shorter than a header", |req| {
            Reply::Raw(req.id().to_be_bytes().to_vec())
        }),
    ];
    for (what, handler) in cases {
        let server = FaultServer::start(handler);
        let engine = engine(&[&server], SHORT, 1).await;
        let resp = ask(&engine, "example.", RecordType::MX).await;
        let (_, ignored, last) = timeout_details(&resp);
        assert_eq!(ignored, 1, "{what}");
        let last = last.unwrap();
        assert!(last.contains("undecodable"), "{what}: {last}");
    }
}

#[tokio::test]
async fn compression_loop_is_ignored_and_the_right_reply_after_it_is_used() {
    let server = FaultServer::start(|req| {
        Reply::Sequence(vec![
            Reply::Raw(fault::compression_loop(req)),
            Reply::Raw(vec![]),
            Reply::a(req, &["192.0.2.9"]),
        ])
    });
    let engine = engine(&[&server], PATIENT, 1).await;
    let resp = ask(&engine, "example.", RecordType::A).await;
    assert_eq!(addresses(&resp), vec![Ipv4Addr::new(192, 0, 2, 9)]);
}

#[tokio::test]
async fn oversized_answer_section_is_capped_not_a_panic() {
    let server = FaultServer::start(|req| {
        let many: Vec<String> = (0..1500u32)
            .map(|i| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        Reply::a(req, &many)
    });
    let engine = engine(&[&server], PATIENT, 1).await;
    let resp = ask(&engine, "big.example.", RecordType::A).await;
    assert_eq!(resp.status, Status::NoError);
    assert_eq!(resp.answers.len(), MAX_ANSWERS);
}

// ---- truncation (RFC 1123 section 6.1.3.2, RFC 7766 section 5) ----

#[tokio::test]
async fn tc_over_udp_is_re_asked_over_tcp_and_the_truncated_records_are_not_used() {
    let server = FaultServer::start(|req| match req.transport {
        Transport::Udp => Reply::mx(req, &[(10, "udp-partial.example.")]).with_tc(),
        Transport::Tcp => Reply::mx(req, &[(10, "mx1.example."), (20, "mx2.example.")]),
    });
    let engine = engine(&[&server], PATIENT, 1).await;
    let resp = ask(&engine, "example.", RecordType::MX).await;
    assert_eq!(resp.status, Status::NoError);
    assert_eq!(
        exchanges(&resp),
        vec![(10, "mx1.example.".into()), (20, "mx2.example.".into())]
    );
    let transports: Vec<Transport> = server.queries().into_iter().map(|q| q.2).collect();
    assert_eq!(transports, vec![Transport::Udp, Transport::Tcp]);
}

#[tokio::test]
async fn tc_with_tcp_refused_silent_or_closed_is_truncated() {
    let refused = FaultServer::start_udp_only(|_| Reply::Truncated);
    let silent = FaultServer::start(|req| match req.transport {
        Transport::Udp => Reply::Truncated,
        Transport::Tcp => Reply::Silence,
    });
    let closed = FaultServer::start(|req| match req.transport {
        Transport::Udp => Reply::Truncated,
        Transport::Tcp => Reply::Hangup,
    });
    let still_tc = FaultServer::start(|_| Reply::Truncated);
    let garbage = FaultServer::start(|req| match req.transport {
        Transport::Udp => Reply::Truncated,
        Transport::Tcp => Reply::Raw(fault::compression_loop(req)),
    });
    for (what, server) in [
        ("TCP refused", &refused),
        ("TCP silent", &silent),
        ("TCP closed", &closed),
        ("TC over TCP too", &still_tc),
        ("TCP reply undecodable", &garbage),
    ] {
        let engine = engine(&[server], SHORT, 2).await;
        let resp = ask(&engine, "example.", RecordType::MX).await;
        assert_eq!(resp.status, Status::Truncated, "{what}");
        assert!(resp.answers.is_empty(), "{what}");
        assert_eq!(
            server.count(Transport::Udp),
            1,
            "{what}: asked once over UDP"
        );
    }
}

#[tokio::test]
async fn tc_with_tcp_failing_moves_on_to_the_next_server() {
    let first = FaultServer::start_udp_only(|_| Reply::Truncated);
    let second = FaultServer::start(|req| Reply::mx(req, &[(10, "mx.example.")]));
    let engine = engine(&[&first, &second], PATIENT, 1).await;
    let resp = ask(&engine, "example.", RecordType::MX).await;
    assert_eq!(resp.status, Status::NoError);
    assert_eq!(exchanges(&resp), vec![(10, "mx.example.".into())]);
}

// ---- the pending table ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_queries_each_get_their_own_answer_despite_id_collisions() {
    // Each name carries its number; the answer encodes it back.
    let server = FaultServer::start(|req| {
        let n: u32 = req
            .name()
            .strip_prefix('q')
            .and_then(|rest| rest.split('.').next())
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(u32::MAX);
        let ip = Ipv4Addr::from(0x0a00_0000 | n);
        Reply::a(req, &[&ip.to_string()])
    });
    let mut cfg = config(&[&server], Duration::from_secs(3), 3);
    // One socket: every query shares one 16-bit ID space.
    cfg.udp_sockets = 1;
    let engine = Engine::new(cfg).await.unwrap();
    let queries = (0..2000u32).map(|n| {
        let engine = engine.clone();
        tokio::spawn(async move {
            let resp = ask(&engine, &format!("q{n}.example."), RecordType::A).await;
            (n, resp)
        })
    });
    for handle in queries.collect::<Vec<_>>() {
        let (n, resp) = handle.await.unwrap();
        assert_eq!(resp.status, Status::NoError, "q{n}");
        assert_eq!(
            addresses(&resp),
            vec![Ipv4Addr::from(0x0a00_0000 | n)],
            "q{n}"
        );
    }
    assert_eq!(engine.in_flight(), 0, "no pending entry left behind");
}

#[tokio::test]
async fn a_dropped_query_leaves_no_pending_entry() {
    let server = FaultServer::start(|_| Reply::Silence);
    let engine = engine(&[&server], PATIENT, 1).await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        ask(&engine, "example.", RecordType::A),
    )
    .await;
    assert!(cancelled.is_err(), "the silent server cannot have answered");
    assert_eq!(engine.in_flight(), 0);
}

#[tokio::test]
async fn engine_without_servers_is_an_error() {
    let err = Engine::new(EngineConfig::new(Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

// ---- resolv.conf (resolv.conf(5)) ----

#[test]
fn resolv_conf_nameservers_on_port_53_and_options_timeout_attempts() {
    let cfg = EngineConfig::from_resolv_conf(
        "# comment\n\
         search example.com corp.example.com\n\
         domain example.com\n\
         nameserver 192.0.2.53\n\
         nameserver 2001:db8::53\n\
         options ndots:5 timeout:1 attempts:4 rotate edns0\n",
    )
    .unwrap();
    assert_eq!(
        cfg.servers,
        vec![
            "192.0.2.53:53".parse::<SocketAddr>().unwrap(),
            "[2001:db8::53]:53".parse().unwrap(),
        ]
    );
    assert_eq!(cfg.timeout, Duration::from_secs(1));
    assert_eq!(cfg.attempts, 4);
    assert_eq!(cfg.edns_payload, 1232);
    assert!(cfg.recursion_desired);
}

#[test]
fn resolv_conf_without_options_uses_glibc_defaults_and_caps_large_values() {
    let cfg = EngineConfig::from_resolv_conf("nameserver 127.0.0.53\n").unwrap();
    assert_eq!(cfg.timeout, Duration::from_secs(5));
    assert_eq!(cfg.attempts, 2);
    let cfg =
        EngineConfig::from_resolv_conf("nameserver 127.0.0.53\noptions timeout:99 attempts:9\n")
            .unwrap();
    assert_eq!(cfg.timeout, Duration::from_secs(30));
    assert_eq!(cfg.attempts, 5);
}

#[test]
fn resolv_conf_unknown_lines_are_skipped() {
    let cfg = EngineConfig::from_resolv_conf(
        "frobnicate yes\noptions no-such-option\nnameserver 192.0.2.1\n",
    )
    .unwrap();
    assert_eq!(
        cfg.servers,
        vec!["192.0.2.1:53".parse::<SocketAddr>().unwrap()]
    );
}

#[test]
fn resolv_conf_without_nameserver_is_an_error() {
    let err = EngineConfig::from_resolv_conf("search example.com\noptions ndots:2\n").unwrap_err();
    assert!(matches!(err, ConfigError::NoNameserver(_)), "{err}");
    let err = EngineConfig::from_resolv_conf_file("/nonexistent/resolv.conf").unwrap_err();
    assert!(matches!(err, ConfigError::Unreadable { .. }), "{err}");
}

/// A resolv.conf that is not one (too large, a device, a directory, a FIFO
/// with no writer) is refused at once, naming what is wrong, before
/// anything is read.
#[test]
fn resolv_conf_files_are_bounded_and_regular() {
    use mxkit::dns::engine::MAX_RESOLV_CONF;
    let dir = std::env::temp_dir().join(format!("mxkit-resolv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The largest accepted file is read...
    let padded = dir.join("padded.conf");
    let mut text = "nameserver 192.0.2.1\n".to_string();
    text.push_str(&"#".repeat(MAX_RESOLV_CONF as usize - text.len()));
    std::fs::write(&padded, &text).unwrap();
    let cfg = EngineConfig::from_resolv_conf_file(&padded).unwrap();
    assert_eq!(cfg.servers.len(), 1);
    // ... one byte more is not.
    text.push('#');
    std::fs::write(&padded, &text).unwrap();
    let err = EngineConfig::from_resolv_conf_file(&padded).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read {}: exceeds the limit of {MAX_RESOLV_CONF} bytes",
            padded.display()
        )
    );
    let fifo = dir.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (path, why) in [
        (Path::new("/dev/zero"), "not a regular file"),
        (fifo.as_path(), "not a regular file"),
        (dir.as_path(), "a directory"),
    ] {
        let err = EngineConfig::from_resolv_conf_file(path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot read {}: {why}", path.display())
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A slow server: every reply comes 450 ms late, past the 300 ms a try
/// waits. Earlier tries stay registered, so the reply to the first try
/// answers the question while the second try waits; before, it was dropped
/// as "wrong ID" and a server slower than the timeout failed outright.
#[tokio::test]
async fn a_late_reply_to_an_earlier_try_answers_the_question() {
    let server = FaultServer::start(|req| {
        Reply::Delayed(
            Duration::from_millis(450),
            Box::new(Reply::mx(req, &[(10, "mx1.late.test.")])),
        )
    });
    let engine = engine(&[&server], Duration::from_millis(300), 3).await;
    let resp = ask(&engine, "late.test.", RecordType::MX).await;
    assert_eq!(resp.status, Status::NoError, "{resp:?}");
    assert_eq!(exchanges(&resp), vec![(10, "mx1.late.test.".to_string())]);
    assert_eq!(
        server.count(Transport::Udp),
        2,
        "answered during the second try"
    );
}
