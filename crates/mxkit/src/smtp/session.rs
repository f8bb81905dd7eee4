//! One attempt: connect, greeting, EHLO (HELO), STARTTLS, MAIL, RCPT, DATA,
//! the final dot, QUIT, each inside its stage timeout and the overall
//! deadline, every line in the transcript.
//!
//! What ends an attempt, and how (docs/rules/route.md, the failover table):
//! - timeout: the connection is dropped without QUIT (there is no point
//!   waiting again, unlike swaks);
//! - EOF or an I/O error: dropped;
//! - a reply (positive where the probe stops, or negative), a protocol
//!   error, a local refusal: QUIT with the QUIT timeout, result ignored
//!   (RFC 5321 section 3.1: even a server that greets with 554 waits for
//!   QUIT);
//! - EHLO answered 500/502: HELO on the same connection (RFC 5321 section
//!   3.2);
//! - after STARTTLS every capability is forgotten and EHLO is sent again
//!   (RFC 3207 section 4.2); input buffered before the handshake is refused
//!   (reply injection, CVE-2011-0411 seen from the client side).

use std::future::Future;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::Duration;

use smtp_proto::EhloResponse;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use super::message::Message;
use super::reply::{Assembler, Complete, LineBuffer, ReadError, lossy};
use super::tls::{Need, TlsContext};
use super::{
    Attempt, AttemptOutcome, Direction, Event, ProtocolError, RcptResult, Reply, SmtpError,
    SmtpOptions, Stage, StageResult, TlsMode, TlsReport, WalkVerdict,
};
use crate::address::{display_text, quoted};
use crate::route::Candidate;

/// What an attempt does after the stages a probe and a delivery share.
#[derive(Clone, Copy, Debug)]
pub enum Mode<'a> {
    /// Stop after [`SmtpOptions::stop_after`]; never sends DATA.
    Probe,
    /// Send this message to [`SmtpOptions::rcpt_to`].
    Deliver(&'a Message),
}

/// A byte stream a session can run over (TCP, TLS over TCP, or a test stream).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Size of each block of message data written (one `data_block` timeout each).
const DATA_BLOCK: usize = 64 * 1024;

/// What the walk needs to run attempts.
pub(crate) struct Ctx<'a> {
    pub(crate) opts: &'a SmtpOptions,
    pub(crate) deadline: Instant,
    pub(crate) tls: Option<TlsContext>,
}

/// One session over any stream: greeting to QUIT, without the TCP connect
/// and without a plaintext retry (there is only this stream). The overall
/// deadline starts now. Recipients come from [`SmtpOptions::rcpt_to`].
pub async fn attempt_on<S>(
    stream: S,
    candidate: &Candidate,
    opts: &SmtpOptions,
    mode: Mode<'_>,
) -> Attempt
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let target = opts.target(candidate);
    let deadline = Instant::now() + opts.timeouts.overall;
    let (tls, tls_error) = match opts.tls {
        TlsMode::Off => (None, None),
        _ => match TlsContext::new(&opts.roots) {
            Ok(tls) => (Some(tls), None),
            Err(e) => (None, Some(e)),
        },
    };
    let ctx = Ctx {
        opts,
        deadline,
        tls,
    };
    let need = Need::of(opts.tls, None, candidate);
    let mut session = Session::new(&ctx, candidate, target, need);
    if let Some(e) = tls_error {
        session.local_failure(Stage::Starttls, &e);
        return session.finish(outcome_of(&e));
    }
    if let Err(e) = check_mode(opts, mode) {
        session.local_failure(e.stage(), &e);
        return session.finish(outcome_of(&e));
    }
    session.info(format!(
        "session with {} over a given stream",
        candidate.label()
    ));
    session.stages.push(StageResult {
        stage: Stage::Connect,
        reply: None,
        error: None,
        elapsed_ms: 0,
    });
    if matches!(mode, Mode::Probe) && session.stop() == Stage::Connect {
        return session.finish(AttemptOutcome::Reached {
            stage: Stage::Connect,
        });
    }
    session.conn = Some(Conn::new(Box::new(stream)));
    let outcome = match session.run(mode, &opts.rcpt_to, true).await {
        Flow::Done(outcome) => outcome,
        Flow::TlsFailed(e) => outcome_of(&e),
    };
    session.finish(outcome)
}

