//! The walk: candidates in plan order until one succeeds (RFC 5321 section
//! 5.1: "try each of the relevant addresses in this list in order, until a
//! delivery attempt succeeds"), with the failover table and Rules 22 to 26
//! of `docs/rules/route.md`:
//!
//! - next address after a connect failure, a 4xx/421/5xx greeting (Rule 23:
//!   the toolkit moves on after a 5xx greeting and counts it as temporary),
//!   EHLO 4xx/421/timeout, a TLS failure, MAIL 4xx, DATA 4xx, a lost
//!   connection before the final dot (Rule 22);
//! - EHLO (or HELO) refused with 5xx: next address as well; it counts as
//!   permanent only if every attempt fails permanently (Exim's host error;
//!   Postfix would bounce at once);
//! - a recipient refused with 4xx is retried at the next address (Postfix
//!   KEEP); one refused with 5xx is final for that recipient only (Rule 24);
//! - MAIL 5xx, DATA 5xx and 5xx after the dot are final for every remaining
//!   recipient (Rule 24);
//! - after the final dot a 4xx, a timeout or a lost connection defers and
//!   the message is never sent to another address (Rule 25; RFC 5321
//!   section 4.5.3.2.6 and 6.1: duplicates);
//! - the verdict (Rule 26): success when every recipient got through;
//!   permanent when a 5xx was final or every attempt failed permanently;
//!   otherwise temporary. The last error never decides alone.

use std::ops::ControlFlow;

use futures::future::join_all;
use tokio::time::Instant;

use super::message::Message;
use super::session::{Ctx, Mode, attempt, check_mode, outcome_of};
use super::tls::{Need, TlsContext};
use super::{
    Attempt, AttemptOutcome, RcptResult, Reply, SmtpError, SmtpOptions, Stage, StageResult,
    TlsMode, Walk, WalkVerdict,
};
use crate::route::{Route, RouteVerdict};

/// Walk `route` in plan order and stop at the first candidate that gets
/// through [`SmtpOptions::stop_after`]. With `stop_after` = RCPT the
/// recipients are [`SmtpOptions::rcpt_to`] (never DATA; QUIT after).
pub async fn probe(route: &Route, opts: &SmtpOptions) -> Walk {
    walk(route, opts, Mode::Probe).await
}

/// Deliver `message` from [`SmtpOptions::mail_from`] to
/// [`SmtpOptions::rcpt_to`] along the walk. Each recipient is accepted at
/// most once; after the final dot nothing is resent elsewhere.
pub async fn deliver(route: &Route, opts: &SmtpOptions, message: &Message) -> Walk {
    walk(route, opts, Mode::Deliver(message)).await
}

/// Probe every candidate at once, each on its own (no failover), in plan
/// order. An undeliverable route gives no attempts; options that cannot be
/// used give one refused attempt per candidate, without connecting.
pub async fn probe_all(route: &Route, opts: &SmtpOptions) -> Vec<Attempt> {
    if route.status != RouteVerdict::Deliverable {
        return Vec::new();
    }
    let deadline = Instant::now() + opts.timeouts.overall;
    let tls = match prepare(opts, Mode::Probe) {
        Ok(tls) => tls,
        Err(e) => {
            return route
                .candidates
                .iter()
                .map(|c| refused(c, opts, &e))
                .collect();
        }
    };
    let ctx = Ctx {
        opts,
        deadline,
        tls,
    };
    join_all(
        route
            .candidates
            .iter()
            .map(|c| attempt(&ctx, c, Mode::Probe, &opts.rcpt_to, need(opts, route, c))),
    )
    .await
}

/// What the attempt at `candidate` needs of TLS: `opts.tls`, and with
/// [`TlsMode::Policy`] what `route` says of the candidate's exchanger
/// (docs/rules/secure.md).
fn need(opts: &SmtpOptions, route: &Route, candidate: &crate::route::Candidate) -> Need {
    Need::of(opts.tls, Some(route), candidate)
}

/// Check the options and load the trust anchors.
fn prepare(opts: &SmtpOptions, mode: Mode<'_>) -> Result<Option<TlsContext>, SmtpError> {
    check_mode(opts, mode)?;
    match opts.tls {
        TlsMode::Off => Ok(None),
        _ => TlsContext::new(&opts.roots).map(Some),
    }
}

