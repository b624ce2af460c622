//! Integration tests of the generated event catalog (`schema/src/catalog_data.rs`) and of
//! Tracee's event table next to it (`schema/src/tracee_data.rs`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use schema::catalog::{self, ArgType, EventDef, EventKind, NotProduced, TraceeEvent};

#[path = "../../scripts/testing/skip.rs"]
mod skip;

/// Highest x86-64 syscall number of Linux 6.18 (file_setattr).
const HIGHEST_SYSCALL: u32 = 469;
/// Numbers below `HIGHEST_SYSCALL` that are not x86-64 syscalls: 337..=423 are reserved in
/// syscall_64.tbl ("don't use numbers 387 through 423"; 337..386 were never assigned).
const SYSCALL_HOLES: std::ops::RangeInclusive<u32> = 337..=423;
/// 0..=336 and 424..=469.
const SYSCALL_COUNT: usize = 383;
/// The non-syscall events.
const OTHER_EVENTS: &[&str] = &[
    "sched_process_fork",
    "sched_process_exec",
    "sched_process_exit",
    "magic_write",
    "security_bprm_check",
    "security_file_open",
    "security_inode_unlink",
    "security_socket_connect",
    "dropped_executable",
    "cgroup_mkdir",
    "cgroup_rmdir",
    "task_rename",
    "sched_switch",
    "do_exit",
    "cap_capable",
    "security_socket_create",
    "security_socket_bind",
    "security_sb_mount",
    "security_sb_umount",
    "security_inode_rename",
    "security_inode_mknod",
    "security_inode_symlink",
    "set_fs_pwd",
    "security_task_prctl",
    "security_task_setrlimit",
    "security_settime64",
    "switch_task_ns",
    "cgroup_attach_task",
    "security_socket_listen",
    "security_socket_accept",
    "security_socket_setsockopt",
    "socket_dup",
    "socket_accept",
    "mem_prot_alert",
    "security_mmap_file",
    "security_file_mprotect",
    "shared_object_loaded",
    "do_mmap",
    "container_create",
    "container_remove",
    "security_bpf",
    "security_bpf_map",
    "security_bpf_prog",
    "do_sigaction",
    "process_execute_failed",
    "do_truncate",
    "vfs_utimes",
    "module_load",
    "module_free",
    "existing_container",
    "commit_creds",
    "vfs_write",
    "vfs_writev",
    "vfs_read",
    "vfs_readv",
    "suspicious_syscall_source",
    "stack_pivot",
    "file_modification",
    "security_kernel_read_file",
    "security_kernel_post_read_file",
    "inotify_watch",
    "security_path_notify",
    "do_init_module",
    "dirty_pipe_splice",
    "chmod_common",
    "net_packet_raw",
    "net_packet_ipv4",
    "net_packet_ipv6",
    "net_packet_tcp",
    "net_packet_udp",
    "net_packet_icmp",
    "net_packet_icmpv6",
    "net_packet_dns",
    "net_packet_dns_request",
    "net_packet_dns_response",
    "net_packet_http",
    "net_packet_http_request",
    "net_packet_http_response",
    "net_flow_tcp_begin",
    "net_flow_tcp_end",
    "net_tcp_connect",
];

fn ev(name: &str) -> &'static EventDef {
    match catalog::event(name) {
        Some(e) => e,
        None => panic!("event {name} is missing from the catalog"),
    }
}

/// `(name, type_name, ty)` of every argument, in order.
fn args(name: &str) -> Vec<(&'static str, &'static str, ArgType)> {
    ev(name)
        .args
        .iter()
        .map(|a| (a.name, a.type_name, a.ty))
        .collect()
}

fn arg_names(name: &str) -> Vec<&'static str> {
    ev(name).args.iter().map(|a| a.name).collect()
}

#[test]
fn ids_are_sorted_and_unique() {
    let events = catalog::events();
    for pair in events.windows(2) {
        assert!(
            pair[0].id < pair[1].id,
            "ids not strictly increasing: {} ({}) then {} ({})",
            pair[0].id,
            pair[0].name,
            pair[1].id,
            pair[1].name
        );
    }
}

#[test]
fn names_are_unique_and_found_by_lookup() {
    let mut seen = HashSet::new();
    for e in catalog::events() {
        assert!(seen.insert(e.name), "duplicate event name {}", e.name);
        assert!(
            std::ptr::eq(ev(e.name), e),
            "lookup of {} returned another event",
            e.name
        );
    }
}