/// Refuse what cannot be done before anything is sent.
pub(crate) fn check_mode(opts: &SmtpOptions, mode: Mode<'_>) -> Result<(), SmtpError> {
    opts.validate()?;
    match mode {
        Mode::Probe if opts.stop_after > Stage::Rcpt => {
            Err(SmtpError::BadStopStage(opts.stop_after))
        }
        Mode::Probe if opts.stop_after == Stage::Rcpt && opts.rcpt_to.is_empty() => {
            Err(SmtpError::NoRecipients)
        }
        Mode::Deliver(_) if opts.rcpt_to.is_empty() => Err(SmtpError::NoRecipients),
        _ => Ok(()),
    }
}

/// One attempt at a candidate, with what it `need`s of TLS: connect, run,
/// and on an opportunistic TLS handshake failure reconnect once to the same
/// address in plaintext (never when TLS is mandatory).
pub(crate) async fn attempt(
    ctx: &Ctx<'_>,
    candidate: &Candidate,
    mode: Mode<'_>,
    pending: &[String],
    need: Need,
) -> Attempt {
    let target = ctx.opts.target(candidate);
    let mut session = Session::new(ctx, candidate, target, need);
    let outcome = match session.connect_and_run(mode, pending, true).await {
        Flow::Done(outcome) => outcome,
        Flow::TlsFailed(e) if session.need.falls_back() => {
            session.info(format!(
                "{e}: retrying {target} in plaintext (opportunistic TLS)"
            ));
            session.plaintext_fallback = true;
            session.capabilities.clear();
            match session.connect_and_run(mode, pending, false).await {
                Flow::Done(outcome) => outcome,
                Flow::TlsFailed(e) => outcome_of(&e),
            }
        }
        Flow::TlsFailed(e) => outcome_of(&e),
    };
    session.finish(outcome)
}

/// Soft or hard, from the error.
pub(crate) fn outcome_of(e: &SmtpError) -> AttemptOutcome {
    let (stage, reason) = (e.stage(), e.to_string());
    if e.is_soft() {
        AttemptOutcome::Soft { stage, reason }
    } else {
        AttemptOutcome::Hard { stage, reason }
    }
}

enum Flow {
    Done(AttemptOutcome),
    /// The TLS handshake failed after 220 to STARTTLS: the connection is gone.
    TlsFailed(SmtpError),
}

/// What EHLO told us.
#[derive(Default)]
struct Capabilities {
    starttls: bool,
    size: Option<usize>,
    eight_bit: bool,
    smtputf8: bool,
}

struct Conn {
    io: Box<dyn Io>,
    buf: LineBuffer,
    tls: bool,
}

impl Conn {
    fn new(io: Box<dyn Io>) -> Self {
        Conn {
            io,
            buf: LineBuffer::default(),
            tls: false,
        }
    }
}

struct Session<'a> {
    ctx: &'a Ctx<'a>,
    candidate: &'a Candidate,
    /// What this attempt needs of TLS.
    need: Need,
    target: SocketAddr,
    started: Instant,
    conn: Option<Conn>,
    transcript: Vec<Event>,
    stages: Vec<StageResult>,
    tls_report: Option<TlsReport>,
    plaintext_fallback: bool,
    capabilities: Vec<String>,
    caps: Capabilities,
    recipients: Vec<RcptResult>,
}

impl<'a> Session<'a> {
    fn new(ctx: &'a Ctx<'a>, candidate: &'a Candidate, target: SocketAddr, need: Need) -> Self {
        Session {
            ctx,
            candidate,
            need,
            target,
            started: Instant::now(),
            conn: None,
            transcript: Vec::new(),
            stages: Vec::new(),
            tls_report: None,
            plaintext_fallback: false,
            capabilities: Vec::new(),
            caps: Capabilities::default(),
            recipients: Vec::new(),
        }
    }