/// An attempt that was never made because of `e`.
fn refused(candidate: &crate::route::Candidate, opts: &SmtpOptions, e: &SmtpError) -> Attempt {
    Attempt {
        candidate: candidate.clone(),
        target: opts.target(candidate),
        stages: vec![StageResult {
            stage: e.stage(),
            reply: None,
            error: Some(e.to_string()),
            elapsed_ms: 0,
        }],
        outcome: outcome_of(e),
        tls: None,
        plaintext_fallback: false,
        capabilities: Vec::new(),
        recipients: Vec::new(),
        transcript: Vec::new(),
        next: None,
    }
}

/// The failover loop: an attempt at each candidate in plan order, with the
/// recipients still open, until one gets through, a failure is final or the
/// overall deadline runs out.
async fn walk(route: &Route, opts: &SmtpOptions, mode: Mode<'_>) -> Walk {
    let probing = matches!(mode, Mode::Probe);
    let uses_rcpt = !probing || opts.stop_after == Stage::Rcpt;
    if route.status != RouteVerdict::Deliverable {
        return no_route(route, opts, uses_rcpt);
    }
    let tls = match prepare(opts, mode) {
        Ok(tls) => tls,
        Err(e) => return not_started(&e),
    };
    let ctx = Ctx {
        opts,
        deadline: Instant::now() + opts.timeouts.overall,
        tls,
    };
    let mut progress = Progress::new(opts, uses_rcpt);
    for candidate in &route.candidates {
        if Instant::now() >= ctx.deadline {
            progress.out_of_time = true;
            break;
        }
        let pending = progress.pending();
        let addresses: Vec<String> = pending.iter().map(|&i| opts.rcpt_to[i].clone()).collect();
        let a = attempt(
            &ctx,
            candidate,
            mode,
            &addresses,
            need(opts, route, candidate),
        )
        .await;
        if progress.take(a, &pending).is_break() {
            break;
        }
    }
    progress.finish(route, probing)
}

/// The walk of a route that is not deliverable: no attempt, the route's own
/// verdict for every recipient.
fn no_route(route: &Route, opts: &SmtpOptions, uses_rcpt: bool) -> Walk {
    let verdict = match route.status {
        RouteVerdict::Temporary => WalkVerdict::Temporary,
        _ => WalkVerdict::Permanent,
    };
    let reason = route.error.as_ref().map_or_else(
        || format!("no route to {}", route.domain),
        |e| format!("{} ({})", e.message, e.dsn),
    );
    let recipients = if uses_rcpt {
        opts.rcpt_to
            .iter()
            .map(|a| RcptResult {
                address: a.clone(),
                verdict,
                reply: None,
            })
            .collect()
    } else {
        Vec::new()
    };
    Walk {
        verdict,
        attempts: Vec::new(),
        recipients,
        reason,
    }
}

/// The walk when the options cannot be used: nothing was sent. A bad
/// address or option is permanent; a CA file that cannot be read is a local
/// problem: retry later.
fn not_started(e: &SmtpError) -> Walk {
    let verdict = if matches!(e, SmtpError::CaFile { .. }) {
        WalkVerdict::Temporary
    } else {
        WalkVerdict::Permanent
    };
    Walk {
        verdict,
        attempts: Vec::new(),
        recipients: Vec::new(),
        reason: e.to_string(),
    }
}

/// The walk so far: the attempts made and each recipient's fate.
struct Progress<'o> {
    opts: &'o SmtpOptions,
    /// Recipients count: a delivery, or a probe that stops after RCPT.
    uses_rcpt: bool,
    /// Each recipient's final result, by position in `rcpt_to`.
    finals: Vec<Option<RcptResult>>,
    /// The last reply each recipient got, for the ones never finalised.
    last_reply: Vec<Option<Reply>>,
    attempts: Vec<Attempt>,
    /// The attempt that ended the walk, by position.
    stopped_by: Option<usize>,
    /// The overall deadline ended the walk before every candidate was tried.
    out_of_time: bool,
}

impl<'o> Progress<'o> {
    fn new(opts: &'o SmtpOptions, uses_rcpt: bool) -> Self {
        Progress {
            opts,
            uses_rcpt,
            finals: vec![None; opts.rcpt_to.len()],
            last_reply: vec![None; opts.rcpt_to.len()],
            attempts: Vec::new(),
            stopped_by: None,
            out_of_time: false,
        }
    }

    /// The recipients still open, by position in `rcpt_to`.
    fn pending(&self) -> Vec<usize> {
        if self.uses_rcpt {
            (0..self.finals.len())
                .filter(|&i| self.finals[i].is_none())
                .collect()
        } else {
            Vec::new()
        }
    }