#[test]
fn argument_names_are_unique_within_an_event() {
    for e in catalog::events() {
        let mut seen = HashSet::new();
        for a in e.args {
            assert!(
                seen.insert(a.name),
                "{}: duplicate argument {}",
                e.name,
                a.name
            );
        }
    }
}

#[test]
fn lookup_is_case_sensitive() {
    assert!(catalog::event("OpenAt").is_none());
    assert!(catalog::event("OPENAT").is_none());
    assert!(catalog::event("openat ").is_none());
    assert!(catalog::event("").is_none());
    assert!(catalog::event("openat").is_some());
}

#[test]
fn every_x86_64_syscall_is_present() {
    let syscalls: Vec<&EventDef> = catalog::events()
        .iter()
        .filter(|e| e.kind == EventKind::Syscall)
        .collect();
    assert_eq!(syscalls.len(), SYSCALL_COUNT, "number of syscalls");
    let ids: HashSet<u32> = syscalls.iter().map(|e| e.id).collect();
    for nr in 0..=HIGHEST_SYSCALL {
        if SYSCALL_HOLES.contains(&nr) {
            assert!(!ids.contains(&nr), "{nr} is not an x86-64 syscall");
        } else {
            assert!(ids.contains(&nr), "syscall {nr} is missing");
        }
    }
    assert_eq!(ids.iter().max(), Some(&HIGHEST_SYSCALL));
}

#[test]
fn the_non_syscall_events_are_exactly_the_expected_ones() {
    let mut others: Vec<&str> = catalog::events()
        .iter()
        .filter(|e| e.kind != EventKind::Syscall)
        .map(|e| e.name)
        .collect();
    others.sort_unstable();
    let mut expected = OTHER_EVENTS.to_vec();
    expected.sort_unstable();
    assert_eq!(others, expected);
}

#[test]
fn well_known_syscalls() {
    assert_eq!(ev("read").id, 0);
    assert_eq!(ev("write").id, 1);
    assert_eq!(ev("open").id, 2);
    assert_eq!(ev("connect").id, 42);
    assert_eq!(ev("kill").id, 62);
    assert_eq!(ev("ptrace").id, 101);
    assert_eq!(ev("setuid").id, 105);
    assert_eq!(ev("init_module").id, 175);
    assert_eq!(ev("unlinkat").id, 263);
    assert_eq!(ev("memfd_create").id, 319);
    assert_eq!(ev("bpf").id, 321);
    assert_eq!(ev("execveat").id, 322);
    assert_eq!(ev("openat2").id, 437);
    assert_eq!(ev("file_setattr").id, HIGHEST_SYSCALL);
    // Tracee's names where they differ from the kernel's
    assert_eq!(ev("sysctl").id, 156);
    assert_eq!(ev("afs").id, 183);
    assert!(catalog::event("_sysctl").is_none());
}

#[test]
fn openat() {
    let e = ev("openat");
    assert_eq!(e.id, 257);
    assert_eq!(e.kind, EventKind::Syscall);
    assert_eq!(
        args("openat"),
        vec![
            ("dirfd", "int32", ArgType::Int(4)),
            ("pathname", "string", ArgType::Str),
            ("flags", "int32", ArgType::Int(4)),
            ("mode", "uint16", ArgType::UInt(2)),
        ]
    );
    assert_eq!(e.arg("pathname").map(|a| a.ty), Some(ArgType::Str));
    assert!(e.arg("filename").is_none());
}

#[test]
fn close() {
    let e = ev("close");
    assert_eq!(e.id, 3);
    assert_eq!(args("close"), vec![("fd", "int32", ArgType::Int(4))]);
}

#[test]
fn execve() {
    let e = ev("execve");
    assert_eq!(e.id, 59);
    assert_eq!(
        args("execve"),
        vec![
            ("pathname", "string", ArgType::Str),
            ("argv", "[]string", ArgType::StrArray),
            ("envp", "[]string", ArgType::StrArray),
        ]
    );
}

