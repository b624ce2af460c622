//! What the kernel cannot read, filled in before an event is printed.
//!
//! - The copies (`sendfile`, `splice`, `copy_file_range`) move bytes between files inside
//!   the kernel, where no BPF helper reads a file's pages: the kernel decides their
//!   `magic_write` (a copy to offset 0 of a regular file, scope and filters) and their
//!   `dropped_executable` (not on a memory filesystem), and the loader reads the first bytes
//!   back from the written file.
//! - `container_create`: the kernel decides it from the new cgroup's name; the runtime's
//!   state (image, name, pod) is read here, and the creation time made wall-clock time.

use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use crate::containers::{self, Runtime};

use schema::record::{Arg, ArgValue, Record};

const MAGIC_WRITE: u32 = 725;
const DROPPED_EXECUTABLE: u32 = 6022;
const CONTAINER_CREATE: u32 = 2014;
/// sendfile, splice, copy_file_range.
const COPIES: [u32; 3] = [40, 275, 326];
/// As many bytes as the kernel reads from a write's buffer.
const MAGIC_LEN: usize = 24;

/// What happens to a record after completion.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion {
    Print,
    /// A copied dropped_executable whose file is not (or no longer) an ELF binary.
    Drop,
}

/// Fills in what the kernel left to the loader, or says the record is not to be printed.
/// `boot_to_epoch`: what turns a boot-clock time into wall-clock time; `host_root`: where
/// the container runtimes' state is (`--host-root`).
pub fn complete(record: &mut Record, boot_to_epoch: i64, host_root: &Path) -> Completion {
    let h = record.header;
    if h.event_id == CONTAINER_CREATE {
        container_create(record, boot_to_epoch, host_root);
        return Completion::Print;
    }
    if h.event_id == DROPPED_EXECUTABLE && h.flags & schema::abi::RECORD_FLAG_CHECK_ELF != 0 {
        let elf = path_arg(record)
            .and_then(|path| head(h.host_pid, h.mntns, &path).ok())
            .is_some_and(|bytes| bytes.starts_with(b"\x7fELF"));
        return if elf {
            Completion::Print
        } else {
            Completion::Drop
        };
    }
    // A detection built from a magic_write (hidden_file_created) is completed as one.
    let base = if h.detected_from != 0 {
        h.detected_from
    } else {
        h.event_id
    };
    if base == MAGIC_WRITE
        && COPIES.contains(&h.syscall)
        && !record.args.iter().any(|a| a.index == 1)
        && let Some(bytes) = path_arg(record).and_then(|path| head(h.host_pid, h.mntns, &path).ok())
    {
        let at = record
            .args
            .iter()
            .position(|a| a.index > 1)
            .unwrap_or(record.args.len());
        record.args.insert(
            at,
            Arg {
                index: 1,
                value: ArgValue::Bytes(bytes),
            },
        );
        record.header.args_num = record.header.args_num.saturating_add(1);
    }
    Completion::Print
}

/// container_create's creation time as wall-clock time, and the image, name and pod fields
/// when the runtime's state has the container already (it may write it after the cgroup).
fn container_create(record: &mut Record, boot_to_epoch: i64, host_root: &Path) {
    let text = |i: u8| {
        record.args.iter().find_map(|a| match (&a.index, &a.value) {
            (n, ArgValue::Str(s)) if *n == i => Some(s.clone()),
            _ => None,
        })
    };
    let (Some(runtime), Some(id)) = (text(0), text(1)) else {
        return;
    };
    for arg in &mut record.args {
        if let (2, ArgValue::UInt(t)) = (arg.index, &mut arg.value) {
            *t = t.saturating_add_signed(boot_to_epoch);
        }
    }
    let runtime = match runtime.as_str() {
        "docker" => Runtime::Docker,
        "containerd" => Runtime::Containerd,
        "crio" => Runtime::Crio,
        "podman" => Runtime::Podman,
        _ => Runtime::Unknown,
    };
    let Some(c) = containers::metadata(host_root, &id, runtime) else {
        return;
    };
    for (index, value) in c.event_args() {
        if !record.args.iter().any(|a| a.index == index) {
            record.args.push(Arg { index, value });
        }
    }
    record.args.sort_by_key(|a| a.index);
    record.header.args_num = u8::try_from(record.args.len()).unwrap_or(u8::MAX);
}

