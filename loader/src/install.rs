//! Into the kernel: check the image, size and load the programs, write every entry,
//! mount tracefs when per-syscall tracepoints need it, attach.

use std::mem::MaybeUninit;
use std::path::Path;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject};
use schema::image::Image;

use crate::cgroups::{CgroupV1, cgroup_v1};
use crate::error::{LoadError, libbpf};
use crate::plan::{Hook, Plan};
use crate::{RUNTIME_MAPS, TraceeSkel, libbpf_log, session, skel};

/// What `install` put into the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub maps: usize,
    pub entries: usize,
    /// The cgroup v1 hierarchy searched for containers, if the image needs containers and
    /// the host has one.
    pub cgroup_v1: Option<CgroupV1>,
}

/// Says what the kernel lacks for the programs, before libbpf gives a lower-level error.
pub fn check_kernel() -> Result<(), LoadError> {
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err(LoadError::Kernel(
            "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): tracee-load needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.8 or later)".to_owned(),
        ));
    }
    Ok(())
}

/// How the programs are built beyond what the image says (the loader's own options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The ring buffer's size in bytes (a power of two, at least 1 MiB).
    pub ring_bytes: u32,
    /// `--audit`: the programs also send the candidate events no policy matched, with
    /// their decision (tracee.bpf.h `audit`).
    pub audit: bool,
}

impl Settings {
    pub fn new(ring_bytes: u32) -> Settings {
        Settings {
            ring_bytes,
            audit: false,
        }
    }
}

/// Checks the image against this build, sizes the object's maps from it, loads the programs
/// `plan` needs and writes every entry. Everything lives as long as the returned skeleton.
pub fn install<'obj>(
    image: &Image,
    plan: &Plan,
    ring_bytes: u32,
    storage: &'obj mut MaybeUninit<OpenObject>,
    shared: Option<&session::Shared>,
    generation: u32,
) -> Result<(TraceeSkel<'obj>, Installed), LoadError> {
    install_with(
        image,
        plan,
        Settings::new(ring_bytes),
        storage,
        shared,
        generation,
    )
}

/// The derived-event handlers the image's syscall gates name (`abi::derived`): the only
/// ones the programs are verified with.
pub fn derived_handlers(image: &Image) -> u64 {
    image.map("syscall_gate").map_or(0, |m| {
        m.entries
            .iter()
            .filter_map(|(_, v)| {
                bytemuck::try_pod_read_unaligned::<schema::abi::SyscallGate>(v).ok()
            })
            .fold(0, |all, g| all | g.derived_handlers)
    })
}

/// The handler programs one kind of syscall program reaches by tail call
/// (bpf/tracee.bpf.h `DERIVED_HANDLERS`): the prog array, and for each handler the image
/// names, its slot (its bit) and its group's program.
struct Chain {
    map: &'static str,
    programs: Vec<(u32, String)>,
}

/// The handler programs the image's handlers need, for each syscall program loaded: the
/// per-syscall tracepoint exit reaches `tr_d_G`, the generic `tp_btf/sys_exit` one `tr_db_G`
/// (a tail call stays within a program type and attach point); the entries reach `tr_e_G`
/// and `tr_eb_G` for the handlers that read something there (`derived::AT_ENTRY`).
fn handler_chains(wanted: &[String], handlers: u64) -> Vec<Chain> {
    use schema::abi::derived::{AT_ENTRY, GROUPS};
    const CALLERS: &[(&[&str], &str, &str, u64)] = &[
        (
            &["tr_tp_exit", "tr_a_tp_exit"],
            "derived_tp",
            "tr_d_",
            u64::MAX,
        ),
        (
            &["tr_sys_exit", "tr_a_sys_exit"],
            "derived_btf",
            "tr_db_",
            u64::MAX,
        ),
        (
            &["tr_tp_enter", "tr_a_tp_enter"],
            "entry_tp",
            "tr_e_",
            AT_ENTRY,
        ),
        (
            &["tr_sys_enter", "tr_a_sys_enter"],
            "entry_btf",
            "tr_eb_",
            AT_ENTRY,
        ),
    ];
    CALLERS
        .iter()
        .filter(|(callers, ..)| callers.iter().any(|c| wanted.iter().any(|w| w == c)))
        .map(|&(_, map, prefix, mask)| Chain {
            map,
            programs: GROUPS
                .iter()
                .flat_map(|&(c_name, group)| {
                    let program =
                        format!("{prefix}{}", c_name.trim_start_matches("DERIVED_GROUP_"));
                    let bits = handlers & mask & group;
                    (0..64)
                        .filter(move |i| bits & (1 << i) != 0)
                        .map(move |i| (i, program.clone()))
                })
                .collect(),
        })
        .filter(|chain| !chain.programs.is_empty())
        .collect()
}

