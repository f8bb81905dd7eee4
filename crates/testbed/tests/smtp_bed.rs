//! Self-tests of the SMTP test bed: real Postfix MXs with TLS, smtp-sink
//! failure servers and the SYN black hole. Every server here listens on
//! 127.0.20.x (port 25), a range the mxkit tests do not use, and each test
//! has its own addresses, so the tests run in parallel. Needs root and
//! Debian's postfix, swaks and openssl (scripts/test installs them).

use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testbed::blackhole::BlackHole;
use testbed::certs::TestCa;
use testbed::postfix::{Postfix, PostfixInstance};
use testbed::smtp_client::{self, SmtpClient};
use testbed::smtp_sink::SmtpSink;

const DELIVERY: Duration = Duration::from_secs(20);

fn bed(last: u8) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(127, 0, 20, last), 25))
}

/// Run a program, feeding it nothing; (success, stdout + stderr).
fn run(program: &str, args: &[&str], package: &str) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e} (install Debian's package {package}; scripts/test does this)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `openssl s_client -starttls smtp` against `addr` with SNI `name`,
/// verifying the chain against `ca` and the name; returns the output.
fn s_client(addr: SocketAddr, name: &str, ca: &TestCa) -> String {
    let connect = addr.to_string();
    let ca_file = ca.ca_pem_path().display().to_string();
    let (ok, out) = run(
        "openssl",
        &[
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            &connect,
            "-servername",
            name,
            "-name",
            "client.example.test",
            "-CAfile",
            &ca_file,
            "-verify_hostname",
            name,
            "-verify_return_error",
            "-brief",
        ],
        "openssl",
    );
    assert!(ok, "openssl s_client to {addr} as {name} failed:\n{out}");
    out
}

#[test]
fn leaf_certificates_verify_against_the_test_ca() {
    let ca = TestCa::new();
    let (cert, key) = ca.leaf(&["mx1.example.test", "mail.example.test"]);
    assert!(ca.ca_pem_path().is_file() && key.is_file());
    let ca_file = ca.ca_pem_path().display().to_string();
    let cert_file = cert.display().to_string();
    for name in ["mx1.example.test", "mail.example.test"] {
        let (ok, out) = run(
            "openssl",
            &[
                "verify",
                "-CAfile",
                &ca_file,
                "-purpose",
                "sslserver",
                "-verify_hostname",
                name,
                &cert_file,
            ],
            "openssl",
        );
        assert!(ok && out.contains(": OK"), "{name}: {out}");
    }
    let (ok, out) = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            &ca_file,
            "-verify_hostname",
            "mx2.example.test",
            &cert_file,
        ],
        "openssl",
    );
    assert!(!ok, "a leaf for mx1 must not verify as mx2: {out}");
    let (_, text) = run(
        "openssl",
        &["x509", "-noout", "-text", "-in", &cert_file],
        "openssl",
    );
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(
        text.contains("DNS:mx1.example.test, DNS:mail.example.test"),
        "{text}"
    );
}

