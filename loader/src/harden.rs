//! What a root process reading a file from a CI pipeline owes the host: the image is read
//! through one descriptor that is checked first (owned by root, writable by no one else),
//! validated completely before any kernel call, and once the programs are attached the
//! loader keeps only the capabilities a reload needs.

use sha2::Digest;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

use schema::image::Image;
use schema::input::OpenError;

use crate::{LoadError, Plan};

/// The largest image read (the format's own limit is far below; this bounds the read).
const MAX_IMAGE_BYTES: u64 = schema::image::MAX_IMAGE_FILE_BYTES;

/// Which file an image was read from, from the descriptor it was read through: `--watch`
/// reloads when the path names another file, or this one changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub modified: Option<SystemTime>,
    pub changed: (i64, i64),
}

impl FileStamp {
    pub fn of(meta: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            modified: meta.modified().ok(),
            changed: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// What the path names now (symbolic links followed); None if nothing. A `stat`, which
    /// opens nothing.
    pub fn of_path(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path).ok().map(|m| FileStamp::of(&m))
    }
}

/// An image read and checked, its hooks planned, and the file it came from.
pub struct ImageRead {
    pub image: Image,
    pub plan: Plan,
    pub stamp: FileStamp,
    /// The file's SHA-256 (hex), what `sha256sum` prints for it: how an operator tells
    /// which image a loader runs.
    pub sha256: String,
}

/// Reads, checks and decodes an image file, and plans its hooks: everything about the image
/// is decided here, before the kernel is touched. Only a regular file is opened (a FIFO, a
/// socket or a device is refused by name, without waiting or reading); the checks, the
/// read and the stamp use that one descriptor. `allow_insecure`: accept a file that users
/// other than root could have written.
pub fn read_image(path: &Path, allow_insecure: bool) -> Result<ImageRead, LoadError> {
    let name = || path.display().to_string();
    let io = |source: std::io::Error| LoadError::ImageIo {
        path: name(),
        source,
    };
    let refused = |problem: String, help: &str| LoadError::ImageFile {
        path: name(),
        problem,
        help: help.to_owned(),
    };
    let compiled = "give the file written by `tracee-compile -o`";
    let mut opened = match schema::input::open_regular(path) {
        Ok(opened) => opened,
        Err(OpenError::NotRegular(kind)) => {
            return Err(refused(
                format!("is {}, not an image file", kind.describe()),
                compiled,
            ));
        }
        Err(OpenError::Io(e)) => return Err(io(e)),
        Err(e @ OpenError::Replaced) => return Err(refused(e.to_string(), compiled)),
    };
    let meta = &opened.metadata;
    if !allow_insecure && let Some(problem) = insecure(meta.uid(), meta.gid(), meta.mode()) {
        return Err(refused(
            problem,
            "make it owned by root and writable only by root (`chown root: FILE && chmod 644 FILE`), or pass --allow-insecure-image",
        ));
    }
    if meta.len() > MAX_IMAGE_BYTES {
        return Err(refused(
            format!(
                "is {} bytes, more than any image ({MAX_IMAGE_BYTES})",
                meta.len()
            ),
            compiled,
        ));
    }
    let stamp = FileStamp::of(meta);
    let bytes = schema::input::read_bounded(&mut opened.file, MAX_IMAGE_BYTES).map_err(io)?;
    if !bytes.starts_with(&schema::image::MAGIC)
        && schema::image::looks_like_text(&bytes[..bytes.len().min(4096)])
    {
        return Err(refused(
            "is text (a policy file?), not a map image".to_owned(),
            &format!(
                "compile it first: `tracee-compile {} -o rules.bin`, then `tracee-load rules.bin`",
                path.display()
            ),
        ));
    }
    let image = schema::image::decode(&bytes).map_err(|source| LoadError::ImageInvalid {
        path: name(),
        source,
    })?;
    image.check_compat(schema::abi::abi_hash(), schema::catalog::catalog_hash())?;
    let plan = Plan::from_probes(&image.meta.probes)?;
    let sha256 = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(ImageRead {
        image,
        plan,
        stamp,
        sha256,
    })
}

/// Why a file with this owner and mode could have been written by someone other than
/// root, if it could.
pub fn insecure(uid: u32, gid: u32, mode: u32) -> Option<String> {
    if uid != 0 {
        return Some(format!(
            "is owned by uid {uid}, not root: that user can change the policies the kernel enforces"
        ));
    }
    if mode & 0o002 != 0 {
        return Some(format!(
            "is writable by every user (mode {:o})",
            mode & 0o7777
        ));
    }
    if mode & 0o020 != 0 && gid != 0 {
        return Some(format!(
            "is writable by group {gid} (mode {:o})",
            mode & 0o7777
        ));
    }
    None
}

/// After attaching: keep only what loading a new generation needs (CAP_BPF and
/// CAP_PERFMON, and CAP_NET_ADMIN when the image has network events: the kernel loads the
/// packet programs, `cgroup_skb` and `cgroup/sock_create`, only with it), or nothing when
/// reloads are off; no capability can come back (bounding set emptied, no new privileges).
/// Capabilities belong to a thread: this changes the calling one; the loader's other
/// threads drop everything when they start (`drop_thread_capabilities`). Returns the
/// capabilities kept, by name.
pub fn drop_capabilities(
    keep_for_reload: bool,
    network: bool,
) -> Result<Vec<&'static str>, LoadError> {
    use rustix::thread::CapabilitySet;
    let keep = match (keep_for_reload, network) {
        (false, _) => CapabilitySet::empty(),
        (true, false) => CapabilitySet::BPF | CapabilitySet::PERFMON,
        (true, true) => CapabilitySet::BPF | CapabilitySet::PERFMON | CapabilitySet::NET_ADMIN,
    };
    let kept = drop_to(keep)
        .map_err(|(what, e)| LoadError::Kernel(format!("dropping capabilities: {what}: {e}")))?;
    let mut names = Vec::new();
    if kept.contains(CapabilitySet::BPF) {
        names.push("CAP_BPF");
    }
    if kept.contains(CapabilitySet::PERFMON) {
        names.push("CAP_PERFMON");
    }
    if kept.contains(CapabilitySet::NET_ADMIN) {
        names.push("CAP_NET_ADMIN");
    }
    Ok(names)
}

