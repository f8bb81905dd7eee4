//! `mxkit man`: manual pages in roff, generated with clap_mangen from the
//! definitions in [`crate::args`]: mxkit(1) and one page per subcommand,
//! nested ones included (mxkit-route(1), ..., mxkit-trap(1),
//! mxkit-trap-run(1), ...), so that they never say other than `--help`.
//!
//! clap_mangen renders the name, synopsis, description, options and
//! subcommands. The end of each `--help` (its `after_help`: examples, notes
//! and the exit codes of [`crate::exit`]) is read here into the sections a
//! manual page has for them, in the order of man-pages(7): EXIT STATUS (one
//! tagged paragraph per code), NOTES, EXAMPLES (verbatim), then SEE ALSO.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use crate::args::{Cli, ManArgs};
use crate::failure;
use crate::{Usage, exit};

/// The manual's section: user commands.
const SECTION: &str = "1";

pub fn run(args: ManArgs) -> Result<u8> {
    let root = root();
    match &args.dir {
        Some(dir) => write_all(&root, dir)?,
        None => {
            let command = find(&root, &args.page)?;
            let mut out = io::stdout().lock();
            out.write_all(&page(command)?)?;
            out.flush()?;
        }
    }
    Ok(exit::OK)
}

/// Every page into `dir`, each path printed on standard output.
fn write_all(root: &clap::Command, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("--dir {}: cannot create", dir.display()))?;
    let mut out = io::stdout().lock();
    for command in pages(root) {
        let path = dir.join(file_name(command));
        fs::write(&path, page(command)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(out, "{}", path.display())?;
    }
    out.flush()?;
    Ok(())
}

/// The command line's definition, built (every subcommand knows its full
/// name: `mxkit trap run`, displayed `mxkit-trap-run`), without clap's
/// `help` subcommands, which need no page.
pub fn root() -> clap::Command {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    root
}

/// `root` and every subcommand under it, depth first: the pages.
pub fn pages(root: &clap::Command) -> Vec<&clap::Command> {
    let mut all = vec![root];
    for sub in visible_subcommands(root) {
        all.extend(pages(sub));
    }
    all
}

fn visible_subcommands(command: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    command.get_subcommands().filter(|s| !s.is_hide_set())
}

/// The page's name: `mxkit-trap-run`.
fn page_name(command: &clap::Command) -> &str {
    command
        .get_display_name()
        .unwrap_or_else(|| command.get_name())
}

/// The page's file name: `mxkit-trap-run.1`.
pub fn file_name(command: &clap::Command) -> String {
    format!("{}.{SECTION}", page_name(command))
}

/// The subcommand named by `words` (`["trap", "run"]`; none: `root`).
fn find<'a>(root: &'a clap::Command, words: &[String]) -> Result<&'a clap::Command> {
    let mut command = root;
    for word in words {
        let Some(sub) = visible_subcommands(command).find(|s| s.get_name() == word) else {
            let hint = failure::closest(word, visible_subcommands(command).map(|s| s.get_name()))
                .map(|s| format!("; did you mean '{s}'?"))
                .unwrap_or_default();
            let path = command.get_bin_name().unwrap_or_else(|| command.get_name());
            return Err(
                Usage::about(None, word, format!("'{path}' has no such subcommand{hint}")).into(),
            );
        };
        command = sub;
    }
    Ok(command)
}

/// The page of `command`, in roff.
pub fn page(command: &clap::Command) -> io::Result<Vec<u8>> {
    let mut command = command.clone();
    // The root's about ("mxkit: where does ...") would read "mxkit -
    // mxkit: ..." in NAME.
    let prefix = format!("{}: ", command.get_name());
    if let Some(about) = command.get_about().map(|a| a.to_string())
        && let Some(rest) = about.strip_prefix(&prefix)
    {
        command = command.about(rest.to_string());
    }
    let version = command.get_version().unwrap_or_default().to_string();
    let man = Man::new(command.clone())
        .section(SECTION)
        .source(format!("mxkit {version}"))
        .manual("mxkit manual");
    let mut pieces = Vec::new();
    let mut piece = |render: &dyn Fn(&mut dyn Write) -> io::Result<()>| {
        let mut buf = Vec::new();
        render(&mut buf).map(|()| pieces.push(buf))
    };
    piece(&|w| man.render_title(w))?;
    piece(&|w| man.render_name_section(w))?;
    piece(&|w| man.render_synopsis_section(w))?;
    piece(&|w| man.render_description_section(w))?;
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        piece(&|w| man.render_options_section(w))?;
    }
    if visible_subcommands(&command).next().is_some() {
        piece(&|w| man.render_subcommands_section(w))?;
    }
    let end = command
        .get_after_long_help()
        .or_else(|| command.get_after_help())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let mut roff = Roff::new();
    end_sections(&mut roff, &end);
    see_also(&mut roff, &command);
    piece(&|w| roff.to_writer(w))?;
    if !version.is_empty() {
        piece(&|w| man.render_version_section(w))?;
    }
    Ok(join(pieces))
}

/// The pieces of a page, one after the other. clap_mangen and roff begin
/// each piece with the same two lines, which define the apostrophe string
/// `\*(Aq` that the text uses; a page needs them once.
fn join(pieces: Vec<Vec<u8>>) -> Vec<u8> {
    const PREAMBLE: &[u8] = b".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    let mut page = Vec::new();
    for piece in pieces {
        match piece.strip_prefix(PREAMBLE) {
            Some(rest) if !page.is_empty() => page.extend_from_slice(rest),
            _ => page.extend_from_slice(&piece),
        }
    }
    page
}

