//! The Debian package, built as a user builds it (`scripts/deb`: the
//! release binary, then cargo-deb) and read as dpkg reads it: its files
//! (`dpkg-deb -c`: the binary, one gzipped man page per subcommand, the
//! completions, the units, the conffile, the documentation), its control
//! data (`dpkg -I`: name, version, Depends, conffiles), then installed with
//! dpkg into a throw-away root, its maintainer scripts run: the installed
//! binary answers `--version`, an installed page renders with `man -l`, the
//! trap's system user exists, no unit is enabled; purged, nothing of it is
//! left.
//!
//! cargo-deb (`cargo deb`), dpkg, dpkg-shlibdeps (dpkg-dev) and man
//! (man-db) are required: without them this test fails, saying so;
//! scripts/test installs them. The release build makes it take minutes on a
//! cold target directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `command`, expecting exit 0; its output. `what` names the program
/// for the message when it cannot be started.
fn run(command: &mut Command, what: &str) -> Output {
    let out = command.output().unwrap_or_else(|e| {
        panic!("{what} could not be started ({e}): scripts/test installs what this test needs")
    });
    assert!(out.status.success(), "{command:?}: {}", text(&out));
    out
}

fn stdout(out: Output) -> String {
    String::from_utf8(out.stdout).unwrap()
}

/// Every tool the test needs, each missing one named with where it comes
/// from (before minutes of building).
fn require_tools() {
    let tools: [(&str, &[&str], &str); 5] = [
        (
            "cargo",
            &["deb", "--version"],
            "cargo-deb: cargo install --locked cargo-deb",
        ),
        ("dpkg", &["--version"], "dpkg"),
        ("dpkg-deb", &["--version"], "dpkg"),
        (
            "dpkg-shlibdeps",
            &["--version"],
            "the Debian package dpkg-dev",
        ),
        ("man", &["--version"], "the Debian package man-db"),
    ];
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(program, args, _)| {
            !Command::new(program)
                .args(*args)
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|(_, _, from)| *from)
        .collect();
    assert!(
        missing.is_empty(),
        "the Debian package test needs {} (scripts/test installs them)",
        missing.join(", ")
    );
}

/// Builds the package with scripts/deb; the path of the .deb.
fn build() -> PathBuf {
    let out = run(&mut Command::new(repo().join("scripts/deb")), "scripts/deb");
    let deb = PathBuf::from(stdout(out).lines().last().unwrap_or_default());
    assert!(
        deb.is_file() && deb.extension().is_some_and(|e| e == "deb"),
        "scripts/deb printed no .deb: {}",
        deb.display()
    );
    deb
}

/// The man pages `mxkit man --dir` writes (`mxkit.1`, `mxkit-route.1`,
/// ...): the package must have each, gzipped.
fn man_pages() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_mxkit"))
            .args(["man", "--dir"])
            .arg(dir.path()),
        "mxkit",
    );
    let pages: Vec<String> = stdout(out)
        .lines()
        .map(|l| {
            Path::new(l)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(pages.len() > 10, "{pages:?}");
    pages
}

/// The paths `dpkg-deb -c` lists, absolute, directories without their
/// trailing slash.
fn contents(deb: &Path) -> BTreeSet<String> {
    let out = run(Command::new("dpkg-deb").arg("-c").arg(deb), "dpkg-deb");
    stdout(out)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').trim_end_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A field of a control file's text (`Package: mxkit`), its value.
fn field<'a>(control: &'a str, name: &str) -> Option<&'a str> {
    control.lines().find_map(|l| {
        l.trim_start()
            .strip_prefix(name)?
            .strip_prefix(':')
            .map(str::trim)
    })
}

/// dpkg on the throw-away root `root`, expecting exit 0.
fn dpkg(root: &Path, args: &[&str]) -> Output {
    let mut command = Command::new("dpkg");
    command
        .arg(format!("--root={}", root.display()))
        .arg(format!("--log={}", root.join("dpkg.log").display()))
        // The root's database has only this package: libc6, which the
        // package depends on, is the host's, not installed there.
        .arg("--force-depends")
        // Maintainer scripts run in a chroot into the root by default,
        // where there is no shell to run them. Chrootless, they run with
        // the host's tools and DPKG_ROOT set to the root; the package's
        // scripts act only inside DPKG_ROOT when it is set (contrib/debian).
        .arg("--force-script-chrootless")
        // Installing into a directory of one's own needs no root.
        .arg("--force-not-root")
        // A throw-away root needs no fsync.
        .arg("--force-unsafe-io")
        .args(args);
    run(&mut command, "dpkg")
}

