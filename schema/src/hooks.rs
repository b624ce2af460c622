//! Where events come from, as data shared by the compiler and the loader: the kernel hooks
//! the loader can attach (the probe names images list, and the BPF program serving each),
//! and, for every event that is not a plain syscall, the hooks and syscalls that feed it.
//! Adding an event is a row here (and the catalog's), plus its BPF handler.

use crate::abi::derived;

/// A kernel hook an image may list in `meta.probes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookDef {
    /// As images list it: `tp_btf/NAME`, `iter/task`. (Per-syscall tracepoints,
    /// `tp/syscalls/sys_{enter,exit}_NAME`, share one program and are not listed here.)
    pub probe: &'static str,
    /// The BPF program that serves it.
    pub program: &'static str,
    /// Its audit-mode build (`tracee-load --audit`), if the program has one.
    pub audit_program: Option<&'static str>,
    /// An iterator: run once after attaching, not attached.
    pub iterator: bool,
    /// Kernels may lack it: then the loader goes on without it and says what is lost.
    pub optional: Option<&'static str>,
}

const fn hook(probe: &'static str, program: &'static str) -> HookDef {
    HookDef {
        probe,
        program,
        audit_program: None,
        iterator: false,
        optional: None,
    }
}

const fn audited(probe: &'static str, program: &'static str, audit: &'static str) -> HookDef {
    HookDef {
        audit_program: Some(audit),
        ..hook(probe, program)
    }
}

/// Every hook an image may list.
pub static HOOKS: &[HookDef] = &[
    audited("tp_btf/sys_enter", "tr_sys_enter", "tr_a_sys_enter"),
    audited("tp_btf/sys_exit", "tr_sys_exit", "tr_a_sys_exit"),
    audited(
        "tp_btf/sched_process_fork",
        "tr_sched_fork",
        "tr_a_sched_fork",
    ),
    audited(
        "tp_btf/sched_process_exec",
        "tr_sched_exec",
        "tr_a_sched_exec",
    ),
    audited(
        "tp_btf/sched_process_exit",
        "tr_sched_exit",
        "tr_a_sched_exit",
    ),
    hook("tp_btf/cgroup_mkdir", "tr_cgroup_mkdir"),
    hook("tp_btf/cgroup_rmdir", "tr_cgroup_rmdir"),
    hook("tp_btf/task_rename", "tr_task_rename"),
    hook("tp_btf/cgroup_attach_task", "tr_cgroup_attach_task"),
    hook("tp_btf/sched_switch", "tr_sched_switch"),
    HookDef {
        optional: Some(
            "cap_capable: this kernel has no capability:cap_capable tracepoint (newer kernels have it), so no cap_capable event can occur",
        ),
        ..hook("tp_btf/cap_capable", "tr_cap_capable")
    },
    HookDef {
        optional: Some(
            "module_load: this kernel has no module:module_load tracepoint (it is built without loadable modules), so no module_load event can occur",
        ),
        ..hook("tp_btf/module_load", "tr_module_load")
    },
    HookDef {
        optional: Some(
            "module_free: this kernel has no module:module_free tracepoint (it is built without loadable modules), so no module_free event can occur",
        ),
        ..hook("tp_btf/module_free", "tr_module_free")
    },
    HookDef {
        optional: Some(
            "security_inode_unlink: this kernel has no ext4_unlink_enter tracepoint, so inode, dev and ctime are 0",
        ),
        ..hook("tp_btf/ext4_unlink_enter", "tr_ext4_unlink")
    },
    HookDef {
        iterator: true,
        ..hook("iter/task", "seed_follow")
    },
    // Packets: attached to the cgroup v2 root, where they see every socket's packets.
    hook("cgroup_skb/ingress", "tr_skb_ingress"),
    hook("cgroup_skb/egress", "tr_skb_egress"),
    // Sockets' owners: at creation (cgroup v2 root), at each send, at connect and listen.
    hook("cgroup/sock_create", "tr_sock_create"),
    HookDef {
        optional: Some(
            "network events: this kernel has no sock:sock_send_length tracepoint (6.3+), so a socket keeps the owner that created, connected or listened on it",
        ),
        ..hook("tp_btf/sock_send_length", "tr_sock_send")
    },
    hook("tp_btf/inet_sock_set_state", "tr_sock_state"),
];