/// mx1 and mx2 on one Postfix instance: greetings, STARTTLS, the right
/// certificate per address, one delivery each (std client and swaks), and
/// no relaying.
#[test]
fn postfix_mx1_and_mx2() {
    let ca = TestCa::new();
    let pf = Postfix::start(&[
        PostfixInstance::new(bed(2), "mx1.example.test").tls(ca.leaf(&["mx1.example.test"])),
        PostfixInstance::new(bed(3), "mx2.example.test").tls(ca.leaf(&["mx2.example.test"])),
    ]);
    assert_eq!(pf.addr(0), bed(2));
    assert_eq!(pf.addr(1), bed(3));

    for (i, name) in [(0, "mx1.example.test"), (1, "mx2.example.test")] {
        let (greeting, ehlo) = smtp_client::ehlo(pf.addr(i), "client.example.test").unwrap();
        assert_eq!(greeting.code, 220);
        assert_eq!(greeting.lines, vec![format!("{name} ESMTP test")]);
        let ehlo = ehlo.expect("an EHLO reply");
        assert_eq!(ehlo.code, 250);
        assert_eq!(ehlo.lines[0], name);
        assert!(ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo}");
    }

    // The certificate on each address is that address's, and verifies.
    let out = s_client(bed(2), "mx1.example.test", &ca);
    assert!(out.contains("CN = mx1.example.test"), "{out}");
    assert!(out.contains("Verification: OK"), "{out}");
    let out = s_client(bed(3), "mx2.example.test", &ca);
    assert!(out.contains("CN = mx2.example.test"), "{out}");

    // One message in plain text with the std client: exactly one delivery.
    let reply = smtp_client::send_message(
        pf.addr(0),
        "sender@example.test",
        &["someone@example.test"],
        "Subject: bed-token-plain\r\n\r\nhello\r\n",
    )
    .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    let messages = pf.wait_for_messages(1, DELIVERY);
    pf.wait_queue_empty(DELIVERY);
    let messages_now = pf.messages();
    assert_eq!(messages_now.len(), 1, "{messages:?}");
    assert!(messages_now[0].contains("Subject: bed-token-plain"));
    assert!(messages_now[0].contains("Delivered-To: someone@example.test"));
    assert!(messages_now[0].contains("by mx1.example.test (Postfix)"));

    // One with swaks over STARTTLS to mx2.
    let server = bed(3).ip().to_string();
    let (ok, out) = run(
        "swaks",
        &[
            "--server",
            &server,
            "--port",
            "25",
            "--helo",
            "client.example.test",
            "--from",
            "sender@example.test",
            "--to",
            "x@example.test",
            "--header",
            "Subject: bed-token-swaks",
            "--tls",
            "--timeout",
            "10",
        ],
        "swaks",
    );
    assert!(ok, "swaks failed:\n{out}");
    let messages = pf.wait_for_messages(2, DELIVERY);
    pf.wait_queue_empty(DELIVERY);
    assert_eq!(pf.messages().len(), 2);
    let swaked: Vec<&String> = messages
        .iter()
        .filter(|m| m.contains("Subject: bed-token-swaks"))
        .collect();
    assert_eq!(swaked.len(), 1, "{messages:?}");
    assert!(
        swaked[0].contains("by mx2.example.test (Postfix)"),
        "{}",
        swaked[0]
    );
    assert!(swaked[0].contains("(using TLS"), "{}", swaked[0]);

    // Other domains are not relayed.
    let reply = smtp_client::send_message(
        pf.addr(0),
        "sender@example.test",
        &["x@elsewhere.test"],
        "Subject: no\r\n\r\nno\r\n",
    )
    .unwrap();
    assert_eq!(reply.code, 554, "{reply}");
    assert!(pf.log().contains("status=sent"));
    assert_eq!(pf.log().matches("status=sent").count(), 2, "{}", pf.log());
}

/// Two instances (two config directories) at the same time, each with its
/// own Maildir.
#[test]
fn two_postfix_instances_run_at_once() {
    let a = Postfix::start(&[PostfixInstance::new(bed(12), "mxa.example.test")]);
    let b = Postfix::start_with(
        &[PostfixInstance::new(bed(13), "mxb.example.test")],
        &["example.test", "other.test"],
        &[("smtpd_timeout", "10s")],
    );
    assert_eq!(b.postconf(&["-h", "smtpd_timeout"]).trim(), "10s");
    assert_ne!(a.config_dir(), b.config_dir());
    for (pf, token, rcpt) in [
        (&a, "for-a", "r@example.test"),
        (&b, "for-b", "r@other.test"),
    ] {
        let reply = smtp_client::send_message(
            pf.addr(0),
            "s@example.test",
            &[rcpt],
            &format!("Subject: {token}\r\n\r\nbody\r\n"),
        )
        .unwrap();
        assert_eq!(reply.code, 250, "{reply}");
    }
    let ma = a.wait_for_messages(1, DELIVERY);
    let mb = b.wait_for_messages(1, DELIVERY);
    a.wait_queue_empty(DELIVERY);
    b.wait_queue_empty(DELIVERY);
    assert_eq!(ma.len(), 1);
    assert_eq!(mb.len(), 1);
    assert!(ma[0].contains("Subject: for-a") && mb[0].contains("Subject: for-b"));
    // No STARTTLS without a certificate.
    let (_, ehlo) = smtp_client::ehlo(a.addr(0), "client.example.test").unwrap();
    assert!(!ehlo.unwrap().lines.iter().any(|l| l == "STARTTLS"));
    // Dropping one leaves the other running.
    drop(a);
    assert!(
        SmtpClient::connect(bed(12), Duration::from_secs(1)).is_err(),
        "127.0.20.12 still listens after drop"
    );
    assert_eq!(
        smtp_client::greeting(bed(13), Duration::from_secs(2))
            .unwrap()
            .code,
        220
    );
}