#[test]
fn typical_syscall_argument_types() {
    let connect = ev("connect");
    assert_eq!(connect.arg("addr").map(|a| a.ty), Some(ArgType::SockAddr));
    assert_eq!(connect.arg("addrlen").map(|a| a.ty), Some(ArgType::Int(4)));
    assert_eq!(
        ev("pipe").arg("pipefd").map(|a| a.ty),
        Some(ArgType::IntArray)
    );
    assert_eq!(ev("read").arg("buf").map(|a| a.ty), Some(ArgType::Pointer));
    assert_eq!(
        ev("read").arg("count").map(|a| a.ty),
        Some(ArgType::UInt(8))
    );
    // Tracee's current table types ids as int32 (so `setuid(-1)` shows -1).
    assert_eq!(ev("setuid").arg("uid").map(|a| a.ty), Some(ArgType::Int(4)));
    assert_eq!(ev("kill").arg("pid").map(|a| a.ty), Some(ArgType::Int(4)));
    assert_eq!(
        ev("ptrace").arg("request").map(|a| a.ty),
        Some(ArgType::Int(8))
    );
    assert_eq!(ev("mmap").arg("off").map(|a| a.ty), Some(ArgType::Int(8)));
    assert_eq!(
        ev("capget").arg("hdrp").map(|a| (a.type_name, a.ty)),
        Some(("trace.Pointer", ArgType::Pointer))
    );
    assert_eq!(arg_names("bpf"), ["cmd", "attr", "size"]);
    assert_eq!(arg_names("openat2"), ["dirfd", "pathname", "how", "size"]);
    assert!(ev("getpid").args.is_empty());
}

#[test]
fn every_type_name_maps_to_a_consistent_arg_type() {
    for e in catalog::events() {
        for a in e.args {
            let expected = match a.type_name {
                "string" => ArgType::Str,
                "[]string" => ArgType::StrArray,
                "int8" => ArgType::Int(1),
                "int16" => ArgType::Int(2),
                "int32" => ArgType::Int(4),
                "int64" => ArgType::Int(8),
                "uint8" => ArgType::UInt(1),
                "uint16" => ArgType::UInt(2),
                "uint32" => ArgType::UInt(4),
                "uint64" | "time.Time" => ArgType::UInt(8),
                "SockAddr" => ArgType::SockAddr,
                "trace.SlimCred" => ArgType::Bytes,
                // Network structures, decoded by the loader from the captured packet.
                t if t.starts_with("trace.Proto")
                    || t.starts_with("[]trace.")
                    || t == "trace.PacketMetadata"
                    || t == "trace.PktMeta" =>
                {
                    ArgType::Bytes
                }
                "bool" => ArgType::Bool,
                "[]byte" => ArgType::Bytes,
                "[2]int" | "[]uint64" => ArgType::IntArray,
                "trace.Pointer" => ArgType::Pointer,
                other => panic!("{}.{}: unexpected type name {other}", e.name, a.name),
            };
            assert_eq!(a.ty, expected, "{}.{}: {}", e.name, a.name, a.type_name);
        }
    }
}

/// Every field of an event Tracee defines has Tracee's name and, where our types can say
/// it, Tracee's type, in Tracee's order (`returnValue` is the return value, not a field).
#[test]
fn fields_follow_tracees_table() {
    for e in catalog::events() {
        let Some(t) = catalog::tracee_event(e.name) else {
            continue;
        };
        let theirs: Vec<(&str, &str)> = t
            .fields
            .iter()
            .filter(|f| f.name != "returnValue")
            .map(|f| (f.name, f.go_type))
            .collect();
        let ours: Vec<(&str, &str)> = e.args.iter().map(|a| (a.name, a.type_name)).collect();
        assert_eq!(ours.len(), theirs.len(), "{}", e.name);
        for ((name, ty), (tname, tty)) in ours.iter().zip(&theirs) {
            assert_eq!(name, tname, "{}", e.name);
            // A timespec Tracee shows as float64 seconds is recorded as its address here.
            let want = if *tty == "float64" {
                "trace.Pointer"
            } else {
                tty
            };
            assert_eq!(*ty, want, "{}.{name}", e.name);
        }
    }
}

#[test]
fn renamed_fields_keep_their_old_names() {
    let fork = ev("sched_process_fork");
    for (old, new) in [
        ("up_parent_tid", "parent_process_tid"),
        ("up_parent_ns_tid", "parent_process_ns_tid"),
        ("up_parent_pid", "parent_process_pid"),
        ("up_parent_ns_pid", "parent_process_ns_pid"),
        ("up_parent_start_time", "parent_process_start_time"),
    ] {
        assert_eq!(fork.arg_index(old), fork.arg_index(new), "{old}");
        assert!(fork.arg_index(new).is_some(), "{new}");
    }
    assert!(fork.arg("up_parent_comm").is_none());
    assert!(ev("openat").aliases.is_empty());
}

