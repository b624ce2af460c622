//! Detections decided in the kernel (docs/detectors.md): each detector's technique performed
//! for real in a harmless form, with a near miss that must not fire. Every test names its
//! processes (`prctl(PR_SET_NAME)`) and filters its detections on that name, so tests
//! running beside it cannot add detections; path-based techniques run in a private mount
//! namespace over tmpfs, so the host's files are never touched.

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
    let image = compile(
        s.path(),
        &[(
            "ptrace.yaml",
            &policy(
                "ptrace-detections",
                &["global"],
                &format!(
                    "{}{}{}",
                    rule("anti_debugging", &[&by_name]),
                    rule("ptrace_code_injection", &[&by_name]),
                    rule("ptrace", &["args.request=16", &by_name]),
                ),
            ),
        )],
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

/// sudoers_modification on both its base events: an open for writing (its flags condition
/// runs in the loader) and a rename onto the sudoers directory (kernel only); a read of the
/// same file and a write elsewhere are near misses. In a private mount namespace whose /etc
/// is a tmpfs.
#[test]
fn sudoers_writes_and_renames_but_not_reads() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let comm = "tr-det-sudoers";
    let image = compile(
        s.path(),
        &[(
            "sudoers.yaml",
            &policy(
                "sudoers",
                &["global"],
                &rule("sudoers_modification", &[&format!("comm={comm}")]),
            ),
        )],
    );
    let script = named_script(
        comm,
        r#"
assert libc.mount(b"none", b"/etc", b"tmpfs", 0, None) == 0
os.mkdir("/etc/sudoers.d")
with open("/etc/sudoers.d/tr-e2e", "w") as f:        # written: a detection
    f.write("root ALL=(ALL) ALL\n")
open("/etc/sudoers.d/tr-e2e").read()                  # read: the loader turns it away
with open("/etc/tr-e2e-elsewhere", "w") as f:         # another file: the kernel turns it away
    f.write("x")
os.rename("/etc/tr-e2e-elsewhere", "/etc/sudoers.d/moved")  # a rename onto it: a detection
"#,
    );
    let t = Tracer::start(&image, &[]);
    run(
        "unshare",
        &["-m", "--propagation", "private", "python3", "-c", &script],
    );
    let run = t.stop();
    run.assert_clean();
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

/// fileless_execution: an exec from a memfd and one from /dev/shm (a tmpfs of the test's own
/// mount namespace); an exec of a regular file is the near miss.
#[test]
fn fileless_execution_from_memfd_and_shm() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "fileless.yaml",
            &policy("fileless", &["global"], "    - event: fileless_execution\n"),
        )],
    );
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
    let t = Tracer::start(&image, &[]);
    run(
        "unshare",
        &["-m", "--propagation", "private", "python3", "-c", script],
    );
    let run = t.stop();
    run.assert_clean();
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
    let t = Tracer::start(&image, &[]);
    run("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
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
/// condition in the loader) and a rename onto it; near misses: an exec without the variable
/// (one that only mentions it in a value), a read of the file. /etc is a tmpfs of the test's
/// own mount namespace.
#[test]
fn ld_preload_by_environment_write_and_rename() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let comm = "tr-det-preload";
    let image = compile(
        s.path(),
        &[(
            "preload.yaml",
            &policy("preload", &["global"], "    - event: ld_preload\n"),
        )],
    );
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
    let t = Tracer::start(&image, &[]);
    run(
        "unshare",
        &["-m", "--propagation", "private", "python3", "-c", &script],
    );
    let run = t.stop();
    run.assert_clean();
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
    let image = compile(
        s.path(),
        &[(
            "argv.yaml",
            &policy(
                "argv",
                &["global"],
                &rule(
                    "sched_process_exec",
                    &["data.argv=*tr-e2e-argv-sub*,tr-e2e-argv-exact"],
                ),
            ),
        )],
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
