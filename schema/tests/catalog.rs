//! Integration tests of the generated event catalog (`schema/src/catalog_data.rs`).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use schema::catalog::{self, ArgType, EventDef, EventKind};

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
];

fn ev(name: &str) -> &'static EventDef {
    match catalog::event(name) {
        Some(e) => e,
        None => panic!("event {name} is missing from the catalog"),
    }
}

/// `(name, c_type, ty)` of every argument, in order.
fn args(name: &str) -> Vec<(&'static str, &'static str, ArgType)> {
    ev(name)
        .args
        .iter()
        .map(|a| (a.name, a.c_type, a.ty))
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
            ("dirfd", "int", ArgType::Int(4)),
            ("pathname", "const char*", ArgType::Str),
            ("flags", "int", ArgType::Int(4)),
            ("mode", "mode_t", ArgType::UInt(4)),
        ]
    );
    assert_eq!(e.arg("pathname").map(|a| a.ty), Some(ArgType::Str));
    assert!(e.arg("filename").is_none());
}

#[test]
fn close() {
    let e = ev("close");
    assert_eq!(e.id, 3);
    assert_eq!(args("close"), vec![("fd", "int", ArgType::Int(4))]);
}

#[test]
fn execve() {
    let e = ev("execve");
    assert_eq!(e.id, 59);
    assert_eq!(
        args("execve"),
        vec![
            ("pathname", "const char*", ArgType::Str),
            ("argv", "const char*const*", ArgType::StrArray),
            ("envp", "const char*const*", ArgType::StrArray),
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
    assert_eq!(
        ev("setuid").arg("uid").map(|a| a.ty),
        Some(ArgType::UInt(4))
    );
    assert_eq!(ev("kill").arg("pid").map(|a| a.ty), Some(ArgType::Int(4)));
    assert_eq!(
        ev("ptrace").arg("request").map(|a| a.ty),
        Some(ArgType::Int(8))
    );
    assert_eq!(ev("mmap").arg("off").map(|a| a.ty), Some(ArgType::Int(8)));
    assert_eq!(
        ev("capget").arg("hdrp").map(|a| (a.c_type, a.ty)),
        Some(("cap_user_header_t", ArgType::Pointer))
    );
    assert_eq!(arg_names("bpf"), ["cmd", "attr", "size"]);
    assert_eq!(arg_names("openat2"), ["dirfd", "pathname", "how", "size"]);
    assert!(ev("getpid").args.is_empty());
}

#[test]
fn every_c_type_maps_to_a_consistent_arg_type() {
    for e in catalog::events() {
        for a in e.args {
            let expected = match a.c_type {
                "const char*" | "char*" => Some(ArgType::Str),
                "const char**" | "const char*const*" => Some(ArgType::StrArray),
                "int" | "pid_t" => Some(ArgType::Int(4)),
                "unsigned int" | "u32" | "uid_t" | "gid_t" | "mode_t" | "dev_t" => {
                    Some(ArgType::UInt(4))
                }
                "unsigned long" | "size_t" | "u64" => Some(ArgType::UInt(8)),
                "long" | "off_t" => Some(ArgType::Int(8)),
                "umode_t" => Some(ArgType::UInt(2)),
                "struct sockaddr*" => Some(ArgType::SockAddr),
                "bool" => Some(ArgType::Bool),
                "bytes" => Some(ArgType::Bytes),
                "int[2]" => Some(ArgType::IntArray),
                t if t.ends_with('*') => Some(ArgType::Pointer),
                _ => None,
            };
            if let Some(expected) = expected {
                assert_eq!(a.ty, expected, "{}.{}: {}", e.name, a.name, a.c_type);
            }
        }
    }
}

#[test]
fn sched_process_events() {
    let exec = ev("sched_process_exec");
    assert_eq!((exec.id, exec.kind), (713, EventKind::Tracepoint));
    assert_eq!(
        args("sched_process_exec"),
        vec![
            ("cmdpath", "const char*", ArgType::Str),
            ("pathname", "const char*", ArgType::Str),
            ("dev", "dev_t", ArgType::UInt(4)),
            ("inode", "unsigned long", ArgType::UInt(8)),
            ("ctime", "unsigned long", ArgType::UInt(8)),
            ("inode_mode", "umode_t", ArgType::UInt(2)),
            ("interpreter_pathname", "const char*", ArgType::Str),
            ("interpreter_dev", "dev_t", ArgType::UInt(4)),
            ("interpreter_inode", "unsigned long", ArgType::UInt(8)),
            ("interpreter_ctime", "unsigned long", ArgType::UInt(8)),
            ("argv", "const char**", ArgType::StrArray),
            ("interp", "const char*", ArgType::Str),
            ("stdin_type", "umode_t", ArgType::UInt(2)),
            ("stdin_path", "char*", ArgType::Str),
            ("invoked_from_kernel", "int", ArgType::Int(4)),
            ("env", "const char**", ArgType::StrArray),
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
    assert_eq!(exit.arg("exit_code").map(|a| a.ty), Some(ArgType::Int(8)));
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
            ("sockfd", "int", ArgType::Int(4)),
            ("remote_addr", "struct sockaddr*", ArgType::SockAddr),
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
            ("pathname", "const char*", ArgType::Str),
            ("bytes", "bytes", ArgType::Bytes),
            ("dev", "dev_t", ArgType::UInt(4)),
            ("inode", "unsigned long", ArgType::UInt(8)),
        ]
    );

    let dropped = ev("dropped_executable");
    assert_eq!((dropped.id, dropped.kind), (6022, EventKind::Derived));
    assert_eq!(
        args("dropped_executable"),
        vec![("path", "const char*", ArgType::Str)]
    );
}

/// Re-runs the generator and compares its output with the committed `catalog_data.rs`, so the
/// generated file cannot drift from the tables in `schema/gen/`.
#[test]
fn generated_file_is_up_to_date() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = manifest.join("gen").join("gen_catalog.py");
    let committed = manifest.join("src").join("catalog_data.rs");
    let out = std::env::temp_dir().join(format!(
        "tracee-schema-catalog-data-{}.rs",
        std::process::id()
    ));

    let status = match Command::new("python3")
        .arg(&script)
        .arg("--out")
        .arg(&out)
        .status()
    {
        Ok(status) => status,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            skip::skip(
                "python3 is not installed, so schema/src/catalog_data.rs was NOT checked \
                 against schema/gen/",
            );
            return;
        }
        Err(e) => panic!("cannot run python3 {}: {e}", script.display()),
    };
    assert!(status.success(), "{} failed: {status}", script.display());

    let generated = std::fs::read(&out);
    let _ = std::fs::remove_file(&out);
    let generated = match generated {
        Ok(bytes) => bytes,
        Err(e) => panic!("cannot read generator output {}: {e}", out.display()),
    };
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