#[test]
fn sched_process_events() {
    let exec = ev("sched_process_exec");
    assert_eq!((exec.id, exec.kind), (713, EventKind::Tracepoint));
    assert_eq!(
        args("sched_process_exec"),
        vec![
            ("cmdpath", "string", ArgType::Str),
            ("pathname", "string", ArgType::Str),
            ("dev", "uint32", ArgType::UInt(4)),
            ("inode", "uint64", ArgType::UInt(8)),
            ("ctime", "uint64", ArgType::UInt(8)),
            ("inode_mode", "uint16", ArgType::UInt(2)),
            ("interpreter_pathname", "string", ArgType::Str),
            ("interpreter_dev", "uint32", ArgType::UInt(4)),
            ("interpreter_inode", "uint64", ArgType::UInt(8)),
            ("interpreter_ctime", "uint64", ArgType::UInt(8)),
            ("argv", "[]string", ArgType::StrArray),
            ("interp", "string", ArgType::Str),
            ("stdin_type", "uint16", ArgType::UInt(2)),
            ("stdin_path", "string", ArgType::Str),
            ("invoked_from_kernel", "bool", ArgType::Bool),
            ("prev_comm", "string", ArgType::Str),
            ("env", "[]string", ArgType::StrArray),
            ("pwd", "string", ArgType::Str),
        ]
    );

    let fork = ev("sched_process_fork");
    assert_eq!((fork.id, fork.kind), (712, EventKind::Tracepoint));
    for name in [
        "parent_tid",
        "parent_ns_tid",
        "parent_pid",
        "parent_ns_pid",
        "child_tid",
        "child_ns_tid",
        "child_pid",
        "child_ns_pid",
    ] {
        assert_eq!(
            fork.arg(name).map(|a| a.ty),
            Some(ArgType::Int(4)),
            "{name}"
        );
    }
    assert_eq!(fork.arg("start_time").map(|a| a.ty), Some(ArgType::UInt(8)));

    let exit = ev("sched_process_exit");
    assert_eq!((exit.id, exit.kind), (714, EventKind::Tracepoint));
    assert_eq!(
        arg_names("sched_process_exit"),
        ["exit_code", "signal_code", "process_group_exit"]
    );
    assert_eq!(exit.arg("exit_code").map(|a| a.ty), Some(ArgType::Int(4)));
}

#[test]
fn security_events() {
    let open = ev("security_file_open");
    assert_eq!((open.id, open.kind), (730, EventKind::Lsm));
    assert_eq!(
        arg_names("security_file_open"),
        [
            "pathname",
            "flags",
            "dev",
            "inode",
            "ctime",
            "syscall_pathname"
        ]
    );
    assert_eq!(open.arg("flags").map(|a| a.ty), Some(ArgType::Int(4)));
    assert_eq!(open.arg("dev").map(|a| a.ty), Some(ArgType::UInt(4)));

    let bprm = ev("security_bprm_check");
    assert_eq!((bprm.id, bprm.kind), (729, EventKind::Lsm));
    assert_eq!(
        arg_names("security_bprm_check"),
        ["pathname", "dev", "inode", "argv", "envp"]
    );
    assert_eq!(bprm.arg("argv").map(|a| a.ty), Some(ArgType::StrArray));

    let unlink = ev("security_inode_unlink");
    assert_eq!((unlink.id, unlink.kind), (731, EventKind::Lsm));
    assert_eq!(
        arg_names("security_inode_unlink"),
        ["pathname", "inode", "dev", "ctime"]
    );

    let connect = ev("security_socket_connect");
    assert_eq!((connect.id, connect.kind), (734, EventKind::Lsm));
    assert_eq!(
        args("security_socket_connect"),
        vec![
            ("sockfd", "int32", ArgType::Int(4)),
            ("type", "int32", ArgType::Int(4)),
            ("remote_addr", "SockAddr", ArgType::SockAddr),
        ]
    );
}

#[test]
fn derived_events() {
    let magic = ev("magic_write");
    assert_eq!((magic.id, magic.kind), (725, EventKind::Derived));
    assert_eq!(
        args("magic_write"),
        vec![
            ("pathname", "string", ArgType::Str),
            ("bytes", "[]byte", ArgType::Bytes),
            ("dev", "uint32", ArgType::UInt(4)),
            ("inode", "uint64", ArgType::UInt(8)),
        ]
    );

    let dropped = ev("dropped_executable");
    assert_eq!((dropped.id, dropped.kind), (6022, EventKind::Derived));
    assert_eq!(
        args("dropped_executable"),
        vec![("path", "string", ArgType::Str)]
    );
}

