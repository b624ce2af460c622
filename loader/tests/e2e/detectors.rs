//! Detections decided in the kernel (docs/detectors.md): each detector's technique performed
//! for real in a harmless form, with a near miss that must not fire. Tests name their
//! processes (`prctl(PR_SET_NAME)`) or their paths and keep only their own detections, so
//! tests running beside them cannot add any; path-based techniques run in a private mount
//! namespace over tmpfs, so the host's files are never touched.
//!
//! Not here, with the reason:
//! - `kernel_module_loading` is built from `module_load`, which this VM's kernel (built
//!   without loadable modules: no `module:module_load` tracepoint, no /proc/modules) never
//!   reports. Its rule compiles and loads (the default policy's test below).
//! - `dropped_executable` is a catalog event of its own, tested through every write path in
//!   `main.rs` and `events.rs`.
//! - `syscall_hooking`, `proc_fops_hooking`, `hooked_syscall_detector` and
//!   `hooked_seq_ops_detector` are not produced here (W306: built from Tracee's checks of
//!   kernel tables).

use std::path::Path;

use serde_json::Value;

use crate::harness::*;

/// Detections of `detector` in the run.
fn detections<'a>(run: &'a Run, detector: &str) -> Vec<&'a Value> {
    run.named(detector)
}

/// The event a detection was detected from: (name, its arguments).
fn detected_from(e: &Value) -> (String, Value) {
    let from = arg(e, "detectedFrom").unwrap_or_else(|| panic!("no detectedFrom: {e}"));
    (
        from["name"].as_str().unwrap_or_default().to_owned(),
        from["args"].clone(),
    )
}

/// A base event argument of a detection.
fn from_arg(e: &Value, name: &str) -> Value {
    let (_, args) = detected_from(e);
    args.as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name))
        .map(|x| x["value"].clone())
        .unwrap_or(Value::Null)
}

/// The run of `program args` under `image`, checked clean.
fn traced(image: &Path, program: &str, args: &[&str]) -> Run {
    let t = Tracer::start(image, &[]);
    run(program, args);
    let run = t.stop();
    run.assert_clean();
    run
}

/// The run of a python `script` in a private mount namespace (its mounts over /etc and the
/// like never reach the host) under `image`, checked clean.
fn traced_in_private_mounts(image: &Path, script: &str) -> Run {
    traced(
        image,
        "unshare",
        &["-m", "--propagation", "private", "python3", "-c", script],
    )
}

/// A python script that renames itself `comm` first.
fn named_script(comm: &str, body: &str) -> String {
    format!(
        "import ctypes, os, signal, sys\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.prctl(15, {comm:?}.encode(), 0, 0, 0)\n{body}"
    )
}

/// anti_debugging (PTRACE_TRACEME) and ptrace_code_injection (POKEDATA into a stopped child),
/// decided in the kernel, with the near misses PEEKDATA, CONT and an ATTACH that fails. The
/// same policy also has its own rule on `ptrace` for ATTACH only: the base event prints for
/// that rule alone, never for the detections built from it.
#[test]
fn ptrace_detections_and_the_base_event_beside_them() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let comm = "tr-det-ptrace";
    let by_name = format!("comm={comm}");
    let image = compile_global(
        s.path(),
        "ptrace-detections",
        &format!(
            "{}{}{}",
            rule("anti_debugging", &[&by_name]),
            rule("ptrace_code_injection", &[&by_name]),
            rule("ptrace", &["args.request=16", &by_name]),
        ),
    );
    let script = named_script(
        comm,
        r#"
buf = ctypes.create_string_buffer(8)
addr = ctypes.c_void_p(ctypes.addressof(buf))
pid = os.fork()
if pid == 0:
    libc.ptrace(0, 0, None, None)                      # TRACEME: anti_debugging
    os.kill(os.getpid(), signal.SIGSTOP)
    os._exit(0)
os.waitpid(pid, os.WUNTRACED)
assert libc.ptrace(5, pid, addr, ctypes.c_void_p(0x41)) == 0   # POKEDATA: code injection
libc.ptrace(2, pid, addr, None)                        # PEEKDATA: a read, no detection
assert libc.ptrace(7, pid, None, None) == 0            # CONT
os.waitpid(pid, 0)
assert libc.ptrace(16, 4194000, None, None) == -1      # ATTACH to no process: the own rule
print(pid)
"#,
    );
    let t = Tracer::start(&image, &[]);
    let parent = run_pid("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
    let anti = detections(&run, "anti_debugging");
    assert_eq!(anti.len(), 1, "{:#?}", run.events);
    assert_eq!(anti[0]["eventId"], "6002");
    let child = anti[0]["hostProcessId"].as_u64();
    assert_ne!(child, Some(parent), "TRACEME came from the child");
    assert_eq!(anti[0]["hostParentProcessId"].as_u64(), Some(parent));
    assert_eq!(detected_from(anti[0]).0, "ptrace");
    assert_eq!(from_arg(anti[0], "request"), 0);
    assert_eq!(anti[0]["threat"]["severity"], "LOW");
    assert_eq!(anti[0]["threat"]["mitre"]["technique"]["id"], "T1622");
    assert_eq!(anti[0]["metadata"]["Properties"]["signatureID"], "TRC-102");
    assert_eq!(policies_of(anti[0]), ["ptrace-detections"]);
    let inject = detections(&run, "ptrace_code_injection");
    assert_eq!(inject.len(), 1, "{:#?}", run.events);
    assert_eq!(from_arg(inject[0], "request"), 5);
    assert_eq!(from_arg(inject[0], "pid").as_u64(), child);
    assert_eq!(inject[0]["hostProcessId"].as_u64(), Some(parent));
    assert_eq!(inject[0]["threat"]["severity"], "HIGH");
    // The policy's own rule: ATTACH only; TRACEME, POKEDATA, PEEKDATA and CONT do not print
    // as ptrace although detections were built from two of them.
    let own: Vec<i64> = run
        .named("ptrace")
        .iter()
        .filter_map(|e| arg(e, "request").and_then(Value::as_i64))
        .collect();
    assert_eq!(own, [16], "{:#?}", run.events);
}

