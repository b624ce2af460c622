//! What the kernel cannot see happen because it happened before the loader: process
//! trees, `follow` adoption, running binaries, existing containers, seeded from /proc and
//! the cgroup trees.

use std::path::Path;

use libbpf_rs::skel::Skel;
use libbpf_rs::{MapCore, MapFlags};
use schema::image::Image;

use crate::TraceeSkel;
use crate::cgroups::{CgroupV1, V1_KEY, cgroup_dirs, cgroup_v2_root, is_container_cgroup};
use crate::error::{LoadError, libbpf};
use crate::install::mount_ns_of;
use crate::plan::{Hook, Plan};

/// `tree` scopes name processes by pid; their descendants that already exist are not seen
/// forking, so they are added from /proc: every process gets the bits of all its ancestors
/// (and itself) that a policy names, so nested trees of different policies combine. Run it
/// before attaching and again after (a fork in between is caught by one or the other).
/// Returns how many processes it added or widened.
pub fn seed_tree(skel: &TraceeSkel<'_>, image: &Image) -> Result<usize, LoadError> {
    use schema::abi::EqBits;
    let Some(section) = image.map("scope_tree") else {
        return Ok(0);
    };
    let roots: std::collections::HashMap<u32, EqBits> = section
        .entries
        .iter()
        .filter_map(|(k, v)| {
            let pid = u32::from_le_bytes(k.as_slice().try_into().ok()?);
            let bits: EqBits = bytemuck::try_pod_read_unaligned(v).ok()?;
            Some((pid, bits))
        })
        .collect();
    if roots.is_empty() {
        return Ok(0);
    }
    let parents = process_parents();
    let mut changed = 0;
    for &pid in parents.keys() {
        let mut bits = EqBits { eq: 0, ne: 0 };
        let mut at = pid;
        // Bounded: /proc may change under us and form no chain to 1.
        for _ in 0..4096 {
            if let Some(root) = roots.get(&at) {
                bits.eq |= root.eq;
                bits.ne |= root.ne;
            }
            match parents.get(&at) {
                Some(&parent) if parent > 0 && parent != at => at = parent,
                _ => break,
            }
        }
        if (bits.eq | bits.ne) == 0 || roots.get(&pid) == Some(&bits) {
            continue;
        }
        skel.maps
            .scope_tree
            .update(&pid.to_le_bytes(), bytemuck::bytes_of(&bits), MapFlags::ANY)
            .map_err(libbpf("add an existing descendant to scope_tree"))?;
        changed += 1;
    }
    Ok(changed)
}

/// `follow` for processes that existed before the loader: the task iterator names each
/// running process whose scope admits a `follow` policy (as the kernel decides it for new
/// ones at fork); each of its existing descendants is added to `followed` with those
/// policies. Run after attaching (later forks are the fork hook's). Returns how many
/// processes it added or widened.
pub fn seed_follow(skel: &TraceeSkel<'_>, plan: &Plan) -> Result<usize, LoadError> {
    use std::io::Read;
    if !plan.hooks.contains(&Hook::Iter("seed_follow")) {
        return Ok(0);
    }
    let link = skel
        .progs
        .seed_follow
        .attach_iter_with_opts(libbpf_rs::IterOpts::None)
        .map_err(libbpf("create the seed_follow iterator"))?;
    let mut iter = libbpf_rs::Iter::new(&link).map_err(libbpf("run the seed_follow iterator"))?;
    let mut bytes = Vec::new();
    iter.read_to_end(&mut bytes)
        .map_err(|e| LoadError::Kernel(format!("reading the seed_follow iterator: {e}")))?;
    // Records of { u32 pid, u32 pad, u64 policies }.
    let admitted: std::collections::HashMap<u32, u64> = bytes
        .chunks_exact(16)
        .filter_map(|r| {
            let pid = u32::from_le_bytes(r.get(..4)?.try_into().ok()?);
            let bits = u64::from_le_bytes(r.get(8..16)?.try_into().ok()?);
            Some((pid, bits))
        })
        .collect();
    if admitted.is_empty() {
        return Ok(0);
    }
    let parents = process_parents();
    let mut changed = 0;
    for &pid in parents.keys() {
        let mut bits = 0u64;
        let mut at = pid;
        // Strict ancestors only: a process is followed for what its parents matched.
        for _ in 0..4096 {
            match parents.get(&at) {
                Some(&parent) if parent > 0 && parent != at => at = parent,
                _ => break,
            }
            bits |= admitted.get(&at).copied().unwrap_or(0);
        }
        if bits == 0 {
            continue;
        }
        let key = pid.to_le_bytes();
        let known = skel
            .maps
            .followed
            .lookup(&key, MapFlags::ANY)
            .ok()
            .flatten()
            .and_then(|v| Some(u64::from_le_bytes(v.get(..8)?.try_into().ok()?)))
            .unwrap_or(0);
        if known | bits == known {
            continue;
        }
        skel.maps
            .followed
            .update(&key, &(known | bits).to_le_bytes(), MapFlags::ANY)
            .map_err(libbpf("add an existing descendant to followed"))?;
        changed += 1;
    }
    Ok(changed)
}