/// Events of our catalog that Tracee's table (`schema/gen/tracee_events.tsv`) does not define:
/// x86-64 syscalls newer than that Tracee commit, or that it never added (`uretprobe`,
/// `uprobe`, `map_shadow_stack`, `fchmodat2`, ...), and `dropped_executable`, which Tracee has as
/// a signature (TRC-1022), not as an event.
const OURS_NOT_IN_TRACEE: &[&str] = &[
    "uretprobe",
    "uprobe",
    "futex_waitv",
    "set_mempolicy_home_node",
    "cachestat",
    "fchmodat2",
    "map_shadow_stack",
    "futex_wake",
    "futex_wait",
    "futex_requeue",
    "statmount",
    "listmount",
    "lsm_get_self_attr",
    "lsm_set_self_attr",
    "lsm_list_modules",
    "mseal",
    "setxattrat",
    "getxattrat",
    "listxattrat",
    "removexattrat",
    "open_tree_attr",
    "file_getattr",
    "file_setattr",
    "dropped_executable",
];

/// The non-internal members of Tracee's `default` set, in table order.
const DEFAULT_SET: &[&str] = &[
    "creat",
    "chmod",
    "fchmod",
    "chown",
    "fchown",
    "lchown",
    "ptrace",
    "setuid",
    "setgid",
    "setpgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "init_module",
    "fchownat",
    "fchmodat",
    "setns",
    "process_vm_readv",
    "process_vm_writev",
    "finit_module",
    "memfd_create",
    "move_mount",
    "sched_process_exec",
    "security_inode_unlink",
    "security_socket_connect",
    "net_tcp_connect",
    "security_socket_accept",
    "security_socket_bind",
    "security_sb_mount",
    "security_sb_umount",
    "container_create",
    "container_remove",
    "net_packet_icmp",
    "net_packet_icmpv6",
    "net_packet_dns_request",
    "net_packet_dns_response",
    "net_packet_http_request",
    "net_packet_http_response",
];

fn tracee(name: &str) -> &'static TraceeEvent {
    match catalog::tracee_event(name) {
        Some(e) => e,
        None => panic!("event {name} is missing from Tracee's table"),
    }
}

fn member_names(set: &str) -> Vec<&'static str> {
    catalog::set_members(set).iter().map(|e| e.name).collect()
}

#[test]
fn tracee_table_names_are_unique_and_found_by_lookup() {
    let events = catalog::tracee_events();
    assert!(events.len() > 500, "only {} Tracee events", events.len());
    assert!(std::ptr::eq(events, catalog::TRACEE_EVENTS));
    let mut seen = HashSet::new();
    for e in events {
        assert!(seen.insert(e.name), "duplicate Tracee event {}", e.name);
        assert!(std::ptr::eq(tracee(e.name), e), "lookup of {}", e.name);
    }
    assert!(catalog::tracee_event("OpenAt").is_none());
    assert!(catalog::tracee_event("").is_none());
    assert_eq!(catalog::TRACEE_COMMIT.len(), 40);
    assert!(
        catalog::TRACEE_COMMIT
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "TRACEE_COMMIT {:?} is not a commit hash",
        catalog::TRACEE_COMMIT
    );
}

#[test]
fn tracee_fields_keep_tracee_names_and_go_types() {
    let fields = |name: &str| -> Vec<(&str, &str)> {
        tracee(name)
            .fields
            .iter()
            .map(|f| (f.name, f.go_type))
            .collect()
    };
    assert_eq!(
        fields("openat"),
        [
            ("dirfd", "int32"),
            ("pathname", "string"),
            ("flags", "int32"),
            ("mode", "uint16"),
            ("returnValue", "int64"),
        ]
    );
    assert_eq!(
        fields("execve"),
        [
            ("pathname", "string"),
            ("argv", "[]string"),
            ("envp", "[]string"),
            ("returnValue", "int64"),
        ]
    );
    assert_eq!(tracee("read").fields[1].go_type, "trace.Pointer");
    let openat = tracee("openat");
    assert!(openat.syscall && !openat.internal);
    assert_eq!(openat.sets, ["syscalls", "fs", "fs_file_ops"]);
    assert!(!tracee("sched_process_exec").syscall);
    assert!(tracee("capture_exec").fields.is_empty());
}