/// sudoers_modification on both its base events: an open for writing (its flags condition,
/// the access mode, decided in the kernel) and a rename onto the sudoers directory; a read of
/// the same file and a write elsewhere are near misses. In a private mount namespace whose
/// /etc is a tmpfs.
#[test]
fn sudoers_writes_and_renames_but_not_reads() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let comm = "tr-det-sudoers";
    let image = compile_global(
        s.path(),
        "sudoers",
        &rule("sudoers_modification", &[&format!("comm={comm}")]),
    );
    let script = named_script(
        comm,
        r#"
assert libc.mount(b"none", b"/etc", b"tmpfs", 0, None) == 0
os.mkdir("/etc/sudoers.d")
with open("/etc/sudoers.d/tr-e2e", "w") as f:        # written: a detection
    f.write("root ALL=(ALL) ALL\n")
open("/etc/sudoers.d/tr-e2e").read()                  # read: the kernel turns it away
with open("/etc/tr-e2e-elsewhere", "w") as f:         # another file: the kernel turns it away
    f.write("x")
os.rename("/etc/tr-e2e-elsewhere", "/etc/sudoers.d/moved")  # a rename onto it: a detection
"#,
    );
    let run = traced_in_private_mounts(&image, &script);
    let found: Vec<(String, String)> = detections(&run, "sudoers_modification")
        .iter()
        .map(|e| {
            let (base, _) = detected_from(e);
            let path = match base.as_str() {
                "security_file_open" => from_arg(e, "pathname"),
                _ => from_arg(e, "new_path"),
            };
            (base, path.as_str().unwrap_or_default().to_owned())
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "security_file_open".to_owned(),
                "/etc/sudoers.d/tr-e2e".to_owned()
            ),
            (
                "security_inode_rename".to_owned(),
                "/etc/sudoers.d/moved".to_owned()
            ),
        ],
        "{:#?}",
        run.events
    );
    // Nothing but detections: the base events have no rule of their own.
    assert_eq!(run.events.len(), 2, "{:#?}", run.events);
}

/// Path anchors (docs/image-format.md): the kernel turns a path away on its first and last
/// components before it builds it, so every way to reach a file the filters name must still
/// match: across two mounts, through a symlink, by a relative path, by the last component
/// or a suffix of it, and by a name longer than an anchor holds. Near misses beside each.
#[test]
fn path_anchors_decide_on_the_file_not_the_name() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let comm = "tr-anchors";
    let long = "l".repeat(60);
    let filters = [
        format!("comm={comm}"),
        "data.pathname=/etc/tr-anchor/*".to_owned(),
        "data.pathname=*/tr-anchor-last".to_owned(),
        "data.pathname=*.tr-sfx".to_owned(),
        format!("data.pathname=/srv/{long}"),
    ];
    let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
    let image = compile_global(s.path(), "anchors", &rule("security_file_open", &filters));
    let dir = s.real_path();
    let dir = dir.to_string_lossy();
    let script = named_script(
        comm,
        &format!(
            r#"
def touch(path):
    open(path, "w").close()
assert libc.mount(b"none", b"/etc", b"tmpfs", 0, None) == 0
os.mkdir("/etc/tr-anchor")
assert libc.mount(b"none", b"/etc/tr-anchor", b"tmpfs", 0, None) == 0
assert libc.mount(b"none", b"/srv", b"tmpfs", 0, None) == 0
touch("/etc/tr-anchor/across-mounts")
os.symlink("/etc/tr-anchor/by-link", "{dir}/link")
touch("{dir}/link")
os.chdir("/etc/tr-anchor")
touch("relative")
touch("/etc/tr-anchor-near")
os.mkdir("{dir}/d")
touch("{dir}/d/tr-anchor-last")
touch("{dir}/d/tr-anchor-last.bak")
touch("{dir}/d/y.tr-sfx")
touch("{dir}/d/y.tr-sfx2")
touch("/srv/{long}")
touch("/srv/{long}x")
"#
        ),
    );
    let run = traced_in_private_mounts(&image, &script);
    let mut paths: Vec<String> = run
        .named("security_file_open")
        .iter()
        .filter(|e| e["processName"] == comm)
        .map(|e| arg_str(e, "pathname").unwrap_or_default())
        .collect();
    paths.sort();
    let mut want = vec![
        "/etc/tr-anchor/across-mounts".to_owned(),
        "/etc/tr-anchor/by-link".to_owned(),
        "/etc/tr-anchor/relative".to_owned(),
        format!("{dir}/d/tr-anchor-last"),
        format!("{dir}/d/y.tr-sfx"),
        format!("/srv/{long}"),
    ];
    want.sort();
    assert_eq!(paths, want, "{:#?}", run.events);
}