    fn finish(self, outcome: AttemptOutcome) -> Attempt {
        Attempt {
            candidate: self.candidate.clone(),
            target: self.target,
            stages: self.stages,
            outcome,
            tls: self.tls_report,
            plaintext_fallback: self.plaintext_fallback,
            capabilities: self.capabilities,
            recipients: self.recipients,
            transcript: self.transcript,
            next: None,
        }
    }

    /// Where a probe stops: never before STARTTLS when TLS is mandatory
    /// ([`SmtpOptions::probe_stop`]).
    fn stop(&self) -> Stage {
        self.ctx.opts.stop_for(self.need.mandatory())
    }

    fn ms(&self, since: Instant) -> u64 {
        u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn event(&mut self, direction: Direction, line: String) {
        let tls = self.conn.as_ref().is_some_and(|c| c.tls);
        let at_ms = self.ms(self.started);
        self.transcript.push(Event {
            at_ms,
            direction,
            tls,
            line,
        });
    }

    fn info(&mut self, line: String) {
        self.event(Direction::Info, line);
    }

    /// A failure found before anything was sent for this stage.
    fn local_failure(&mut self, stage: Stage, e: &SmtpError) {
        self.event(Direction::Error, e.to_string());
        self.stages.push(StageResult {
            stage,
            reply: None,
            error: Some(e.to_string()),
            elapsed_ms: 0,
        });
    }

    /// When a stage with timeout `limit` started now must end: the stage
    /// timeout or the overall deadline, whichever comes first.
    fn until(&self, stage: Stage, limit: Duration) -> Limit {
        let own = Instant::now() + limit;
        let overall = self.ctx.deadline <= own;
        Limit {
            stage,
            until: if overall { self.ctx.deadline } else { own },
            after: if overall {
                self.ctx.opts.timeouts.overall
            } else {
                limit
            },
            overall,
        }
    }

    /// Connect (unless past the deadline), then run.
    async fn connect_and_run(&mut self, mode: Mode<'_>, pending: &[String], tls: bool) -> Flow {
        let target = self.target;
        self.info(format!(
            "connecting to {} at {target}",
            self.candidate.label()
        ));
        let start = Instant::now();
        let limit = self.until(Stage::Connect, self.ctx.opts.timeouts.connect);
        let allowed = self.ctx.opts.targets.check(target.ip());
        let connected = match allowed {
            Err(reason) => Err(SmtpError::TargetRefused { target, reason }),
            Ok(()) => {
                limit
                    .run(async {
                        TcpStream::connect(target)
                            .await
                            .map_err(|source| SmtpError::Connect { target, source })
                    })
                    .await
            }
        };
        let elapsed_ms = self.ms(start);
        match connected {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                self.stages.push(StageResult {
                    stage: Stage::Connect,
                    reply: None,
                    error: None,
                    elapsed_ms,
                });
                self.info(format!("connected to {target}"));
                if matches!(mode, Mode::Probe) && self.stop() == Stage::Connect {
                    return Flow::Done(AttemptOutcome::Reached {
                        stage: Stage::Connect,
                    });
                }
                self.conn = Some(Conn::new(Box::new(stream)));
                self.run(mode, pending, tls).await
            }
            Err(e) => {
                self.event(Direction::Error, e.to_string());
                self.stages.push(StageResult {
                    stage: Stage::Connect,
                    reply: None,
                    error: Some(e.to_string()),
                    elapsed_ms,
                });
                Flow::Done(outcome_of(&e))
            }
        }
    }

    /// Write one command line (CRLF added) and flush.
    async fn write_line(&mut self, stage: Stage, line: &str) -> Result<(), SmtpError> {
        self.event(Direction::Sent, line.to_string());
        let conn = self.conn.as_mut().ok_or(SmtpError::Closed {
            stage,
            mid_reply: false,
        })?;
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let io_err = |source| SmtpError::Io { stage, source };
        conn.io.write_all(&bytes).await.map_err(io_err)?;
        conn.io.flush().await.map_err(io_err)
    }