/// Every event a policy can name in Tracee is either produced (in our catalog) or has a
/// reason it is not, never both; internal events have neither.
#[test]
fn every_tracee_event_is_produced_or_has_a_reason() {
    for e in catalog::tracee_events() {
        let ours = catalog::event(e.name).is_some();
        if e.internal {
            assert!(!ours, "{} is internal in Tracee but in our catalog", e.name);
            assert_eq!(e.not_produced, None, "internal {}", e.name);
        } else {
            assert!(
                ours != e.not_produced.is_some(),
                "{}: in our catalog: {ours}, not_produced: {:?}",
                e.name,
                e.not_produced
            );
        }
    }
}

#[test]
fn not_produced_reasons() {
    let reason = |name: &str| tracee(name).not_produced;
    assert_eq!(reason("openat"), None);
    assert_eq!(reason("security_file_open"), None);
    // Every network event is produced (issue 15).
    assert_eq!(reason("net_packet_dns"), None);
    assert_eq!(reason("net_tcp_connect"), None);
    assert_eq!(reason("net_flow_tcp_begin"), None);
    assert_eq!(reason("waitpid"), Some(NotProduced::Compat));
    assert_eq!(reason("mmap2"), Some(NotProduced::Compat));
    assert_eq!(reason("hooked_syscall"), Some(NotProduced::KernelText));
    assert_eq!(
        reason("kallsyms_lookup_name"),
        Some(NotProduced::KernelText)
    );
    assert_eq!(reason("sched_switch"), None, "produced since issue 13");
    assert_eq!(reason("vfs_write"), None, "produced since issue 13");
    assert_eq!(
        reason("security_socket_listen"),
        None,
        "produced since issue 13"
    );
    assert_eq!(reason("dirty_pipe_splice"), None, "produced since issue 13");
    assert_eq!(reason("chmod_common"), None, "produced since issue 13");
    assert_eq!(reason("symbols_loaded"), Some(NotProduced::NotYet));
    assert_eq!(
        reason("security_socket_bind"),
        None,
        "produced since issue 13"
    );
    assert_eq!(
        reason("security_socket_create"),
        None,
        "produced since issue 13"
    );
    // kind syscall in Tracee, but a kernel function, not a 32-bit syscall
    assert_eq!(reason("chmod_common"), None, "produced since issue 13");
    assert_eq!(reason("symbols_loaded"), Some(NotProduced::NotYet));
    for e in catalog::tracee_events().iter().filter(|e| !e.internal) {
        let network = e.name.starts_with("net_")
            || ["network_events", "flows", "packets"]
                .iter()
                .any(|s| e.in_set(s));
        if network {
            assert_eq!(
                e.not_produced, None,
                "{} (network events are produced)",
                e.name
            );
        }
    }
    for kind in [
        NotProduced::Compat,
        NotProduced::KernelText,
        NotProduced::NotYet,
    ] {
        let r = kind.reason();
        assert!(!r.is_empty() && !r.ends_with('.'), "{kind:?}: {r:?}");
        assert!(
            catalog::tracee_events()
                .iter()
                .any(|e| e.not_produced == Some(kind)),
            "no event is {kind:?}"
        );
    }
}

/// Our events keep Tracee's names: each one Tracee has is found under the same name and the
/// same kind (syscall or not, but for chmod_common); the others are exactly
/// `OURS_NOT_IN_TRACEE`.
#[test]
fn our_events_keep_tracee_names() {
    let mut missing = Vec::new();
    for e in catalog::events() {
        match catalog::tracee_event(e.name) {
            Some(t) => {
                // Tracee files chmod_common, a kernel function the chmod family reaches,
                // with the syscalls.
                assert_eq!(
                    t.syscall,
                    e.kind == EventKind::Syscall || e.name == "chmod_common",
                    "{}: syscall in one table only",
                    e.name
                );
                assert!(!t.internal, "{} is internal in Tracee", e.name);
            }
            None => missing.push(e.name),
        }
    }
    assert_eq!(
        missing, OURS_NOT_IN_TRACEE,
        "events of our catalog not in Tracee's table (if expected, list them in OURS_NOT_IN_TRACEE)"
    );
}

