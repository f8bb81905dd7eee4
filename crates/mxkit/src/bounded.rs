//! Reading untrusted input with a limit: every file or stream mxkit reads
//! whole (zone files, resolv.conf, a CA file, the message of `send`) goes
//! through here, so that `/dev/zero`, a FIFO, a directory or a sparse file of
//! a terabyte fails at once with the limit it hit instead of eating memory or
//! waiting forever.
//!
//! Words: the **limit** is the most bytes accepted; a reader never takes more
//! than the limit plus one byte from its source (the one byte tells "exactly
//! the limit" from "more"). Going over it is an [`io::Error`] of kind
//! [`io::ErrorKind::FileTooLarge`] whose text names the limit
//! (`exceeds the limit of 65536 bytes`), so callers that show the error as
//! `PATH: error` say which limit was hit without knowing it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The error for input over `limit` bytes: kind
/// [`io::ErrorKind::FileTooLarge`], text `exceeds the limit of N bytes`.
pub fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("exceeds the limit of {limit} bytes"),
    )
}

/// Read everything `reader` gives, up to `limit` bytes: more is an error
/// ([`too_large`]), after reading at most `limit + 1` bytes.
pub fn read_to_limit(reader: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(buf)
}

/// Open `path` for reading if it is a regular file (following symbolic
/// links). The file is opened without blocking, so that a FIFO is refused
/// instead of waiting for a writer; the type is checked on the opened file,
/// so that a file swapped after a check cannot slip through.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, what));
    }
    Ok(file)
}

/// Read a regular file of at most `limit` bytes (see [`open_regular`]): a
/// larger one is refused from its size before anything is read, and one
/// that grows while it is read stops at `limit + 1` bytes.
pub fn read_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    if file.metadata()?.len() > limit {
        return Err(too_large(limit));
    }
    read_to_limit(file, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_read_up_to_its_limit_and_no_further() {
        assert_eq!(read_to_limit(&b"abc"[..], 3).unwrap(), b"abc");
        let err = read_to_limit(&b"abcd"[..], 3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(err.to_string(), "exceeds the limit of 3 bytes");
        // An endless source: only limit + 1 bytes are taken.
        let mut zero = io::repeat(0);
        assert!(read_to_limit(&mut zero, 1 << 20).is_err());
    }

    #[test]
    fn only_regular_files_are_read() {
        let err = read_file(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file");
        let err = read_file(Path::new("/"), 1 << 20).unwrap_err();
        assert_eq!(err.to_string(), "a directory");
        let dir = std::env::temp_dir().join(format!("mxkit-bounded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        // Refused at once, not after a writer shows up.
        let err = read_file(&fifo, 1 << 20).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file");
        let big = dir.join("sparse");
        File::create(&big).unwrap().set_len(1 << 40).unwrap();
        let err = read_file(&big, 1 << 20).unwrap_err();
        assert_eq!(err.to_string(), "exceeds the limit of 1048576 bytes");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
