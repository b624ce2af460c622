//! Where the cgroup trees are and which cgroups are containers'.

use std::path::{Path, PathBuf};

use crate::containers;

/// A container runtime's cgroup name: it holds a 64-hex-digit container id
/// (`docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope`,
/// or `<id>` itself). The BPF program applies the same rule to cgroups created later.
pub fn is_container_cgroup(name: &str) -> bool {
    containers::hex_id(name).is_some()
}

/// Every cgroup directory under `root` (16 levels deep at most), with its inode number (a
/// cgroup's id) and its path below the root (`""` for the root, `/a/b` below it).
pub fn cgroup_dirs(root: &Path) -> Vec<(u64, String)> {
    use std::os::unix::fs::MetadataExt;
    let mut found = Vec::new();
    if let Ok(meta) = std::fs::metadata(root) {
        found.push((meta.ino(), String::new()));
    }
    let mut stack = vec![(root.to_path_buf(), String::new(), 0)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_dir() {
                continue;
            }
            let path = format!("{rel}/{}", entry.file_name().to_string_lossy());
            found.push((meta.ino(), path.clone()));
            if depth < 16 {
                stack.push((entry.path(), path, depth + 1));
            }
        }
    }
    found
}

/// Where the cgroup v2 tree is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified on
/// hybrid hosts.
pub fn cgroup_v2_root() -> Option<&'static Path> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("cgroup.controllers").exists())
}

/// A cgroup v1 hierarchy searched for containers too (legacy and hybrid hosts, where
/// runtimes may put containers only in v1 hierarchies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupV1 {
    pub controller: String,
    pub hierarchy: u32,
    /// The controller's index in the kernel's `css_set.subsys` (its line in /proc/cgroups).
    pub subsys: u32,
    pub mount: PathBuf,
}

/// Container map keys of v1 cgroups carry this bit: kernfs ids are per hierarchy.
pub const V1_KEY: u64 = 1 << 63;

/// The v1 hierarchy to search: the first of these controllers that has one and is mounted
/// here (cpuset first, as Tracee; docker and the CRI runtimes create a container's cgroup in
/// every v1 hierarchy).
pub fn cgroup_v1() -> Option<CgroupV1> {
    const PREFERRED: [&str; 7] = [
        "cpuset", "memory", "pids", "cpu", "cpuacct", "devices", "freezer",
    ];
    let cgroups = std::fs::read_to_string("/proc/cgroups").ok()?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let controllers: Vec<(String, u32, u32)> = cgroups
        .lines()
        .filter(|l| !l.starts_with('#'))
        .enumerate()
        .filter_map(|(index, line)| {
            let mut f = line.split_whitespace();
            let name = f.next()?.to_owned();
            let hierarchy: u32 = f.next()?.parse().ok()?;
            let enabled = f.nth(1)? == "1";
            (enabled && hierarchy != 0).then_some((name, hierarchy, u32::try_from(index).ok()?))
        })
        .collect();
    PREFERRED.iter().find_map(|want| {
        let (name, hierarchy, subsys) = controllers.iter().find(|c| c.0 == *want)?;
        // mountinfo: "... mount-point ... - cgroup source super-options"
        let mount = mountinfo.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut r = right.split_whitespace();
            if r.next()? != "cgroup" {
                return None;
            }
            let options = r.nth(1)?;
            options
                .split(',')
                .any(|o| o == name)
                .then(|| left.split(' ').nth(4))?
        })?;
        Some(CgroupV1 {
            controller: name.clone(),
            hierarchy: *hierarchy,
            subsys: *subsys,
            mount: PathBuf::from(mount),
        })
    })
}
