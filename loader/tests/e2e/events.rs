//! Events built from the syscalls that reach Tracee's kprobe and LSM hooks (rename, mknod,
//! symlink, chdir, prctl, rlimits, the clock, namespaces) and from tracepoints
//! (cgroup_attach_task): each triggered for real, with near misses that must not print.

use crate::harness::*;

fn u64_of(e: &serde_json::Value, name: &str) -> Option<u64> {
    arg(e, name).and_then(|v| v.as_u64())
}

/// Each do_sigaction's handling method, new and previous.
fn sigaction_methods(run: &Run) -> Vec<(u64, u64)> {
    run.named("do_sigaction")
        .iter()
        .filter_map(|e| {
            Some((
                u64_of(e, "sa_handle_method")?,
                u64_of(e, "old_sa_handle_method")?,
            ))
        })
        .collect()
}

/// security_inode_rename, security_inode_mknod and security_inode_symlink, on a tmpfs in a
/// private mount namespace: relative paths come out absolute, failed calls and filtered-out
/// targets do not come out.
#[test]
fn inode_rename_mknod_and_symlink() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let d = s.real_path().join("d");
    if let Err(e) = std::fs::create_dir(&d) {
        panic!("mkdir: {e}");
    }
    let d = d.to_string_lossy().into_owned();
    let under = format!("args.new_path={d}/*");
    let file_under = format!("args.file_name={d}/*");
    let image = compile(
        s.path(),
        &[(
            "inode.yaml",
            &policy(
                "inode",
                &["global"],
                &format!(
                    "{}{}{}",
                    rule("security_inode_rename", &[&under]),
                    rule("security_inode_mknod", &[&file_under]),
                    rule("security_inode_symlink", &["args.target=*tr-e2e*"])
                ),
            ),
        )],
    );
    let script = format!(
        r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
sc = libc.syscall
assert libc.mount(b"none", {d:?}.encode(), b"tmpfs", 0, None) == 0
os.chdir({d:?})
os.umask(0o022)
open("a", "w").close()
dfd = os.open(".", os.O_RDONLY)
assert sc(82, b"a", b"b") == 0                       # rename
assert sc(316, dfd, b"b", dfd, b"c", 0) == 0         # renameat2
assert sc(82, b"missing", b"x") == -1                # ENOENT: not reported
assert sc(133, b"fifo", 0o10666, 0) == 0             # mknod: S_IFIFO, umask applied
assert sc(259, dfd, b"chr", 0o20600, (1 << 8) | 3) == 0   # mknodat: char device 1:3
assert sc(88, b"/etc/tr-e2e-target", b"link") == 0   # symlink
assert sc(266, b"/etc/tr-e2e-2", dfd, b"link2") == 0 # symlinkat
assert sc(88, b"/etc/other", b"link3") == 0          # filtered out by target
"#
    );
    let t = Tracer::start(&image, &[]);
    run(
        "unshare",
        &["-m", "--propagation", "private", "python3", "-c", &script],
    );
    let run = t.stop();
    run.assert_clean();
    let pairs: Vec<(String, String)> = run
        .named("security_inode_rename")
        .iter()
        .filter_map(|e| Some((arg_str(e, "old_path")?, arg_str(e, "new_path")?)))
        .collect();
    assert_eq!(
        pairs,
        [
            (format!("{d}/a"), format!("{d}/b")),
            (format!("{d}/b"), format!("{d}/c"))
        ],
        "{:#?}",
        run.events
    );
    let nodes: Vec<(String, u64, u64)> = run
        .named("security_inode_mknod")
        .iter()
        .filter_map(|e| {
            Some((
                arg_str(e, "file_name")?,
                u64_of(e, "mode")?,
                u64_of(e, "dev")?,
            ))
        })
        .collect();
    assert_eq!(
        nodes,
        [
            (format!("{d}/fifo"), 0o10644, 0),
            (format!("{d}/chr"), 0o20600, (1 << 20) | 3)
        ],
        "{:#?}",
        run.events
    );
    let links: Vec<(String, String)> = run
        .named("security_inode_symlink")
        .iter()
        .filter_map(|e| Some((arg_str(e, "linkpath")?, arg_str(e, "target")?)))
        .collect();
    assert_eq!(
        links,
        [
            (format!("{d}/link"), "/etc/tr-e2e-target".to_owned()),
            (format!("{d}/link2"), "/etc/tr-e2e-2".to_owned())
        ],
        "{:#?}",
        run.events
    );
}

/// set_fs_pwd, security_task_prctl, security_task_setrlimit, switch_task_ns and
/// security_settime64 from one process (root, then nobody for the clock, so the clock is
/// never changed: the hook refuses it, and that is reported).
#[test]
fn task_changes() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let d = s.real_path();
    let d = d.to_string_lossy().into_owned();
    let image = compile(
        s.path(),
        &[(
            "task.yaml",
            &policy(
                "task",
                &["comm=tr-e2e-task"],
                &format!(
                    "{}{}{}{}{}",
                    "    - event: set_fs_pwd\n",
                    rule("security_task_prctl", &["args.option=3"]),
                    "    - event: security_task_setrlimit\n",
                    "    - event: switch_task_ns\n",
                    "    - event: security_settime64\n"
                ),
            ),
        )],
    );
    let script = format!(
        r#"
import ctypes, os, resource
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(15, b"tr-e2e-task", 0, 0, 0)
os.chdir({d:?})
fd = os.open("/", os.O_RDONLY)
os.fchdir(fd)
libc.prctl(3, 0, 0, 0, 0)                            # PR_GET_DUMPABLE: reported
buf = ctypes.create_string_buffer(16)
libc.prctl(16, buf, 0, 0, 0)                         # PR_GET_NAME: filtered out
resource.setrlimit(resource.RLIMIT_NOFILE, (512, 1024))   # prlimit64
class R(ctypes.Structure):
    _fields_ = [("cur", ctypes.c_ulong), ("max", ctypes.c_ulong)]
r = R(256, 1024)
assert libc.syscall(160, 7, ctypes.byref(r)) == 0    # setrlimit
assert libc.syscall(160, 7, None) == -1              # EFAULT: not reported
assert libc.unshare(0x00000400) == 0                 # CLONE_FILES: no namespace changes
assert libc.unshare(0x04000000) == 0                 # CLONE_NEWUTS
print(os.readlink("/proc/self/ns/uts"), flush=True)
os.setresuid(65534, 65534, 65534)
class TS(ctypes.Structure):
    _fields_ = [("s", ctypes.c_long), ("ns", ctypes.c_long)]
ts = TS(1000000000, 5000)
assert libc.syscall(227, 0, ctypes.byref(ts)) == -1  # CLOCK_REALTIME: EPERM by the hook
assert libc.syscall(227, 1, ctypes.byref(ts)) == -1  # CLOCK_MONOTONIC: EINVAL, no hook
"#
    );
    let t = Tracer::start(&image, &[]);
    let child = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        child.status.success(),
        "{}",
        String::from_utf8_lossy(&child.stderr)
    );
    let uts: u64 = String::from_utf8_lossy(&child.stdout)
        .trim()
        .trim_start_matches("uts:[")
        .trim_end_matches(']')
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let run = t.stop();
    run.assert_clean();

    let pwds: Vec<(Option<String>, Option<String>)> = run
        .named("set_fs_pwd")
        .iter()
        .map(|e| (arg_str(e, "unresolved_path"), arg_str(e, "resolved_path")))
        .collect();
    assert_eq!(
        pwds,
        [
            (Some(d.clone()), Some(d.clone())),
            (None, Some("/".to_owned()))
        ],
        "{:#?}",
        run.events
    );
    let prctls = run.named("security_task_prctl");
    assert_eq!(prctls.len(), 1, "{prctls:#?}");
    assert_eq!(arg(prctls[0], "option").and_then(|v| v.as_i64()), Some(3));

    let limits: Vec<(u64, u64, u64, String)> = run
        .named("security_task_setrlimit")
        .iter()
        .filter_map(|e| {
            Some((
                u64_of(e, "resource")?,
                u64_of(e, "new_rlim_cur")?,
                u64_of(e, "new_rlim_max")?,
                e["syscall"].as_str()?.to_owned(),
            ))
        })
        .collect();
    assert_eq!(
        limits,
        [
            (7, 512, 1024, "prlimit64".to_owned()),
            (7, 256, 1024, "setrlimit".to_owned())
        ],
        "{:#?}",
        run.events
    );
    for e in run.named("security_task_setrlimit") {
        assert_eq!(
            u64_of(e, "target_host_pid"),
            e["hostProcessId"].as_u64(),
            "{e}"
        );
    }

    let switches = run.named("switch_task_ns");
    assert_eq!(switches.len(), 1, "only the UTS unshare: {switches:#?}");
    let e = switches[0];
    assert_eq!(u64_of(e, "new_uts"), Some(uts), "{e}");
    assert!(
        arg(e, "new_mnt").is_none() && arg(e, "new_net").is_none(),
        "{e}"
    );
    assert_eq!(u64_of(e, "pid"), e["hostThreadId"].as_u64(), "{e}");

    let times = run.named("security_settime64");
    assert_eq!(times.len(), 1, "{times:#?}");
    let e = times[0];
    assert_eq!(
        arg(e, "tv_sec").and_then(|v| v.as_i64()),
        Some(1_000_000_000)
    );
    assert_eq!(arg(e, "tv_nsec").and_then(|v| v.as_i64()), Some(5000));
    assert_eq!(e["syscall"], "clock_settime", "{e}");
    assert_eq!(e["userId"], 65534, "{e}");
}

