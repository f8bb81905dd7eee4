//! The text reports for people, end to end and offline (zone files in
//! `testdata/`, no server): `check` wrapped at a given width against a
//! reviewed rendering, one line per item when piped, the offline note of
//! `route` only when a name was in fact not looked up, exchangers that
//! name no host shown alike in every plan, and remote text escaped one way.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The workspace root: paths in the reports are given relative to it, so
/// the rendering does not depend on where the repository is.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `mxkit ARGS` run in the workspace root: (exit code, stdout).
fn mxkit(args: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .current_dir(root())
        // The width must come from the flag alone.
        .env_remove("COLUMNS")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

const LAYOUT: &[&str] = &[
    "check",
    "layout.test",
    "--zone",
    "testdata/check/layout.zone",
    "--offline",
];

/// The reviewed rendering at 80 columns. To accept an intended change,
/// run with `MXKIT_BLESS=1` and review the diff of the file.
#[test]
fn check_at_80_columns_matches_the_reviewed_rendering() {
    let (code, text) = mxkit(&[LAYOUT, &["--width", "80"]].concat());
    assert_eq!(code, 2, "{text}");
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected/check-80.txt");
    if std::env::var_os("MXKIT_BLESS").is_some() {
        std::fs::write(&expected, &text).unwrap();
    }
    let want = std::fs::read_to_string(&expected).unwrap();
    assert_eq!(text, want, "the rendering changed:\n{text}");
}

#[test]
fn wrapped_lines_fit_unless_one_word_is_longer() {
    for width in [40, 60, 80, 100] {
        let (_, text) = mxkit(&[LAYOUT, &["--width", &width.to_string()]].concat());
        for line in text.lines() {
            let n = line.chars().count();
            if n <= width {
                continue;
            }
            // Longer only for a finding's heading (id and subject, never
            // cut) or one word longer than the line (after its label).
            let indent = line.len() - line.trim_start().len();
            let mut words: Vec<&str> = line.split_whitespace().collect();
            // (Items of "Not checked" are at indent 2 too: rule lists.)
            let heading = indent == 2 && !line.contains(',');
            if words.first().is_some_and(|w| w.ends_with(':')) {
                words.remove(0);
            }
            assert!(
                heading || words.len() == 1,
                "{width}: {line:?} is {n} characters"
            );
        }
        // Every word is still there, in order: wrapping only moves breaks.
        let (_, piped) = mxkit(LAYOUT);
        let words = |t: &str| -> Vec<String> {
            t.split_whitespace()
                .map(|w| w.trim_end_matches(':').to_string())
                .collect()
        };
        let mut a = words(&text);
        let mut b = words(&piped);
        a.sort();
        b.sort();
        assert_eq!(a, b, "{width}");
    }
}

#[test]
fn piped_output_is_one_line_per_item() {
    let (code, text) = mxkit(LAYOUT);
    assert_eq!(code, 2, "{text}");
    // Id, subject and message on one line; evidence, fix and source each
    // on one line beneath it.
    let line = text
        .lines()
        .find(|l| l.starts_with("  mx-is-address "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.starts_with("  mx-is-address layout.test. MX 20 185.12.64.30.: the MX record names")
            && line.ends_with("which does not exist"),
        "{line}"
    );
    assert!(
        text.contains(
            "\n      fix: give the address a host name and point the MX at it: `mail.layout.test. IN A 185.12.64.30` and `layout.test. IN MX 20 mail.layout.test.`\n"
        ),
        "{text}"
    );
    // --width 0 is the same as a pipe.
    let (_, zero) = mxkit(&[LAYOUT, &["--width", "0"]].concat());
    assert_eq!(zero, text);
}

#[test]
fn width_must_be_a_number() {
    let out = Command::cargo_bin("mxkit")
        .unwrap()
        .current_dir(root())
        .args(LAYOUT)
        .args(["--width", "wide"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--width"));
}

#[test]
fn offline_note_only_when_a_name_was_not_looked_up() {
    // Every name is in the zone: nothing was left out, nothing to say.
    let (code, text) = mxkit(&[
        "route",
        "example.com",
        "--zone",
        "examples/example.com.zone",
        "--offline",
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("note: offline"), "{text}");

    // An exchanger below this host (--self) is outside the zone: it was
    // not looked up, and, dropped anyway, no other line says so.
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("note.test.zone");
    std::fs::write(
        &zone,
        "$ORIGIN note.test.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n  IN NS ns1\n  IN MX 10 mx1\n  IN MX 20 mx2\n  IN MX 30 mx.elsewhere.example.\nns1 IN A 192.0.2.53\nmx1 IN A 192.0.2.25\nmx2 IN A 192.0.2.26\n",
    )
    .unwrap();
    let zone = zone.to_string_lossy().into_owned();
    let (code, text) = mxkit(&[
        "route",
        "note.test",
        "--zone",
        &zone,
        "--offline",
        "--self",
        "mx2.note.test",
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(
            "note: offline: names outside the loaded zones were not looked up and count as unresolvable\n"
        ),
        "{text}"
    );
}

#[test]
fn exchangers_that_name_no_host_are_shown_alike_in_every_plan() {
    // One valid exchanger beside them: they stay in the plan all the same.
    let (code, text) = mxkit(&[
        "route",
        "layout.test",
        "--zone",
        "testdata/check/layout.zone",
        "--offline",
    ]);
    assert_eq!(code, 0, "{text}");
    let row = |pref: &str| {
        text.lines()
            .find(|l| l.starts_with("  -") && l.split_whitespace().nth(1) == Some(pref))
            .unwrap_or_else(|| panic!("no row for preference {pref}:\n{text}"))
            .to_string()
    };
    assert!(
        row("20").ends_with("185.12.64.30  -  an IP address, not a host name: ignored")
            || row("20").contains("an IP address, not a host name: ignored"),
        "{text}"
    );
    assert!(
        row("40").contains("mx\\007bell.layout.test")
            && row("40").contains("not a host name: ignored"),
        "{text}"
    );
    // The JSON lists them as it does when no exchanger is left.
    let (_, json) = mxkit(&[
        "route",
        "layout.test",
        "--zone",
        "testdata/check/layout.zone",
        "--offline",
        "--json",
    ]);
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    let states: Vec<(u64, &str)> = j["exchangers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["preference"].as_u64().unwrap(),
                e["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(states.contains(&(20, "ip_address")), "{states:?}");
    assert!(states.contains(&(40, "invalid_name")), "{states:?}");
}

#[test]
fn remote_text_is_escaped_as_dns_presentation_everywhere() {
    for args in [
        &[LAYOUT, &["--width", "80"]].concat()[..],
        LAYOUT,
        &[
            "route",
            "layout.test",
            "--zone",
            "testdata/check/layout.zone",
            "--offline",
        ],
    ] {
        let (_, text) = mxkit(args);
        assert!(text.contains("mx\\007bell"), "{text}");
        assert!(!text.contains("\\u{"), "{text}");
        assert!(!text.contains('\x07'), "{text}");
        assert!(
            text.chars().all(|c| c == '\n' || (' '..='~').contains(&c)),
            "{text}"
        );
    }
}
