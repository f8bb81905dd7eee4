//! The `_mta-sts` and `_smtp._tls` TXT record parsers (docs/rules/secure.md,
//! Rules S7 and S12): arbitrary bytes as TXT record texts, split into
//! records at each NUL (at most 8).
//!
//! Checked beyond "no panic": a valid MTA-STS record has an `id` of 1 to 32
//! letters and digits and came from a text beginning `v=STSv1`; a valid
//! TLS-RPT record has at least one `rua` URI, each `mailto:` or `https:`;
//! there is a valid record or a reason, never both.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mxkit::mta_sts::{sts_records, tlsrpt_records};

fuzz_target!(|data: &[u8]| {
    let texts: Vec<String> = data
        .split(|&b| b == 0)
        .take(8)
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    let sts = sts_records(&texts);
    assert!(!(sts.valid.is_some() && sts.problem.is_some()));
    if let Some(r) = &sts.valid {
        assert!((1..=32).contains(&r.id.len()));
        assert!(r.id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(texts.iter().any(|t| t.starts_with("v=STSv1")));
    }
    let rpt = tlsrpt_records(&texts);
    assert!(!(rpt.valid.is_some() && rpt.problem.is_some()));
    if let Some(r) = &rpt.valid {
        assert!(!r.rua.is_empty());
        for uri in &r.rua {
            let lower = uri.to_ascii_lowercase();
            assert!(lower.starts_with("mailto:") || lower.starts_with("https://"), "{uri}");
        }
    }
});