/// cgroup_attach_task: a process moved into a new cgroup v2 group; a move into another
/// group is filtered out.
#[test]
fn cgroup_attach_task_reports_the_move() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "attach.yaml",
            &policy(
                "attach",
                &["global"],
                &rule("cgroup_attach_task", &["args.cgroup_path=/tracee-e2e-at*"]),
            ),
        )],
    );
    let root = cgroup_v2();
    let name = format!("tracee-e2e-at-{}", std::process::id());
    let other = format!("tracee-other-at-{}", std::process::id());
    for n in [&name, &other] {
        if let Err(e) = std::fs::create_dir(root.join(n)) {
            panic!("mkdir: {e}");
        }
    }
    let mut sleeper = match std::process::Command::new("sleep").arg("30").spawn() {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let pid = sleeper.id();
    let t = Tracer::start(&image, &[]);
    let moved = std::fs::write(root.join(&name).join("cgroup.procs"), pid.to_string())
        .and_then(|()| std::fs::write(root.join(&other).join("cgroup.procs"), pid.to_string()))
        .and_then(|()| std::fs::write(root.join("cgroup.procs"), pid.to_string()));
    let run = t.stop();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    for n in [&name, &other] {
        let _ = std::fs::remove_dir(root.join(n));
    }
    if let Err(e) = moved {
        panic!("move: {e}");
    }
    run.assert_clean();
    let found = run.named("cgroup_attach_task");
    assert_eq!(found.len(), 1, "{:#?}", run.events);
    let e = found[0];
    assert_eq!(arg_str(e, "cgroup_path"), Some(format!("/{name}")), "{e}");
    assert_eq!(arg_str(e, "comm").as_deref(), Some("sleep"), "{e}");
    assert_eq!(
        arg(e, "pid").and_then(|v| v.as_u64()),
        Some(u64::from(pid)),
        "{e}"
    );
}

/// security_socket_listen, _setsockopt, _accept, socket_accept and socket_dup, with the
/// addresses read from the kernel's sockets: a TCP server on loopback and a unix one; a
/// filtered-out socket option and a dup of a file that is not a socket must not print.
#[test]
fn socket_listen_setsockopt_accept_and_dup() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let unix_path = s.path().join("sock");
    let image = compile(
        s.path(),
        &[(
            "sock.yaml",
            &policy(
                "sock",
                &["comm=tr-e2e-sock"],
                &format!(
                    "{}{}{}{}{}",
                    "    - event: security_socket_listen\n",
                    rule("security_socket_setsockopt", &["args.optname=2"]),
                    "    - event: security_socket_accept\n",
                    "    - event: socket_accept\n",
                    "    - event: socket_dup\n"
                ),
            ),
        )],
    );
    let script = format!(
        r#"
import ctypes, os, socket
ctypes.CDLL(None).prctl(15, b"tr-e2e-sock", 0, 0, 0)
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(7)
port = srv.getsockname()[1]
c = socket.socket()
c.connect(("127.0.0.1", port))
conn, peer = srv.accept()
d = os.dup(conn.fileno())
f = open("/dev/null")
os.dup(f.fileno())
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
u.bind({unix:?})
u.listen(1)
print(port, peer[1], srv.fileno(), conn.fileno(), d, flush=True)
"#,
        unix = unix_path.to_string_lossy()
    );
    let t = Tracer::start(&image, &[]);
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nums: Vec<i64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [port, peer, srv_fd, conn_fd, dup_fd] = nums[..] else {
        panic!("script printed {nums:?}");
    };
    let run = t.stop();
    run.assert_clean();
    let int = |e: &serde_json::Value, name: &str| arg(e, name).and_then(|v| v.as_i64());
    let inet = |e: &serde_json::Value, name: &str| {
        arg(e, name).map(|a| {
            (
                a["sin_addr"].as_str().unwrap_or("").to_owned(),
                a["sin_port"].as_str().unwrap_or("").to_owned(),
            )
        })
    };
    let at = |p: i64| Some(("127.0.0.1".to_owned(), p.to_string()));

    let listens = run.named("security_socket_listen");
    assert_eq!(listens.len(), 2, "{listens:#?}");
    assert_eq!(
        inet(listens[0], "local_addr"),
        at(port),
        "{:#?}",
        listens[0]
    );
    assert_eq!(int(listens[0], "backlog"), Some(7));
    assert_eq!(int(listens[0], "sockfd"), Some(srv_fd));
    let unix = arg(listens[1], "local_addr").cloned().unwrap_or_default();
    assert_eq!(unix["sa_family"], "AF_UNIX", "{unix}");
    assert_eq!(unix["sun_path"], *unix_path.to_string_lossy(), "{unix}");

    let opts = run.named("security_socket_setsockopt");
    assert_eq!(opts.len(), 1, "SO_KEEPALIVE is filtered out: {opts:#?}");
    assert_eq!(
        (int(opts[0], "level"), int(opts[0], "optname")),
        (Some(1), Some(2))
    );
    assert_eq!(
        inet(opts[0], "local_addr"),
        Some(("0.0.0.0".to_owned(), "0".to_owned())),
        "not bound yet: {:#?}",
        opts[0]
    );

    let accepts = run.named("security_socket_accept");
    assert_eq!(accepts.len(), 1, "{accepts:#?}");
    assert_eq!(int(accepts[0], "sockfd"), Some(srv_fd));
    assert_eq!(inet(accepts[0], "local_addr"), at(port));

    let accepted = run.named("socket_accept");
    assert_eq!(accepted.len(), 1, "{accepted:#?}");
    assert_eq!(inet(accepted[0], "local_addr"), at(port));
    assert_eq!(inet(accepted[0], "remote_addr"), at(peer));

    let dups = run.named("socket_dup");
    assert_eq!(
        dups.len(),
        1,
        "the dup of /dev/null is not a socket's: {dups:#?}"
    );
    assert_eq!(
        (int(dups[0], "oldfd"), int(dups[0], "newfd")),
        (Some(conn_fd), Some(dup_fd))
    );
    assert_eq!(inet(dups[0], "remote_addr"), at(peer));
}

