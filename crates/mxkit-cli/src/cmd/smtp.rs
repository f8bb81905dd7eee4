//! The SMTP flags shared by `probe` and `send` -> [`SmtpOptions`], and the
//! exit code of a walk.

use anyhow::Result;
use mxkit::smtp::{Roots, SmtpError, SmtpOptions, Timeouts, TlsMode, WalkVerdict};

use super::common::{host_name, parse_duration};
use crate::Usage;
use crate::args::{SmtpArgs, TlsArg};
use crate::exit;

/// The longest EHLO name [`SmtpOptions::validate`] accepts (RFC 5321
/// section 4.5.3.1.2: a domain is at most 255 octets).
const MAX_HELO: usize = 255;

/// Build the SMTP options from the shared flags; `timeouts` are the
/// defaults of the command (probe or deliver). Everything the walk would
/// refuse later (and for every candidate again) is refused here, before any
/// network work, as a usage error: the EHLO name, the port, the CA file.
pub fn options(
    args: &SmtpArgs,
    roots: Roots,
    recipient_domain: &str,
    mut timeouts: Timeouts,
) -> Result<SmtpOptions> {
    let helo = args.helo.clone().unwrap_or_else(host_name);
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
    let mut opts = SmtpOptions::new(helo, recipient_domain);
    opts.port = args.port;
    opts.tls = match args.tls {
        TlsArg::Off => TlsMode::Off,
        TlsArg::Opportunistic => TlsMode::Opportunistic,
        TlsArg::Required => TlsMode::Required,
        TlsArg::Policy => TlsMode::Policy,
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

/// The exit code of a walk.
pub fn verdict_code(v: &WalkVerdict) -> u8 {
    match v {
        WalkVerdict::Reached | WalkVerdict::Accepted => exit::OK,
        WalkVerdict::Permanent => exit::PERMANENT,
        WalkVerdict::Temporary => exit::TEMPORARY,
    }
}