#[test]
fn the_debian_package_has_every_file_and_installs() {
    require_tools();
    let deb = build();

    // Its files.
    let files = contents(&deb);
    let mut expected: Vec<String> = [
        "/usr/bin/mxkit",
        "/usr/share/bash-completion/completions/mxkit",
        "/usr/share/zsh/vendor-completions/_mxkit",
        "/usr/share/fish/vendor_completions.d/mxkit.fish",
        "/usr/lib/systemd/system/mxkit-trap.service",
        "/usr/lib/systemd/system/mxkit-serve.service",
        "/usr/lib/sysusers.d/mxkit.conf",
        "/etc/mxkit/trap.toml",
        "/usr/share/doc/mxkit/copyright",
        "/usr/share/doc/mxkit/changelog.gz",
        "/usr/share/doc/mxkit/README.md",
        "/usr/share/doc/mxkit/LICENSE-MIT",
        "/usr/share/doc/mxkit/LICENSE-APACHE",
        "/usr/share/doc/mxkit/docs/trap.md",
        "/usr/share/doc/mxkit/docs/rules/route.md",
    ]
    .map(String::from)
    .into();
    let pages = man_pages();
    expected.extend(pages.iter().map(|p| format!("/usr/share/man/man1/{p}.gz")));
    for path in &expected {
        assert!(
            files.contains(path),
            "{}: no {path} in {files:#?}",
            deb.display()
        );
    }
    let man1: Vec<&String> = files
        .iter()
        .filter(|f| f.starts_with("/usr/share/man/man1/"))
        .collect();
    assert_eq!(
        man1.len(),
        pages.len(),
        "pages that mxkit does not write: {man1:?}"
    );

    // Its control data.
    let info = stdout(run(Command::new("dpkg").arg("-I").arg(&deb), "dpkg"));
    assert_eq!(field(&info, "Package"), Some("mxkit"), "{info}");
    assert_eq!(
        field(&info, "Version"),
        Some(format!("{VERSION}-1").as_str()),
        "{info}"
    );
    let depends = field(&info, "Depends").unwrap_or_else(|| panic!("no Depends: {info}"));
    assert!(depends.contains("libc6"), "Depends: {depends}");
    let conffiles = stdout(run(
        Command::new("dpkg").arg("-I").arg(&deb).arg("conffiles"),
        "dpkg",
    ));
    assert_eq!(conffiles.trim(), "/etc/mxkit/trap.toml");

    // Installed into a throw-away root: its dpkg database is an empty
    // status file and the folders dpkg writes into.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for sub in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(root.join("var/lib/dpkg").join(sub)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    dpkg(root, &["--install", deb.to_str().unwrap()]);

    let status = stdout(dpkg(root, &["--status", "mxkit"]));
    assert_eq!(
        field(&status, "Status"),
        Some("install ok installed"),
        "{status}"
    );

    let version = stdout(run(
        Command::new(root.join("usr/bin/mxkit")).arg("--version"),
        "the installed mxkit",
    ));
    assert_eq!(version.trim(), format!("mxkit {VERSION}"));

    // An installed page, gzipped, as man reads it.
    let page = root.join("usr/share/man/man1/mxkit-route.1.gz");
    let out = run(
        Command::new("man")
            .args(["--warnings", "-l"])
            .arg(&page)
            .env("MANWIDTH", "80")
            .env_remove("MANPAGER")
            .env_remove("PAGER")
            .env_remove("MANOPT"),
        "man",
    );
    assert!(
        out.stderr.is_empty(),
        "man -l {}: {}",
        page.display(),
        text(&out)
    );
    let rendered = stdout(out);
    assert!(
        rendered.contains("NAME") && rendered.contains("EXIT STATUS"),
        "man -l {}:\n{rendered}",
        page.display()
    );

    // The units start the installed binary, and none is enabled (the trap
    // would listen on port 25 of addresses the administrator has not set).
    for unit in ["mxkit-trap.service", "mxkit-serve.service"] {
        let text = std::fs::read_to_string(root.join("usr/lib/systemd/system").join(unit)).unwrap();
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("{unit}: no ExecStart="));
        assert!(
            exec.starts_with("/usr/bin/mxkit "),
            "{unit}: ExecStart={exec}"
        );
    }
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    assert!(
        !wants.exists() || std::fs::read_dir(&wants).unwrap().next().is_none(),
        "units enabled on installation: {}",
        wants.display()
    );

    // The trap's system user, made by systemd-sysusers where the host has
    // it (postinst makes none without it).
    if Command::new("systemd-sysusers")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
        assert!(
            passwd.lines().any(|l| l.starts_with("mxkit-trap:")),
            "no user mxkit-trap in the root's /etc/passwd:\n{passwd}"
        );
    }

    // Purged: the binary and the conffile are gone.
    dpkg(root, &["--purge", "mxkit"]);
    for path in [
        "usr/bin/mxkit",
        "etc/mxkit/trap.toml",
        "usr/share/man/man1/mxkit.1.gz",
    ] {
        assert!(!root.join(path).exists(), "{path} is left after purge");
    }
}