/// magic_write and dropped_executable from the copies: `cp` and `install` (copy_file_range),
/// Python's shutil.copy (sendfile) and splice from a pipe. The bytes are read back from the
/// file by the loader; a copied text file is a magic_write only, and a copy to an offset
/// other than 0 is neither.
#[test]
fn magic_write_from_copies() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.path().to_string_lossy().into_owned();
    let image = compile(
        s.path(),
        &[(
            "copies.yaml",
            &policy(
                "copies",
                &["global"],
                &format!(
                    "{}{}",
                    rule("magic_write", &[&format!("args.pathname={dir}/*")]),
                    rule("dropped_executable", &[&format!("args.path={dir}/*")])
                ),
            ),
        )],
    );
    let notes = s.path().join("notes.txt");
    if let Err(e) = std::fs::write(&notes, b"plain text, not a program\n") {
        panic!("{e}");
    }
    let p = |name: &str| s.path().join(name).to_string_lossy().into_owned();
    let script = format!(
        r#"
import os, shutil
shutil.copy("/bin/true", {py:?})
r, w = os.pipe()
os.write(w, b"\x7fELF\x02\x01\x01" + bytes(57))
fd = os.open({spliced:?}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
assert os.splice(r, fd, 64) == 64
os.close(fd)
src = os.open("/bin/true", os.O_RDONLY)
fd = os.open({offset:?}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
assert os.copy_file_range(src, fd, 64, 0, 100) == 64
"#,
        py = p("py-true"),
        spliced = p("spliced"),
        offset = p("at-100"),
    );
    let t = Tracer::start(&image, &[]);
    run("cp", &["/bin/true", &p("cp-true")]);
    run("install", &["-m", "755", "/bin/true", &p("inst-true")]);
    run("cp", &[&notes.to_string_lossy(), &p("cp-notes")]);
    run("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
    let bytes = |e: &serde_json::Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(arg_str(e, "bytes").unwrap_or_default())
            .unwrap_or_default()
    };
    for (name, syscall) in [
        ("cp-true", "copy_file_range"),
        ("inst-true", "copy_file_range"),
        ("py-true", "sendfile"),
        ("spliced", "splice"),
    ] {
        let m = run.with_arg("magic_write", "pathname", &p(name));
        assert_eq!(m.len(), 1, "{name}: {:#?}", run.events);
        assert!(bytes(m[0]).starts_with(b"\x7fELF"), "{name}: {}", m[0]);
        assert_eq!(m[0]["syscall"], syscall, "{}", m[0]);
        assert_eq!(
            run.with_arg("dropped_executable", "path", &p(name)).len(),
            1,
            "{name}: {:#?}",
            run.named("dropped_executable")
        );
    }
    let m = run.with_arg("magic_write", "pathname", &p("cp-notes"));
    assert_eq!(m.len(), 1, "{:#?}", run.events);
    assert!(bytes(m[0]).starts_with(b"plain text"), "{}", m[0]);
    assert!(
        run.with_arg("dropped_executable", "path", &p("cp-notes"))
            .is_empty()
    );
    assert!(
        run.with_arg("magic_write", "pathname", &p("at-100"))
            .is_empty()
    );
    assert!(
        run.with_arg("dropped_executable", "path", &p("at-100"))
            .is_empty()
    );
}

/// security_sb_umount from umount2 in a private mount namespace: the unmounted tmpfs is
/// reported with its absolute mount point; an umount2 of a directory that is not a mount
/// (refused before the hook) is not. The same image traces `uname`, whose tracepoint is
/// `newuname`, and `init_module`, which this kernel may lack (then a note, not a failure).
#[test]
fn security_sb_umount_and_renamed_syscall_tracepoints() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let d = s.real_path().join("mnt");
    if let Err(e) = std::fs::create_dir(&d) {
        panic!("mkdir: {e}");
    }
    let d = d.to_string_lossy().into_owned();
    let image = compile(
        s.path(),
        &[(
            "umount.yaml",
            &policy(
                "umount",
                &["comm=tr-e2e-umount"],
                "    - event: security_sb_umount\n    - event: uname\n    - event: init_module\n",
            ),
        )],
    );
    let script = format!(
        r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(15, b"tr-e2e-umount", 0, 0, 0)
assert libc.mount(b"none", {d:?}.encode(), b"tmpfs", 0, None) == 0
os.chdir(os.path.dirname({d:?}))
assert libc.umount2(b"mnt", 2) == 0
assert libc.umount2(b"mnt", 0) == -1
os.uname()
"#
    );
    let t = Tracer::start(&image, &[]);
    run(
        "unshare",
        &["-m", "--propagation", "private", "python3", "-c", &script],
    );
    let run = t.stop();
    run.assert_clean();
    let named = |n: &str| run.named(n);
    let umounts = named("security_sb_umount");
    assert_eq!(umounts.len(), 1, "{:#?}", run.events);
    assert_eq!(arg_str(umounts[0], "mountpoint"), Some(d.clone()));
    assert_eq!(
        arg(umounts[0], "flags").and_then(|v| v.as_i64()),
        Some(2),
        "MNT_DETACH"
    );
    assert_eq!(umounts[0]["syscall"], "umount2");
    assert!(
        !named("uname").is_empty(),
        "uname through sys_enter_newuname: {:#?}",
        run.events
    );
    let no_modules =
        !std::path::Path::new("/sys/kernel/tracing/events/syscalls/sys_enter_init_module").exists();
    assert_eq!(
        run.stderr
            .iter()
            .any(|l| l.contains("no syscalls/sys_enter_init_module tracepoint")),
        no_modules,
        "{:?}",
        run.stderr
    );
}

/// The memory events from mmap and mprotect: a file mapped executable (security_mmap_file,
/// shared_object_loaded), anonymous mappings (do_mmap; a W+X one is mem_prot_alert 1), and a
/// writable mapping made executable without write (security_file_mprotect with the mapping's
/// flags before, mem_prot_alert 4). Filters on the lengths keep the interpreter's own
/// mappings out.
#[test]
fn memory_mappings_and_protection_changes() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let lib = s.path().join("lib.so");
    if let Err(e) = std::fs::write(&lib, vec![0u8; 8192]) {
        panic!("{e}");
    }
    let lib = lib.to_string_lossy().into_owned();
    let in_dir = format!("args.pathname={}/*", s.path().display());
    let image = compile(
        s.path(),
        &[(
            "mem.yaml",
            &policy(
                "mem",
                &["comm=tr-e2e-mem"],
                &format!(
                    "{}{}{}{}{}",
                    rule("security_mmap_file", &[&in_dir]),
                    rule("shared_object_loaded", &[&in_dir]),
                    rule("do_mmap", &["args.len=12288"]),
                    rule("security_file_mprotect", &["args.len=8192"]),
                    "    - event: mem_prot_alert\n"
                ),
            ),
        )],
    );
    let script = format!(
        r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(15, b"tr-e2e-mem", 0, 0, 0)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
f = os.open({lib:?}, os.O_RDONLY)
a = libc.mmap(None, 8192, 5, 2, f, 0)        # PROT_READ|PROT_EXEC, MAP_PRIVATE
b = libc.mmap(None, 12288, 3, 0x22, -1, 0)   # read-write, anonymous
c = libc.mmap(None, 4096, 7, 0x22, -1, 0)    # read-write-execute, anonymous
assert libc.mprotect(b, 8192, 5) == 0        # write dropped for execute
print(a, b, c, flush=True)
"#
    );
    let t = Tracer::start(&image, &[]);
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addrs: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [_a, b, c] = addrs[..] else {
        panic!("script printed {addrs:?}");
    };
    let run = t.stop();
    run.assert_clean();
    let u = |e: &serde_json::Value, n: &str| arg(e, n).and_then(|v| v.as_u64());
    let i = |e: &serde_json::Value, n: &str| arg(e, n).and_then(|v| v.as_i64());

    let files = run.named("security_mmap_file");
    assert_eq!(files.len(), 1, "{:#?}", run.events);
    assert_eq!(arg_str(files[0], "pathname"), Some(lib.clone()));
    assert_eq!(
        (u(files[0], "prot"), u(files[0], "mmap_flags")),
        (Some(5), Some(2))
    );
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(&lib).map(|m| m.ino()).unwrap_or(0);
    assert_eq!(u(files[0], "inode"), Some(ino));
    let shared = run.named("shared_object_loaded");
    assert_eq!(shared.len(), 1, "{shared:#?}");
    assert_eq!(arg_str(shared[0], "pathname"), Some(lib.clone()));

    let maps = run.named("do_mmap");
    assert_eq!(maps.len(), 1, "{maps:#?}");
    assert_eq!(u(maps[0], "addr"), Some(b));
    assert_eq!(
        (u(maps[0], "prot"), u(maps[0], "mmap_flags")),
        (Some(3), Some(0x22))
    );
    assert!(arg(maps[0], "pathname").is_none(), "anonymous: {}", maps[0]);

    let protects = run.named("security_file_mprotect");
    assert_eq!(protects.len(), 1, "{protects:#?}");
    assert_eq!(u(protects[0], "addr"), Some(b));
    assert_eq!(i(protects[0], "prot"), Some(5));
    assert_eq!(
        i(protects[0], "prev_prot").map(|p| p & 7),
        Some(3),
        "{}",
        protects[0]
    );

    let alerts: Vec<(u64, u64)> = run
        .named("mem_prot_alert")
        .iter()
        .filter_map(|e| Some((u(e, "alert")?, u(e, "addr")?)))
        .collect();
    assert_eq!(
        alerts,
        [(1, c), (4, b)],
        "{:#?}",
        run.named("mem_prot_alert")
    );
}

