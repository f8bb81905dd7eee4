//! A decoy session's verdict never depends on how slowly it was sent.
//!
//! Each case is an SMTP dialogue a client holds with the real decoy
//! (`listener::session` over a pipe, on a runtime with paused time), once
//! at full speed and once with pauses between the commands (each shorter
//! than the decoy's command timeout, all within its session limit). What
//! the decoy recorded, with the time of every write, is replayed into a
//! real store while the real detector steps every 5 seconds, as `trap run`
//! does. The two verdicts must be the same: a client that says EHLO, waits,
//! and only then sends MAIL and RCPT is judged as one that sends it all at
//! once (docs/trap.md, "Guards against evasion and floods").

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use mxkit_trap::detect::{Detector, Settings, Windows};
use mxkit_trap::listener::{Decoy, Limits, Sink, session};
use mxkit_trap::model::{StreamState, secs};
use mxkit_trap::{Flags, Grade, Micros, Observation, Role, Stage, Store, StoreError};
use proptest::prelude::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

#[path = "../../mxkit/tests/support/seeded.rs"]
mod seeded;

const T: Micros = 1_795_686_384_000_000;
const LOG: &str = "/var/log/mail.log";

/// What the decoy wrote to its sink, and when (microseconds after the
/// session began, on the paused clock).
#[derive(Clone, Debug)]
enum Write {
    Record(Observation, Micros),
    Update(Observation),
    Finish,
}

struct Timeline {
    start: Instant,
    writes: Mutex<Vec<(Micros, Write)>>,
}

impl Timeline {
    fn push(&self, w: Write) {
        let at = self.start.elapsed().as_micros() as Micros;
        self.writes.lock().unwrap().push((at, w));
    }
}

impl Sink for Timeline {
    fn record(&self, obs: Observation, until: Micros) -> BoxFuture<'_, Result<i64, StoreError>> {
        // The bound, relative to the session's start.
        let bound = until - obs.at;
        self.push(Write::Record(obs, bound));
        Box::pin(async { Ok(1) })
    }

    fn update(&self, _id: i64, obs: Observation) -> BoxFuture<'_, Result<(), StoreError>> {
        self.push(Write::Update(obs));
        Box::pin(async { Ok(()) })
    }

    fn finish(&self, _id: i64, _at: Micros) -> BoxFuture<'_, Result<(), StoreError>> {
        self.push(Write::Finish);
        Box::pin(async { Ok(()) })
    }
}

/// The dialogue, lock-step (the client waits for every reply, as honest
/// and slow clients do), with `pauses[i]` before command `i`.
fn talk(commands: &[&'static str], pauses: &[Duration]) -> Vec<(Micros, Write)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let timeline = Timeline {
            start: Instant::now(),
            writes: Mutex::new(Vec::new()),
        };
        let decoy = Decoy {
            hostname: "mx99.example.org".into(),
            limits: Limits::default(),
        };
        let (client, server) = tokio::io::duplex(1 << 16);
        let peer: SocketAddr = "203.0.113.9:40000".parse().unwrap();
        let srv = session(server, peer, None, &decoy, &timeline);
        let cli = async move {
            let mut client = BufReader::new(client);
            let mut line = String::new();
            // The greeting's last line.
            loop {
                line.clear();
                if client.read_line(&mut line).await.unwrap() == 0 {
                    return;
                }
                if line.starts_with("220 ") {
                    break;
                }
            }
            for (command, pause) in commands.iter().zip(pauses) {
                tokio::time::sleep(*pause).await;
                if client
                    .get_mut()
                    .write_all(format!("{command}\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                loop {
                    line.clear();
                    if client.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line.as_bytes().get(3) == Some(&b' ') {
                        break;
                    }
                }
            }
        };
        let (served, ()) = tokio::join!(srv, cli);
        served.unwrap();
        timeline.writes.into_inner().unwrap()
    })
}

