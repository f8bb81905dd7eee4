//! Fill a new trap store with a week of made-up decoy sessions (seeded,
//! the same every run), for a look at `mxkit serve --trap-store` (the
//! screenshot in docs/serve.md was made with it). Addresses are from the
//! documentation ranges.
//!
//! `cargo run -p mxkit-serve --example trap_demo -- /tmp/trap-demo.db`
//! then `mxkit serve --trap-store sqlite:/tmp/trap-demo.db --offline
//! --zone examples/example.org.zone` and open <http://127.0.0.1:8025/trap>.

use mxkit_trap::model::{Decision, Flags, Listing, Observation, Role, Stage, now};
use mxkit_trap::{Grade, Store};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/trap-demo.db".into());
    if std::path::Path::new(&path).exists() {
        eprintln!("trap_demo: {path} exists; give a new path");
        std::process::exit(64);
    }
    let store = Store::open(&format!("sqlite:{path}"))
        .await
        .unwrap_or_else(|e| panic!("trap_demo: cannot create {path}: {e}"));
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let now = now();
    let hour = 3_600_000_000i64;
    for h in 0..(7 * 24) {
        // More spam by day than by night, and a campaign on day 5.
        let busy = 2 + next(4) + if (h / 24) == 4 { 12 } else { 0 };
        for _ in 0..busy {
            let at = now - (7 * 24 - h) * hour + next(3_600) as i64 * 1_000_000;
            let client = format!("198.51.100.{}", 1 + next(120)).parse().unwrap();
            let stage = [Stage::Connect, Stage::Helo, Stage::Mail, Stage::Rcpt][next(4) as usize];
            let id = store
                .record(&Observation {
                    at,
                    role: Role::Decoy,
                    stream: "decoy".into(),
                    client,
                    local: None,
                    client_name: None,
                    stage,
                    helo: Some("bulk.example".into()),
                    mail_domain: None,
                    flags: Flags::default(),
                })
                .await
                .expect("recorded");
            let grade = match stage {
                Stage::Connect | Stage::Helo => Grade::Probe,
                _ if next(5) == 0 => Grade::Observed,
                _ if next(3) == 0 => Grade::Trapped,
                _ => Grade::Suspect,
            };
            let reason = match grade {
                Grade::Probe => "left before MAIL FROM",
                Grade::Observed => "seen at a real MX first",
                _ => "decoy-first",
            };
            let listing = grade.listed().then(|| Listing {
                ip: client,
                grade,
                reason: reason.into(),
                first_seen: at,
                last_seen: at,
                expires: at + 7 * 24 * hour,
                events: 1,
                shadow: false,
            });
            let decision = Decision {
                observation: id,
                client,
                at,
                decided: at + 300_000_000,
                grade,
                reason: reason.into(),
            };
            // An address already decided later keeps its newer listing.
            let _ = store.decide(&decision, listing.as_ref()).await;
        }
    }
    println!("{path}: a week of decoy sessions");
}