    /// Read one whole reply, logging each line as it arrives.
    async fn read_reply(&mut self, stage: Stage) -> Result<Complete, SmtpError> {
        let mut assembler = Assembler::default();
        loop {
            let conn = self.conn.as_mut().ok_or(SmtpError::Closed {
                stage,
                mid_reply: false,
            })?;
            let line = match conn.buf.read_line(&mut conn.io).await {
                Ok(line) => line,
                Err(ReadError::Eof { partial }) => {
                    return Err(SmtpError::Closed {
                        stage,
                        mid_reply: partial || assembler.started(),
                    });
                }
                Err(ReadError::Io(source)) => return Err(SmtpError::Io { stage, source }),
                Err(ReadError::TooLong) => {
                    return Err(SmtpError::Protocol {
                        stage,
                        detail: ProtocolError::LineTooLong,
                    });
                }
            };
            self.event(Direction::Received, lossy(&line));
            match assembler.push(&line) {
                Ok(Some(complete)) => return Ok(complete),
                Ok(None) => {}
                Err(detail) => return Err(SmtpError::Protocol { stage, detail }),
            }
        }
    }

    /// Send `line` (if any) and read the reply within the stage timeout.
    /// A reply `accept` refuses becomes [`SmtpError::Rejected`]. Every call
    /// records a [`StageResult`].
    async fn command(
        &mut self,
        stage: Stage,
        line: Option<&str>,
        accept: impl Fn(&Reply) -> bool,
    ) -> Result<Complete, SmtpError> {
        let start = Instant::now();
        let limit = self.until(stage, self.ctx.opts.timeouts.for_stage(stage));
        let result = limit
            .run(async {
                if let Some(line) = line {
                    self.write_line(stage, line).await?;
                }
                self.read_reply(stage).await
            })
            .await;
        let elapsed_ms = self.ms(start);
        let (reply, error, result) = match result {
            Ok(c) if accept(&c.reply) => (Some(c.reply.clone()), None, Ok(c)),
            Ok(c) => {
                let e = SmtpError::Rejected {
                    stage,
                    reply: c.reply.clone(),
                };
                (Some(c.reply), Some(e.to_string()), Err(e))
            }
            Err(e) => {
                self.event(Direction::Error, e.to_string());
                (None, Some(e.to_string()), Err(e))
            }
        };
        self.stages.push(StageResult {
            stage,
            reply,
            error,
            elapsed_ms,
        });
        result
    }

    /// End the session after `e`: QUIT when the connection is still usable.
    async fn fail(&mut self, e: SmtpError) -> Flow {
        let usable = matches!(
            e,
            SmtpError::Rejected { .. }
                | SmtpError::Protocol { .. }
                | SmtpError::StarttlsNotOffered
                | SmtpError::MessageTooBig { .. }
                | SmtpError::Utf8NotOffered
        );
        if usable {
            self.quit().await;
        } else {
            self.conn = None;
        }
        Flow::Done(outcome_of(&e))
    }

    async fn reached(&mut self, stage: Stage) -> Flow {
        self.quit().await;
        Flow::Done(AttemptOutcome::Reached { stage })
    }

    /// QUIT with the QUIT timeout; the result is ignored. Then close.
    async fn quit(&mut self) {
        if self.conn.is_none() || Instant::now() >= self.ctx.deadline {
            self.conn = None;
            return;
        }
        let _ = self.command(Stage::Quit, Some("QUIT"), |_| true).await;
        if let Some(mut conn) = self.conn.take() {
            let limit = self.until(Stage::Quit, self.ctx.opts.timeouts.quit);
            let _ = limit
                .run(async {
                    let _ = conn.io.shutdown().await;
                    Ok(())
                })
                .await;
        }
    }