/// container_create and container_remove from container-named cgroups (the systemd driver's
/// `docker-<id>.scope`, the cgroupfs driver's bare id), with the image and name read from a
/// fake runtime state under `--host-root`; a cgroup that names no container is neither.
#[test]
fn container_create_and_remove() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let id = |n: u8| format!("{n:02x}d0cafe").repeat(8);
    let (docker_id, bare_id) = (id(3), id(4));
    let host = s.path().join("host");
    let config = host.join(format!(
        "var/lib/docker/containers/{docker_id}/config.v2.json"
    ));
    if let Some(parent) = config.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let json = serde_json::json!({
        "ID": docker_id,
        "Name": "/web-7",
        "Image": "sha256:bbbb",
        "Config": {"Image": "nginx:1.27"},
    });
    if let Err(e) = std::fs::write(&config, json.to_string()) {
        panic!("{e}");
    }
    let image = compile(
        s.path(),
        &[(
            "containers.yaml",
            &policy(
                "containers",
                &["global"],
                "    - event: container_create\n    - event: container_remove\n",
            ),
        )],
    );
    let base = cgroup_v2().join(format!("tracee-e2e-ctr-{}", std::process::id()));
    let docker = base.join(format!("docker-{docker_id}.scope"));
    let bare = base.join(&bare_id);
    let plain = base.join("not-a-container");
    let host_arg = host.to_string_lossy().into_owned();
    let t = Tracer::start(&image, &["--host-root", &host_arg]);
    let made: Vec<_> = [&docker, &bare, &plain]
        .iter()
        .map(std::fs::create_dir_all)
        .collect();
    for d in [&docker, &bare, &plain] {
        let _ = std::fs::remove_dir(d);
    }
    let _ = std::fs::remove_dir(&base);
    let run = t.stop();
    for m in made {
        if let Err(e) = m {
            panic!("mkdir: {e}");
        }
    }
    run.assert_clean();
    let created = run.named("container_create");
    let of = |id: &str| {
        created
            .iter()
            .find(|e| arg_str(e, "container_id").as_deref() == Some(id))
            .copied()
            .unwrap_or_else(|| panic!("no container_create for {id}: {created:#?}"))
    };
    assert_eq!(created.len(), 2, "{created:#?}");
    let d = of(&docker_id);
    assert_eq!(arg_str(d, "runtime").as_deref(), Some("docker"), "{d}");
    assert_eq!(
        arg_str(d, "container_image").as_deref(),
        Some("nginx:1.27"),
        "{d}"
    );
    assert_eq!(
        arg_str(d, "container_name").as_deref(),
        Some("web-7"),
        "{d}"
    );
    // ctime is wall-clock time, next to the event's own timestamp.
    let ctime = arg(d, "ctime").and_then(|v| v.as_u64()).unwrap_or(0);
    let ts = d["timestamp"].as_u64().unwrap_or(0);
    assert!(ctime.abs_diff(ts) < 1_000_000_000, "{ctime} vs {ts}");
    let b = of(&bare_id);
    assert_eq!(arg_str(b, "runtime").as_deref(), Some("unknown"), "{b}");
    assert!(arg(b, "container_image").is_none(), "no runtime state: {b}");
    let removed: Vec<(String, String)> = run
        .named("container_remove")
        .iter()
        .filter_map(|e| Some((arg_str(e, "runtime")?, arg_str(e, "container_id")?)))
        .collect();
    assert_eq!(
        removed,
        [
            ("docker".to_owned(), docker_id.clone()),
            ("unknown".to_owned(), bare_id.clone())
        ],
        "{:#?}",
        run.events
    );
}