/// Before anything else: a user without CAP_BPF and CAP_PERFMON (not root, or a container
/// without them) is told so in one line, rather than by whichever step fails first.
pub fn check_privileges(network: bool) -> Result<(), LoadError> {
    use rustix::thread::CapabilitySet;
    let effective = rustix::thread::capabilities(None)
        .map(|c| c.effective)
        .unwrap_or_else(|_| CapabilitySet::empty());
    let mut missing = Vec::new();
    if !effective.contains(CapabilitySet::BPF) {
        missing.push("CAP_BPF");
    }
    if !effective.contains(CapabilitySet::PERFMON) {
        missing.push("CAP_PERFMON");
    }
    if network && !effective.contains(CapabilitySet::NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let needs = if network {
        "CAP_BPF and CAP_PERFMON, and CAP_NET_ADMIN for this image's network events (the kernel loads packet programs only with it)"
    } else {
        "CAP_BPF and CAP_PERFMON"
    };
    Err(LoadError::Kernel(format!(
        "tracee-load loads BPF programs, which needs root or at least {needs} (this process has not got {}): run it with sudo, or give the capabilities (docs/kubernetes.md lists what a container needs)",
        missing.join(" nor ")
    )))
}

/// Whether the calling thread may load the packet programs (CAP_NET_ADMIN).
pub fn can_load_packet_programs() -> bool {
    rustix::thread::capabilities(None).is_ok_and(|c| {
        c.effective
            .contains(rustix::thread::CapabilitySet::NET_ADMIN)
    })
}

/// Starts one of the loader's helper threads (signals, image file, output), which need no
/// privilege: it drops every capability it has before running `work`, and this returns
/// only once it has, so the loader's privileges are settled when it says it is attached.
pub fn spawn_unprivileged<F>(name: &str, work: F) -> Result<(), String>
where
    F: FnOnce() + Send + 'static,
{
    let (ready, wait) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            drop_thread_capabilities();
            let _ = ready.send(());
            work();
        })
        .map_err(|e| format!("starting the {name} thread: {e}"))?;
    wait.recv()
        .map_err(|_| format!("the {name} thread ended at once"))
}

/// Every capability of the calling thread goes, for good.
fn drop_thread_capabilities() {
    if let Err((what, e)) = drop_to(rustix::thread::CapabilitySet::empty()) {
        crate::say!(
            "tracee-load: warning: {}: dropping capabilities: {what}: {e}",
            std::thread::current().name().unwrap_or("a thread")
        );
    }
}

fn drop_to(
    keep: rustix::thread::CapabilitySet,
) -> Result<rustix::thread::CapabilitySet, (&'static str, rustix::io::Errno)> {
    use rustix::thread::{
        CapabilitySet, CapabilitySets, capabilities, remove_capability_from_bounding_set,
        set_capabilities, set_no_new_privs,
    };
    let now = capabilities(None).map_err(|e| ("read", e))?;
    let kept = now.permitted & keep;
    // The bounding set: every capability but those kept, so none can be regained by exec.
    // Changing it takes CAP_SETPCAP; a thread without it has nothing to regain either.
    if now.effective.contains(CapabilitySet::SETPCAP) {
        for cap in CapabilitySet::all().iter() {
            if kept.contains(cap) {
                continue;
            }
            // EINVAL: a capability this kernel does not know.
            match remove_capability_from_bounding_set(cap) {
                Ok(()) | Err(rustix::io::Errno::INVAL) => {}
                Err(e) => return Err(("bounding set", e)),
            }
        }
    }
    set_capabilities(
        None,
        CapabilitySets {
            effective: kept,
            permitted: kept,
            inheritable: CapabilitySet::empty(),
        },
    )
    .map_err(|e| ("set", e))?;
    set_no_new_privs(true).map_err(|e| ("no_new_privs", e))?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::insecure;

    /// A policy given where the image belongs: the error says to compile it, naming it.
    #[test]
    fn a_policy_file_is_refused_with_the_compile_command() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir");
        };
        let path = dir.path().join("policy.yaml");
        let _ = std::fs::write(
            &path,
            "apiVersion: tracee.aquasec.com/v1beta1\nkind: Policy\n",
        );
        let message = match super::read_image(&path, true) {
            Ok(_) => panic!("a YAML file was taken for an image"),
            Err(e) => e.to_string(),
        };
        assert!(
            message.contains("is text (a policy file?)")
                && message.contains(&format!("tracee-compile {} -o rules.bin", path.display())),
            "{message}"
        );
    }

    #[test]
    fn only_root_may_write_an_image() {
        assert_eq!(insecure(0, 0, 0o100644), None);
        assert_eq!(insecure(0, 0, 0o100664), None);
        assert_eq!(insecure(0, 0, 0o100600), None);
        assert!(insecure(1000, 0, 0o100644).is_some());
        assert!(insecure(0, 0, 0o100666).is_some());
        assert!(insecure(0, 100, 0o100664).is_some());
        assert_eq!(insecure(0, 100, 0o100644), None);
    }
}
