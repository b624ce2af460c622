//! How both tools open what a user names: the path is first opened with `O_PATH` (which
//! neither blocks nor has side effects, whatever the file is) and its kind checked on that
//! descriptor; only a regular file is then opened for reading, with `O_NONBLOCK` and
//! `O_NOCTTY`, and checked to be the same file. A FIFO, a socket or a device is refused
//! by name: opening a FIFO for reading waits for a writer, reading `/dev/zero` never ends,
//! and opening some devices (a watchdog, a tape) does something.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

/// What a path names, as `fstat` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Other,
}

impl FileKind {
    fn of(file_type: FileType) -> FileKind {
        match file_type {
            FileType::RegularFile => FileKind::Regular,
            FileType::Directory => FileKind::Directory,
            FileType::Fifo => FileKind::Fifo,
            FileType::Socket => FileKind::Socket,
            FileType::CharacterDevice => FileKind::CharDevice,
            FileType::BlockDevice => FileKind::BlockDevice,
            _ => FileKind::Other,
        }
    }

    /// "a FIFO (named pipe)", for messages.
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Other => "a special file",
        }
    }
}

/// Why a path could not be opened as an input file.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The path does not resolve or cannot be opened (missing, no permission, a link loop).
    #[error("{}", describe_io(.0))]
    Io(#[source] io::Error),
    /// It resolves to something other than a regular file.
    #[error("is {}, not a regular file", .0.describe())]
    NotRegular(FileKind),
    /// It was replaced between the check and the open (someone is renaming files in place).
    #[error("was replaced while it was being opened; try again")]
    Replaced,
}

/// An I/O error, with what a link loop means (the kernel's words are "too many levels of
/// symbolic links").
pub fn describe_io(e: &io::Error) -> String {
    if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        format!("{e}: a symbolic link loop, or a chain of more than 40 links")
    } else {
        e.to_string()
    }
}

/// The kind of file a path resolves to (following symbolic links), found without opening
/// the file itself.
pub fn kind_of(path: &Path) -> Result<FileKind, io::Error> {
    let fd = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    Ok(FileKind::of(FileType::from_raw_mode(st.st_mode)))
}

/// An input file opened for reading, and its metadata (from the same descriptor).
pub struct Opened {
    pub file: File,
    pub metadata: std::fs::Metadata,
}

/// Opens `path` for reading if, and only if, it is a regular file (symbolic links
/// followed). Never blocks on a FIFO, never opens a device.
pub fn open_regular(path: &Path) -> Result<Opened, OpenError> {
    let probe = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| OpenError::Io(e.into()))?;
    let before = rustix::fs::fstat(&probe).map_err(|e| OpenError::Io(e.into()))?;
    let kind = FileKind::of(FileType::from_raw_mode(before.st_mode));
    if kind != FileKind::Regular {
        return Err(OpenError::NotRegular(kind));
    }
    let flags = OFlags::NONBLOCK | OFlags::NOCTTY;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(OpenError::Io)?;
    let after = rustix::fs::fstat(file.as_fd()).map_err(|e| OpenError::Io(e.into()))?;
    let kind = FileKind::of(FileType::from_raw_mode(after.st_mode));
    if kind != FileKind::Regular {
        return Err(OpenError::NotRegular(kind));
    }
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) {
        return Err(OpenError::Replaced);
    }
    let metadata = file.metadata().map_err(OpenError::Io)?;
    Ok(Opened { file, metadata })
}

/// Reads at most `limit + 1` bytes: a result longer than `limit` means the file is too
/// large (it may have grown since its size was checked).
pub fn read_bounded(file: &mut File, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.by_ref()
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_by_kind_without_blocking() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let fifo = dir.path().join("p.yaml");
        if let Err(e) = rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o600)) {
            panic!("mkfifo: {e}");
        }
        let sock_path = dir.path().join("s.yaml");
        let _listener = match std::os::unix::net::UnixListener::bind(&sock_path) {
            Ok(l) => l,
            Err(e) => panic!("bind: {e}"),
        };
        let link = dir.path().join("loop.yaml");
        if let Err(e) = std::os::unix::fs::symlink(&link, &link) {
            panic!("symlink: {e}");
        }
        let regular = dir.path().join("r.yaml");
        if let Err(e) = std::fs::write(&regular, "x") {
            panic!("{e}");
        }
        for (path, kind) in [
            (fifo.as_path(), FileKind::Fifo),
            (sock_path.as_path(), FileKind::Socket),
            (Path::new("/dev/zero"), FileKind::CharDevice),
            (dir.path(), FileKind::Directory),
        ] {
            match open_regular(path) {
                Err(OpenError::NotRegular(k)) => assert_eq!(k, kind, "{}", path.display()),
                Err(e) => panic!("{}: {e}", path.display()),
                Ok(_) => panic!("{} opened", path.display()),
            }
            assert_eq!(kind_of(path).ok(), Some(kind));
        }
        match open_regular(&link) {
            Err(e @ OpenError::Io(_)) => assert!(e.to_string().contains("link loop"), "{e}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a link loop opened"),
        }
        match open_regular(&regular) {
            Ok(mut opened) => {
                assert!(opened.metadata.is_file());
                let bytes = read_bounded(&mut opened.file, 10).unwrap_or_default();
                assert_eq!(bytes, b"x");
            }
            Err(e) => panic!("{e}"),
        }
    }
}