/// Hooks attached to a cgroup (the cgroup v2 root) rather than to a tracepoint.
pub fn is_cgroup_hook(probe: &str) -> bool {
    probe.starts_with("cgroup_skb/") || probe.starts_with("cgroup/")
}

/// What every packet event needs: the packet programs and the owners' hooks.
const PACKET_PROBES: &[&str] = &[
    "cgroup_skb/ingress",
    "cgroup_skb/egress",
    "cgroup/sock_create",
    "tp_btf/sock_send_length",
    "tp_btf/inet_sock_set_state",
];
const PACKET_SOURCE: &str = "`cgroup_skb` ingress and egress on the cgroup v2 root, each packet decided for its socket's owner (kept at `cgroup/sock_create`, connect, listen and every send); the fields decoded by the loader from the packet's first bytes";

/// Packet and flow fields the kernel filters as IPv4 addresses (a number, with CIDR
/// blocks), like a socket address's `.ip`: (event, field).
pub fn packet_address(event: &str, field: &str) -> bool {
    event.starts_with("net_")
        && matches!(field, "src" | "dst")
        && !matches!(event, "net_packet_raw" | "net_tcp_connect")
        || event == "net_tcp_connect" && field == "dst"
}

/// Parts of a packet event's structure the kernel reads a string from, with their string
/// slots (rule field ids): an HTTP request's method, path (without the query) and Host
/// header (lowercase). None for any other (event, field).
pub fn packet_parts(event: &str, field: &str) -> Option<&'static [(&'static str, u16)]> {
    use crate::abi::{HTTP_HOST_SLOT, HTTP_METHOD_SLOT, HTTP_PATH_SLOT};
    static HTTP: &[(&str, u16)] = &[
        ("method", HTTP_METHOD_SLOT),
        ("uri_path", HTTP_PATH_SLOT),
        ("host", HTTP_HOST_SLOT),
    ];
    matches!(
        (event, field),
        ("net_packet_http", "proto_http") | ("net_packet_http_request", "http_request")
    )
    .then_some(HTTP)
}

/// Packet fields the kernel filters as the DNS question's name (lowercase, dotted, no
/// final dot): (event, field).
pub static PACKET_DNS_NAME: &[(&str, &str)] = &[
    ("net_packet_dns", "proto_dns"),
    ("net_packet_dns_request", "dns_questions"),
    ("net_packet_dns_response", "dns_response"),
];

/// The programs of the per-syscall tracepoints (`tp/syscalls/sys_enter_X`, `..._exit_X`):
/// (entry, exit), and their audit-mode builds.
pub const SYSCALL_TRACEPOINT_PROGRAMS: (&str, &str) = ("tr_tp_enter", "tr_tp_exit");
pub const SYSCALL_TRACEPOINT_AUDIT_PROGRAMS: (&str, &str) = ("tr_a_tp_enter", "tr_a_tp_exit");

/// Events that check the syscalls each rule chooses in `args.syscall=` (names or numbers):
/// their syscalls come from the policies, not from their `SOURCES` row.
pub static SYSCALLS_BY_FILTER: &[&str] = &["suspicious_syscall_source", "stack_pivot"];

/// Handlers (`abi::derived`) that need nothing from the entry of these syscalls: they read
/// the arguments from the registers at the exit, and strings from user memory only for an
/// event they send. A syscall serving only such handlers has no entry hook
/// (`abi::GATE_AT_EXIT`). The flag: the handler builds nothing for a failed call (then the
/// gate turns failures away).
pub static EXIT_ONLY: &[(u64, &[&str], bool)] = &[
    (crate::abi::derived::FILE_OPEN, OPEN_FAMILY, true),
    // mprotect's handler reads the mapping before the change at entry; mmap's, nothing
    // (security_mmap_file reports mmaps refused with EACCES and EPERM).
    (crate::abi::derived::MEM, &["mmap"], false),
];