#[test]
fn no_32_bit_only_syscall_is_in_our_catalog() {
    let compat = catalog::set_members("32bit_unique");
    assert!(
        compat.len() > 50,
        "only {} 32-bit-only syscalls",
        compat.len()
    );
    for e in compat {
        assert!(e.syscall, "{}", e.name);
        assert!(
            catalog::event(e.name).is_none(),
            "{} is 32-bit only",
            e.name
        );
        assert_eq!(e.not_produced, Some(NotProduced::Compat), "{}", e.name);
    }
}

#[test]
fn set_names_are_sorted_unique_and_complete() {
    let names = catalog::set_names();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    for e in catalog::tracee_events() {
        for set in e.sets {
            assert!(names.binary_search(set).is_ok(), "{}: set {set}", e.name);
        }
    }
    for set in &names {
        assert!(
            catalog::tracee_events().iter().any(|e| e.in_set(set)),
            "{set} names no event"
        );
    }
}

#[test]
fn well_known_sets_exist_and_are_not_empty() {
    let names = catalog::set_names();
    for set in [
        "default",
        "fs",
        "fs_file_ops",
        "proc",
        "containers",
        "syscalls",
    ] {
        assert!(names.contains(&set), "no set {set}");
        assert!(!catalog::set_members(set).is_empty(), "set {set} is empty");
    }
    assert!(catalog::set_members("no_such_set").is_empty());
    assert_eq!(
        member_names("containers"),
        ["container_create", "container_remove", "existing_container"]
    );
    let fs_file_ops = member_names("fs_file_ops");
    for name in ["open", "openat", "close", "security_file_open"] {
        assert!(fs_file_ops.contains(&name), "fs_file_ops lacks {name}");
    }
    let proc = member_names("proc");
    for name in ["execve", "sched_process_exec", "sched_process_exit"] {
        assert!(proc.contains(&name), "proc lacks {name}");
    }
}

#[test]
fn default_set_members() {
    assert_eq!(member_names("default"), DEFAULT_SET);
    // execve is not in Tracee's default set (sched_process_exec is)
    assert!(!DEFAULT_SET.contains(&"execve"));
    // signal_heartbeat is in `default` but internal: sets never select internal events
    assert!(tracee("signal_heartbeat").internal && tracee("signal_heartbeat").in_set("default"));
}

#[test]
fn sets_never_select_internal_events() {
    for set in catalog::set_names() {
        for e in catalog::set_members(set) {
            assert!(!e.internal, "{set} selects internal {}", e.name);
            assert!(e.in_set(set));
        }
    }
    // `signal` is named by internal events only
    assert!(catalog::set_names().contains(&"signal"));
    assert!(catalog::set_members("signal").is_empty());
}

/// Runs the generator into temporary files; `None` (after reporting a skip) without python3.
/// Returns the generated `(catalog_data.rs, tracee_data.rs)`.
fn run_generator(tag: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = manifest.join("gen").join("gen_catalog.py");
    let temp = |what: &str| -> PathBuf {
        std::env::temp_dir().join(format!(
            "tracee-schema-{what}-{tag}-{}.rs",
            std::process::id()
        ))
    };
    let (out, tracee_out) = (temp("catalog-data"), temp("tracee-data"));

    let status = match Command::new("python3")
        .arg(&script)
        .arg("--out")
        .arg(&out)
        .arg("--tracee-out")
        .arg(&tracee_out)
        .status()
    {
        Ok(status) => status,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            skip::skip(
                "python3 is not installed, so schema/src/catalog_data.rs and tracee_data.rs \
                 were NOT checked against schema/gen/",
            );
            return None;
        }
        Err(e) => panic!("cannot run python3 {}: {e}", script.display()),
    };
    let read = |path: &Path| {
        let bytes = std::fs::read(path);
        let _ = std::fs::remove_file(path);
        match bytes {
            Ok(bytes) => bytes,
            Err(e) => panic!("cannot read generator output {}: {e}", path.display()),
        }
    };
    let generated = (read(&out), read(&tracee_out));
    assert!(status.success(), "{} failed: {status}", script.display());
    Some(generated)
}

fn assert_up_to_date(generated: &[u8], file: &str) {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(file);
    let current = match std::fs::read(&committed) {
        Ok(bytes) => bytes,
        Err(e) => panic!("cannot read {}: {e}", committed.display()),
    };
    assert!(
        generated == current,
        "{} is out of date: run `python3 schema/gen/gen_catalog.py` and commit the result",
        committed.display()
    );
}

