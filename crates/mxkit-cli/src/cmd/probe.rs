//! `mxkit probe`: the plan walked over SMTP up to a stage.

use std::io::{self, Write};

use anyhow::Result;
use mxkit::address::{Address, Destination};
use mxkit::route::RouteVerdict;
use mxkit::smtp::{self, Stage, Timeouts, TlsMode};

use super::common::runtime;
use super::dns::DnsSettings;
use crate::Usage;
use crate::args::{ProbeArgs, StopArg};
use crate::exit;
use crate::output;

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
    let mut plan = super::plan::options(&args.plan, false, limit)?;
    plan.mta_sts = super::secure::mta_sts(&args.secure, dns.offline)?;
    let roots = super::secure::roots(&args.secure)?;
    let mut opts = super::smtp::options(&args.smtp, roots, &domain, Timeouts::probe())?;
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
        super::smtp::verdict_code(&walk.verdict)
    };
    out.flush()?;
    Ok(code)
}
