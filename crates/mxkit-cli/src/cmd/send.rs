//! `mxkit send`: one message delivered directly to the recipients'
//! exchangers, one walk per recipient domain, never twice to one domain.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IsTerminal, Write};

use anyhow::Result;
use mxkit::address::{Address, Destination};
use mxkit::bounded;
use mxkit::smtp::{self, Message, Timeouts, WalkVerdict};

use super::common::runtime;
use super::dns::DnsSettings;
use crate::Usage;
use crate::args::SendArgs;
use crate::exit;
use crate::output;

const TEST_MESSAGE: &str = "This is a test message sent by mxkit send.\r\n";

/// Run `mxkit send`; returns the exit code.
pub fn run(args: SendArgs) -> Result<u8> {
    smtp::validate_address(&args.from).map_err(|e| Usage::about(Some("--from"), &args.from, e))?;
    // Recipients by destination domain (A-label form), in the order given.
    let mut groups: BTreeMap<String, (Destination, Vec<String>)> = BTreeMap::new();
    for to in &args.to {
        smtp::validate_address(to).map_err(|e| Usage::about(Some("--to"), to, e))?;
        let addr = Address::parse(to).map_err(|e| Usage::about(Some("--to"), to, e))?;
        if addr.local.is_none() {
            return Err(Usage::about(
                Some("--to"),
                to,
                "a recipient needs a local part (user@domain)",
            )
            .into());
        }
        let key = match &addr.destination {
            Destination::Domain(d) => d.as_str().to_string(),
            Destination::Literal(ip) => ip.to_string(),
        };
        let entry = groups
            .entry(key)
            .or_insert_with(|| (addr.destination.clone(), Vec::new()));
        if !entry.1.contains(to) {
            entry.1.push(to.clone());
        }
    }
    let raw = read_message(&args)?;
    let message =
        Message::prepare(&raw, &args.from, &args.to, args.subject.as_deref()).map_err(|e| {
            // Name --subject when the message is fine without it.
            match &args.subject {
                Some(subject) if Message::prepare(&raw, &args.from, &args.to, None).is_ok() => {
                    Usage::about(Some("--subject"), subject, e)
                }
                _ => Usage(format!("the message: {e}")),
            }
        })?;
    if message.len() as u64 > args.max_size {
        return Err(Usage(format!(
            "the message is {} octets once prepared for sending (CRLF line endings, added \
             header fields), more than --max-size {}",
            message.len(),
            args.max_size
        ))
        .into());
    }
    let dns = DnsSettings::from_args(
        &args.dns,
        groups
            .values()
            .any(|(d, _)| matches!(d, Destination::Domain(_))),
    )?;
    let mut plan = super::plan::options(&args.plan, false, Some(5))?;
    plan.mta_sts = super::secure::mta_sts(&args.secure, dns.offline)?;
    let roots = super::secure::roots(&args.secure)?;

    let rt = runtime()?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut worst = exit::OK;
    let mut results = Vec::new();
    for (domain, (dest, rcpts)) in &groups {
        let mut opts =
            super::smtp::options(&args.smtp, roots.clone(), domain, Timeouts::deliver())?;
        opts.mail_from = args.from.clone();
        opts.rcpt_to = rcpts.clone();
        let route = rt.block_on(dns.route(dest, &plan))?;
        let walk = rt.block_on(smtp::deliver(&route, &opts, &message));
        let code = super::smtp::verdict_code(&walk.verdict);
        // A bounce matters more than a deferral.
        worst = match (worst, code) {
            (exit::PERMANENT, _) | (_, exit::PERMANENT) => exit::PERMANENT,
            (exit::TEMPORARY, _) | (_, exit::TEMPORARY) => exit::TEMPORARY,
            _ => exit::OK,
        };
        if !args.smtp.json {
            output::smtp::walk_text(&mut out, &route, &walk, args.smtp.transcript)?;
            if walk.verdict == WalkVerdict::Accepted {
                output::smtp::accepted_line(&mut out, &walk)?;
            }
        }
        results.push((domain.clone(), route, walk));
    }
    if args.smtp.json {
        output::smtp::send_json(&mut out, &args.from, message.len(), &results)?;
    }
    out.flush()?;
    Ok(worst)
}

/// The message: `--data FILE|-`, else standard input when it is not a
/// terminal, else a short test message; at most `--max-size` octets, read
/// as a stream (never more than the limit and one octet, whatever the source
/// is: a FIFO, `/dev/zero`).
fn read_message(args: &SendArgs) -> Result<Vec<u8>> {
    let limit = args.max_size;
    let over = |source: &str, e: io::Error| -> anyhow::Error {
        if e.kind() == io::ErrorKind::FileTooLarge {
            Usage(format!("{source}: {e} (--max-size)")).into()
        } else {
            Usage(format!("{source}: {e}")).into()
        }
    };
    let stdin = || {
        bounded::read_to_limit(io::stdin().lock(), limit)
            .map_err(|e| over("cannot read the message from standard input", e))
    };
    let raw = match args.data.as_deref() {
        Some(p) if p.as_os_str() == "-" => stdin()?,
        Some(p) => {
            let source = format!("--data {}", p.display());
            let file = File::open(p).map_err(|e| over(&source, e))?;
            bounded::read_to_limit(file, limit).map_err(|e| over(&source, e))?
        }
        None if !io::stdin().is_terminal() => stdin()?,
        None => Vec::new(),
    };
    if raw.is_empty() {
        return Ok(TEST_MESSAGE.as_bytes().to_vec());
    }
    Ok(raw)
}