fn path_arg(record: &Record) -> Option<String> {
    record.args.iter().find_map(|a| match (&a.index, &a.value) {
        (0, ArgValue::Str(path)) if path.starts_with('/') => Some(path.clone()),
        _ => None,
    })
}

/// The first bytes of the file at `path` as the writer sees it: through its root
/// (`/proc/PID/root`, so a container's file is read in its own mount namespace), or, when
/// the writer is gone, as is if the writer shared the loader's mount namespace. Only a
/// regular file is read, never through a final symlink and without blocking (a FIFO
/// swapped in must not hang the reader).
fn head(pid: u32, mntns: u64, path: &str) -> io::Result<Vec<u8>> {
    let open = |p: &str| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(p)
    };
    let file = open(&format!("/proc/{pid}/root{path}")).or_else(|e| {
        if own_mntns() == Some(mntns) {
            open(path)
        } else {
            Err(e)
        }
    })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut buf = [0u8; MAGIC_LEN];
    let n = file.read_at(&mut buf, 0)?;
    Ok(buf[..n].to_vec())
}

fn own_mntns() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    static OWN: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *OWN.get_or_init(|| std::fs::metadata("/proc/self/ns/mnt").ok().map(|m| m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema::abi::EventRecord;

    fn record(event: u32, syscall: u32, flags: u8, path: &str) -> Record {
        let mut header: EventRecord = bytemuck::Zeroable::zeroed();
        header.event_id = event;
        header.syscall = syscall;
        header.flags = flags;
        header.host_pid = std::process::id();
        header.mntns = own_mntns().unwrap_or(0);
        let args = vec![
            Arg {
                index: 0,
                value: ArgValue::Str(path.to_owned()),
            },
            Arg {
                index: 2,
                value: ArgValue::UInt(7),
            },
        ];
        header.args_num = 2;
        Record { header, args }
    }

    #[test]
    fn a_copied_file_gets_its_first_bytes_in_place() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("copied");
        std::fs::write(&path, b"#!/bin/sh\necho a long enough script body\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut r = record(MAGIC_WRITE, 326, 0, &path.to_string_lossy());
        assert_eq!(complete(&mut r, 0, Path::new("/")), Completion::Print);
        let indices: Vec<u8> = r.args.iter().map(|a| a.index).collect();
        assert_eq!(indices, [0, 1, 2]);
        assert_eq!(
            r.args[1].value,
            ArgValue::Bytes(b"#!/bin/sh\necho a long en".to_vec())
        );
        // A write's record keeps the bytes the kernel read.
        let mut w = record(MAGIC_WRITE, 1, 0, &path.to_string_lossy());
        complete(&mut w, 0, Path::new("/"));
        assert_eq!(w.args.len(), 2);
    }

    #[test]
    fn a_copied_dropped_executable_prints_only_for_an_elf_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (elf, text) = (dir.path().join("elf"), dir.path().join("text"));
        std::fs::write(&elf, b"\x7fELF\x02\x01\x01").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&text, b"not a program").unwrap_or_else(|e| panic!("{e}"));
        let flag = schema::abi::RECORD_FLAG_CHECK_ELF;
        let check = |p: &std::path::Path| {
            let mut r = record(DROPPED_EXECUTABLE, 40, flag, &p.to_string_lossy());
            complete(&mut r, 0, Path::new("/"))
        };
        assert_eq!(check(&elf), Completion::Print);
        assert_eq!(check(&text), Completion::Drop);
        assert_eq!(check(&dir.path().join("gone")), Completion::Drop);
        // A FIFO swapped in is not opened for reading (it would block).
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check(&fifo), Completion::Drop);
    }
}
