//! What a root process reading a file from a CI pipeline owes the host: the image is read
//! through one descriptor that is checked first (owned by root, writable by no one else),
//! validated completely before any kernel call, and once the programs are attached the
//! loader keeps only the capabilities a reload needs.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use schema::image::Image;

use crate::{LoadError, Plan};

/// The largest image read (the format's own limit is far below; this bounds the read).
const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// Reads, checks and decodes an image file, and plans its hooks: everything about the image
/// is decided here, before the kernel is touched. `allow_insecure`: accept a file that
/// users other than root could have written.
pub fn read_image(path: &Path, allow_insecure: bool) -> Result<(Image, Plan), LoadError> {
    let io = |source: std::io::Error| LoadError::ImageIo {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    // The checks and the read use the same descriptor: a file swapped in between is not read.
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(LoadError::ImageFile {
            path: path.display().to_string(),
            problem: "is not a regular file".to_owned(),
            help: "give the file written by `tracee-compile -o`".to_owned(),
        });
    }
    if !allow_insecure && let Some(problem) = insecure(meta.uid(), meta.gid(), meta.mode()) {
        return Err(LoadError::ImageFile {
            path: path.display().to_string(),
            problem,
            help: "make it owned by root and writable only by root (`chown root: FILE && chmod 644 FILE`), or pass --allow-insecure-image".to_owned(),
        });
    }
    if meta.len() > MAX_IMAGE_BYTES {
        return Err(LoadError::ImageFile {
            path: path.display().to_string(),
            problem: format!(
                "is {} bytes, more than any image ({MAX_IMAGE_BYTES})",
                meta.len()
            ),
            help: "give the file written by `tracee-compile -o`".to_owned(),
        });
    }
    let mut bytes = Vec::new();
    file.by_ref()
        .take(MAX_IMAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let image = schema::image::decode(&bytes).map_err(|source| LoadError::ImageInvalid {
        path: path.display().to_string(),
        source,
    })?;
    image.check_compat(schema::abi::abi_hash(), schema::catalog::catalog_hash())?;
    let plan = Plan::from_probes(&image.meta.probes)?;
    Ok((image, plan))
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
/// CAP_PERFMON), or nothing when reloads are off; no capability can come back (bounding set
/// emptied, no new privileges). Returns the capabilities kept, by name.
pub fn drop_capabilities(keep_for_reload: bool) -> Result<Vec<&'static str>, LoadError> {
    use rustix::thread::{
        CapabilitySet, CapabilitySets, capabilities, remove_capability_from_bounding_set,
        set_capabilities, set_no_new_privs,
    };
    let fail = |what: &str, e: rustix::io::Errno| {
        LoadError::Kernel(format!("dropping capabilities: {what}: {e}"))
    };
    let keep = if keep_for_reload {
        CapabilitySet::BPF | CapabilitySet::PERFMON
    } else {
        CapabilitySet::empty()
    };
    let now = capabilities(None).map_err(|e| fail("read", e))?;
    let kept = now.permitted & keep;
    // The bounding set: every capability but those kept, so none can be regained by exec.
    for cap in CapabilitySet::all().iter() {
        if kept.contains(cap) {
            continue;
        }
        // EINVAL: a capability this kernel does not know.
        match remove_capability_from_bounding_set(cap) {
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(e) => return Err(fail("bounding set", e)),
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
    .map_err(|e| fail("set", e))?;
    set_no_new_privs(true).map_err(|e| fail("no_new_privs", e))?;
    let mut names = Vec::new();
    if kept.contains(CapabilitySet::BPF) {
        names.push("CAP_BPF");
    }
    if kept.contains(CapabilitySet::PERFMON) {
        names.push("CAP_PERFMON");
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::insecure;

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