/// Do the `handlers` (bits of `abi::derived`) need nothing from `syscall`'s entry? Then
/// whether they all build nothing for a failed call.
pub fn exit_only(handlers: u64, syscall: &str) -> Option<bool> {
    if handlers == 0 {
        return None;
    }
    let mut skip_failures = true;
    for b in (0..64).filter(|b| handlers & (1 << b) != 0) {
        let (_, _, skips) = EXIT_ONLY
            .iter()
            .find(|(h, syscalls, _)| *h == 1 << b && syscalls.contains(&syscall))?;
        skip_failures &= skips;
    }
    Some(skip_failures)
}

/// Path fields whose handler checks anchors (`abi::AnchorKey`) on the dentries before it
/// builds the path: (event, argument index).
pub static PATH_ANCHORS: &[(&str, usize)] = &[("security_file_open", 0)];

/// Events the loader makes itself, fed by no kernel hook (what existed before it started).
pub static LOADER_MADE: &[&str] = &["existing_container"];

/// Fields the loader fills after the kernel decided the event (from the container runtime's
/// state): not filterable, since no filter in the kernel can see them.
pub static LOADER_FILLED: &[(&str, &[&str])] = &[(
    "container_create",
    &[
        "container_image",
        "container_image_digest",
        "container_name",
        "pod_name",
        "pod_namespace",
        "pod_uid",
        "pod_sandbox",
    ],
)];

/// Whether the loader fills `event`'s field `field` (then it cannot be filtered).
pub fn loader_filled(event: &str, field: &str) -> bool {
    LOADER_FILLED
        .iter()
        .any(|(e, fields)| *e == event && fields.contains(&field))
}

/// Syscalls whose tracepoints (`syscalls/sys_enter_X`) carry another name than the
/// syscall: the kernel's `SYSCALL_DEFINE` name.
pub static SYSCALL_TRACEPOINT_NAMES: &[(&str, &str)] = &[
    ("stat", "newstat"),
    ("fstat", "newfstat"),
    ("lstat", "newlstat"),
    ("uname", "newuname"),
    ("sendfile", "sendfile64"),
    ("umount2", "umount"),
];

/// The name of a syscall's tracepoints (`sys_enter_NAME`, `sys_exit_NAME`).
pub fn syscall_tracepoint(syscall: &str) -> &str {
    SYSCALL_TRACEPOINT_NAMES
        .iter()
        .find(|(s, _)| *s == syscall)
        .map_or(syscall, |(_, tp)| tp)
}

/// The hook an image lists as `probe`.
pub fn hook_def(probe: &str) -> Option<&'static HookDef> {
    HOOKS.iter().find(|h| h.probe == probe)
}

/// How an event that is not a plain syscall is produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDef {
    pub event: &'static str,
    /// Syscalls whose entry and exit build it (their gate carries it as the derived event).
    pub syscalls: &'static [&'static str],
    /// The BPF handler that builds it (`abi::derived`, a bit of the syscall gate's
    /// `derived_handlers`); events built together share one (`dropped_executable` comes
    /// from a qualifying `magic_write`). 0 for events no syscall builds.
    pub handler: u64,
    /// Hooks it needs besides (`HOOKS` probes).
    pub probes: &'static [&'static str],
    /// For docs/events.md: where the loader takes it from (`{syscalls}` stands for the list).
    pub description: &'static str,
}

/// The open family: `security_file_open` is built at their exit from the returned fd.
pub const OPEN_FAMILY: &[&str] = &["open", "openat", "openat2", "creat", "open_by_handle_at"];
/// The accept family: `security_socket_accept` and `socket_accept` are built from them.
pub const ACCEPT_FAMILY: &[&str] = &["accept", "accept4"];
/// The write family: `magic_write` and `dropped_executable` are built from them (the copies,
/// `sendfile`, `splice` and `copy_file_range`, with the bytes read back by the loader).
pub const WRITE_FAMILY: &[&str] = &[
    "write",
    "writev",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "sendfile",
    "splice",
    "copy_file_range",
];