/// fileless_execution: an exec from a memfd and one from /dev/shm (a tmpfs of the test's own
/// mount namespace); an exec of a regular file is the near miss.
#[test]
fn fileless_execution_from_memfd_and_shm() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile_global(s.path(), "fileless", "    - event: fileless_execution\n");
    let script = r#"
import os, shutil, subprocess, ctypes
libc = ctypes.CDLL(None, use_errno=True)
true = shutil.which("true")
data = open(true, "rb").read()
fd = os.memfd_create("tr-e2e-memfd", 0)
os.write(fd, data)
subprocess.run([f"/proc/self/fd/{fd}"], pass_fds=[fd], check=True)   # memfd: a detection
assert libc.mount(b"none", b"/dev/shm", b"tmpfs", 0, None) == 0
with open("/dev/shm/tr-e2e-true", "wb") as f:
    f.write(data)
os.chmod("/dev/shm/tr-e2e-true", 0o755)
subprocess.run(["/dev/shm/tr-e2e-true"], check=True)          # /dev/shm: a detection
subprocess.run([true], check=True)                            # a regular file: none
"#;
    let run = traced_in_private_mounts(&image, script);
    let paths: Vec<String> = detections(&run, "fileless_execution")
        .iter()
        .map(|e| {
            from_arg(e, "pathname")
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|p| p.contains("tr-e2e"))
        .collect();
    assert_eq!(
        paths,
        ["memfd:tr-e2e-memfd", "/dev/shm/tr-e2e-true"],
        "{:#?}",
        run.events
    );
    assert!(
        detections(&run, "fileless_execution")
            .iter()
            .all(|e| !from_arg(e, "pathname")
                .as_str()
                .unwrap_or_default()
                .ends_with("/true")),
        "{:#?}",
        run.events
    );
}