/// Tracee's own example policies (testdata/tracee-examples) compile unchanged and load:
/// each one attaches and stops cleanly.
#[test]
fn tracee_example_policies_load() {
    if !can_bpf() {
        return;
    }
    let dir = super::root_dir().join("testdata/tracee-examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x != "md"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 30);
    for file in files {
        let s = Scratch::new();
        let image = compile_paths(s.path(), std::slice::from_ref(&file));
        let t = Tracer::start(&image, &[]);
        let run = t.stop();
        assert!(run.status.success(), "{}: {:?}", file.display(), run.stderr);
        assert!(
            run.stderr.iter().any(|l| l.contains("attached")),
            "{}: {:?}",
            file.display(),
            run.stderr
        );
    }
}

/// Filters on the parts of socket addresses, decided in the kernel: a port, an IPv4 CIDR
/// block, a unix path (on security_socket_connect, built from connect), and a port on the
/// connect syscall's own `addr`. A connect elsewhere matches none of them.
#[test]
fn socket_address_filters_in_the_kernel() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let listen = || std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let (l1, l2) = (listen(), listen());
    let port = |l: &std::net::TcpListener| l.local_addr().map(|a| a.port()).unwrap_or(0);
    let (p1, p2) = (port(&l1), port(&l2));
    let unix_path = s.path().join("e2e.sock");
    let _unix =
        std::os::unix::net::UnixListener::bind(&unix_path).unwrap_or_else(|e| panic!("{e}"));
    let only = |name: &str, event: &str, filters: &[&str]| {
        (
            format!("{name}.yaml"),
            policy(name, &["comm=tr-e2e-addr"], &rule(event, filters)),
        )
    };
    let docs = [
        only(
            "to-port",
            "security_socket_connect",
            &[&format!("args.remote_addr.port={p1}")],
        ),
        only(
            "to-net",
            "security_socket_connect",
            &[
                "args.remote_addr.ip=127.0.0.0/8",
                &format!("args.remote_addr.port!={p1}"),
            ],
        ),
        only(
            "to-unix",
            "security_socket_connect",
            &["args.remote_addr.path=*/e2e.sock"],
        ),
        only("syscall", "connect", &[&format!("args.addr.sin_port={p2}")]),
    ];
    let refs: Vec<(&str, &str)> = docs.iter().map(|(f, d)| (f.as_str(), d.as_str())).collect();
    let image = compile(s.path(), &refs);
    let script = format!(
        r#"
import ctypes, socket
ctypes.CDLL(None).prctl(15, b"tr-e2e-addr", 0, 0, 0)
for port in ({p1}, {p2}):
    c = socket.socket(); c.connect(("127.0.0.1", port)); c.close()
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); u.connect({unix:?}); u.close()
far = socket.socket(); far.setblocking(False)
try:
    far.connect(("10.255.255.1", 9))
except OSError:
    pass
"#,
        unix = unix_path.to_string_lossy()
    );
    let t = Tracer::start(&image, &[]);
    run("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
    let by_policy = |name: &str| -> Vec<&serde_json::Value> {
        run.events
            .iter()
            .filter(|e| policies_of(e).iter().any(|p| p == name))
            .collect()
    };
    let ports = |events: &[&serde_json::Value], arg_name: &str| -> Vec<String> {
        events
            .iter()
            .filter_map(|e| arg(e, arg_name)?["sin_port"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        ports(&by_policy("to-port"), "remote_addr"),
        [p1.to_string()],
        "{:#?}",
        run.events
    );
    assert_eq!(
        ports(&by_policy("to-net"), "remote_addr"),
        [p2.to_string()],
        "{:#?}",
        run.events
    );
    let unix = by_policy("to-unix");
    assert_eq!(unix.len(), 1, "{:#?}", run.events);
    assert_eq!(
        arg(unix[0], "remote_addr").map(|a| a["sun_path"].clone()),
        Some(serde_json::json!(unix_path.to_string_lossy()))
    );
    let syscalls = by_policy("syscall");
    assert_eq!(
        ports(&syscalls, "addr"),
        [p2.to_string()],
        "{:#?}",
        run.events
    );
    assert!(syscalls.iter().all(|e| e["eventName"] == "connect"));
    // The connect to 10.255.255.1 is traced by no policy.
    assert!(
        !run.events.iter().any(|e| {
            arg(e, "remote_addr")
                .or_else(|| arg(e, "addr"))
                .is_some_and(|a| a["sin_addr"] == "10.255.255.1")
        }),
        "{:#?}",
        run.events
    );
}

/// security_bpf, security_bpf_map, security_bpf_prog (a map created and a program loaded by
/// the test through bpf(2)), do_sigaction (a handler installed, then the signal ignored),
/// do_truncate, vfs_utimes (by path and by fd) and process_execute_failed (a file without
/// execute permission; a missing file is not reported).
#[test]
fn bpf_sigaction_truncate_utimes_and_failed_exec() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.real_path();
    let file = dir.join("data").to_string_lossy().into_owned();
    let script_file = dir.join("not-executable").to_string_lossy().into_owned();
    let image = compile(
        s.path(),
        &[(
            "misc.yaml",
            &policy(
                "misc",
                &["comm=tr-e2e-misc"],
                &format!(
                    "{}{}{}{}{}{}{}",
                    "    - event: security_bpf\n",
                    "    - event: security_bpf_map\n",
                    "    - event: security_bpf_prog\n",
                    rule("do_sigaction", &["args.sig=10"]),
                    "    - event: do_truncate\n",
                    "    - event: vfs_utimes\n",
                    "    - event: process_execute_failed\n"
                ),
            ),
        )],
    );
    let script = format!(
        r##"
import ctypes, os, signal, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(15, b"tr-e2e-misc", 0, 0, 0)
attr = bytearray(128)
struct.pack_into("<IIII", attr, 0, 2, 4, 8, 1)
attr[28:38] = b"tr_e2e_map"
assert libc.syscall(321, 0, (ctypes.c_char * 128).from_buffer(attr), 128) >= 0
insns = ctypes.create_string_buffer(struct.pack("<BBhi", 0xb7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0), 16)
lic = ctypes.create_string_buffer(b"GPL")
pattr = bytearray(144)
struct.pack_into("<IIQQ", pattr, 0, 1, 2, ctypes.addressof(insns), ctypes.addressof(lic))
pattr[48:59] = b"tr_e2e_prog"
assert libc.syscall(321, 5, (ctypes.c_char * 144).from_buffer(pattr), 144) >= 0
signal.signal(signal.SIGUSR1, lambda *a: None)
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
signal.signal(signal.SIGUSR2, signal.SIG_IGN)
with open({file:?}, "w") as f:
    f.write("x" * 100)
os.truncate({file:?}, 10)
fd = os.open({file:?}, os.O_RDWR)
os.ftruncate(fd, 20)
os.utime({file:?}, ns=(1000000000123, 2000000000456))
os.utime(fd, ns=(3000000000000, 4000000000000))
with open({script_file:?}, "w") as f:
    f.write("#!/bin/sh\n")
os.chmod({script_file:?}, 0o644)
for path in ({script_file:?}, {dir:?} + "/missing"):
    try:
        os.execv(path, [path])
    except OSError:
        pass
"##,
        dir = dir.to_string_lossy()
    );
    let t = Tracer::start(&image, &[]);
    run("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
    let u = |e: &serde_json::Value, n: &str| arg(e, n).and_then(|v| v.as_u64());

    let cmds: Vec<u64> = run
        .named("security_bpf")
        .iter()
        .filter_map(|e| u(e, "cmd"))
        .collect();
    assert!(
        cmds.contains(&0) && cmds.contains(&5),
        "map create and prog load: {cmds:?}"
    );
    let maps = run.named("security_bpf_map");
    assert_eq!(maps.len(), 1, "{maps:#?}");
    assert_eq!(arg_str(maps[0], "map_name").as_deref(), Some("tr_e2e_map"));
    assert!(u(maps[0], "map_id").is_some_and(|id| id > 0));
    let progs = run.named("security_bpf_prog");
    assert_eq!(progs.len(), 1, "{progs:#?}");
    assert_eq!(arg_str(progs[0], "name").as_deref(), Some("tr_e2e_prog"));
    assert_eq!(u(progs[0], "type"), Some(1), "BPF_PROG_TYPE_SOCKET_FILTER");
    assert_eq!(arg(progs[0], "load"), Some(&serde_json::json!(true)));

    assert_eq!(
        sigaction_methods(&run),
        [(2, 0), (1, 2)],
        "SIGUSR1 only: {:#?}",
        run.named("do_sigaction")
    );

    let truncs: Vec<(String, u64, Option<u64>)> = run
        .named("do_truncate")
        .iter()
        .filter_map(|e| Some((arg_str(e, "pathname")?, u(e, "length")?, u(e, "inode"))))
        .collect();
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(&file).map(|m| m.ino()).unwrap_or(0);
    assert_eq!(
        truncs,
        [(file.clone(), 10, None), (file.clone(), 20, Some(ino))],
        "{:#?}",
        run.named("do_truncate")
    );
    let times: Vec<(String, u64, u64)> = run
        .named("vfs_utimes")
        .iter()
        .filter_map(|e| Some((arg_str(e, "pathname")?, u(e, "atime")?, u(e, "mtime")?)))
        .collect();
    assert_eq!(
        times,
        [
            (file.clone(), 1_000_000_000_123, 2_000_000_000_456),
            (file.clone(), 3_000_000_000_000, 4_000_000_000_000)
        ],
        "{:#?}",
        run.named("vfs_utimes")
    );

    let failed = run.named("process_execute_failed");
    assert_eq!(
        failed.len(),
        1,
        "the missing file is not reported: {failed:#?}"
    );
    assert_eq!(arg_str(failed[0], "binary.path"), Some(script_file.clone()));
    assert_eq!(arg_str(failed[0], "pathname"), Some(script_file));
}

/// Loads a policy selecting `events` (global scope) and checks the start: the loader runs,
/// and says each note exactly when the kernel lacks the tracepoint (under
/// /sys/kernel/tracing/events) next to it.
fn loads_saying_what_cannot_occur(events: &[&str], notes: &[(&str, &str)]) {
    let s = Scratch::new();
    let rules: String = events
        .iter()
        .map(|e| format!("    - event: {e}\n"))
        .collect();
    let image = compile(s.path(), &[("p.yaml", &policy("p", &["global"], &rules))]);
    let run = Tracer::start(&image, &[]).stop();
    assert!(run.status.success(), "{:?}", run.stderr);
    for (note, tracepoint) in notes {
        let present = std::path::Path::new("/sys/kernel/tracing/events")
            .join(tracepoint)
            .exists();
        let said = run.stderr.iter().any(|l| l.contains(note));
        assert_eq!(said, !present, "{note}: {:?}", run.stderr);
    }
}

/// module_load and module_free: attached where the kernel has the module: tracepoints;
/// elsewhere (this test machine's kernel is built without loadable modules) the loader says
/// at start that they cannot occur, and runs.
#[test]
fn module_events_attach_or_say_why_not() {
    if !can_bpf() {
        return;
    }
    loads_saying_what_cannot_occur(
        &["module_load", "module_free", "close"],
        &[
            ("no module_load event can occur", "module/module_load"),
            ("no module_free event can occur", "module/module_free"),
        ],
    );
}

/// existing_container: one event per container running when the loader starts (made by
/// the loader from the cgroup tree and the runtime's state), decided by the policies as the
/// kernel would: a filter on the id keeps one, a scope on a process field keeps none.
#[test]
fn existing_container_at_start() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let id = |n: u8| format!("{n:02x}e71571").repeat(8);
    let (docker_id, bare_id) = (id(5), id(6));
    let host = s.path().join("host");
    let config = host.join(format!(
        "var/lib/docker/containers/{docker_id}/config.v2.json"
    ));
    if let Some(parent) = config.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let json =
        serde_json::json!({"ID": docker_id, "Name": "/db-1", "Config": {"Image": "postgres:16"}});
    if let Err(e) = std::fs::write(&config, json.to_string()) {
        panic!("{e}");
    }
    let base = cgroup_v2().join(format!("tracee-e2e-exist-{}", std::process::id()));
    let dirs = [
        base.join(format!("docker-{docker_id}.scope")),
        base.join(&bare_id),
        base.join("not-a-container"),
    ];
    for d in &dirs {
        if let Err(e) = std::fs::create_dir_all(d) {
            panic!("mkdir {}: {e}", d.display());
        }
    }
    let by_id = format!("args.container_id={docker_id}");
    let image = compile(
        s.path(),
        &[
            (
                "all.yaml",
                &policy("all", &["global"], "    - event: existing_container\n"),
            ),
            (
                "by-comm.yaml",
                &policy(
                    "by-comm",
                    &["comm=bash"],
                    "    - event: existing_container\n",
                ),
            ),
            (
                "by-id.yaml",
                &policy("by-id", &["global"], &rule("existing_container", &[&by_id])),
            ),
        ],
    );
    let host_arg = host.to_string_lossy().into_owned();
    let t = Tracer::start(&image, &["--host-root", &host_arg]);
    let run = t.stop();
    for d in &dirs {
        let _ = std::fs::remove_dir(d);
    }
    let _ = std::fs::remove_dir(&base);
    run.assert_clean();
    let of = |id: &str| {
        run.named("existing_container")
            .into_iter()
            .filter(|e| arg_str(e, "container_id").as_deref() == Some(id))
            .collect::<Vec<_>>()
    };
    let d = of(&docker_id);
    assert_eq!(d.len(), 1, "{:#?}", run.events);
    assert_eq!(policies_of(d[0]), ["all", "by-id"], "{}", d[0]);
    assert_eq!(arg_str(d[0], "runtime").as_deref(), Some("docker"));
    assert_eq!(
        arg_str(d[0], "container_image").as_deref(),
        Some("postgres:16")
    );
    assert_eq!(arg_str(d[0], "container_name").as_deref(), Some("db-1"));
    let b = of(&bare_id);
    assert_eq!(b.len(), 1, "{:#?}", run.events);
    assert_eq!(policies_of(b[0]), ["all"], "{}", b[0]);
    assert_eq!(arg_str(b[0], "runtime").as_deref(), Some("unknown"));
    assert!(
        run.named("existing_container")
            .iter()
            .all(|e| !policies_of(e).contains(&"by-comm".to_owned()))
    );
}

/// commit_creds: credential changes made by the set*id family, with the credentials before
/// and after as Tracee's SlimCred; a setuid that changes nothing is not reported.
#[test]
fn commit_creds_reports_changed_credentials() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "creds.yaml",
            &policy(
                "creds",
                &["comm=tr-e2e-creds"],
                "    - event: commit_creds\n",
            ),
        )],
    );
    let script = r#"