    /// Take one attempt at the `pending` recipients: what it decided for each,
    /// and whether the walk stops here (success, docs/rules/route.md, Rules 24
    /// and 25) or moves on.
    fn take(&mut self, mut a: Attempt, pending: &[usize]) -> ControlFlow<()> {
        // Per-recipient replies of this attempt, in the order sent.
        let through = matches!(
            a.outcome,
            AttemptOutcome::Reached { .. } | AttemptOutcome::Accepted { .. }
        );
        for (k, r) in a.recipients.iter().enumerate() {
            let i = pending[k];
            self.last_reply[i] = r.reply.clone();
            let done = match r.verdict {
                WalkVerdict::Permanent => true,
                WalkVerdict::Accepted | WalkVerdict::Reached => through,
                WalkVerdict::Temporary => false,
            };
            if done {
                self.finals[i] = Some(r.clone());
            }
        }
        let stop = match &a.outcome {
            AttemptOutcome::Reached { .. } | AttemptOutcome::Accepted { .. } => {
                !self.uses_rcpt || self.finals.iter().all(Option::is_some)
            }
            // docs/rules/route.md, Rule 24: final for every recipient still
            // open.
            AttemptOutcome::Hard { stage, .. }
                if matches!(stage, Stage::Mail | Stage::Rcpt | Stage::Data | Stage::Dot) =>
            {
                let reply = stage_reply(&a, *stage);
                self.close_all(WalkVerdict::Permanent, &reply);
                true
            }
            // docs/rules/route.md, Rule 25: after the final dot, never resend
            // elsewhere.
            AttemptOutcome::Soft {
                stage: Stage::Dot, ..
            } => {
                let reply = stage_reply(&a, Stage::Dot);
                self.close_all(WalkVerdict::Temporary, &reply);
                true
            }
            _ => self.uses_rcpt && self.finals.iter().all(Option::is_some),
        };
        if stop {
            self.stopped_by = Some(self.attempts.len());
            self.attempts.push(a);
            return ControlFlow::Break(());
        }
        a.next = Some(why_next(&a));
        self.attempts.push(a);
        ControlFlow::Continue(())
    }

    /// Give every recipient still open this verdict and reply.
    fn close_all(&mut self, verdict: WalkVerdict, reply: &Option<Reply>) {
        for (i, f) in self.finals.iter_mut().enumerate() {
            if f.is_none() {
                *f = Some(RcptResult {
                    address: self.opts.rcpt_to[i].clone(),
                    verdict,
                    reply: reply.clone(),
                });
            }
        }
    }

    /// The verdict (docs/rules/route.md, Rule 26), each recipient's result and
    /// the reason.
    fn finish(self, route: &Route, probing: bool) -> Walk {
        let Progress {
            opts,
            uses_rcpt,
            finals,
            last_reply,
            mut attempts,
            stopped_by,
            out_of_time,
        } = self;
        // The last attempt made had nowhere to go.
        if stopped_by.is_none()
            && let Some(last) = attempts.last_mut()
        {
            last.next = out_of_time
                .then(|| "overall deadline reached: no further address tried".to_string());
        }
        // docs/rules/route.md, Rule 26: permanent only when every attempt
        // failed permanently (a 5xx greeting counts as temporary: Rule 23).
        let all_hard = !attempts.is_empty()
            && attempts.iter().all(|a| {
                matches!(&a.outcome, AttemptOutcome::Hard { stage, .. } if *stage != Stage::Greeting)
            });
        let (verdict, recipients) = if uses_rcpt {
            let open_verdict = if all_hard {
                WalkVerdict::Permanent
            } else {
                WalkVerdict::Temporary
            };
            let recipients: Vec<RcptResult> = finals
                .into_iter()
                .enumerate()
                .map(|(i, f)| {
                    f.unwrap_or_else(|| RcptResult {
                        address: opts.rcpt_to[i].clone(),
                        verdict: open_verdict,
                        reply: last_reply[i].clone(),
                    })
                })
                .collect();
            let success = if probing {
                WalkVerdict::Reached
            } else {
                WalkVerdict::Accepted
            };
            let verdict = if recipients.iter().all(|r| r.verdict == success) {
                success
            } else if recipients
                .iter()
                .any(|r| r.verdict == WalkVerdict::Temporary)
            {
                WalkVerdict::Temporary
            } else {
                WalkVerdict::Permanent
            };
            (verdict, recipients)
        } else {
            let verdict = match stopped_by.map(|i| &attempts[i].outcome) {
                Some(AttemptOutcome::Reached { .. }) => WalkVerdict::Reached,
                Some(AttemptOutcome::Hard { .. }) => WalkVerdict::Permanent,
                _ if all_hard => WalkVerdict::Permanent,
                _ => WalkVerdict::Temporary,
            };
            (verdict, Vec::new())
        };
        let reason = explain(
            verdict,
            &attempts,
            &recipients,
            stopped_by,
            out_of_time,
            route,
        );
        Walk {
            verdict,
            attempts,
            recipients,
            reason,
        }
    }
}

