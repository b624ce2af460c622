//! Events built from the syscalls that reach Tracee's kprobe and LSM hooks (rename, mknod,
//! symlink, chdir, prctl, rlimits, the clock, namespaces) and from tracepoints
//! (cgroup_attach_task): each triggered for real, with near misses that must not print.

use crate::harness::*;

fn u64_of(e: &serde_json::Value, name: &str) -> Option<u64> {
    arg(e, name).and_then(|v| v.as_u64())
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
    let d = s
        .path()
        .canonicalize()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("d");
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
    let d = s.path().canonicalize().unwrap_or_else(|e| panic!("{e}"));
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