    /// The session after the connect: each stage in order, stopping where a
    /// probe stops; the first failure ends it.
    async fn run(&mut self, mode: Mode<'_>, pending: &[String], allow_tls: bool) -> Flow {
        let probe = matches!(mode, Mode::Probe);
        let stop = self.stop();

        // RFC 5321 section 4.3.1: 220, or 554 (5xx) to refuse; 421 at any time.
        if let Err(e) = self
            .command(Stage::Greeting, None, Reply::is_positive)
            .await
        {
            return self.fail(e).await;
        }
        if probe && stop == Stage::Greeting {
            return self.reached(Stage::Greeting).await;
        }
        if let Err(e) = self.hello().await {
            return self.fail(e).await;
        }
        if probe && stop == Stage::Ehlo {
            return self.reached(Stage::Ehlo).await;
        }
        let mut last = Stage::Ehlo;
        if allow_tls && self.need != Need::Off {
            match self.starttls().await {
                Ok(true) => last = Stage::Starttls,
                Ok(false) => {}
                Err(TlsStep::Handshake(e)) => {
                    self.conn = None;
                    return Flow::TlsFailed(e);
                }
                Err(TlsStep::Other(e)) => return self.fail(e).await,
            }
        }
        if probe && stop == Stage::Starttls {
            return self.reached(last).await;
        }
        let message = match mode {
            Mode::Deliver(m) => Some(m),
            Mode::Probe => None,
        };
        if let Err(e) = self.mail_from(message, pending).await {
            return self.fail(e).await;
        }
        if probe && stop == Stage::Mail {
            return self.reached(Stage::Mail).await;
        }
        if let ControlFlow::Break(flow) = self.rcpt_to(pending, probe).await {
            return flow;
        }
        match message {
            Some(message) => self.data(message).await,
            // A probe never sends DATA.
            None => self.reached(Stage::Rcpt).await,
        }
    }

    /// MAIL FROM with the parameters the server offers (SIZE, BODY,
    /// SMTPUTF8); a message or address the server cannot take is refused
    /// here, before the command is sent.
    async fn mail_from(
        &mut self,
        message: Option<&Message>,
        pending: &[String],
    ) -> Result<(), SmtpError> {
        let opts = self.ctx.opts;
        let mut params = String::new();
        if let Some(m) = message {
            if let Some(limit) = self.caps.size {
                // RFC 1870 section 6: a message larger than the fixed maximum
                // is refused permanently (552 5.3.4).
                if limit > 0 && m.len() > limit {
                    let e = SmtpError::MessageTooBig {
                        size: m.len(),
                        limit,
                    };
                    self.local_failure(Stage::Mail, &e);
                    return Err(e);
                }
                params.push_str(&format!(" SIZE={}", m.len()));
            }
            if m.is_8bit() && self.caps.eight_bit {
                params.push_str(" BODY=8BITMIME");
            }
        }
        let needs_utf8 = !opts.mail_from.is_ascii() || pending.iter().any(|r| !r.is_ascii());
        if needs_utf8 {
            if !self.caps.smtputf8 {
                let e = SmtpError::Utf8NotOffered;
                self.local_failure(Stage::Mail, &e);
                return Err(e);
            }
            params.push_str(" SMTPUTF8");
        }
        let mail = format!("MAIL FROM:<{}>{params}", opts.mail_from);
        self.command(Stage::Mail, Some(&mail), Reply::is_positive)
            .await
            .map(|_| ())
    }

    /// RCPT TO, one at a time; each recipient's fate is its own
    /// (docs/rules/route.md, Rule 24). Breaks with the end of the session
    /// when the server closes (421), a stage fails, or no recipient was
    /// accepted.
    async fn rcpt_to(&mut self, pending: &[String], probe: bool) -> ControlFlow<Flow> {
        let mut accepted = 0;
        for rcpt in pending {
            let line = format!("RCPT TO:<{rcpt}>");
            match self
                .command(Stage::Rcpt, Some(&line), Reply::is_positive)
                .await
            {
                Ok(c) => {
                    accepted += 1;
                    self.recipients.push(RcptResult {
                        address: rcpt.clone(),
                        verdict: if probe {
                            WalkVerdict::Reached
                        } else {
                            WalkVerdict::Accepted
                        },
                        reply: Some(c.reply),
                    });
                }
                Err(SmtpError::Rejected { stage, reply }) => {
                    let closing = reply.code == 421;
                    self.recipients.push(RcptResult {
                        address: rcpt.clone(),
                        verdict: if reply.is_permanent() {
                            WalkVerdict::Permanent
                        } else {
                            WalkVerdict::Temporary
                        },
                        reply: Some(reply.clone()),
                    });
                    if closing {
                        // RFC 5321 section 3.8: 421 ends the session.
                        let flow = self.fail(SmtpError::Rejected { stage, reply }).await;
                        return ControlFlow::Break(flow);
                    }
                }
                Err(e) => return ControlFlow::Break(self.fail(e).await),
            }
        }
        if accepted == 0 {
            return ControlFlow::Break(self.no_recipient_accepted().await);
        }
        ControlFlow::Continue(())
    }