import ctypes, os
ctypes.CDLL(None).prctl(15, b"tr-e2e-creds", 0, 0, 0)
os.setuid(0)
os.setresgid(1000, 1000, 1000)
os.setresuid(1000, 1000, 1000)
"#;
    let t = Tracer::start(&image, &[]);
    run("python3", &["-c", script]);
    let run = t.stop();
    run.assert_clean();
    let changes: Vec<(String, serde_json::Value, serde_json::Value)> = run
        .named("commit_creds")
        .iter()
        .filter_map(|e| {
            Some((
                e["syscall"].as_str()?.to_owned(),
                arg(e, "old_cred")?.clone(),
                arg(e, "new_cred")?.clone(),
            ))
        })
        .collect();
    assert_eq!(changes.len(), 2, "{:#?}", run.events);
    let (syscall, old, new) = &changes[0];
    assert_eq!(syscall, "setresgid");
    assert_eq!(
        (old["Gid"].as_u64(), new["Gid"].as_u64()),
        (Some(0), Some(1000))
    );
    assert_eq!(new["Uid"].as_u64(), Some(0));
    let (syscall, old, new) = &changes[1];
    assert_eq!(syscall, "setresuid");
    assert_eq!(
        (old["Uid"].as_u64(), new["Euid"].as_u64()),
        (Some(0), Some(1000))
    );
    assert_ne!(
        old["CapEffective"].as_u64(),
        Some(0),
        "root had capabilities"
    );
    assert_eq!(
        new["CapEffective"].as_u64(),
        Some(0),
        "dropped with the uid"
    );
    assert!(new["UserNamespace"].as_u64().is_some_and(|n| n > 0));
}

/// vfs_write, vfs_writev, vfs_read, vfs_readv: calls on a file, with its path, the size (or
/// iovec count) and the position each started at; a write to a pipe is not a file's.
#[test]
fn vfs_reads_and_writes() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.real_path();
    let file = dir.join("rw").to_string_lossy().into_owned();
    let in_dir = format!("args.pathname={}/*", dir.display());
    let image = compile(
        s.path(),
        &[(
            "rw.yaml",
            &policy(
                "rw",
                &["comm=tr-e2e-rw"],
                &format!(
                    "{}{}{}{}",
                    rule("vfs_write", &[&in_dir]),
                    rule("vfs_writev", &[&in_dir]),
                    rule("vfs_read", &[&in_dir]),
                    rule("vfs_readv", &[&in_dir])
                ),
            ),
        )],
    );
    let script = format!(
        r#"
import ctypes, os
ctypes.CDLL(None).prctl(15, b"tr-e2e-rw", 0, 0, 0)
fd = os.open({file:?}, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"0123456789")
os.pwrite(fd, b"abc", 100)
os.writev(fd, [b"x", b"y", b"z"])
os.lseek(fd, 0, 0)
os.read(fd, 4)
os.pread(fd, 8, 2)
b1, b2 = bytearray(2), bytearray(3)
os.readv(fd, [b1, b2])
r, w = os.pipe()
os.write(w, b"not a file")
"#
    );
    let t = Tracer::start(&image, &[]);
    run("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
    let shown = |event: &str, size: &str| -> Vec<(u64, i64)> {
        run.named(event)
            .iter()
            .filter_map(|e| {
                assert_eq!(
                    arg_str(e, "pathname").as_deref(),
                    Some(file.as_str()),
                    "{e}"
                );
                Some((arg(e, size)?.as_u64()?, arg(e, "pos")?.as_i64()?))
            })
            .collect()
    };
    assert_eq!(
        shown("vfs_write", "count"),
        [(10, 0), (3, 100)],
        "{:#?}",
        run.events
    );
    assert_eq!(shown("vfs_writev", "vlen"), [(3, 10)], "{:#?}", run.events);
    assert_eq!(
        shown("vfs_read", "count"),
        [(4, 0), (8, 2)],
        "{:#?}",
        run.events
    );
    assert_eq!(shown("vfs_readv", "vlen"), [(2, 4)], "{:#?}", run.events);
}

/// suspicious_syscall_source and stack_pivot on getpid: a getpid made by code in anonymous
/// memory (twice: reported once), and one made with the stack pointer moved into the heap.
/// The interpreter's own getpid calls (from libc, on its stack) are neither.
#[test]
fn suspicious_syscall_source_and_stack_pivot() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "origin.yaml",
            &policy(
                "origin",
                &["comm=tr-e2e-origin"],
                &format!(
                    "{}{}",
                    rule("suspicious_syscall_source", &["args.syscall=getpid"]),
                    rule("stack_pivot", &["args.syscall=getpid"])
                ),
            ),
        )],
    );
    let script = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(15, b"tr-e2e-origin", 0, 0, 0)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.malloc.restype = ctypes.c_void_p