/// Replays the writes into a fresh store, the detector stepping every 5 s
/// from the session's start; the verdict.
async fn verdict(writes: &[(Micros, Write)]) -> (Grade, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite:{}", dir.path().join("trap.db").display()))
        .await
        .unwrap();
    // A healthy primary whose log is read far ahead; another client there.
    let other = Observation {
        at: T - secs(60),
        role: Role::Primary,
        stream: LOG.into(),
        client: "198.51.100.200".parse().unwrap(),
        local: None,
        client_name: None,
        stage: Stage::Connect,
        helo: None,
        mail_domain: None,
        flags: Flags::default(),
    };
    let state = StreamState {
        name: LOG.into(),
        cursor: Some("1:1".into()),
        watermark: T + secs(86_400),
        started: T - secs(86_400),
        problem: None,
    };
    store.ingest(&state, &[other]).await.unwrap();
    let detector = Detector::new(
        Settings {
            windows: Windows::default(),
            streams: vec![LOG.into()],
            ..Settings::default()
        },
        T - secs(86_400),
    );
    let mut id = None;
    let mut next = 0;
    for tick in 0..=80 {
        let now = T + secs(5 * tick);
        while let Some((at, write)) = writes.get(next).filter(|(at, _)| T + at <= now) {
            match write {
                Write::Record(obs, bound) => {
                    let obs = Observation {
                        at: T,
                        ..obs.clone()
                    };
                    id = Some(store.record_open(&obs, T + bound).await.unwrap());
                }
                Write::Update(obs) => {
                    let id = id.unwrap();
                    let (helo, domain) = (obs.helo.as_deref(), obs.mail_domain.as_deref());
                    store
                        .update(id, obs.stage, helo, domain, obs.flags)
                        .await
                        .unwrap();
                }
                Write::Finish => store.end_session(id.unwrap(), T + at).await.unwrap(),
            }
            next += 1;
        }
        let step = detector.step(&store, now).await.unwrap();
        if let Some(d) = step.decided.first() {
            return (d.grade, d.reason.clone());
        }
    }
    panic!("never decided: {writes:?}");
}

const COMMANDS: &[&str] = &[
    "EHLO client.example.net",
    "HELO client.example.net",
    "MAIL FROM:<x@spam.example.com>",
    "RCPT TO:<bob@example.org>",
    "NOOP",
    "RSET",
    "VRFY bob",
    "nonsense",
    "DATA",
    "QUIT",
];

proptest! {
    #![proptest_config(seeded::config(48, 0x736c_6f77))]

    #[test]
    fn the_verdict_does_not_depend_on_the_pace(
        script in proptest::collection::vec(0..COMMANDS.len(), 1..10),
        pauses in proptest::collection::vec(0u64..25_000, 10),
    ) {
        let commands: Vec<&'static str> = script.iter().map(|&i| COMMANDS[i]).collect();
        // Each pause under the command timeout (30 s), all of them well
        // inside the session limit (120 s).
        let mut slow: Vec<Duration> = pauses.iter().map(|&ms| Duration::from_millis(ms)).collect();
        let total: Duration = slow.iter().take(commands.len()).sum();
        let budget = Duration::from_secs(100);
        if total > budget {
            for p in &mut slow {
                *p = p.mul_f64(budget.as_secs_f64() / total.as_secs_f64());
            }
        }
        let fast = vec![Duration::ZERO; commands.len()];
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let quick = rt.block_on(verdict(&talk(&commands, &fast)));
        let slowly = rt.block_on(verdict(&talk(&commands, &slow)));
        prop_assert_eq!(&quick, &slowly, "{:?} with pauses {:?}", commands, slow);
    }
}

/// The case that was wrong: EHLO, a long wait, then MAIL and RCPT.
#[test]
fn ehlo_then_a_wait_then_mail_is_a_suspect() {
    let commands = [
        "EHLO bot.example.net",
        "NOOP",
        "NOOP",
        "NOOP",
        "MAIL FROM:<x@spam.example.com>",
        "RCPT TO:<bob@example.org>",
        "QUIT",
    ];
    let pauses: Vec<Duration> = [0, 25, 25, 25, 20, 0, 0]
        .into_iter()
        .map(Duration::from_secs)
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(
        rt.block_on(verdict(&talk(&commands, &pauses))),
        (Grade::Suspect, "decoy-first".to_string())
    );
}