const fn from_hooks(
    event: &'static str,
    probes: &'static [&'static str],
    description: &'static str,
) -> SourceDef {
    SourceDef {
        event,
        syscalls: &[],
        handler: 0,
        probes,
        description,
    }
}

/// Every event that is not a plain syscall and that the loader produces.
pub static SOURCES: &[SourceDef] = &[
    from_hooks("net_packet_raw", PACKET_PROBES, PACKET_SOURCE),
    from_hooks("net_packet_ipv4", PACKET_PROBES, PACKET_SOURCE),
    from_hooks("net_packet_ipv6", PACKET_PROBES, PACKET_SOURCE),
    from_hooks("net_packet_tcp", PACKET_PROBES, PACKET_SOURCE),
    from_hooks("net_packet_udp", PACKET_PROBES, PACKET_SOURCE),
    from_hooks("net_packet_icmp", PACKET_PROBES, PACKET_SOURCE),
    from_hooks("net_packet_icmpv6", PACKET_PROBES, PACKET_SOURCE),
    from_hooks("net_packet_dns", PACKET_PROBES, PACKET_SOURCE),
    from_hooks("net_packet_dns_request", PACKET_PROBES, PACKET_SOURCE),
    from_hooks("net_packet_dns_response", PACKET_PROBES, PACKET_SOURCE),
    from_hooks("net_packet_http", PACKET_PROBES, PACKET_SOURCE),
    from_hooks("net_packet_http_request", PACKET_PROBES, PACKET_SOURCE),
    from_hooks("net_packet_http_response", PACKET_PROBES, PACKET_SOURCE),
    from_hooks(
        "net_flow_tcp_begin",
        &[
            "tp_btf/inet_sock_set_state",
            "cgroup/sock_create",
            "tp_btf/sock_send_length",
        ],
        "`tp_btf/inet_sock_set_state` into ESTABLISHED (from SYN_SENT: outgoing; from SYN_RECV: incoming), decided for the socket's owner",
    ),
    from_hooks(
        "net_flow_tcp_end",
        &[
            "tp_btf/inet_sock_set_state",
            "cgroup/sock_create",
            "tp_btf/sock_send_length",
        ],
        "`tp_btf/inet_sock_set_state` into CLOSE from an established state, decided for the socket's owner",
    ),
    from_hooks(
        "net_tcp_connect",
        &["tp_btf/inet_sock_set_state"],
        "`tp_btf/inet_sock_set_state` from CLOSE to SYN_SENT, in the connecting task",
    ),
    from_hooks(
        "sched_process_fork",
        &["tp_btf/sched_process_fork"],
        "`tp_btf/sched_process_fork`",
    ),
    from_hooks(
        "sched_process_exec",
        &["tp_btf/sched_process_exec", "tp_btf/task_rename"],
        "`tp_btf/sched_process_exec`; `prev_comm` kept by `tp_btf/task_rename`, which fires in exec just before the new name is set",
    ),
    from_hooks(
        "sched_process_exit",
        &["tp_btf/sched_process_exit"],
        "`tp_btf/sched_process_exit`",
    ),
    from_hooks(
        "cgroup_mkdir",
        &["tp_btf/cgroup_mkdir"],
        "`tp_btf/cgroup_mkdir` (every hierarchy; `hierarchy_id` 0 is cgroup v2)",
    ),
    from_hooks(
        "cgroup_rmdir",
        &["tp_btf/cgroup_rmdir"],
        "`tp_btf/cgroup_rmdir` (every hierarchy; `hierarchy_id` 0 is cgroup v2)",
    ),
    from_hooks(
        "cgroup_attach_task",
        &["tp_btf/cgroup_attach_task"],
        "`tp_btf/cgroup_attach_task` (every hierarchy)",
    ),
    from_hooks(
        "container_create",
        &["tp_btf/cgroup_mkdir"],
        "`tp_btf/cgroup_mkdir` of a container's cgroup (a 64-hex-digit id in its name); the image, name and pod fields from the runtime's state, by the loader",
    ),
    from_hooks(
        "existing_container",
        &[],
        "made by the loader at start, one for each container running (cgroup trees and the runtime's state), decided with the image's own semantics",
    ),
    from_hooks(
        "container_remove",
        &["tp_btf/cgroup_rmdir"],
        "`tp_btf/cgroup_rmdir` of a container's cgroup",
    ),
    from_hooks(
        "module_load",
        &["tp_btf/module_load"],
        "`tp_btf/module_load`, where the kernel has loadable modules (the loader says at start when it does not)",
    ),
    from_hooks(
        "module_free",
        &["tp_btf/module_free"],
        "`tp_btf/module_free`, where the kernel has loadable modules",
    ),
    from_hooks(
        "task_rename",
        &["tp_btf/task_rename"],
        "`tp_btf/task_rename`: the old name read from the task, just before the kernel copies the new one",
    ),
    from_hooks(
        "sched_switch",
        &["tp_btf/sched_switch"],
        "`tp_btf/sched_switch` (every context switch pays while a policy selects it)",
    ),
    from_hooks(
        "do_exit",
        &["tp_btf/sched_process_exit"],
        "`tp_btf/sched_process_exit` (fired from `do_exit`, for every exiting thread)",
    ),
    from_hooks(
        "cap_capable",
        &["tp_btf/cap_capable"],
        "`tp_btf/cap_capable` (where the kernel has it)",
    ),
    // Built from the exec tracepoint (the LSM hook is not available here).
    from_hooks(
        "security_bprm_check",
        &["tp_btf/sched_process_exec"],
        "`tp_btf/sched_process_exec`",
    ),
    SourceDef {
        event: "security_file_open",
        syscalls: OPEN_FAMILY,
        handler: derived::FILE_OPEN,
        probes: &[],
        description: "exit of {syscalls}: the returned fd's file, dentries walked",
    },
    SourceDef {
        event: "security_socket_create",
        syscalls: &["socket"],
        handler: derived::SOCKET_CREATE,
        probes: &[],
        description: "exit of {syscalls}: its family, type and protocol (calls refused for an invalid one are left out, as the hook never runs for them)",
    },
    SourceDef {
        event: "security_socket_bind",
        syscalls: &["bind"],
        handler: derived::SOCKET_BIND,
        probes: &[],
        description: "entry and exit of {syscalls}",
    },
    SourceDef {
        event: "security_sb_mount",
        syscalls: &["mount"],
        handler: derived::SB_MOUNT,
        probes: &[],
        description: "entry and exit of {syscalls}: its strings read at entry, the target made absolute",
    },
    SourceDef {
        event: "security_sb_umount",
        syscalls: &["umount2"],
        handler: derived::SB_UMOUNT,
        probes: &[],
        description: "entry and exit of {syscalls}: the mount point made absolute; unmounts that succeeded or failed busy (after the hook)",
    },
    SourceDef {
        event: "security_inode_rename",
        syscalls: &["rename", "renameat", "renameat2"],
        handler: derived::INODE_RENAME,
        probes: &[],
        description: "entry and exit of {syscalls}: both paths made absolute, successful renames",
    },
    SourceDef {
        event: "security_inode_mknod",
        syscalls: &["mknod", "mknodat"],
        handler: derived::INODE_MKNOD,
        probes: &[],
        description: "entry and exit of {syscalls}: the path made absolute, the mode with the umask applied, successful calls",
    },
    SourceDef {
        event: "security_inode_symlink",
        syscalls: &["symlink", "symlinkat"],
        handler: derived::INODE_SYMLINK,
        probes: &[],
        description: "entry and exit of {syscalls}: the link's path made absolute, successful calls",
    },
    SourceDef {
        event: "set_fs_pwd",
        syscalls: &["chdir", "fchdir"],
        handler: derived::SET_FS_PWD,
        probes: &[],
        description: "exit of {syscalls}: the new working directory walked, successful calls",
    },
    SourceDef {
        event: "security_task_prctl",
        syscalls: &["prctl"],
        handler: derived::TASK_PRCTL,
        probes: &[],
        description: "exit of {syscalls} (every call: the hook is its first step)",
    },
    SourceDef {
        event: "security_task_setrlimit",
        syscalls: &["setrlimit", "prlimit64"],
        handler: derived::TASK_SETRLIMIT,
        probes: &[],
        description: "exit of {syscalls} with a new limit, read from user memory; successful calls",
    },
    SourceDef {
        event: "security_settime64",
        syscalls: &["settimeofday", "clock_settime"],
        handler: derived::SETTIME64,
        probes: &[],
        description: "exit of {syscalls} (`CLOCK_REALTIME`): calls that succeeded or that the hook refused (EPERM)",
    },
    SourceDef {
        event: "switch_task_ns",
        syscalls: &["setns", "unshare"],
        handler: derived::SWITCH_TASK_NS,
        probes: &[],
        description: "entry and exit of {syscalls}: the namespaces that changed",
    },
    SourceDef {
        event: "security_socket_listen",
        syscalls: &["listen"],
        handler: derived::SOCKET_LISTEN,
        probes: &[],
        description: "exit of {syscalls}: the local address read from the fd's socket (calls on an fd that is not a socket left out)",
    },
    SourceDef {
        event: "security_socket_setsockopt",
        syscalls: &["setsockopt"],
        handler: derived::SOCKET_SETSOCKOPT,
        probes: &[],
        description: "exit of {syscalls}: the local address read from the fd's socket (calls on an fd that is not a socket left out)",
    },
    SourceDef {
        event: "security_socket_accept",
        syscalls: ACCEPT_FAMILY,
        handler: derived::SOCKET_ACCEPT,
        probes: &[],
        description: "exit of {syscalls}: the listening socket's local address (calls refused before the new socket exists left out)",
    },
    SourceDef {
        event: "socket_accept",
        syscalls: ACCEPT_FAMILY,
        handler: derived::SOCKET_ACCEPT,
        probes: &[],
        description: "exit of {syscalls} that accepted a connection: the new socket's local and remote addresses",
    },
    SourceDef {
        event: "socket_dup",
        syscalls: &["dup", "dup2", "dup3", "fcntl"],
        handler: derived::SOCKET_DUP,
        probes: &[],
        description: "exit of {syscalls} (`F_DUPFD`, `F_DUPFD_CLOEXEC`) copying a socket's fd: its remote address",
    },
    SourceDef {
        event: "do_mmap",
        syscalls: &["mmap"],
        handler: derived::MEM,
        probes: &[],
        description: "exit of {syscalls}: every mapping made, with its file when it maps one",
    },
    SourceDef {
        event: "security_mmap_file",
        syscalls: &["mmap"],
        handler: derived::MEM,
        probes: &[],
        description: "exit of {syscalls} mapping a file: mappings made, or refused by the hook (EACCES, EPERM)",
    },
    SourceDef {
        event: "shared_object_loaded",
        syscalls: &["mmap"],
        handler: derived::MEM,
        probes: &[],
        description: "exit of {syscalls}: an executable mapping of a file",
    },
    SourceDef {
        event: "security_file_mprotect",
        syscalls: &["mprotect", "pkey_mprotect"],
        handler: derived::MEM,
        probes: &[],
        description: "entry (the mapping, found with `bpf_find_vma`: its flags before and its file) and exit of {syscalls}, successful calls",
    },
    SourceDef {
        event: "mem_prot_alert",
        syscalls: &["mmap", "mprotect", "pkey_mprotect"],
        handler: derived::MEM,
        probes: &[],
        description: "exit of {syscalls}: a W+X mapping, or Tracee's protection changes (X added, W added to X, W dropped for X)",
    },
    SourceDef {
        event: "security_bpf",
        syscalls: &["bpf"],
        handler: derived::BPF,
        probes: &[],
        description: "exit of {syscalls}: every command that reached the hook (its attributes copied in)",
    },
    SourceDef {
        event: "security_bpf_map",
        syscalls: &["bpf"],
        handler: derived::BPF,
        probes: &[],
        description: "exit of {syscalls} (`BPF_MAP_CREATE`, `BPF_MAP_GET_FD_BY_ID`): the map behind the returned fd",
    },
    SourceDef {
        event: "security_bpf_prog",
        syscalls: &["bpf"],
        handler: derived::BPF,
        probes: &[],
        description: "exit of {syscalls} (`BPF_PROG_LOAD`, `BPF_PROG_GET_FD_BY_ID`): the program behind the returned fd",
    },
    SourceDef {
        event: "do_sigaction",
        syscalls: &["rt_sigaction"],
        handler: derived::SIGACTION,
        probes: &[],
        description: "entry (the action before, from the task) and exit of {syscalls}, successful calls",
    },
    SourceDef {
        event: "process_execute_failed",
        syscalls: &["execve", "execveat"],
        handler: derived::EXECUTE_FAILED,
        probes: &[],
        description: "exit of {syscalls} that failed after finding the file",
    },
    SourceDef {
        event: "commit_creds",
        syscalls: &[
            "setuid",
            "setgid",
            "setreuid",
            "setregid",
            "setresuid",
            "setresgid",
            "setfsuid",
            "setfsgid",
            "capset",
            "prctl",
            "unshare",
            "execve",
            "execveat",
        ],
        handler: derived::CREDS,
        probes: &[],
        description: "entry (the task's credentials) and exit of {syscalls}: credentials that changed",
    },
    SourceDef {
        event: "vfs_write",
        syscalls: &["write", "pwrite64"],
        handler: derived::VFS_RW,
        probes: &[],
        description: "exit of {syscalls} on a file: its path walked, the size asked, the position it started at",
    },
    SourceDef {
        event: "vfs_writev",
        syscalls: &["writev", "pwritev", "pwritev2"],
        handler: derived::VFS_RW,
        probes: &[],
        description: "exit of {syscalls} on a file: its path walked, the iovec count, the position it started at",
    },
    SourceDef {
        event: "vfs_read",
        syscalls: &["read", "pread64"],
        handler: derived::VFS_RW,
        probes: &[],
        description: "exit of {syscalls} on a file: its path walked, the size asked, the position it started at",
    },
    SourceDef {
        event: "vfs_readv",
        syscalls: &["readv", "preadv", "preadv2"],
        handler: derived::VFS_RW,
        probes: &[],
        description: "exit of {syscalls} on a file: its path walked, the iovec count, the position it started at",
    },
    SourceDef {
        event: "suspicious_syscall_source",
        syscalls: &[],
        handler: derived::SYSCALL_ORIGIN,
        probes: &[],
        description: "exit of the syscalls the rule names in `args.syscall=`: the calling instruction's mapping, found with `bpf_find_vma`",
    },
    SourceDef {
        event: "stack_pivot",
        syscalls: &[],
        handler: derived::SYSCALL_ORIGIN,
        probes: &[],
        description: "exit of the syscalls the rule names in `args.syscall=`: the stack pointer's mapping, found with `bpf_find_vma`",
    },
    SourceDef {
        event: "file_modification",
        syscalls: &[
            "open",
            "openat",
            "openat2",
            "creat",
            "open_by_handle_at",
            "write",
            "writev",
            "pwrite64",
            "pwritev",
            "pwritev2",
        ],
        handler: derived::FILE_MOD,
        probes: &[],
        description: "exits of the open family (a regular file opened for writing) and of the write family (its first change since: change time or size), once per open",
    },
    SourceDef {
        event: "security_kernel_read_file",
        syscalls: &["finit_module", "kexec_file_load"],
        handler: derived::KERNEL_READ_FILE,
        probes: &[],
        description: "exit of {syscalls}, successful calls: the files read (module; kernel image and initramfs); kernels without modules or kexec lack these syscalls, and the loader says so at start",
    },
    SourceDef {
        event: "security_kernel_post_read_file",
        syscalls: &["finit_module", "kexec_file_load"],
        handler: derived::KERNEL_READ_FILE,
        probes: &[],
        description: "exit of {syscalls}, successful calls: the files read, with their size",
    },
    SourceDef {
        event: "inotify_watch",
        syscalls: &["inotify_add_watch"],
        handler: derived::NOTIFY,
        probes: &[],
        description: "entry and exit of {syscalls}, successful calls: the path made absolute, the inode from the watch the returned descriptor names",
    },
    SourceDef {
        event: "security_path_notify",
        syscalls: &["inotify_add_watch", "fanotify_mark"],
        handler: derived::NOTIFY,
        probes: &[],
        description: "entry and exit of {syscalls}, successful additions: the path made absolute, the mask, the kind of object watched (the inode for inotify)",
    },
    SourceDef {
        event: "do_init_module",
        syscalls: &["init_module", "finit_module"],
        handler: derived::INIT_MODULE,
        probes: &["tp_btf/module_load"],
        description: "exit of {syscalls}, with the module `tp_btf/module_load` saw during the call; kernels without loadable modules lack all three, and the loader says so at start",
    },
    SourceDef {
        event: "do_truncate",
        syscalls: &["truncate", "ftruncate"],
        handler: derived::TRUNCATE,
        probes: &[],
        description: "exit of {syscalls}, successful calls",
    },
    SourceDef {
        event: "vfs_utimes",
        syscalls: &["utime", "utimes", "utimensat", "futimesat"],
        handler: derived::UTIMES,
        probes: &[],
        description: "entry and exit of {syscalls}, successful calls; the times read from user memory",
    },
    SourceDef {
        event: "security_socket_connect",
        syscalls: &["connect"],
        handler: derived::SOCKET_CONNECT,
        probes: &[],
        description: "entry and exit of {syscalls}",
    },
    SourceDef {
        event: "security_inode_unlink",
        syscalls: &["unlink", "unlinkat"],
        handler: derived::INODE_UNLINK,
        probes: &["tp_btf/ext4_unlink_enter"],
        description: "entry and exit of {syscalls}; the inode from `ext4_unlink_enter`",
    },
    SourceDef {
        event: "magic_write",
        syscalls: WRITE_FAMILY,
        handler: derived::MAGIC_WRITE,
        probes: &[],
        description: "entry and exit of {syscalls}: writes at offset 0 of regular files (for the copies, `bytes` read back from the file by the loader)",
    },
    SourceDef {
        event: "chmod_common",
        syscalls: &["chmod", "fchmod", "fchmodat", "fchmodat2"],
        handler: derived::CHMOD,
        probes: &[],
        description: "exit of {syscalls} that reached the file: successful calls, and those refused by it (`EPERM`, `EROFS`)",
    },
    SourceDef {
        event: "dirty_pipe_splice",
        syscalls: &["splice"],
        handler: derived::DIRTY_PIPE,
        probes: &[],
        description: "exit of {syscalls} into a pipe: the pipe's last buffer read back, reported when it may be merged into (`PIPE_BUF_FLAG_CAN_MERGE`)",
    },
    SourceDef {
        event: "dropped_executable",
        syscalls: WRITE_FAMILY,
        handler: derived::MAGIC_WRITE,
        probes: &[],
        description: "a `magic_write` of an ELF header, not on a memory filesystem (for the copies, the header checked by the loader)",
    },
];

/// How `event` is produced, if it is not a plain syscall and the loader produces it.
pub fn source(event: &str) -> Option<&'static SourceDef> {
    SOURCES.iter().find(|s| s.event == event)
}

impl SourceDef {
    /// The description with its syscalls listed.
    pub fn describe(&self) -> String {
        let list = self
            .syscalls
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ");
        self.description.replace("{syscalls}", &list)
    }
}