/// The reply that ended `stage` in this attempt.
fn stage_reply(a: &Attempt, stage: Stage) -> Option<Reply> {
    a.stages
        .iter()
        .rev()
        .find(|s| s.stage == stage)
        .and_then(|s| s.reply.clone())
}

/// Why the walk leaves this attempt for the next address.
fn why_next(a: &Attempt) -> String {
    match &a.outcome {
        AttemptOutcome::Hard {
            stage: Stage::Greeting,
            ..
        } => "5xx greeting: next address (counted as temporary if every server does this)".into(),
        AttemptOutcome::Hard { stage, .. } => {
            format!("permanent failure at {stage}: next address")
        }
        AttemptOutcome::Soft { stage, reason } => {
            format!("temporary failure at {stage} ({reason}): next address")
        }
        AttemptOutcome::Reached { .. } | AttemptOutcome::Accepted { .. } => {
            let deferred = a
                .recipients
                .iter()
                .filter(|r| r.verdict == WalkVerdict::Temporary)
                .count();
            format!("{deferred} recipient(s) deferred with 4xx: trying them at the next address")
        }
    }
}

fn label(a: &Attempt) -> String {
    a.candidate.label()
}

fn explain(
    verdict: WalkVerdict,
    attempts: &[Attempt],
    recipients: &[RcptResult],
    stopped_by: Option<usize>,
    out_of_time: bool,
    route: &Route,
) -> String {
    if attempts.is_empty() {
        return format!("no candidate to try for {}", route.domain);
    }
    let summary = |a: &Attempt| match &a.outcome {
        AttemptOutcome::Reached { stage } => format!("{}: reached {stage}", label(a)),
        AttemptOutcome::Accepted { queue_id, reply } => match queue_id {
            Some(id) => format!("{}: accepted, queue id {id} ({reply})", label(a)),
            None => format!("{}: accepted ({reply})", label(a)),
        },
        AttemptOutcome::Soft { stage, reason } | AttemptOutcome::Hard { stage, reason } => {
            format!("{} at {stage}: {reason}", label(a))
        }
    };
    let mut text = match (verdict, stopped_by) {
        (WalkVerdict::Reached | WalkVerdict::Accepted, _) => {
            let ok: Vec<String> = attempts
                .iter()
                .filter(|a| {
                    matches!(
                        a.outcome,
                        AttemptOutcome::Reached { .. } | AttemptOutcome::Accepted { .. }
                    )
                })
                .map(summary)
                .collect();
            ok.join("; ")
        }
        (_, Some(i))
            if matches!(
                attempts[i].outcome,
                AttemptOutcome::Soft {
                    stage: Stage::Dot,
                    ..
                }
            ) =>
        {
            format!(
                "{}; the message may have been delivered, so it is not sent elsewhere (RFC 5321 section 6.1)",
                summary(&attempts[i])
            )
        }
        (WalkVerdict::Permanent, Some(i)) => summary(&attempts[i]),
        (WalkVerdict::Permanent, None) => format!(
            "every candidate failed permanently: {}",
            attempts.iter().map(summary).collect::<Vec<_>>().join("; ")
        ),
        _ => format!(
            "no candidate got through: {}",
            attempts.iter().map(summary).collect::<Vec<_>>().join("; ")
        ),
    };
    if !recipients.is_empty() && verdict != WalkVerdict::Reached && verdict != WalkVerdict::Accepted
    {
        let through = recipients
            .iter()
            .filter(|r| matches!(r.verdict, WalkVerdict::Accepted | WalkVerdict::Reached))
            .count();
        if through > 0 {
            text = format!(
                "{through} of {} recipients got through; {text}",
                recipients.len()
            );
        }
    }
    if out_of_time {
        text.push_str("; overall deadline reached before every address was tried");
    }
    text
}