#[test]
fn postfix_temp_failing_mx_greets_421() {
    let pf = Postfix::start(&[
        PostfixInstance::new(bed(14), "mxt.example.test").temp_fail(),
        PostfixInstance::new(bed(15), "mxu.example.test"),
    ]);
    let mut c = SmtpClient::connect(pf.addr(0), Duration::from_secs(2)).unwrap();
    let greeting = c.read_reply().unwrap();
    assert_eq!(greeting.code, 421, "{greeting}");
    assert!(
        greeting
            .text()
            .contains("Client host rejected: Try again later"),
        "{greeting}"
    );
    // Then it hangs up.
    let err = c.read_reply().unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
        ),
        "{err}"
    );
    // The other service of the same instance is unaffected.
    assert_eq!(
        smtp_client::greeting(pf.addr(1), Duration::from_secs(2))
            .unwrap()
            .code,
        220
    );
}

#[test]
fn smtp_sink_greets_421_and_hangs_up() {
    let sink = SmtpSink::greet_421(bed(4), "tempfail.example.test");
    let mut c = SmtpClient::connect(sink.addr(), Duration::from_secs(2)).unwrap();
    let greeting = c.read_reply().unwrap();
    assert_eq!(greeting.code, 421, "{greeting}");
    let err = c.read_reply().unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
        ),
        "{err}"
    );
}

#[test]
fn smtp_sink_greets_450() {
    let sink = SmtpSink::greet_450(bed(5), "busy.example.test");
    let mut c = SmtpClient::connect(sink.addr(), Duration::from_secs(2)).unwrap();
    assert_eq!(c.read_reply().unwrap().code, 450);
    assert_eq!(c.command("QUIT").unwrap().code, 221);
}

#[test]
fn smtp_sink_never_greets() {
    let sink = SmtpSink::silent(bed(6), "slow.example.test");
    let mut s = TcpStream::connect_timeout(&sink.addr(), Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 64];
    let err = s.read(&mut buf).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
}

#[test]
fn smtp_sink_rejects_rcpt_with_5xx() {
    let sink = SmtpSink::reject_rcpt(bed(8), "reject.example.test");
    let (greeting, ehlo) = smtp_client::ehlo(sink.addr(), "client.example.test").unwrap();
    assert_eq!(greeting.lines[0], "reject.example.test ESMTP");
    assert_eq!(ehlo.unwrap().code, 250);
    let reply = smtp_client::send_message(
        sink.addr(),
        "s@example.test",
        &["r@example.test"],
        "Subject: x\r\n\r\nx\r\n",
    )
    .unwrap();
    assert_eq!(reply.code, 500, "{reply}");
}

#[test]
fn smtp_sink_captures_messages() {
    let sink = SmtpSink::capture(bed(7), "sink.example.test");
    let reply = smtp_client::send_message(
        sink.addr(),
        "s@example.test",
        &["r@example.test"],
        "Subject: captured-token\r\n\r\nbody\r\n",
    )
    .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    let messages = sink.wait_for_messages(1, DELIVERY);
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("Subject: captured-token"),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].contains("X-Rcpt-Args: <r@example.test>"),
        "{}",
        messages[0]
    );
}

#[test]
fn nothing_listening_is_refused_at_once() {
    let start = Instant::now();
    let err = TcpStream::connect_timeout(&bed(9), Duration::from_secs(2)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(start.elapsed() < Duration::from_millis(500));
}

#[test]
fn black_hole_makes_connects_time_out() {
    let hole = BlackHole::start(bed(10));
    assert!(hole.fillers() >= 1);
    for _ in 0..2 {
        let start = Instant::now();
        let err = TcpStream::connect_timeout(&hole.addr(), Duration::from_secs(1)).unwrap_err();
        let took = start.elapsed();
        assert!(
            matches!(err.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock),
            "{err}"
        );
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }
    drop(hole);
    // Closed: refused now.
    let err = TcpStream::connect_timeout(&bed(10), Duration::from_secs(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn handles_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TestCa>();
    send_sync::<Postfix>();
    send_sync::<SmtpSink>();
    send_sync::<BlackHole>();
}