/// Puts each loaded handler program into its slot of the exit program's prog array.
fn fill_chains(skel: &TraceeSkel<'_>, chains: &[Chain]) -> Result<(), LoadError> {
    use std::os::fd::{AsFd, AsRawFd};
    for chain in chains {
        let Some(map) = skel
            .object()
            .maps()
            .find(|m| m.name().to_string_lossy() == chain.map)
        else {
            return Err(LoadError::MissingMap {
                name: chain.map.to_owned(),
            });
        };
        for (slot, program) in &chain.programs {
            let Some(prog) = skel
                .object()
                .progs()
                .find(|p| p.name().to_string_lossy() == program.as_str())
            else {
                return Err(LoadError::Kernel(format!(
                    "this build has no handler program `{program}`: rebuild tracee-load from the same source as tracee-compile"
                )));
            };
            let fd = prog.as_fd().as_raw_fd();
            map.update(&slot.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
                .map_err(libbpf(format!("install handler `{program}`")))?;
        }
    }
    Ok(())
}

/// `install` with every setting.
pub fn install_with<'obj>(
    image: &Image,
    plan: &Plan,
    settings: Settings,
    storage: &'obj mut MaybeUninit<OpenObject>,
    shared: Option<&session::Shared>,
    generation: u32,
) -> Result<(TraceeSkel<'obj>, Installed), LoadError> {
    let ring_bytes = settings.ring_bytes;
    image.check_compat(schema::abi::abi_hash(), schema::catalog::catalog_hash())?;
    if ring_bytes < 1 << 20 || !ring_bytes.is_power_of_two() {
        return Err(LoadError::RingSize(u64::from(ring_bytes)));
    }
    let handlers = derived_handlers(image);
    let mut open = skel::TraceeSkelBuilder::default()
        .open(storage)
        .map_err(libbpf("open the BPF object"))?;
    let v1 = plan
        .hooks
        .contains(&Hook::Btf("tr_cgroup_mkdir"))
        .then(cgroup_v1)
        .flatten();
    if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
        rodata.wakeup_bytes = u64::from(ring_bytes / 4);
        rodata.host_mntns = host_mntns();
        rodata.generation = generation;
        rodata.loader_started_ns = loader_started_ns();
        rodata.derived_loaded = handlers;
        rodata.packet_events = packet_events(image);
        rodata.detections_loaded = image
            .map("detect_chunks")
            .is_some_and(|m| !m.entries.is_empty())
            .into();
        if let Some(v1) = &v1 {
            rodata.v1_hierarchy = v1.hierarchy;
            rodata.v1_subsys = v1.subsys;
        }
    }
    let mut wanted: Vec<String> = plan
        .programs(settings.audit)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let chains = handler_chains(&wanted, handlers);
    wanted.extend(
        chains
            .iter()
            .flat_map(|c| c.programs.iter().map(|(_, p)| p.clone())),
    );
    wanted.sort_unstable();
    wanted.dedup();
    // TRACEE_LOAD_VERIFIER_STATS=1: the verifier's statistics per program on stderr.
    let stats = std::env::var_os("TRACEE_LOAD_VERIFIER_STATS").is_some();
    if stats {
        libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Debug, |_, msg: String| {
            eprint!("{msg}")
        })));
    }
    for mut prog in open.open_object_mut().progs_mut() {
        let name = prog.name().to_string_lossy().into_owned();
        prog.set_autoload(wanted.contains(&name));
        if stats {
            prog.set_log_level(if std::env::var_os("TRACEE_LOAD_VERIFIER_LOG").is_some() {
                1
            } else {
                4
            });
        }
    }
    let mut seen = Vec::new();
    for mut map in open.open_object_mut().maps_mut() {
        let name = map.name().to_string_lossy().into_owned();
        // libbpf's own maps (.rodata, ...) and the programs' state are not policy maps.
        if name.contains('.') {
            continue;
        }
        if name == "rb" {
            map.set_max_entries(ring_bytes)
                .map_err(libbpf("size the ring buffer"))?;
        }
        if let Some(fd) = shared.and_then(|s| s.fd(&name)) {
            map.reuse_fd(fd).map_err(libbpf(format!(
                "share map `{name}` with the running generation"
            )))?;
            continue;
        }
        if name == "rb" {
            continue;
        }
        if RUNTIME_MAPS.contains(&name.as_str()) {
            continue;
        }
        let Some(section) = image.map(&name) else {
            return Err(LoadError::MissingMap { name });
        };
        if (section.key_size, section.value_size) != (map.key_size(), map.value_size()) {
            return Err(LoadError::MapShape {
                name,
                image_key: section.key_size,
                image_value: section.value_size,
                object_key: map.key_size(),
                object_value: map.value_size(),
            });
        }
        map.set_max_entries(section.max_entries)
            .map_err(libbpf(format!("size map `{name}`")))?;
        seen.push(name);
    }
    if let Some(extra) = image.maps.iter().find(|m| !seen.contains(&m.name)) {
        return Err(LoadError::UnknownMap {
            name: extra.name.clone(),
        });
    }
    let skel = open.load().map_err(|source| LoadError::Libbpf {
        step: libbpf_log::refused().unwrap_or_else(|| "load the BPF programs".to_owned()),
        source,
    })?;
    fill_chains(&skel, &chains)?;
    let mut installed = Installed {
        maps: 0,
        entries: 0,
        cgroup_v1: v1,
    };
    for map in skel.object().maps() {
        let Some(section) = image.map(&map.name().to_string_lossy()) else {
            continue;
        };
        for (key, value) in &section.entries {
            map.update(key, value, MapFlags::ANY)
                .map_err(libbpf(format!("write an entry of map `{}`", section.name)))?;
        }
        installed.maps += 1;
        installed.entries += section.entries.len();
    }
    Ok((skel, installed))
}