    /// Every recipient refused: hard when every refusal was permanent.
    async fn no_recipient_accepted(&mut self) -> Flow {
        let all_permanent = self
            .recipients
            .iter()
            .all(|r| r.verdict == WalkVerdict::Permanent);
        let first = self
            .recipients
            .first()
            .and_then(|r| r.reply.as_ref())
            .map(Reply::to_string)
            .unwrap_or_default();
        self.quit().await;
        let reason = format!("no recipient accepted: {first}");
        Flow::Done(if all_permanent {
            AttemptOutcome::Hard {
                stage: Stage::Rcpt,
                reason,
            }
        } else {
            AttemptOutcome::Soft {
                stage: Stage::Rcpt,
                reason,
            }
        })
    }

    /// DATA, the message, the final dot.
    async fn data(&mut self, message: &Message) -> Flow {
        if let Err(e) = self
            .command(Stage::Data, Some("DATA"), |r| r.code == 354)
            .await
        {
            return self.fail(e).await;
        }
        if let Err(e) = self.send_message(message).await {
            self.event(Direction::Error, e.to_string());
            if let Some(last) = self.stages.last_mut() {
                last.error = Some(e.to_string());
            }
            // Before the final dot: the server discards the partial message,
            // so the next address may get it (docs/rules/route.md, Rule 22).
            return self.fail(e).await;
        }
        let done = self
            .command(Stage::Dot, Some("."), Reply::is_positive)
            .await;
        match done {
            Ok(c) => {
                let queue_id = queue_id(&c.reply);
                self.quit().await;
                Flow::Done(AttemptOutcome::Accepted {
                    queue_id,
                    reply: c.reply,
                })
            }
            Err(e) => self.fail(e).await,
        }
    }