/// A detector of the user's in Tracee's YAML format, next to the policy: its data filter and
/// one condition are decided in the kernel, the other condition (a regular expression) in
/// the loader; each near miss fails exactly one of them.
#[test]
fn user_detector_with_kernel_and_loader_conditions() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.real_path().join("watched");
    if let Err(e) = std::fs::create_dir(&dir) {
        panic!("mkdir: {e}");
    }
    let d = dir.to_string_lossy().into_owned();
    let detector = format!(
        r#"type: detector
id: yaml-e2e-1
produced_event:
  name: tr_e2e_secret_touch
  version: 1.0.0
  description: a process named tr-det-user opened a secret-looking file
requirements:
  events:
    - name: security_file_open
      data_filters:
        - pathname={d}/*
threat:
  name: Secret touched
  severity: medium
  description: e2e
  mitre:
    technique:
      id: T1552
      name: Unsecured Credentials
    tactic:
      name: Credential Access
conditions:
  - workload.process.name == "tr-det-user"
  - getEventData("pathname").matches("secret-[0-9]+$")
"#
    );
    let image = compile(
        s.path(),
        &[
            ("detector.yaml", &detector),
            (
                "policy.yaml",
                &policy("secrets", &["global"], "    - event: tr_e2e_secret_touch\n"),
            ),
        ],
    );
    let script = named_script(
        "tr-det-user",
        &format!(
            r#"
open("{d}/secret-42", "w").close()        # both conditions hold
open("{d}/secret-x", "w").close()         # the loader's regular expression fails
libc.prctl(15, b"tr-det-other", 0, 0, 0)
open("{d}/secret-7", "w").close()         # the kernel's name condition fails
"#
        ),
    );
    let run = traced(&image, "python3", &["-c", &script]);
    let found: Vec<String> = detections(&run, "tr_e2e_secret_touch")
        .iter()
        .map(|e| {
            from_arg(e, "pathname")
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(found, [format!("{d}/secret-42")], "{:#?}", run.events);
    let e = detections(&run, "tr_e2e_secret_touch")[0];
    assert_eq!(e["eventId"], "6500");
    assert_eq!(e["threat"]["name"], "Secret touched");
    assert_eq!(e["threat"]["mitre"]["tactic"]["name"], "Credential Access");
}

/// ld_preload on its three base events: an exec whose environment sets LD_PRELOAD (decided
/// in the kernel on the environment's entries), a write of /etc/ld.so.preload (its flags
/// condition: the access mode, in the kernel too) and a rename onto it; near misses: an exec without the variable
/// (one that only mentions it in a value), a read of the file. /etc is a tmpfs of the test's
/// own mount namespace.
#[test]
fn ld_preload_by_environment_write_and_rename() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let comm = "tr-det-preload";
    let image = compile_global(s.path(), "preload", "    - event: ld_preload\n");
    let script = named_script(
        comm,
        r#"
import subprocess, shutil
true = shutil.which("true")
# A shell's environment (the kernel reads an environment's first 32 entries, as Tracee its
# first 38; the test runner's own has more).
base = {"PATH": os.environ["PATH"], "HOME": "/root", "LANG": "C"}
env = dict(base, LD_PRELOAD="/nonexistent/tr-e2e.so", TR_E2E="1")
subprocess.run([true, "tr-e2e-preload"], env=env, check=True)          # a detection
env = dict(base, TR_E2E="LD_PRELOAD=/x.so")
subprocess.run([true, "tr-e2e-clean"], env=env, check=True)            # none
assert libc.mount(b"none", b"/etc", b"tmpfs", 0, None) == 0
with open("/etc/ld.so.preload", "w") as f:                          # a detection
    f.write("/nonexistent/tr-e2e.so\n")
open("/etc/ld.so.preload").read()                                   # a read: none
with open("/etc/tr-e2e-preload", "w") as f:
    f.write("\n")
os.rename("/etc/tr-e2e-preload", "/etc/ld.so.preload")               # a detection
"#,
    );
    let run = traced_in_private_mounts(&image, &script);
    let mine: Vec<&Value> = detections(&run, "ld_preload")
        .into_iter()
        .filter(|e| {
            e["processName"] == comm
                || from_arg(e, "argv").as_array().is_some_and(|a| {
                    a.iter()
                        .any(|v| v.as_str().is_some_and(|s| s.starts_with("tr-e2e")))
                })
        })
        .collect();
    let bases: Vec<String> = mine.iter().map(|e| detected_from(e).0).collect();
    assert_eq!(
        bases,
        [
            "sched_process_exec",
            "security_file_open",
            "security_inode_rename"
        ],
        "{:#?}",
        run.events
    );
    let argv = from_arg(mine[0], "argv");
    assert_eq!(argv[1], "tr-e2e-preload", "{:#?}", mine[0]);
    let env = from_arg(mine[0], "env");
    assert!(
        env.as_array()
            .is_some_and(|a| a.iter().any(|v| v == "LD_PRELOAD=/nonexistent/tr-e2e.so")),
        "{:#?}",
        mine[0]
    );
}

/// A policy's own filter on a string array, decided in the kernel: an exec whose argv has an
/// entry with the substring, or an entry equal to the value, prints; others do not.
#[test]
fn argv_filters_match_any_entry() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile_global(
        s.path(),
        "argv",
        &rule(
            "sched_process_exec",
            &["data.argv=*tr-e2e-argv-sub*,tr-e2e-argv-exact"],
        ),
    );
    let t = Tracer::start(&image, &[]);
    run("true", &["x-tr-e2e-argv-sub-y"]);
    run("true", &["a", "tr-e2e-argv-exact"]);
    run("true", &["tr-e2e-argv-exact-not"]);
    run("true", &["tr-e2e-argv-none"]);
    let run = t.stop();
    run.assert_clean();
    let seen: Vec<String> = run
        .named("sched_process_exec")
        .iter()
        .filter_map(|e| arg(e, "argv").and_then(|a| a.as_array().cloned()))
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        seen,
        ["true x-tr-e2e-argv-sub-y", "true a tr-e2e-argv-exact"],
        // (argv[0] is the name the test ran it by)
        "{:#?}",
        run.events
    );
}

/// The detectors that watch files of the host, each performed in a harmless form inside a
/// private mount namespace whose /etc (and the loaders' directory) is a tmpfs: writes and
/// renames of cron, rc and loader files, reads of Kubernetes keys, of a process's memory and
/// of the ASLR setting, and an exec of programs named like the cron and rc tools. Every near
/// miss differs from its detection in one thing (read instead of write, another name, ...).
#[test]
fn file_detectors_on_the_host() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let comm = "tr-det-files";
    let detectors = [
        "scheduled_task_mod",
        "rcd_modification",
        "default_loader_mod",
        "k8s_cert_theft",
        "proc_mem_access",
        "proc_mem_code_injection",
        "aslr_inspection",
    ];
    let rules: String = detectors
        .iter()
        .map(|d| format!("    - event: {d}\n"))
        .collect();
    let image = compile(
        s.path(),
        &[("files.yaml", &policy("files", &["global"], &rules))],
    );
    let bin = s.real_path().join("bin");
    if let Err(e) = std::fs::create_dir(&bin) {
        panic!("mkdir: {e}");
    }
    // Programs named like cron's and rc's tools (a copy of `true`), and a near miss.
    for name in ["crontab", "update-rc.d", "crontab-not"] {
        if let Err(e) = std::fs::copy("/usr/bin/true", bin.join(name)) {
            panic!("copy true: {e}");
        }
    }
    let b = bin.to_string_lossy().into_owned();
    let script = named_script(
        comm,
        &format!(
            r#"
import subprocess
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT = 0, 1, 2, 0o100
def opened(path, flags):
    os.close(os.open(path, flags | (O_CREAT if flags else 0), 0o644))
for name in ["crontab", "update-rc.d", "crontab-not"]:
    subprocess.run(["{b}/" + name], check=True)
# Reads of a process's memory and of the ASLR setting (nothing is written anywhere).
opened("/proc/self/mem", O_RDONLY)                      # proc_mem_access
opened("/proc/self/maps", O_RDONLY)                     # near miss: another file
os.close(os.open("/proc/self/mem", O_WRONLY))           # proc_mem_code_injection
os.close(os.open("/proc/sys/kernel/randomize_va_space", O_RDONLY))  # aslr_inspection
os.close(os.open("/proc/sys/kernel/randomize_va_space", O_WRONLY))  # near miss: not a read
# /etc and the loaders' directory become tmpfs: nothing of the host is touched.
assert libc.mount(b"none", b"/etc", b"tmpfs", 0, None) == 0
assert libc.mount(b"none", b"/usr/lib/x86_64-linux-gnu", b"tmpfs", 0, None) == 0
for d in ["/etc/cron.d", "/etc/init.d", "/etc/kubernetes", "/etc/kubernetes/pki"]:
    os.mkdir(d)
opened("/etc/cron.d/tr-e2e", O_WRONLY)                  # scheduled_task_mod
opened("/etc/crontab", O_WRONLY)                        # scheduled_task_mod
opened("/etc/crontab", O_RDONLY)                        # near miss: a read
opened("/etc/cron.d.tr-e2e", O_WRONLY)                  # near miss: another path
opened("/etc/init.d/tr-e2e", O_RDWR)                    # rcd_modification
opened("/etc/tr-e2e-rc", O_WRONLY)
os.rename("/etc/tr-e2e-rc", "/etc/rc.local")            # rcd_modification
opened("/usr/lib/x86_64-linux-gnu/ld-tr-e2e.so.2", O_WRONLY)   # default_loader_mod
opened("/usr/lib/x86_64-linux-gnu/libtr-e2e.so.1", O_WRONLY)   # near miss: no loader
opened("/etc/kubernetes/pki/ca.key", O_WRONLY)
opened("/etc/kubernetes/pki/ca.key", O_RDONLY)          # k8s_cert_theft
os.rename("/etc/kubernetes/pki/ca.key", "/etc/tr-e2e-key")      # k8s_cert_theft
"#
        ),
    );
    let run = traced_in_private_mounts(&image, &script);
    // The test's own: its process's, and the execs of its programs.
    let from_me = |detector: &str| -> Vec<String> {
        detections(&run, detector)
            .iter()
            .map(|e| {
                let (base, _) = detected_from(e);
                let path = ["pathname", "new_path", "old_path"]
                    .iter()
                    .map(|f| from_arg(e, f))
                    .find(|v| v.is_string())
                    .unwrap_or(Value::Null);
                (
                    e["processName"] == comm,
                    format!("{base} {}", path.as_str().unwrap_or_default()),
                )
            })
            .filter(|(mine, text)| *mine || text.contains(&b))
            .map(|(_, text)| text)
            .collect()
    };
    assert_eq!(
        from_me("scheduled_task_mod"),
        [
            format!("sched_process_exec {b}/crontab"),
            "security_file_open /etc/cron.d/tr-e2e".to_owned(),
            "security_file_open /etc/crontab".to_owned(),
        ],
        "{:#?}",
        run.events
    );
    assert_eq!(
        from_me("rcd_modification"),
        [
            format!("sched_process_exec {b}/update-rc.d"),
            "security_file_open /etc/init.d/tr-e2e".to_owned(),
            "security_inode_rename /etc/rc.local".to_owned(),
        ],
        "{:#?}",
        run.events
    );
    assert_eq!(
        from_me("default_loader_mod"),
        ["security_file_open /usr/lib/x86_64-linux-gnu/ld-tr-e2e.so.2"],
        "{:#?}",
        run.events
    );
    assert_eq!(
        from_me("k8s_cert_theft"),
        [
            "security_file_open /etc/kubernetes/pki/ca.key",
            // (shown by its new path; the detector matched its old one)
            "security_inode_rename /etc/tr-e2e-key",
        ],
        "{:#?}",
        run.events
    );
    let mem: Vec<String> = from_me("proc_mem_access");
    assert_eq!(mem.len(), 1, "{mem:?}");
    assert!(mem[0].ends_with("/mem"), "{mem:?}");
    let inject: Vec<String> = from_me("proc_mem_code_injection");
    assert_eq!(inject.len(), 1, "{inject:?}");
    assert_eq!(
        from_me("aslr_inspection"),
        ["security_file_open /proc/sys/kernel/randomize_va_space"],
        "{:#?}",
        run.events
    );
}

/// The detectors that watch what processes do to memory and to each other, and what a shell
/// is started from: a W -> X protection change (dynamic_code_loading), process_vm_writev into
/// a child (process_vm_write_inject), a shell started by a process named like a web server
/// (illegitimate_shell), a shell whose stdio is a TCP socket to 127.0.0.1
/// (stdio_over_socket), and an ELF copied to a hidden file (hidden_file_created). Near
/// misses: an R -> X change, process_vm_writev into itself, a shell started by another name,
/// stdio duplicated onto fd 5 and onto a unix socket, a hidden text file and a visible ELF.
#[test]
fn process_detectors() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let comm = "tr-det-procs";
    let detectors = [
        "dynamic_code_loading",
        "process_vm_write_inject",
        "illegitimate_shell",
        "stdio_over_socket",
        "hidden_file_created",
    ];
    let rules: String = detectors
        .iter()
        .map(|d| format!("    - event: {d}\n"))
        .collect();
    let image = compile(
        s.path(),
        &[("procs.yaml", &policy("procs", &["global"], &rules))],
    );
    let d = s.real_path().to_string_lossy().into_owned();
    let script = named_script(
        comm,
        &format!(
            r#"
import mmap, socket, shutil, subprocess
PROT_R, PROT_W, PROT_X = 1, 2, 4
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
page = libc.mmap(None, 4096, PROT_R | PROT_W, 0x22, -1, 0)
assert libc.mprotect(page, 4096, PROT_R | PROT_X) == 0     # W -> X: a detection
other = libc.mmap(None, 4096, PROT_R, 0x22, -1, 0)
assert libc.mprotect(other, 4096, PROT_R | PROT_X) == 0    # R -> X: none

class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(b"tr-e2e", 8)
local = iovec(ctypes.addressof(buf), 8)
remote = iovec(ctypes.addressof(buf), 8)
child = os.fork()
if child == 0:
    signal.pause()
    os._exit(0)
n = libc.process_vm_writev(child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
assert n == 8, ctypes.get_errno()                          # into a child: a detection
n = libc.process_vm_writev(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
assert n == 8                                              # into itself: none
os.kill(child, signal.SIGKILL)
os.waitpid(child, 0)

def shell_from(name):
    pid = os.fork()
    if pid == 0:
        libc.prctl(15, name.encode(), 0, 0, 0)
        os.execv("/bin/sh", ["sh", "-c", "exit 0"])
    os.waitpid(pid, 0)
shell_from("nginx")                                        # a detection
shell_from("tr-notweb")                                    # none

server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(8)
port = server.getsockname()[1]
def shell_on(target, fds):
    pid = os.fork()
    if pid == 0:
        c = socket.socket(socket.AF_UNIX if isinstance(target, str) else socket.AF_INET)
        c.connect(target)
        for fd in fds:
            os.dup2(c.fileno(), fd)
        os.execv("/bin/sh", ["sh", "-c", "exit 0"])
    os.waitpid(pid, 0)
shell_on(("127.0.0.1", port), [0, 1, 2])                  # detections
shell_on(("127.0.0.1", port), [5])                        # none: not stdio
unix = socket.socket(socket.AF_UNIX)
unix.bind("{d}/tr-e2e.sock")
unix.listen(8)
shell_on("{d}/tr-e2e.sock", [0])                          # none: not a TCP socket

os.mkdir("{d}/h")
shutil.copy("/usr/bin/true", "{d}/h/.tr-e2e-hidden")     # a detection
with open("{d}/h/.tr-e2e-text", "w") as f:                # none: not an ELF
    f.write("hello")
shutil.copy("/usr/bin/true", "{d}/h/tr-e2e-visible")      # none: not hidden
print(child)
"#
        ),
    );
    let t = Tracer::start(&image, &[]);
    let parent = run_pid("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
    let mine = |detector: &str| -> Vec<&Value> {
        detections(&run, detector)
            .into_iter()
            .filter(|e| {
                e["hostProcessId"].as_u64() == Some(parent)
                    || e["hostParentProcessId"].as_u64() == Some(parent)
            })
            .collect()
    };
    let code = mine("dynamic_code_loading");
    assert_eq!(code.len(), 1, "{:#?}", run.events);
    assert_eq!(detected_from(code[0]).0, "mem_prot_alert");
    assert_eq!(from_arg(code[0], "alert"), 4);
    let inject = mine("process_vm_write_inject");
    assert_eq!(inject.len(), 1, "{:#?}", run.events);
    assert_ne!(from_arg(inject[0], "pid").as_u64(), Some(parent));
    let shells = mine("illegitimate_shell");
    assert_eq!(shells.len(), 1, "{:#?}", run.events);
    assert_eq!(from_arg(shells[0], "prev_comm"), "nginx");
    let stdio = mine("stdio_over_socket");
    let newfds: Vec<u64> = stdio
        .iter()
        .filter(|e| detected_from(e).0 == "socket_dup")
        .filter_map(|e| from_arg(e, "newfd").as_u64())
        .collect();
    assert_eq!(newfds, [0, 1, 2], "{:#?}", run.events);
    assert!(
        stdio
            .iter()
            .all(|e| from_arg(e, "remote_addr")["sin_addr"] == "127.0.0.1"),
        "{stdio:#?}"
    );
    let hidden: Vec<String> = detections(&run, "hidden_file_created")
        .iter()
        .filter_map(|e| from_arg(e, "pathname").as_str().map(str::to_owned))
        .filter(|p| p.starts_with(&d))
        .collect();
    assert_eq!(
        hidden,
        [format!("{d}/h/.tr-e2e-hidden")],
        "{:#?}",
        run.events
    );
}

/// The detectors scoped to containers (`container=started` in Tracee's files, decided here as
/// "in a container"), from a process in a container-like cgroup (`docker-<id>.scope`, as the
/// container tests make) and in a private mount namespace: writes of the cgroup release
/// files, of core_pattern and sysrq (opened for writing, nothing written; the sysctl
/// directory is a tmpfs there), a read of the kernel's memory file and of the scheduler's
/// debug file (debugfs mounted there), a service account token, the docker socket (a file
/// and a unix socket), a TCP connect, and a mount whose source is a /dev path (a tmpfs: the
/// source names the device only). The same actions from the host are the near misses, with
/// one in-container miss per detector.
#[test]
fn container_detectors() {
    if !can_bpf() {
        return;
    }
    let v2 = cgroup_v2();
    let s = Scratch::new();
    let base = v2.join(format!("tracee-e2e-det-{}", std::process::id()));
    let cg = base.join(format!("docker-{:064x}.scope", det_u128()));
    if let Err(e) = std::fs::create_dir_all(&cg) {
        panic!("create {}: {e}", cg.display());
    }
    let detectors = [
        "core_pattern_modification",
        "system_request_key_mod",
        "proc_kcore_read",
        "sched_debug_recon",
        "cgroup_notify_on_release",
        "cgroup_release_agent",
        "docker_abuse",
        "k8s_service_account_token",
        "k8s_api_connection",
        "disk_mount",
    ];
    let rules: String = detectors
        .iter()
        .map(|d| format!("    - event: {d}\n"))
        .collect();
    let image = compile_global(s.path(), "containers", &rules);
    let d = s.real_path().to_string_lossy().into_owned();
    let actions = |tag: &str| {
        format!(
            r#"
import socket
O_RDONLY, O_WRONLY, O_CREAT = 0, 1, 0o100
root = "{d}/{tag}"
os.makedirs(root + "/proc", exist_ok=True)
os.makedirs(root + "/sa/secrets/kubernetes.io/serviceaccount", exist_ok=True)
os.makedirs(root + "/cg/x", exist_ok=True)
os.makedirs(root + "/mnt", exist_ok=True)
def opened(path, flags):
    os.close(os.open(path, flags | O_CREAT, 0o644))
opened(root + "/cg/notify_on_release", O_WRONLY)          # cgroup_notify_on_release
opened(root + "/cg/x/notify_on_release", O_RDONLY)        # miss: a read
opened(root + "/cg/release_agent", O_WRONLY)              # cgroup_release_agent
opened(root + "/cg/tr-e2e-agent", O_WRONLY)
os.rename(root + "/cg/tr-e2e-agent", root + "/cg/x/release_agent")  # cgroup_release_agent
opened(root + "/proc/kcore", O_RDONLY)                    # proc_kcore_read
opened(root + "/proc/kcore-not", O_RDONLY)                # miss: another name
opened(root + "/sa/secrets/kubernetes.io/serviceaccount/token", O_RDONLY)      # token
opened(root + "/sa/secrets/kubernetes.io/serviceaccount/namespace", O_RDONLY)  # miss
opened(root + "/docker.sock", O_WRONLY)                   # docker_abuse
srv = socket.socket(socket.AF_UNIX)
srv.bind(root + "/run-docker.sock")
srv.listen(4)
socket.socket(socket.AF_UNIX).connect(root + "/run-docker.sock")   # docker_abuse
srv2 = socket.socket(socket.AF_UNIX)
srv2.bind(root + "/other.sock")
srv2.listen(4)
socket.socket(socket.AF_UNIX).connect(root + "/other.sock")        # miss: another socket
tcp = socket.socket()
tcp.bind(("127.0.0.1", 0))
tcp.listen(4)
socket.socket().connect(tcp.getsockname())                # k8s_api_connection
assert libc.mount(b"/dev/tr-e2e-loop", (root + "/mnt").encode(), b"tmpfs", 0, None) == 0  # disk_mount
assert libc.mount(b"tr-e2e-none", (root + "/mnt").encode(), b"tmpfs", 0, None) == 0       # miss
# The kernel's own files, in this mount namespace only.
assert libc.mount(b"none", b"/proc/sys/kernel", b"tmpfs", 0, None) == 0
opened("/proc/sys/kernel/core_pattern", O_WRONLY)         # core_pattern_modification
opened("/proc/sys/kernel/sysrq", O_WRONLY)                # system_request_key_mod
opened("/proc/sys/kernel/sysrq", O_RDONLY)                # miss: a read
assert libc.mount(b"none", b"/sys/kernel/debug", b"debugfs", 0, None) == 0
os.close(os.open("/sys/kernel/debug/sched/debug", O_RDONLY))  # sched_debug_recon
"#
        )
    };
    let script = |tag: &str| named_script("tr-det-cont", &actions(tag));
    let t = Tracer::start(&image, &[]);
    let inside = format!(
        "echo $$ > {}/cgroup.procs && exec unshare -m --propagation private python3 -c '{}'",
        cg.display(),
        script("in").replace('\'', "'\\''")
    );
    sh(&inside);
    run(
        "unshare",
        &[
            "-m",
            "--propagation",
            "private",
            "python3",
            "-c",
            &script("host"),
        ],
    );
    let run = t.stop();
    let _ = std::fs::remove_dir(&cg);
    let _ = std::fs::remove_dir(&base);
    run.assert_clean();
    let mine = |detector: &str| -> Vec<String> {
        detections(&run, detector)
            .iter()
            .filter(|e| e["processName"] == "tr-det-cont")
            .map(|e| {
                let (base, _) = detected_from(e);
                let what = ["pathname", "new_path", "dev_name", "remote_addr"]
                    .iter()
                    .map(|f| from_arg(e, f))
                    .find(|v| !v.is_null())
                    .unwrap_or(Value::Null);
                let what = match what {
                    Value::String(s) => s.replace(&d, ""),
                    Value::Object(a) => a
                        .get("sun_path")
                        .or_else(|| a.get("sin_addr"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .replace(&d, ""),
                    _ => String::new(),
                };
                format!("{base} {what}")
            })
            .collect()
    };
    let expect = [
        (
            "cgroup_notify_on_release",
            vec!["security_file_open /in/cg/notify_on_release"],
        ),
        (
            "cgroup_release_agent",
            vec![
                "security_file_open /in/cg/release_agent",
                "security_inode_rename /in/cg/x/release_agent",
            ],
        ),
        ("proc_kcore_read", vec!["security_file_open /in/proc/kcore"]),
        (
            "k8s_service_account_token",
            vec!["security_file_open /in/sa/secrets/kubernetes.io/serviceaccount/token"],
        ),
        (
            "docker_abuse",
            vec![
                "security_file_open /in/docker.sock",
                "security_socket_connect /in/run-docker.sock",
            ],
        ),
        (
            "k8s_api_connection",
            vec!["security_socket_connect 127.0.0.1"],
        ),
        ("disk_mount", vec!["security_sb_mount /dev/tr-e2e-loop"]),
        (
            "core_pattern_modification",
            vec!["security_file_open /proc/sys/kernel/core_pattern"],
        ),
        (
            "system_request_key_mod",
            vec!["security_file_open /proc/sys/kernel/sysrq"],
        ),
        (
            "sched_debug_recon",
            vec!["security_file_open /sys/kernel/debug/sched/debug"],
        ),
    ];
    for (detector, want) in expect {
        assert_eq!(mine(detector), want, "{detector}: {:#?}", run.events);
    }
}

/// A container id for the test's cgroup: 64 hex digits.
const fn det_u128() -> u128 {
    0x7472_6465_7465_6374_6f72_7365_3265_6531
}

/// Tracee's default policy (its Helm chart's, in testdata) loads unchanged, and its
/// detections come out under its name: an anti_debugging from a process of the test's, and
/// no `ptrace` event (the policy has no rule on it).
#[test]
fn tracee_default_policy_loads_and_detects() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile_paths(
        s.path(),
        &[crate::root_dir().join("testdata/tracee-detector-policies/helm_default_policy.yaml")],
    );
    let comm = "tr-det-default";
    let script = named_script(comm, "assert libc.ptrace(0, 0, None, None) == 0\n");
    let run = traced(&image, "python3", &["-c", &script]);
    let anti: Vec<&Value> = detections(&run, "anti_debugging")
        .into_iter()
        .filter(|e| e["processName"] == comm)
        .collect();
    assert_eq!(anti.len(), 1, "{:#?}", run.events);
    assert_eq!(policies_of(anti[0]), ["default-policy"]);
    assert!(run.named("ptrace").is_empty(), "{:#?}", run.events);
}