/// Re-runs the generator and compares its output with the committed `catalog_data.rs`, so the
/// generated file cannot drift from the tables in `schema/gen/`.
#[test]
fn generated_file_is_up_to_date() {
    if let Some((catalog_data, _)) = run_generator("catalog") {
        assert_up_to_date(&catalog_data, "catalog_data.rs");
    }
}

/// The same for `tracee_data.rs` (Tracee's event table and `not_produced.tsv`).
#[test]
fn generated_tracee_file_is_up_to_date() {
    if let Some((_, tracee_data)) = run_generator("tracee") {
        assert_up_to_date(&tracee_data, "tracee_data.rs");
    }
}

/// Every event of our catalog that is not a plain syscall has its row in `schema::hooks`
/// (which hooks and syscalls feed it), and every row names real events, syscalls and hooks.
#[test]
fn every_produced_event_has_its_source_row() {
    use schema::catalog::EventKind;
    use schema::hooks::{HOOKS, SOURCES, source};
    for event in schema::catalog::events() {
        if event.kind != EventKind::Syscall {
            assert!(
                source(event.name).is_some(),
                "{} has no row in schema::hooks",
                event.name
            );
        }
    }
    for row in SOURCES {
        let event = schema::catalog::event(row.event);
        assert!(
            event.is_some_and(|e| e.kind != EventKind::Syscall),
            "{}",
            row.event
        );
        assert!(
            row.handler.count_ones() <= 1
                && (row.handler == 0
                    || schema::abi::derived::ALL
                        .iter()
                        .any(|(_, b)| *b == row.handler)),
            "{}: handler {:#x}",
            row.event,
            row.handler
        );
        let by_filter = schema::hooks::SYSCALLS_BY_FILTER.contains(&row.event);
        assert_eq!(
            row.handler == 0,
            row.syscalls.is_empty() && !by_filter,
            "{}: a handler exactly when syscalls build it",
            row.event
        );
        for syscall in row.syscalls {
            assert!(
                schema::catalog::event(syscall).is_some_and(|e| e.kind == EventKind::Syscall),
                "{}: {syscall} is not a syscall",
                row.event
            );
        }
        for probe in row.probes {
            assert!(
                HOOKS.iter().any(|h| h.probe == *probe),
                "{}: no hook {probe}",
                row.event
            );
        }
        assert!(
            !row.syscalls.is_empty()
                || !row.probes.is_empty()
                || schema::hooks::LOADER_MADE.contains(&row.event)
                || schema::hooks::SYSCALLS_BY_FILTER.contains(&row.event),
            "{}: fed by nothing",
            row.event
        );
    }
}

#[test]
fn renamed_syscall_tracepoints_name_catalog_syscalls() {
    for (syscall, tracepoint) in schema::hooks::SYSCALL_TRACEPOINT_NAMES {
        assert_eq!(ev(syscall).kind, EventKind::Syscall, "{syscall}");
        assert_ne!(syscall, tracepoint);
        assert_eq!(schema::hooks::syscall_tracepoint(syscall), *tracepoint);
    }
    assert_eq!(schema::hooks::syscall_tracepoint("openat"), "openat");
}

/// The parts of socket addresses live in argument slots past every event's own arguments
/// (abi::SOCK_PORT_SLOT..): no event with a socket address may reach them.
#[test]
fn socket_address_part_slots_are_free() {
    use schema::abi::{SOCK_ADDR_MAX_INDEX, SOCK_PORT_SLOT};
    for e in catalog::events() {
        let socks: Vec<usize> = e
            .args
            .iter()
            .enumerate()
            .filter(|(_, a)| a.ty == ArgType::SockAddr)
            .map(|(i, _)| i)
            .collect();
        if socks.is_empty() {
            continue;
        }
        assert!(e.args.len() <= usize::from(SOCK_PORT_SLOT), "{}", e.name);
        assert!(socks.iter().all(|i| *i < SOCK_ADDR_MAX_INDEX), "{}", e.name);
    }
    let connect = ev("security_socket_connect");
    assert_eq!(connect.arg_field(22).as_deref(), Some("remote_addr.port"));
    assert_eq!(connect.arg_field(28).as_deref(), Some("remote_addr.ip"));
    assert_eq!(connect.arg_field(60).as_deref(), Some("remote_addr.path"));
    assert_eq!(connect.arg_field(0).as_deref(), Some("sockfd"));
    assert_eq!(connect.arg_field(21), None);
}
