//! Log ingestion throughput: parse + follow, without the store.
//!
//! Writes a realistic, seeded Postfix log of N lines (postscreen, smtpd,
//! cleanup, qmgr, delivery agents and other daemons, in proportions like a
//! small MX host's `mail.log`) to a temporary file, then measures
//!
//! 1. parse: the lines, already in memory, through `PostfixParser::line`;
//! 2. follow: `FileFollower::read_now` from the start of the file to its end
//!    (reading, line splitting, parsing, batches with their cursor).
//!
//! ```text
//! cargo run --release -p mxkit-trap --example ingest_bench -- [LINES] [SEED]
//! ```
//!
//! The goal is 200,000 lines/s on one core.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Instant;

use mxkit_trap::logs::{FileFollower, FollowConfig, ParserConfig, PostfixParser, StartAt};
use mxkit_trap::model::now;

/// xorshift64*: a seeded generator, enough for a synthetic log.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn generate(lines: usize, seed: u64) -> String {
    let mut r = Rng(seed | 1);
    let mut out = String::with_capacity(lines * 130);
    let mut t: u64 = 300 * 86_400; // late October, in seconds of the year
    let mut qid: u64 = 0x1A2B3C4D5E;
    let mut pending: Vec<(u64, String)> = Vec::new();
    let mut n = 0;
    while n < lines {
        t += r.below(2);
        let day = t / 86_400;
        let (mon, dom) = ((day / 31).min(11) as usize, day % 31 + 1);
        let ts = format!(
            "{} {:>2} {:02}:{:02}:{:02}",
            MONTHS[mon],
            dom,
            t % 86_400 / 3600,
            t % 3600 / 60,
            t % 60
        );
        let ip = format!(
            "{}.{}.{}.{}",
            1 + r.below(223),
            r.below(256),
            r.below(256),
            1 + r.below(254)
        );
        let port = 1024 + r.below(60_000);
        let pid = 1000 + r.below(30_000);
        let host = "mx1";
        let pick = r.below(100);
        let line = match pick {
            0..=14 => format!(
                "{ts} {host} postfix/postscreen[{pid}]: CONNECT from [{ip}]:{port} to [198.51.100.10]:25"
            ),
            15..=21 => format!("{ts} {host} postfix/postscreen[{pid}]: PASS OLD [{ip}]:{port}"),
            22..=23 => format!("{ts} {host} postfix/postscreen[{pid}]: PASS NEW [{ip}]:{port}"),
            24 => format!(
                "{ts} {host} postfix/postscreen[{pid}]: PREGREET 11 after 0.12 from [{ip}]:{port}: EHLO ylmf-pc\\r\\n"
            ),
            25..=26 => {
                format!("{ts} {host} postfix/postscreen[{pid}]: DNSBL rank 3 for [{ip}]:{port}")
            }
            27..=29 => format!(
                "{ts} {host} postfix/postscreen[{pid}]: HANGUP after 0.4 from [{ip}]:{port} in tests after SMTP handshake"
            ),
            30..=34 => format!("{ts} {host} postfix/postscreen[{pid}]: DISCONNECT [{ip}]:{port}"),
            35..=44 => format!(
                "{ts} {host} postfix/smtpd[{pid}]: connect from mail-{}.example{}.com[{ip}]",
                r.below(100),
                r.below(50)
            ),
            45..=50 => {
                qid += 1 + r.below(1000);
                pending.push((qid, ip.clone()));
                format!("{ts} {host} postfix/smtpd[{pid}]: {qid:X}: client=unknown[{ip}]")
            }
            51..=54 => format!(
                "{ts} {host} postfix/smtpd[{pid}]: NOQUEUE: reject: RCPT from unknown[{ip}]: 550 5.1.1 <nobody{}@example.org>: Recipient address rejected: User unknown in virtual mailbox table; from=<spam{}@bulk{}.example> to=<nobody@example.org> proto=ESMTP helo=<[{ip}]>",
                r.below(100),
                r.below(1000),
                r.below(100)
            ),
            55..=62 => format!(
                "{ts} {host} postfix/smtpd[{pid}]: disconnect from unknown[{ip}] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4"
            ),
            63..=65 => format!(
                "{ts} {host} postfix/smtpd[{pid}]: lost connection after EHLO from unknown[{ip}]"
            ),
            66..=68 => format!(
                "{ts} {host} postfix/smtpd[{pid}]: Anonymous TLS connection established from unknown[{ip}]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
            ),
            69..=72 if !pending.is_empty() => {
                let (q, _) = pending[0];
                format!(
                    "{ts} {host} postfix/cleanup[{pid}]: {q:X}: message-id=<{}.{}@example{}.com>",
                    r.next(),
                    r.below(1000),
                    r.below(50)
                )
            }
            73..=78 if !pending.is_empty() => {
                let (q, _) = pending.remove(0);
                format!(
                    "{ts} {host} postfix/qmgr[812]: {q:X}: from=<sender{}@Example{}.com>, size={}, nrcpt=1 (queue active)",
                    r.below(1000),
                    r.below(50),
                    500 + r.below(100_000)
                )
            }
            79..=84 => format!(
                "{ts} {host} postfix/lmtp[{pid}]: {:X}: to=<user{}@example.org>, relay=mail.example.org[private/dovecot-lmtp], delay=0.1, delays=0.05/0.01/0.01/0.03, dsn=2.0.0, status=sent (250 2.0.0 <user@example.org> Saved)",
                qid,
                r.below(100)
            ),
            85..=87 => format!("{ts} {host} postfix/qmgr[812]: {qid:X}: removed"),
            88..=90 => {
                format!("{ts} {host} postfix/submission/smtpd[{pid}]: connect from unknown[{ip}]")
            }
            91..=95 => format!(
                "{ts} {host} dovecot: imap-login: Login: user=<user{}@example.org>, method=PLAIN, rip={ip}, lip=198.51.100.10, mpid={pid}, TLS",
                r.below(100)
            ),
            _ => format!(
                "{ts} {host} opendkim[{pid}]: {qid:X}: DKIM-Signature field added (s=mail, d=example.org)"
            ),
        };
        let _ = writeln!(out, "{line}");
        n += 1;
    }
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let lines: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(42);

    let log = generate(lines, seed);
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("mail.log");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(log.as_bytes()))
        .expect("write the log");
    println!(
        "log: {lines} lines, {:.1} MB, seed {seed}, {}",
        log.len() as f64 / 1e6,
        path.display()
    );

    // 1. Parse only.
    let mut parser = PostfixParser::new(ParserConfig::new("bench"));
    let reference = now();
    let mut out = Vec::new();
    let (mut obs, mut dated) = (0usize, 0usize);
    let start = Instant::now();
    for l in log.lines() {
        if parser.line(l, reference, &mut out).is_some() {
            dated += 1;
        }
        if out.len() >= 10_000 {
            obs += out.len();
            out.clear();
        }
    }
    obs += out.len();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "parse:  {:>10.0} lines/s  ({lines} lines in {secs:.3} s, {dated} dated, {obs} observations)",
        lines as f64 / secs
    );

    // 2. Follow the file from its start to its end, in batches.
    let mut config = FollowConfig::new(&path);
    config.start = StartAt::Beginning;
    let mut f = FileFollower::new(config, PostfixParser::new(ParserConfig::new("bench")), None)
        .expect("follower");
    let start = Instant::now();
    let (mut read, mut obs, mut batches) = (0u64, 0usize, 0u64);
    loop {
        let b = f.read_now().expect("read");
        read += b.lines;
        obs += b.observations.len();
        batches += 1;
        if b.caught_up {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "follow: {:>10.0} lines/s  ({read} lines in {secs:.3} s, {batches} batches, {obs} observations)",
        read as f64 / secs
    );
    assert_eq!(read as usize, lines, "every line read");
    let follow_rate = read as f64 / secs;

    // 3. Follow into a SQLite store, each batch with its cursor in one
    //    transaction, as `mxkit trap run` does.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = format!("sqlite:{}", dir.path().join("trap.db").display());
    let (stored_rate, stored_secs, stored) = rt.block_on(async {
        let store = mxkit_trap::Store::open(&url).await.expect("store");
        let mut config = FollowConfig::new(&path);
        config.start = StartAt::Beginning;
        config.max_batch = mxkit_trap::run::INGEST_BATCH;
        let mut f = FileFollower::new(config, PostfixParser::new(ParserConfig::new("bench")), None)
            .expect("follower");
        let start = Instant::now();
        let (mut read, mut obs) = (0u64, 0usize);
        loop {
            let b = f.read_now().expect("read");
            read += b.lines;
            obs += b.observations.len();
            store
                .ingest(&b.state, &b.observations)
                .await
                .expect("ingest");
            if b.caught_up {
                break;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        (read as f64 / secs, secs, obs)
    });
    println!(
        "store:  {stored_rate:>10.0} lines/s  ({lines} lines in {stored_secs:.3} s, {stored} observations stored in SQLite)"
    );
    println!(
        "| log ingestion, {lines} Postfix lines | parse+follow {follow_rate:.0} lines/s; into SQLite {stored_rate:.0} lines/s ({stored} observations) | - |"
    );
}
