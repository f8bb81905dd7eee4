//! `mxkit probe`: the plan walked over SMTP up to a stage.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::Result;
use mxkit::address::{Address, Destination};
use mxkit::route::RouteVerdict;
use mxkit::smtp::{self, Roots, SmtpError, SmtpOptions, Stage, Timeouts, TlsMode, WalkVerdict};

use super::dns::{DnsSettings, runtime};
use crate::Usage;
use crate::args::{ProbeArgs, SmtpArgs, StopArg, TlsArg};
use crate::exit;
use crate::output;

/// Parse a duration: `500ms`, `10s`, `2m`, `1h`, or plain seconds (`1.5`).
pub fn parse_duration(flag: &str, s: &str) -> Result<Duration> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    let value: f64 = number.parse().unwrap_or(f64::NAN);
    let secs = value * scale;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(Usage::about(
            Some(flag),
            s,
            "expected a duration such as 500ms, 10s or 2m (at most 24h)",
        )
        .into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// This host's name for EHLO: `--helo`, else the kernel's host name.
pub fn helo_name(given: Option<&str>) -> String {
    if let Some(h) = given {
        return h.to_string();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Build the SMTP options from the shared flags; `timeouts` are the
/// defaults of the command (probe or deliver). Everything the walk would
/// refuse later (and for every candidate again) is refused here, before any
/// network work, as a usage error: the EHLO name, the port, the CA file.
pub fn smtp_options(
    args: &SmtpArgs,
    recipient_domain: &str,
    mut timeouts: Timeouts,
) -> Result<SmtpOptions> {
    let helo = helo_name(args.helo.as_deref());
    if args.port == 0 {
        return Err(Usage("--port 0: not a port a server listens on".into()).into());
    }
    if let Some(t) = &args.connect_timeout {
        timeouts.connect = parse_duration("--connect-timeout", t)?;
    }
    if let Some(t) = &args.smtp_timeout {
        let t = parse_duration("--smtp-timeout", t)?;
        timeouts.greeting = t;
        timeouts.ehlo = t;
        timeouts.starttls = t;
        timeouts.mail = t;
        timeouts.rcpt = t;
        timeouts.data_init = t;
        timeouts.data_block = t;
        timeouts.data_done = t;
        timeouts.quit = t.min(timeouts.quit);
    }
    let roots = match &args.ca_file {
        Some(path) => {
            let roots = Roots::PemFile(path.clone());
            // Read now: a file that is missing, unreadable or holds no
            // certificate would otherwise fail every attempt, after DNS.
            if let Err(e) = roots.load() {
                let reason = match e {
                    SmtpError::CaFile { detail, .. } => detail,
                    other => other.to_string(),
                };
                return Err(Usage::about(
                    Some("--ca-file"),
                    &path.display().to_string(),
                    format!("cannot use it: {reason}"),
                )
                .into());
            }
            roots
        }
        None => Roots::WebPki,
    };
    let mut opts = SmtpOptions::new(helo, recipient_domain);
    opts.port = args.port;
    opts.tls = match args.tls {
        TlsArg::Off => TlsMode::Off,
        TlsArg::Opportunistic => TlsMode::Opportunistic,
        TlsArg::Required => TlsMode::Required,
    };
    opts.roots = roots;
    opts.timeouts = timeouts;
    // The library's own rule for the EHLO name (RFC 5321 section 4.1.2: a
    // domain; at most 255 octets, section 4.5.3.1.2).
    if let Err(SmtpError::InvalidHelo(helo)) = opts.validate() {
        let flag = if args.helo.is_some() {
            "--helo"
        } else {
            "--helo (default: this host's name)"
        };
        let reason = if helo.len() > MAX_HELO {
            format!(
                "{} octets long: a host name has at most {MAX_HELO}",
                helo.len()
            )
        } else {
            "not a host name (empty, or with spaces, control characters, '<' or '>')".into()
        };
        return Err(Usage::about(Some(flag), &helo, reason).into());
    }
    Ok(opts)
}

/// The longest EHLO name [`SmtpOptions::validate`] accepts (RFC 5321
/// section 4.5.3.1.2: a domain is at most 255 octets).
const MAX_HELO: usize = 255;

/// Run `mxkit probe`; returns the exit code.
pub fn run(args: ProbeArgs) -> Result<u8> {
    let address =
        Address::parse(&args.address).map_err(|e| Usage::about(None, &args.address, e))?;
    let domain = match &address.destination {
        Destination::Domain(d) => d.as_str().to_string(),
        Destination::Literal(ip) => ip.to_string(),
    };
    let dns = DnsSettings::from_args(
        &args.dns,
        matches!(address.destination, Destination::Domain(_)),
    )?;
    let limit = if args.all { None } else { Some(5) };
    let plan = super::plan::options(&args.plan, false, limit)?;
    let mut opts = smtp_options(&args.smtp, &domain, Timeouts::probe())?;
    opts.stop_after = match args.stop_after {
        StopArg::Connect => Stage::Connect,
        StopArg::Greeting => Stage::Greeting,
        StopArg::Ehlo => Stage::Ehlo,
        StopArg::Starttls => Stage::Starttls,
        StopArg::Mail => Stage::Mail,
        StopArg::Rcpt => Stage::Rcpt,
    };
    if opts.tls == TlsMode::Off && opts.stop_after == Stage::Starttls {
        return Err(Usage(
            "--stop-after starttls with --tls off: STARTTLS is never sent (use --tls opportunistic or required, or --stop-after ehlo)".into(),
        )
        .into());
    }
    if let Some(from) = &args.from {
        smtp::validate_address(from).map_err(|e| Usage::about(Some("--from"), from, e))?;
        opts.mail_from = from.clone();
    }
    // The destination as an address writes it: a literal keeps its brackets.
    let rcpt = match (&args.rcpt, &address.local) {
        (Some(r), _) => r.clone(),
        (None, Some(local)) => format!("{local}@{}", address.destination),
        (None, None) => format!("postmaster@{}", address.destination),
    };
    smtp::validate_address(&rcpt).map_err(|e| Usage::about(Some("--rcpt"), &rcpt, e))?;
    opts.rcpt_to = vec![rcpt];

    let rt = runtime()?;
    let route = rt.block_on(dns.route(&address.destination, &plan))?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let code = if args.all {
        let attempts = rt.block_on(smtp::probe_all(&route, &opts));
        if args.smtp.json {
            output::smtp::probe_all_json(&mut out, &args.address, &route, &attempts)?;
        } else {
            output::smtp::probe_all_text(
                &mut out,
                &route,
                &attempts,
                opts.probe_stop(),
                args.smtp.transcript,
            )?;
        }
        match route.status {
            RouteVerdict::Permanent => exit::PERMANENT,
            RouteVerdict::Temporary => exit::TEMPORARY,
            RouteVerdict::Deliverable
                if attempts
                    .iter()
                    .all(|a| matches!(a.outcome, smtp::AttemptOutcome::Reached { .. })) =>
            {
                exit::OK
            }
            RouteVerdict::Deliverable => exit::TEMPORARY,
        }
    } else {
        let walk = rt.block_on(smtp::probe(&route, &opts));
        if args.smtp.json {
            output::smtp::walk_json(&mut out, &args.address, &route, &walk)?;
        } else {
            output::smtp::walk_text(&mut out, &route, &walk, args.smtp.transcript)?;
        }
        verdict_code(&walk.verdict)
    };
    out.flush()?;
    Ok(code)
}

/// The exit code of a walk.
pub fn verdict_code(v: &WalkVerdict) -> u8 {
    match v {
        WalkVerdict::Reached | WalkVerdict::Accepted => exit::OK,
        WalkVerdict::Permanent => exit::PERMANENT,
        WalkVerdict::Temporary => exit::TEMPORARY,
    }
}