/// Where `exe_known`, `exe_exec_id` and `exe` sit in `struct pending` (bytes), from the
/// object's own BTF: how the loader writes (here) and reads (workload.rs) a task's recorded
/// binary.
pub fn pending_exe_offsets(skel: &TraceeSkel<'_>) -> Result<ExeOffsets, LoadError> {
    use libbpf_rs::btf::types::{MemberAttr, Struct};
    let btf = skel
        .object()
        .btf()
        .ok()
        .flatten()
        .ok_or_else(|| LoadError::Kernel("the BPF object has no BTF".to_owned()))?;
    let pending = btf
        .type_by_name::<Struct<'_>>("pending")
        .ok_or_else(|| LoadError::Kernel("the BPF object has no struct pending".to_owned()))?;
    let offset = |name: &str| {
        pending.iter().find_map(|m| match (m.name, m.attr) {
            (Some(n), MemberAttr::Normal { offset }) if n == name => Some(offset as usize / 8),
            _ => None,
        })
    };
    match (offset("exe_known"), offset("exe_exec_id"), offset("exe")) {
        (Some(known), Some(exec_id), Some(exe)) => Ok(ExeOffsets {
            known,
            exec_id,
            exe,
        }),
        _ => Err(LoadError::Kernel(
            "struct pending has no exe_known/exe_exec_id/exe".to_owned(),
        )),
    }
}

/// Byte offsets of a task's recorded binary in `struct pending`.
#[derive(Debug, Clone, Copy)]
pub struct ExeOffsets {
    pub known: usize,
    pub exec_id: usize,
    pub exe: usize,
}

/// `exe_known` of a binary recorded at exec, and of one seeded from /proc (whose exec
/// count is not known).
pub const EXE_AT_EXEC: u32 = 1;
pub const EXE_SEEDED: u32 = 2;

/// `executable` for processes that were running before the loader (for `executable`
/// scopes and the output's `executable`): their binaries are not
/// seen at exec, so each process in the loader's own mount namespace gets its task storage
/// seeded from `/proc/PID/exe` (through a pidfd, the key task storage takes from
/// userspace). Run before attaching, while the storage is still empty: a process that execs
/// in the moment between this and attaching keeps its old binary until its next exec.
/// Processes of other mount namespaces are left unknown: their `/proc/PID/exe` is not the
/// path their own namespace sees. Returns how many it seeded.
pub fn seed_executables(skel: &TraceeSkel<'_>) -> Result<usize, LoadError> {
    let ExeOffsets {
        known: known_at,
        exe: exe_at,
        ..
    } = pending_exe_offsets(skel)?;
    let map = &skel.maps.pending_store;
    let size = map.value_size() as usize;
    let Some(own_ns) = mount_ns_of("/proc/self/ns/mnt") else {
        return Ok(0);
    };
    let mut seeded = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Ok(0);
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // Kernel threads have no binary; other namespaces see other paths.
        if mount_ns_of(&format!("/proc/{pid}/ns/mnt")) != Some(own_ns) {
            continue;
        }
        let Ok(path) = std::fs::read_link(format!("/proc/{pid}/exe")) else {
            continue;
        };
        let path = path.to_string_lossy();
        if path.ends_with(" (deleted)") || path.len() >= schema::abi::PATH_MAX {
            continue;
        }
        let key = schema::abi::ScopeExeKey {
            mount_ns: own_ns,
            path: schema::abi::fixed(path.as_bytes()),
        };
        let mut value = vec![0u8; size];
        let key_bytes = bytemuck::bytes_of(&key);
        match value.get_mut(known_at..known_at + 4) {
            Some(known) => known.copy_from_slice(&EXE_SEEDED.to_le_bytes()),
            None => continue,
        }
        match value.get_mut(exe_at..exe_at + key_bytes.len()) {
            Some(exe) => exe.copy_from_slice(key_bytes),
            None => continue,
        }
        let Some(pid) = rustix::process::Pid::from_raw(pid) else {
            continue;
        };
        // A process gone since /proc was read is no error.
        let Ok(pidfd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        else {
            continue;
        };
        use std::os::fd::AsRawFd;
        let added = map.update(&pidfd.as_raw_fd().to_le_bytes(), &value, MapFlags::NO_EXIST);
        match added {
            Ok(()) => seeded += 1,
            Err(e) if e.kind() == libbpf_rs::ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => {} // exited meanwhile
            Err(e) => return Err(libbpf("seed the binary of a running process")(e)),
        }
    }
    Ok(seeded)
}

/// Container cgroups that exist already, from the cgroup v2 tree (at /sys/fs/cgroup, or
/// /sys/fs/cgroup/unified on hybrid hosts): a v2 cgroup's id is its directory's inode
/// number. Returns how many it found.
pub fn seed_containers(skel: &TraceeSkel<'_>, v1: Option<&CgroupV1>) -> Result<usize, LoadError> {
    let mut found = 0;
    if let Some(root) = cgroup_v2_root() {
        found += seed_containers_under(skel, root, 0)?;
    }
    if let Some(v1) = v1 {
        found += seed_containers_under(skel, &v1.mount, V1_KEY)?;
    }
    Ok(found)
}

pub(crate) fn seed_containers_under(
    skel: &TraceeSkel<'_>,
    root: &Path,
    key_bits: u64,
) -> Result<usize, LoadError> {
    let mut found = 0;
    for (id, path) in cgroup_dirs(root) {
        let name = path.rsplit('/').next().unwrap_or_default();
        if !is_container_cgroup(name) {
            continue;
        }
        // NOEXIST: a cgroup created since attaching was learned as new already.
        let added = skel.maps.containers.update(
            &(id | key_bits).to_le_bytes(),
            &schema::abi::container::EXISTING.to_le_bytes(),
            MapFlags::NO_EXIST,
        );
        match added {
            Ok(()) => found += 1,
            Err(e) if e.kind() == libbpf_rs::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(libbpf("record an existing container cgroup")(e)),
        }
    }
    Ok(found)
}

/// pid -> parent pid of every process in /proc (the 4th field of /proc/PID/stat, after the
/// parenthesized comm, which may itself hold spaces and parentheses).
pub(crate) fn process_parents() -> std::collections::HashMap<u32, u32> {
    let mut parents = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return parents;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.insert(pid, ppid);
        }
    }
    parents
}