code = libc.mmap(None, 4096, 7, 0x22, -1, 0)
plain = bytes([0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3])
pivot = bytes([0x48, 0x89, 0xe0, 0x48, 0x89, 0xfc, 0x50, 0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0x5c, 0xc3])
ctypes.memmove(code, plain, len(plain))
ctypes.memmove(code + 64, pivot, len(pivot))
call = ctypes.CFUNCTYPE(ctypes.c_long)(code)
call()
call()
os.getpid()
heap = libc.malloc(4096)
top = (heap + 4096 - 64) & ~15
ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_void_p)(code + 64)(top)
print(code, heap, flush=True)
"#;
    let t = Tracer::start(&image, &[]);
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addrs: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [code, heap] = addrs[..] else {
        panic!("script printed {addrs:?}");
    };
    let run = t.stop();
    run.assert_clean();
    let u = |e: &serde_json::Value, n: &str| arg(e, n).and_then(|v| v.as_u64());
    let sources = run.named("suspicious_syscall_source");
    assert_eq!(
        sources.len(),
        1,
        "once per syscall and mapping: {sources:#?}"
    );
    let e = sources[0];
    assert_eq!(arg_str(e, "vma_type").as_deref(), Some("anonymous"), "{e}");
    assert_eq!(u(e, "vma_start"), Some(code), "{e}");
    assert_eq!(arg(e, "syscall").and_then(|v| v.as_i64()), Some(39), "{e}");
    assert!(
        u(e, "ip").is_some_and(|ip| ip > code && ip < code + 4096),
        "{e}"
    );
    let pivots = run.named("stack_pivot");
    assert_eq!(pivots.len(), 1, "{pivots:#?}");
    let e = pivots[0];
    assert_eq!(arg_str(e, "vma_type").as_deref(), Some("heap"), "{e}");
    assert!(
        u(e, "sp").is_some_and(|sp| sp > heap && sp < heap + 4096),
        "{e}"
    );
}

/// file_modification: the first change of a file a process opened for writing, once per
/// open; a file opened for writing and left alone, and one only read, are not reported.
#[test]
fn file_modification_once_per_open() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.real_path();
    let (a, b) = (dir.join("a"), dir.join("b"));
    for f in [&a, &b] {
        if let Err(e) = std::fs::write(f, b"x") {
            panic!("{e}");
        }
    }
    let (a, b) = (
        a.to_string_lossy().into_owned(),
        b.to_string_lossy().into_owned(),
    );
    let image = compile(
        s.path(),
        &[(
            "mod.yaml",
            &policy(
                "mod",
                &["comm=tr-e2e-mod"],
                &rule(
                    "file_modification",
                    &[&format!("args.file_path={}/*", dir.display())],
                ),
            ),
        )],
    );
    let script = format!(
        r#"
import ctypes, os, time
ctypes.CDLL(None).prctl(15, b"tr-e2e-mod", 0, 0, 0)
time.sleep(0.02)
for _ in range(2):
    fd = os.open({a:?}, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"y")
    os.write(fd, b"z")
    os.close(fd)
fd = os.open({b:?}, os.O_WRONLY)
os.close(fd)
fd = os.open({b:?}, os.O_RDONLY)
os.read(fd, 1)
os.close(fd)
"#
    );
    let t = Tracer::start(&image, &[]);
    run("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
    let mods = run.named("file_modification");
    assert_eq!(mods.len(), 2, "once per open of a: {mods:#?}");
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(&a).map(|m| m.ino()).unwrap_or(0);
    for e in &mods {
        assert_eq!(arg_str(e, "file_path"), Some(a.clone()), "{e}");
        assert_eq!(arg(e, "inode").and_then(|v| v.as_u64()), Some(ino), "{e}");
    }
    assert!(
        run.with_arg("file_modification", "file_path", &b)
            .is_empty()
    );
}

/// security_kernel_read_file and security_kernel_post_read_file come from finit_module and
/// kexec_file_load: on a kernel without them (this test machine's has neither loadable
/// modules nor kexec_file_load) the loader says at start that their events cannot occur,
/// and runs; where they exist, the programs with the handler load.
#[test]
fn kernel_read_file_events_load_or_say_why_not() {
    if !can_bpf() {
        return;
    }
    loads_saying_what_cannot_occur(
        &[
            "security_kernel_read_file",
            "security_kernel_post_read_file",
        ],
        &[
            (
                "no syscalls/sys_enter_finit_module tracepoint",
                "syscalls/sys_enter_finit_module",
            ),
            (
                "no syscalls/sys_enter_kexec_file_load tracepoint",
                "syscalls/sys_enter_kexec_file_load",
            ),
        ],
    );
}

/// inotify_watch and security_path_notify: an inotify watch (its inode found through the
/// watch descriptor) and a fanotify mark; a watch on a missing path is not reported.
#[test]
fn inotify_watch_and_path_notify() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.real_path();
    let watched = dir.join("watched");
    if let Err(e) = std::fs::create_dir(&watched) {
        panic!("{e}");
    }
    let image = compile(
        s.path(),
        &[(
            "notify.yaml",
            &policy(
                "notify",
                &["comm=tr-e2e-notify"],
                "    - event: inotify_watch\n    - event: security_path_notify\n",
            ),
        )],
    );
    let script = format!(
        r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(15, b"tr-e2e-notify", 0, 0, 0)
os.chdir({dir:?})
ifd = libc.inotify_init1(0)
assert libc.inotify_add_watch(ifd, b"watched", 2) > 0
assert libc.inotify_add_watch(ifd, b"missing", 2) == -1
ffd = libc.fanotify_init(0, 0)
assert ffd >= 0
assert libc.fanotify_mark(ffd, 1, ctypes.c_uint64(2), -100, b"watched") == 0
"#,
        dir = dir.to_string_lossy()
    );
    let t = Tracer::start(&image, &[]);
    run("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(&watched).map(|m| m.ino()).unwrap_or(0);
    let path = watched.to_string_lossy().into_owned();
    let u = |e: &serde_json::Value, n: &str| arg(e, n).and_then(|v| v.as_u64());
    let watches = run.named("inotify_watch");
    assert_eq!(watches.len(), 1, "{:#?}", run.events);
    assert_eq!(arg_str(watches[0], "pathname"), Some(path.clone()));
    assert_eq!(u(watches[0], "inode"), Some(ino), "{}", watches[0]);
    type Note = (String, Option<u64>, Option<u64>, Option<u64>);
    let notes: Vec<Note> = run
        .named("security_path_notify")
        .iter()
        .map(|e| {
            (
                e["syscall"].as_str().unwrap_or("").to_owned(),
                u(e, "inode"),
                u(e, "mask"),
                u(e, "obj_type"),
            )
        })
        .collect();
    assert_eq!(
        notes,
        [
            ("inotify_add_watch".to_owned(), Some(ino), Some(2), Some(0)),
            ("fanotify_mark".to_owned(), None, Some(2), Some(0))
        ],
        "{:#?}",
        run.events
    );
}

/// do_init_module comes from init_module and finit_module with the module_load tracepoint:
/// on a kernel without loadable modules the loader says at start that it cannot occur.
#[test]
fn do_init_module_loads_or_says_why_not() {
    if !can_bpf() {
        return;
    }
    loads_saying_what_cannot_occur(
        &["do_init_module"],
        &[
            ("no module_load event can occur", "module/module_load"),
            (
                "no syscalls/sys_enter_finit_module tracepoint",
                "syscalls/sys_enter_finit_module",
            ),
        ],
    );
}

