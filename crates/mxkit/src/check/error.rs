//! The errors of the check family, worded here: a `--set ID=SEVERITY` that
//! cannot be used ([`PolicyError`]), and a lookup that failed temporarily
//! while comparing a zone file with live DNS ([`TemporaryLookup`]).

use crate::dns::{Outcome, RecordType};

/// Why a severity override (`ID=error|warning|notice|info|ignore`) or a
/// severity name cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// No `=` between the rule id and the severity.
    #[error("{0:?}: expected ID=error|warning|notice|info|ignore")]
    Syntax(String),
    /// No rule has this id.
    #[error("unknown rule id {0:?} (see 'mxkit check --list-rules')")]
    UnknownRule(String),
    /// Not a severity.
    #[error("unknown severity {0:?} (error, warning, notice, info)")]
    UnknownSeverity(String),
}

/// A lookup that failed temporarily, so a comparison could not be made:
/// `mail.example.org. AAAA: SERVFAIL from 192.0.2.53:53`.
#[derive(Debug, thiserror::Error)]
#[error("{name} {rtype}: {outcome}")]
pub(crate) struct TemporaryLookup {
    /// The name asked, with the final dot.
    pub(crate) name: String,
    /// The type asked.
    pub(crate) rtype: RecordType,
    /// The temporary failure.
    pub(crate) outcome: Outcome,
}
