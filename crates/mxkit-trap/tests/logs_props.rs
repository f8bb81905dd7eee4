//! Properties of the log readers on arbitrary input: the Postfix parser
//! never panics and never keeps a local part, the journal entry parser
//! never panics, and the file follower accounts for every line end
//! whatever the bytes and however they arrive.

use std::fs::OpenOptions;
use std::io::Write;

use mxkit_trap::logs::journal::parse_entry;
use mxkit_trap::logs::postfix::{classic_time, split_line};
use mxkit_trap::logs::{FileFollower, FollowConfig, ParserConfig, PostfixParser, StartAt};
use mxkit_trap::model::{Observation, Role};
use proptest::prelude::*;

const NOW: i64 = 1_795_686_384_000_000;

/// Beginnings of real lines, so that the arbitrary tails reach deep into
/// the event parsers.
const PREFIXES: &[&str] = &[
    "",
    "Nov 26 09:46:24 mx postfix/smtpd[1]: ",
    "Nov  6 09:46:24.123456 mx postfix/postscreen[1]: ",
    "2026-11-26T09:46:24.123456+00:00 mx postfix/qmgr[1]: ",
    "Nov 26 09:46:24 mx postfix/postscreen[1]: CONNECT from [",
    "Nov 26 09:46:24 mx postfix/postscreen[1]: PREGREET 1 after 0 from [192.0.2.1]:",
    "Nov 26 09:46:24 mx postfix/smtpd[1]: connect from ",
    "Nov 26 09:46:24 mx postfix/smtpd[1]: ABCDE: client=",
    "Nov 26 09:46:24 mx postfix/qmgr[1]: ABCDE: from=<",
    "Nov 26 09:46:24 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.1]: ",
    "Nov 26 09:46:24 mx postfix/postscreen[1]: NOQUEUE: reject: RCPT from [",
    "Feb 29 00:00:00 mx postfix/smtpd[1]: ",
    "9999-12-31T23:59:59.999999999-23:59 h postfix/smtpd[1]: ",
];

fn tail() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        // Characters that matter to the parsers, densely.
        proptest::collection::vec(
            prop_oneof![
                Just("["),
                Just("]"),
                Just(":"),
                Just("<"),
                Just(">"),
                Just("@"),
                Just(", "),
                Just("; "),
                Just(" "),
                Just("192.0.2.1"),
                Just("2001:db8::1"),
                Just("25"),
                Just("from=<"),
                Just(" helo=<"),
                Just("size=1, nrcpt=1"),
                Just("unknown"),
                Just("é"),
                Just("\u{0}"),
            ],
            0..40
        )
        .prop_map(|v| v.concat()),
    ]
}

fn check(obs: &[Observation]) {
    for o in obs {
        assert_eq!(o.role, Role::Primary);
        assert_eq!(o.stream, "p");
        if let Some(d) = &o.mail_domain {
            assert!(!d.contains('@') && !d.is_empty() && d.len() <= 255, "{d:?}");
        }
        for s in [&o.helo, &o.client_name].into_iter().flatten() {
            assert!(s.len() <= 255, "{s:?}");
        }
    }
}

proptest! {
    #[test]
    fn postfix_lines_never_panic(
        prefix in proptest::sample::select(PREFIXES),
        tail in tail(),
        reference in prop_oneof![Just(NOW), any::<i64>()],
        offset in prop_oneof![Just(0i32), -50_400i32..=50_400],
    ) {
        let line = format!("{prefix}{tail}");
        let mut c = ParserConfig::new("p");
        c.utc_offset = offset;
        c.queue_capacity = 4;
        let mut p = PostfixParser::new(c);
        let mut out = Vec::new();
        // Twice, so the queue and session maps see their own entries.
        p.line(&line, reference, &mut out);
        p.line(&line, reference, &mut out);
        p.message(reference, "postfix/smtpd", &tail, &mut out);
        p.message(reference, "postfix/postscreen", &tail, &mut out);
        p.message(reference, "postfix/qmgr", &tail, &mut out);
        check(&out);
        let _ = split_line(&line, reference, offset);
        let _ = classic_time(line.as_bytes(), reference, offset);
        let _ = parse_entry(&line);
    }

    #[test]
    fn journal_lines_never_panic(s in any::<String>()) {
        let _ = parse_entry(&s);
        let _ = parse_entry(&format!("{{\"__CURSOR\":\"c\",\"__REALTIME_TIMESTAMP\":\"1\",\"MESSAGE\":{s}}}"));
    }
}

proptest! {
    // Files on disk: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any bytes, written in any pieces: every line end is one line read or
    /// skipped, nothing more, and the cursor ends just after the last one.
    #[test]
    fn follower_accounts_for_every_line(
        data in proptest::collection::vec(
            prop_oneof![3 => any::<u8>(), 1 => Just(b'\n'), 1 => Just(b'x')],
            0..3000,
        ),
        cuts in proptest::collection::vec(0usize..3000, 0..6),
        max_line in 1usize..400,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.log");
        let mut config = FollowConfig::new(&path);
        config.start = StartAt::Beginning;
        config.max_line = max_line;
        let mut f = FileFollower::new(config, PostfixParser::new(ParserConfig::new("p")), None).unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= data.len()).collect();
        cuts.push(data.len());
        cuts.sort_unstable();
        let mut file = OpenOptions::new().create(true).append(true).open(&path).unwrap();
        let (mut at, mut lines, mut skipped) = (0, 0, 0);
        for cut in cuts {
            file.write_all(&data[at..cut]).unwrap();
            at = cut;
            let b = f.read_now().unwrap();
            check(&b.observations);
            lines += b.lines;
            skipped += b.skipped;
        }
        let ends = data.iter().filter(|&&b| b == b'\n').count() as u64;
        prop_assert_eq!(lines, ends);
        prop_assert!(skipped <= lines);
        let last_end = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let cursor = f.state().cursor.unwrap();
        let offset: usize = cursor.split_once(':').unwrap().1.parse().unwrap();
        prop_assert_eq!(offset, last_end);
    }
}