    /// EHLO, or HELO when EHLO is not recognised (500, 502).
    async fn hello(&mut self) -> Result<(), SmtpError> {
        let ehlo = format!("EHLO {}", self.ctx.opts.helo);
        let accept = |r: &Reply| r.is_positive() || r.code == 500 || r.code == 502;
        let c = self.command(Stage::Ehlo, Some(&ehlo), accept).await?;
        self.capabilities.clear();
        self.caps = Capabilities::default();
        if !c.reply.is_positive() {
            self.info(format!(
                "EHLO not recognised ({}): trying HELO",
                c.reply.code
            ));
            let helo = format!("HELO {}", self.ctx.opts.helo);
            self.command(Stage::Ehlo, Some(&helo), Reply::is_positive)
                .await?;
            return Ok(());
        }
        // The first line is the server's name; each further line starts
        // with a keyword (RFC 5321 section 4.1.1.1).
        self.capabilities = c
            .reply
            .lines
            .iter()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_ascii_uppercase)
            .collect();
        let has = |k: &str| self.capabilities.iter().any(|c| c == k);
        self.caps = match EhloResponse::parse(&mut c.raw.iter()) {
            Ok(ehlo) => Capabilities {
                starttls: ehlo.has_capability(smtp_proto::EXT_START_TLS),
                size: ehlo
                    .has_capability(smtp_proto::EXT_SIZE)
                    .then_some(ehlo.size),
                eight_bit: ehlo.has_capability(smtp_proto::EXT_8BIT_MIME),
                smtputf8: ehlo.has_capability(smtp_proto::EXT_SMTP_UTF8),
            },
            // smtp-proto refuses some odd replies: fall back to the keywords.
            Err(_) => Capabilities {
                starttls: has("STARTTLS"),
                size: has("SIZE").then_some(0),
                eight_bit: has("8BITMIME"),
                smtputf8: has("SMTPUTF8"),
            },
        };
        Ok(())
    }

    /// STARTTLS (RFC 3207). `Ok(true)`: TLS is up and EHLO was sent again;
    /// `Ok(false)`: continuing in plaintext (opportunistic and not offered
    /// or refused).
    async fn starttls(&mut self) -> Result<bool, TlsStep> {
        let need = self.need.clone();
        if !self.caps.starttls {
            if need.mandatory() {
                let e = SmtpError::StarttlsNotOffered;
                self.local_failure(Stage::Starttls, &e);
                return Err(TlsStep::Other(e));
            }
            self.info("STARTTLS not offered: continuing in plaintext".into());
            return Ok(false);
        }
        match self
            .command(Stage::Starttls, Some("STARTTLS"), |r| r.code == 220)
            .await
        {
            Ok(_) => {}
            Err(SmtpError::Rejected { reply, .. }) if need.falls_back() && reply.code != 421 => {
                self.info(format!(
                    "STARTTLS refused ({reply}): continuing in plaintext"
                ));
                return Ok(false);
            }
            Err(e) => return Err(TlsStep::Other(e)),
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(TlsStep::Other(SmtpError::Closed {
                stage: Stage::Starttls,
                mid_reply: false,
            }));
        };
        let early = conn.buf.pending();
        if early > 0 {
            let e = SmtpError::Protocol {
                stage: Stage::Starttls,
                detail: ProtocolError::InjectedBeforeTls(early),
            };
            return Err(TlsStep::Other(e));
        }

        let Some(tls) = self.ctx.tls.as_ref() else {
            return Err(TlsStep::Handshake(SmtpError::Tls {
                detail: "no TLS configuration".into(),
            }));
        };
        let handshake = tls
            .client(&need, self.candidate, &self.ctx.opts.recipient_domain)
            .map_err(TlsStep::Handshake)?;
        let start = Instant::now();
        let conn = self.conn.take().expect("checked above");
        let connector = TlsConnector::from(handshake.config.clone());
        let server_name = handshake.server_name.clone();
        let limit = self.until(Stage::Starttls, self.ctx.opts.timeouts.starttls);
        let result = limit
            .run(async {
                connector
                    .connect(server_name, conn.io)
                    .await
                    .map_err(|e| SmtpError::Tls {
                        detail: e.to_string(),
                    })
            })
            .await;
        let elapsed = self.ms(start);
        match result {
            Ok(stream) => {
                let report = handshake.report(Some(stream.get_ref().1));
                let mut conn = Conn::new(Box::new(stream));
                conn.tls = true;
                self.conn = Some(conn);
                self.info(describe_tls(&report));
                self.tls_report = Some(report);
                if let Some(last) = self.stages.last_mut() {
                    last.elapsed_ms += elapsed;
                }
            }
            Err(e) => {
                let report = handshake.report(None);
                // The verifier's own reason says more than rustls's
                // "ApplicationVerificationFailure".
                let e = match &report.error {
                    Some(why) => SmtpError::Tls {
                        detail: format!("policy {} not met: {why}", report.policy),
                    },
                    None => e,
                };
                self.event(Direction::Error, e.to_string());
                if report.certificate.is_some() {
                    self.info(describe_tls(&report));
                }
                self.tls_report = Some(report);
                if let Some(last) = self.stages.last_mut() {
                    last.elapsed_ms += elapsed;
                    last.error = Some(e.to_string());
                }
                return Err(TlsStep::Handshake(e));
            }
        }
        // RFC 3207 section 4.2: forget everything, EHLO again.
        self.hello().await.map_err(TlsStep::Other)?;
        Ok(true)
    }

    /// The message, dot-stuffed, in blocks, each within `data_block`.
    async fn send_message(&mut self, message: &Message) -> Result<(), SmtpError> {
        let block = self.ctx.opts.timeouts.data_block;
        let mut lines = 0usize;
        for chunk in message.stuffed_chunks(DATA_BLOCK) {
            lines += chunk.iter().filter(|&&b| b == b'\n').count();
            let limit = self.until(Stage::Data, block);
            let Some(conn) = self.conn.as_mut() else {
                return Err(SmtpError::Closed {
                    stage: Stage::Data,
                    mid_reply: false,
                });
            };
            limit
                .run(async {
                    conn.io
                        .write_all(&chunk)
                        .await
                        .map_err(|source| SmtpError::Io {
                            stage: Stage::Data,
                            source,
                        })
                })
                .await?;
        }
        self.info(format!(
            "message: {} octets in {lines} lines (dot-stuffed where a line starts with '.')",
            message.len()
        ));
        Ok(())
    }
}

