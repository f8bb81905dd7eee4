//! `mxkit check`: arguments -> options -> [`mxkit::check::check`] -> report.

use std::io::{self, IsTerminal, Write};

use anyhow::Result;
use mxkit::address::Domain;
use mxkit::check::nameservers::EngineDirect;
use mxkit::check::smtp::SmtpCheck;
use mxkit::check::{CheckOptions, Direct, Policy, RULES, Report, Severity};
use mxkit::dns::Lookup;
use mxkit::dnsbl::List;

use super::common::{host_name, runtime};
use super::dns::DnsSettings;
use crate::Usage;
use crate::args::{CheckArgs, FailOnArg, FormatArg};
use crate::exit;
use crate::failure;
use crate::output;

/// Run `mxkit check`; returns the exit code.
pub fn run(args: CheckArgs) -> Result<u8> {
    if args.list_rules {
        let mut out = io::BufWriter::new(io::stdout().lock());
        output::check::rules(&mut out, RULES)?;
        out.flush()?;
        return Ok(exit::OK);
    }
    let input = args.domain.as_deref().unwrap_or_default();
    let domain = Domain::parse(input).map_err(|e| Usage::about(None, input, e))?;
    let mut policy = Policy::default();
    for spec in &args.set {
        policy.set(spec).map_err(|e| {
            let id = spec
                .split_once('=')
                .map_or(spec.as_str(), |(id, _)| id)
                .trim();
            let known = RULES.iter().any(|r| r.id == id);
            let hint = failure::closest(id, RULES.iter().map(|r| r.id))
                .filter(|_| !known)
                .map(|r| format!("; did you mean '{r}'?"))
                .unwrap_or_default();
            Usage::about(Some("--set"), spec, format!("{e}{hint}"))
        })?;
    }
    let mut dnsbl: Vec<List> = Vec::new();
    for zone in &args.dnsbl {
        let list = List::parse(zone).map_err(|e| Usage::about(Some("--dnsbl"), zone, e))?;
        if !dnsbl.contains(&list) {
            dnsbl.push(list);
        }
    }
    let dns = DnsSettings::from_args(&args.dns, true)?;
    let smtp = if args.no_smtp {
        SmtpCheck::Skip("--no-smtp: the exchangers were not probed over SMTP".into())
    } else if dns.offline {
        SmtpCheck::Skip("offline: the exchangers were not probed over SMTP".into())
    } else {
        let mut smtp = SmtpCheck::probe(host_name(), domain.as_str());
        if let SmtpCheck::Run(opts) = &mut smtp {
            opts.roots = super::secure::roots(&args.secure)?;
        }
        smtp
    };
    let options = CheckOptions {
        policy,
        smtp,
        dnssec: dns.dnssec,
        mta_sts: super::secure::mta_sts(&args.secure, dns.offline)?,
        dnsbl,
    };

    let (report, resolvers) = runtime()?.block_on(async {
        let sources = dns.sources().await?;
        // Authoritative servers are asked directly, unless offline.
        let direct = EngineDirect::for_check(sources.timeout);
        let live = sources.engine.as_ref().map(|e| e as &dyn Lookup);
        let direct_ref: Option<&dyn Direct> = live.map(|_| &direct as &dyn Direct);
        let mut report = mxkit::check::check(
            &domain,
            sources.lookup.as_ref(),
            live,
            direct_ref,
            &sources.zones,
            &options,
        )
        .await;
        // docs/rules/secure.md: the status is only as good as the path to
        // the resolver.
        report.route.warn_remote_resolver(&sources.servers);
        anyhow::Ok((report, sources.resolvers))
    })?;

    let mut out = io::BufWriter::new(io::stdout().lock());
    let code = exit_code(&report, args.fail_on);
    match args.format {
        FormatArg::Json => output::json::check(&mut out, &report)?,
        FormatArg::Nagios => output::check::nagios(&mut out, &report, code)?,
        FormatArg::Text => {
            let colour = io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let width = output::wrap::width(args.width);
            output::check::text(&mut out, &report, &resolvers, colour, width)?
        }
    }
    out.flush()?;
    Ok(code)
}

/// Errors exit 2; else an incomplete check exits 3; else findings at or
/// above the `--fail-on` threshold exit 1; else 0.
fn exit_code(report: &Report, fail_on: FailOnArg) -> u8 {
    let threshold = match fail_on {
        FailOnArg::Error => Severity::Error,
        FailOnArg::Warning => Severity::Warning,
        FailOnArg::Notice => Severity::Notice,
    };
    match report.worst() {
        Some(Severity::Error) => exit::PERMANENT,
        _ if !report.incomplete.is_empty() => exit::TEMPORARY,
        Some(worst) if worst <= threshold => exit::WARNING,
        _ => exit::OK,
    }
}