/// The packet events the image selects, as packets.bpf.c's `packet_events` bits
/// (`schema::abi::PACKET_EVENTS` order).
pub fn packet_events(image: &Image) -> u32 {
    let Some(events) = image.map("events") else {
        return 0;
    };
    let mut bits = 0;
    for (bit, name) in schema::abi::PACKET_EVENTS.iter().enumerate() {
        let Some(def) = schema::catalog::event(name) else {
            continue;
        };
        if events
            .entries
            .iter()
            .any(|(key, _)| key.get(..4) == Some(&def.id.to_le_bytes()[..]))
        {
            bits |= 1 << bit;
        }
    }
    bits
}

/// The host's mount namespace id for `executable=host:...` scopes: PID 1's
/// (`/proc/1/ns/mnt` is `mnt:[ID]`), or, where that is not readable (sandboxes deny it even
/// to root), the loader's own; 0 when neither is (then no namespace counts as the host's).
/// When the first generation was installed: `pid=new` means started after that, whatever
/// reloads came since.
pub(crate) fn loader_started_ns() -> u64 {
    static STARTED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *STARTED.get_or_init(monotonic_ns)
}

/// CLOCK_MONOTONIC in ns: the clock of `task_struct::start_time` (`pid=new`).
pub(crate) fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(t.tv_sec.saturating_mul(1_000_000_000) + t.tv_nsec).unwrap_or(0)
}

/// The host's mount namespace, read once: after the loader drops its capabilities it can
/// no longer read PID 1's, and a reload must see the same answer.
pub(crate) fn host_mntns() -> u64 {
    static HOST: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *HOST.get_or_init(read_host_mntns)
}

pub(crate) fn read_host_mntns() -> u64 {
    mount_ns_of("/proc/1/ns/mnt")
        .or_else(|| mount_ns_of("/proc/self/ns/mnt"))
        .unwrap_or(0)
}