/// The end of a stage: [`Session::until`].
struct Limit {
    stage: Stage,
    until: Instant,
    after: Duration,
    overall: bool,
}

impl Limit {
    /// Run `fut` until the limit; a timeout becomes [`SmtpError::Timeout`].
    async fn run<T>(
        &self,
        fut: impl Future<Output = Result<T, SmtpError>>,
    ) -> Result<T, SmtpError> {
        match timeout_at(self.until, fut).await {
            Ok(result) => result,
            Err(_) => Err(SmtpError::Timeout {
                stage: self.stage,
                after: self.after,
                overall: self.overall,
            }),
        }
    }
}

enum TlsStep {
    /// The handshake failed (the connection is unusable).
    Handshake(SmtpError),
    /// Anything else (the connection may still be usable for QUIT).
    Other(SmtpError),
}

fn describe_tls(r: &TlsReport) -> String {
    let mut s = if r.completed {
        format!("TLS established: {} {}", r.version, r.cipher)
    } else {
        "TLS handshake did not complete".to_string()
    };
    if let Some(c) = &r.certificate {
        // Remote text, escaped as every report escapes it (`\DDD`).
        let sans: Vec<String> = c
            .sans
            .iter()
            .map(|san| display_text(san.as_bytes()))
            .collect();
        s.push_str(&format!(
            "; certificate subject {}, issuer {}, SANs [{}]",
            quoted(&c.subject),
            quoted(&c.issuer),
            sans.join(", ")
        ));
    }
    s.push_str(&format!(
        "; chain {}; MX name {}; domain name {}",
        if r.chain_trusted {
            "trusted".to_string()
        } else {
            format!(
                "not trusted ({})",
                r.chain_error.as_deref().unwrap_or("unknown")
            )
        },
        if r.mx_name_matches {
            "matches"
        } else {
            "does not match"
        },
        if r.domain_name_matches {
            "matches"
        } else {
            "does not match"
        },
    ));
    s.push_str(&r.policy_note());
    s
}

/// The queue id in a reply to the final dot: Postfix `Ok: queued as
/// 4ABC123`, Exim `OK id=1abcde-000123-AB`, Sendmail `x7GHi012345 Message
/// accepted for delivery`.
pub(crate) fn queue_id(reply: &Reply) -> Option<String> {
    let text = reply.text();
    let lower = text.to_ascii_lowercase();
    let token = |from: usize| {
        text[from..]
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .next()
            .map(|t| t.trim_matches(|c: char| matches!(c, '.' | ')' | '(' | '<' | '>' | '"')))
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    if let Some(p) = lower.find("queued as ") {
        return token(p + "queued as ".len());
    }
    if let Some(p) = lower.find("id=") {
        return token(p + "id=".len());
    }
    if lower.contains("message accepted for delivery") {
        return token(0);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> Reply {
        Reply {
            code: 250,
            enhanced: Some("2.0.0".into()),
            lines: vec![text.into()],
        }
    }

    #[test]
    fn queue_ids() {
        assert_eq!(
            queue_id(&reply("Ok: queued as 4ABC123")).as_deref(),
            Some("4ABC123")
        );
        assert_eq!(
            queue_id(&reply("OK id=1abcde-000123-AB")).as_deref(),
            Some("1abcde-000123-AB")
        );
        assert_eq!(
            queue_id(&reply("x7GHi012345 Message accepted for delivery")).as_deref(),
            Some("x7GHi012345")
        );
        assert_eq!(queue_id(&reply("Ok")), None);
    }
}