/// The end of a `--help`, in its parts: paragraphs (blank-line separated)
/// headed "Examples:" or "Exit codes", and any other paragraph (notes).
#[derive(Debug, Default, PartialEq)]
struct End<'a> {
    /// The lines under "Examples:" (indentation kept, less the first two
    /// spaces).
    examples: Vec<&'a str>,
    /// What the "Exit codes (...):" heading says in parentheses.
    codes_note: Option<&'a str>,
    /// (code, meaning): the meaning's lines joined.
    codes: Vec<(&'a str, String)>,
    /// Other paragraphs, each as its lines.
    notes: Vec<Vec<&'a str>>,
}

fn parse_end(text: &str) -> End<'_> {
    let mut end = End::default();
    for paragraph in text.split("\n\n") {
        let mut lines = paragraph.lines().filter(|l| !l.trim().is_empty());
        let Some(first) = lines.next() else { continue };
        if first.trim() == "Examples:" {
            end.examples
                .extend(lines.map(|l| l.strip_prefix("  ").unwrap_or(l)));
        } else if let Some(heading) = first.strip_prefix("Exit codes") {
            end.codes_note = heading
                .trim_end_matches(':')
                .trim()
                .strip_prefix('(')
                .and_then(|h| h.strip_suffix(')'));
            for line in lines {
                let trimmed = line.trim_start();
                // "  64  usage error ...": a new code; deeper indentation
                // continues the meaning above.
                let indent = line.len() - trimmed.len();
                match trimmed.split_once(char::is_whitespace) {
                    Some((code, meaning))
                        if indent <= 2 && code.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        end.codes.push((code, meaning.trim().to_string()));
                    }
                    _ => {
                        if let Some((_, meaning)) = end.codes.last_mut() {
                            meaning.push(' ');
                            meaning.push_str(trimmed);
                        }
                    }
                }
            }
        } else {
            end.notes
                .push(std::iter::once(first).chain(lines).collect());
        }
    }
    end
}

/// EXIT STATUS, NOTES and EXAMPLES from the end of a `--help`.
fn end_sections(roff: &mut Roff, text: &str) {
    let end = parse_end(text);
    if !end.codes.is_empty() {
        roff.control("SH", ["EXIT STATUS"]);
        if let Some(note) = end.codes_note {
            let mut chars = note.chars();
            let note: String = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            roff.text([roman(format!("{note}."))]);
        }
        for (code, meaning) in &end.codes {
            roff.control("TP", []);
            roff.text([bold(*code)]);
            roff.text([roman(meaning.as_str())]);
        }
    }
    if !end.notes.is_empty() {
        roff.control("SH", ["NOTES"]);
        for (i, paragraph) in end.notes.iter().enumerate() {
            if i > 0 {
                roff.control("PP", []);
            }
            for line in paragraph {
                roff.text([roman(*line)]);
            }
        }
    }
    if !end.examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        roff.control("RS", ["4"]);
        roff.control("nf", []);
        for line in &end.examples {
            roff.text([roman(*line)]);
        }
        roff.control("fi", []);
        roff.control("RE", []);
    }
}

/// SEE ALSO: the pages above this one (mxkit(1), mxkit-trap(1)).
fn see_also(roff: &mut Roff, command: &clap::Command) {
    let Some(bin) = command.get_bin_name() else {
        return;
    };
    let words: Vec<&str> = bin.split(' ').collect();
    if words.len() < 2 {
        return;
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut line = Vec::new();
    for n in (1..words.len()).rev() {
        if !line.is_empty() {
            line.push(roman(", "));
        }
        line.push(bold(words[..n].join("-")));
        line.push(roman(format!("({SECTION})")));
    }
    roff.text(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_subcommand() {
        let root = root();
        let names: Vec<String> = pages(&root).into_iter().map(file_name).collect();
        for name in [
            "mxkit.1",
            "mxkit-route.1",
            "mxkit-scan-merge.1",
            "mxkit-trap.1",
            "mxkit-trap-run.1",
            "mxkit-completions.1",
            "mxkit-man.1",
        ] {
            assert!(names.iter().any(|n| n == name), "no {name} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    }

    #[test]
    fn the_end_of_a_help_is_read_into_its_parts() {
        let text = "\
Examples:
  mxkit a
      (the same)

Output: one line
per input.

Exit codes (each has its own):
  0   fine
  64  usage error (bad
      flag)";
        let end = parse_end(text);
        assert_eq!(end.examples, ["mxkit a", "    (the same)"]);
        assert_eq!(end.notes, [vec!["Output: one line", "per input."]]);
        assert_eq!(end.codes_note, Some("each has its own"));
        assert_eq!(
            end.codes,
            [
                ("0", "fine".to_string()),
                ("64", "usage error (bad flag)".into())
            ]
        );
    }

    /// Every page has its exit codes, as many as its `--help`.
    #[test]
    fn every_page_has_its_exit_codes() {
        let root = root();
        for command in pages(&root) {
            let help = command.get_after_help().map(|s| s.to_string());
            let end = parse_end(help.as_deref().unwrap_or_default());
            assert!(
                end.codes.iter().any(|(c, _)| *c == "64"),
                "{}: {end:?}",
                file_name(command)
            );
            let page = String::from_utf8(page(command).unwrap()).unwrap();
            let status = page
                .split(".SH \"EXIT STATUS\"\n")
                .nth(1)
                .unwrap_or_else(|| panic!("{page}"));
            let status = status.split("\n.SH ").next().unwrap();
            assert_eq!(status.matches(".TP\n").count(), end.codes.len(), "{page}");
            assert_eq!(page.matches(".ds Aq '").count(), 1, "{page}");
        }
    }
}