/// The mount namespace id behind a `/proc/PID/ns/mnt` link (`mnt:[N]`).
pub(crate) fn mount_ns_of(link: &str) -> Option<u64> {
    std::fs::read_link(link).ok().and_then(|l| {
        l.to_string_lossy()
            .strip_prefix("mnt:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    })
}

/// Per-syscall tracepoints are found through tracefs; mount it when the host has not (with
/// mount(2): no program is looked up on PATH). It stays mounted (as on most hosts): another
/// loader may be using it, and an unmount would pull it from under that one. Returns
/// whether this call mounted it. A tracefs that is there but unreadable is said to be so:
/// the cause is the user's privileges, not a missing mount.
pub fn ensure_tracefs() -> Result<bool, LoadError> {
    const AT: &str = "/sys/kernel/tracing";
    const DEBUGFS: &str = "/sys/kernel/debug/tracing";
    let events = |dir: &str| std::fs::metadata(Path::new(dir).join("events"));
    let denied = |dir: &str, e: std::io::Error| {
        LoadError::Kernel(format!(
            "tracefs is mounted at {dir}, but this user cannot read it ({e}): per-syscall tracepoints are found there, and loading BPF programs needs root too (CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN): run tracee-load as root"
        ))
    };
    for dir in [AT, DEBUGFS] {
        match events(dir) {
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(denied(dir, e));
            }
            Err(_) => {}
        }
    }
    use rustix::mount::{MountFlags, mount};
    let mounted = mount(
        "nodev",
        AT,
        "tracefs",
        MountFlags::empty(),
        None::<&std::ffi::CStr>,
    );
    match mounted {
        Ok(()) if events(AT).is_ok() => Ok(true),
        Ok(()) => Err(LoadError::Kernel(format!(
            "mounted tracefs at {AT}, but it has no events directory: this kernel lacks tracepoint events (CONFIG_FTRACE_SYSCALLS)"
        ))),
        Err(e) => Err(LoadError::Kernel(format!(
            "per-syscall tracepoints need tracefs, and mounting it at {AT} failed ({e}): {}",
            if e == rustix::io::Errno::PERM || e == rustix::io::Errno::ACCESS {
                "run tracee-load as root"
            } else {
                "mount it first (mount -t tracefs nodev /sys/kernel/tracing)"
            }
        ))),
    }
}

/// Whether tracefs lists the per-syscall tracepoint `name` (`sys_enter_X`). Unknown (no
/// tracefs readable): assumed present, and the attach says what is wrong.
fn syscall_tracepoint_exists(name: &str) -> bool {
    let dirs = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
    let Some(root) = dirs
        .iter()
        .find(|d| Path::new(d).join("events/syscalls").is_dir())
    else {
        return true;
    };
    Path::new(root).join("events/syscalls").join(name).is_dir()
}

/// Attaches every hook of the plan. The links detach when dropped.
pub fn attach(skel: &TraceeSkel<'_>, plan: &Plan, audit: bool) -> Result<Vec<Link>, LoadError> {
    let mut links = Vec::new();
    let mut cgroup_root: Option<std::fs::File> = None;
    for hook in &plan.hooks {
        let what = match hook {
            Hook::Iter(_) => continue,
            Hook::Btf(name) | Hook::Cgroup(name) => name.to_string(),
            Hook::SyscallTracepoint { name, .. } => format!("syscalls/{name}"),
        };
        let wanted = hook.program(audit);
        let Some(prog) = skel
            .object()
            .progs_mut()
            .find(|p| p.name() == std::ffi::OsStr::new(wanted))
        else {
            return Err(LoadError::UnknownProbe {
                probe: format!("{what} (no program `{wanted}` in this build)"),
            });
        };
        if let Hook::SyscallTracepoint { name, .. } = hook
            && !syscall_tracepoint_exists(name)
        {
            // A syscall this kernel does not have (built without modules, kexec, ...):
            // its events cannot occur here.
            crate::say!(
                "tracee-load: note: this kernel has no syscalls/{name} tracepoint (the syscall is not built in): its events cannot occur"
            );
            continue;
        }
        let link = match hook {
            Hook::SyscallTracepoint { name, .. } => {
                prog.attach_tracepoint(libbpf_rs::TracepointCategory::Syscalls, name)
            }
            Hook::Cgroup(_) => {
                if cgroup_root.is_none() {
                    let root = crate::cgroups::cgroup_v2_root().ok_or_else(|| {
                        LoadError::Kernel(
                            "network events need the cgroup v2 tree, and neither /sys/fs/cgroup nor /sys/fs/cgroup/unified is one: mount cgroup2 (mount -t cgroup2 none /sys/fs/cgroup/unified)"
                                .to_owned(),
                        )
                    })?;
                    let file = std::fs::File::open(root).map_err(|e| {
                        LoadError::Kernel(format!("open the cgroup v2 root {}: {e}", root.display()))
                    })?;
                    cgroup_root = Some(file);
                }
                match &cgroup_root {
                    Some(root) => {
                        use std::os::fd::AsRawFd;
                        prog.attach_cgroup(root.as_raw_fd())
                    }
                    None => continue,
                }
            }
            _ => prog.attach(),
        }
        .map_err(libbpf(format!("attach {what}")))?;
        links.push(link);
    }
    Ok(links)
}