/// The handlers run as programs of their own, reached by tail call from the syscall's exit
/// (and, for what they read before the syscall, from its entry), one program per group.
/// Through the generic hooks, one write feeds three handlers in two groups (vfs_write and
/// file_modification in one, magic_write in another); through the per-syscall tracepoints,
/// chdir and rt_sigaction feed two handlers of one group. rt_sigaction's handler also reads
/// the previous action at entry (do_sigaction's `old_sa_handle_method`). Each event comes
/// out once; a write to another file does not come out.
#[test]
fn handlers_chain_by_tail_call_on_both_hook_kinds() {
    if !can_bpf() {
        return;
    }
    for generic in [false, true] {
        let s = Scratch::new();
        let dir = s.real_path();
        let target = dir.join("elf").to_string_lossy().into_owned();
        let other = dir.join("other").to_string_lossy().into_owned();
        let mut rules = rule("do_sigaction", &["args.sig=10"]);
        if generic {
            rules.push_str(&rule("vfs_write", &[&format!("args.pathname={target}")]));
            rules.push_str(&rule("magic_write", &[&format!("args.pathname={target}")]));
            rules.push_str(&rule(
                "file_modification",
                &[&format!("args.file_path={target}")],
            ));
            rules.push_str(&generic_hook_padding(&[
                "rt_sigaction",
                "write",
                "pwrite64",
                "writev",
                "pwritev",
                "pwritev2",
                "open",
                "openat",
                "openat2",
                "creat",
                "close",
                "sendfile",
                "splice",
                "copy_file_range",
            ]));
        } else {
            rules.push_str(&rule(
                "set_fs_pwd",
                &[&format!("args.resolved_path={}", dir.display())],
            ));
        }
        let image = compile(
            s.path(),
            &[(
                "chain.yaml",
                &policy("chain", &["comm=tr-e2e-chain"], &rules),
            )],
        );
        let loaded = schema::image::read_file(&image)
            .unwrap_or_else(|e| panic!("{e}"))
            .0;
        assert_eq!(
            loaded.meta.probes.contains(&"tp_btf/sys_exit".to_owned()),
            generic,
            "{:?}",
            loaded.meta.probes
        );
        let script = format!(
            r#"
import ctypes, os, signal, time
ctypes.CDLL(None).prctl(15, b"tr-e2e-chain", 0, 0, 0)
time.sleep(0.02)
for path in ({target:?}, {other:?}):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o755)
    os.write(fd, b"\x7fELF" + b"\0" * 60)
    os.close(fd)
os.chdir({dir:?})
os.chdir("/")
signal.signal(signal.SIGUSR1, lambda *a: None)
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
"#,
            dir = dir.to_string_lossy()
        );
        let t = Tracer::start(&image, &[]);
        run("python3", &["-c", &script]);
        let run = t.stop();
        run.assert_clean();
        let once: &[(&str, &str, String)] = if generic {
            &[
                ("vfs_write", "pathname", target.clone()),
                ("magic_write", "pathname", target.clone()),
                ("file_modification", "file_path", target.clone()),
            ]
        } else {
            &[(
                "set_fs_pwd",
                "resolved_path",
                dir.to_string_lossy().into_owned(),
            )]
        };
        for (event, field, value) in once {
            let all = run.named(event);
            assert_eq!(all.len(), 1, "generic={generic}: one {event}: {all:#?}");
            assert_eq!(arg_str(all[0], field).as_ref(), Some(value), "{event}");
        }
        assert_eq!(
            sigaction_methods(&run),
            [(2, 0), (1, 2)],
            "generic={generic}: the previous action is read at entry: {:#?}",
            run.named("do_sigaction")
        );
    }
}

/// dirty_pipe_splice: a splice into a pipe after which the pipe's last buffer may be merged
/// into. This kernel has CVE-2022-0847 fixed, so a file's page spliced into a pipe is not
/// mergeable (a near miss), and neither is part of a buffer taken from another pipe; a whole
/// buffer moved from another pipe keeps the flag its write gave it, and is reported, as
/// Tracee reports it.
#[test]
fn dirty_pipe_splice_reports_mergeable_pipe_buffers() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let file = s.real_path().join("data").to_string_lossy().into_owned();
    let image = compile(
        s.path(),
        &[(
            "pipe.yaml",
            &policy(
                "pipe",
                &["comm=tr-e2e-pipe"],
                "    - event: dirty_pipe_splice\n",
            ),
        )],
    );
    let script = format!(
        r#"
import ctypes, os, time
ctypes.CDLL(None).prctl(15, b"tr-e2e-pipe", 0, 0, 0)
time.sleep(0.02)
with open({file:?}, "wb") as f:
    f.write(b"d" * 10000)
src_r, src_w = os.pipe()
dst_r, dst_w = os.pipe()
os.write(src_w, b"x" * 100)
assert os.splice(src_r, dst_w, 100) == 100
part_r, part_w = os.pipe()
os.write(src_w, b"y" * 100)
assert os.splice(src_r, part_w, 10) == 10
fd = os.open({file:?}, os.O_RDONLY)
file_r, file_w = os.pipe()
assert os.splice(fd, file_w, 100) == 100
with open({file:?} + ".inodes", "w") as f:
    f.write(f"{{os.fstat(src_r).st_ino}} {{os.fstat(dst_w).st_ino}}")
"#
    );
    let t = Tracer::start(&image, &[]);
    run("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
    let out = std::fs::read_to_string(format!("{file}.inodes")).unwrap_or_default();
    let inodes: Vec<u64> = out
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(inodes.len(), 2, "{out}");
    let events = run.named("dirty_pipe_splice");
    assert_eq!(events.len(), 1, "the whole buffer moved only: {events:#?}");
    let e = events[0];
    assert_eq!(u64_of(e, "inode_in"), Some(inodes[0]), "{e}");
    assert_eq!(u64_of(e, "inode_out"), Some(inodes[1]), "{e}");
    assert_eq!(u64_of(e, "in_file_type"), Some(0o010000), "a FIFO: {e}");
    assert!(
        u64_of(e, "out_pipe_last_buffer_flags").is_some_and(|f| f & 0x10 != 0),
        "PIPE_BUF_FLAG_CAN_MERGE: {e}"
    );
    // An anonymous pipe has no name in its filesystem: its path walk ends at the root.
    assert_eq!(arg_str(e, "in_file_path").as_deref(), Some("/"), "{e}");
}

/// chmod_common: every chmod-family call that reached the file (chmod, fchmod, fchmodat with
/// a relative name), with the absolute path and the mode asked for; a name that does not
/// resolve never reaches it, and a file outside the filter is not reported.
#[test]
fn chmod_common_from_the_chmod_family() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.real_path();
    let (a, b, other) = (dir.join("a"), dir.join("b"), dir.join("other"));
    for f in [&a, &b, &other] {
        if let Err(e) = std::fs::write(f, b"x") {
            panic!("{e}");
        }
    }
    let image = compile(
        s.path(),
        &[(
            "chmod.yaml",
            &policy(
                "chmod",
                &["comm=tr-e2e-chmod"],
                &rule(
                    "chmod_common",
                    &[
                        &format!("args.pathname={}/*", dir.display()),
                        "args.mode!=511",
                    ],
                ),
            ),
        )],
    );
    let script = format!(
        r#"
import ctypes, os, time
ctypes.CDLL(None).prctl(15, b"tr-e2e-chmod", 0, 0, 0)
time.sleep(0.02)
os.chmod({a:?}, 0o600)
fd = os.open({b:?}, os.O_RDONLY)
os.fchmod(fd, 0o640)
dfd = os.open({dir:?}, os.O_RDONLY | os.O_DIRECTORY)
os.chmod("a", 0o604, dir_fd=dfd)
os.chmod({other:?}, 0o777)
try:
    os.chmod({dir:?} + "/missing", 0o600)
except FileNotFoundError:
    pass
"#,
        a = a.to_string_lossy(),
        b = b.to_string_lossy(),
        other = other.to_string_lossy(),
        dir = dir.to_string_lossy()
    );
    let t = Tracer::start(&image, &[]);
    run("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
    let got: Vec<(String, u64)> = run
        .named("chmod_common")
        .iter()
        .filter_map(|e| Some((arg_str(e, "pathname")?, u64_of(e, "mode")?)))
        .collect();
    let (a, b) = (
        a.to_string_lossy().into_owned(),
        b.to_string_lossy().into_owned(),
    );
    assert_eq!(
        got,
        [(a.clone(), 0o600), (b, 0o640), (a, 0o604)],
        "{:#?}",
        run.named("chmod_common")
    );
}
