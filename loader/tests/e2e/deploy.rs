//! The DaemonSet of `deploy/manifests/` run on this machine as a container runtime would run
//! it: its command and arguments, its volume mounts at their mount paths (host paths bound,
//! the ConfigMap as kubelet lays it out, emptyDirs as tmpfs), uid 0 with only the
//! capabilities it adds (bounding set, as `drop: [ALL]` leaves it) and no new privileges, in
//! a mount and network namespace of its own over a tmpfs root. The host is never changed:
//! every mount is in the private namespace and goes with it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

fn root_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

enum Source {
    HostPath(String),
    ConfigMap,
    EmptyDir,
}

struct Mount {
    path: String,
    source: Source,
    read_only: bool,
}

/// What the runtime takes from the DaemonSet's one container.
struct Pod {
    command: Vec<String>,
    args: Vec<String>,
    capabilities: Vec<String>,
    mounts: Vec<Mount>,
    no_new_privs: bool,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn daemonset_pod() -> Pod {
    let path = root_dir().join("deploy/manifests/30-daemonset.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let ds: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(
        pod["hostPID"], true,
        "the test runs in the host's pid namespace"
    );
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(sc["runAsUser"], 0);
    let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
    let mounts = c["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let volume = volumes
                .iter()
                .find(|v| v["name"] == m["name"])
                .unwrap_or_else(|| panic!("no volume for {m}"));
            let source = if let Some(p) = volume["hostPath"]["path"].as_str() {
                Source::HostPath(p.to_owned())
            } else if volume["configMap"].is_object() {
                Source::ConfigMap
            } else if volume["emptyDir"].is_object() {
                Source::EmptyDir
            } else {
                panic!("a volume this test cannot lay out: {volume}");
            };
            Mount {
                path: m["mountPath"].as_str().unwrap_or_default().to_owned(),
                source,
                read_only: m["readOnly"] == true,
            }
        })
        .collect();
    Pod {
        command: strings(&c["command"]),
        args: strings(&c["args"]),
        capabilities: strings(&sc["capabilities"]["add"]),
        mounts,
        no_new_privs: sc["allowPrivilegeEscalation"] == false,
    }
}

/// Single-quoted for sh.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The ConfigMap volume as kubelet writes it: a timestamped directory, `..data` pointing at
/// it, `rules.bin` a link through `..data`, the file 0444 and owned by root.
fn configmap_volume(dir: &Path, image: &Path) {
    use std::os::unix::fs::symlink;
    let data = dir.join("..2026_12_06_16_00_00.000000001");
    std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
    write_0444(&data.join("rules.bin"), &read(image));
    symlink(data.file_name().unwrap_or_default(), dir.join("..data"))
        .unwrap_or_else(|e| panic!("{e}"));
    symlink("..data/rules.bin", dir.join("rules.bin")).unwrap_or_else(|e| panic!("{e}"));
}

/// kubelet's update of the volume to `image`: a new directory, `..data` renamed over.
fn configmap_update(dir: &Path, image: &Path) {
    use std::os::unix::fs::symlink;
    let data = dir.join("..2026_12_06_16_05_00.000000002");
    std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
    write_0444(&data.join("rules.bin"), &read(image));
    symlink(data.file_name().unwrap_or_default(), dir.join("..data_tmp"))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap_or_else(|e| panic!("{e}"));
}

fn write_0444(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The command that runs the pod's container: `unshare` into private mount and network
/// namespaces (loopback up, as in a pod), a tmpfs root with the host's /usr as the image's
/// (read-only), the loader at the command's path, /proc, a read-only /sys and a minimal /dev
/// as a runtime mounts them, the volumes at their mount paths (parents first), then chroot,
/// the capabilities and exec.
fn container(
    pod: &Pod,
    rootfs: &Path,
    volume: &Path,
    capabilities: &[String],
    extra: &[&str],
) -> Command {
    let r = q(&rootfs.to_string_lossy());
    let binary = pod.command.first().cloned().unwrap_or_default();
    let bin_dir = Path::new(&binary)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s = format!(
        "set -e\n\
         R={r}\n\
         mount -t tmpfs -o mode=755 tracee-pod \"$R\"\n\
         mkdir -p \"$R/usr\" \"$R/etc\" \"$R/proc\" \"$R/sys\" \"$R/dev\"\n\
         mount --rbind -o ro /usr \"$R/usr\"\n\
         for d in bin sbin lib lib64; do\n\
           if [ -L /$d ]; then ln -s \"$(readlink /$d)\" \"$R/$d\";\n\
           elif [ -d /$d ]; then mkdir \"$R/$d\"; mount --rbind -o ro /$d \"$R/$d\"; fi\n\
         done\n\
         mount -t tmpfs -o mode=755 image-bin \"$R\"{bin_dir}\n\
         touch \"$R\"{binary}\n\
         mount --bind -o ro {loader} \"$R\"{binary}\n\
         mount -t proc proc \"$R/proc\"\n\
         mount -t sysfs -o ro sysfs \"$R/sys\"\n\
         mount -t tmpfs -o mode=755 dev \"$R/dev\"\n\
         for n in null zero random urandom; do touch \"$R/dev/$n\"; mount --bind /dev/$n \"$R/dev/$n\"; done\n\
         ip link set lo up\n",
        bin_dir = q(&bin_dir),
        binary = q(&binary),
        loader = q(env!("CARGO_BIN_EXE_tracee-load")),
    );
    let mut mounts: Vec<&Mount> = pod.mounts.iter().collect();
    mounts.sort_by_key(|m| m.path.matches('/').count());
    for m in mounts {
        let at = format!("\"$R\"{}", q(&m.path));
        s.push_str(&format!("[ -d {at} ] || mkdir -p {at}\n"));
        match &m.source {
            // kubelet: a recursive bind, read-only at its top (as without recursiveReadOnly).
            Source::HostPath(host) => {
                s.push_str(&format!("mount --rbind {} {at}\n", q(host)));
                if m.read_only {
                    s.push_str(&format!("mount -o remount,bind,ro {at}\n"));
                }
            }
            Source::ConfigMap => s.push_str(&format!(
                "mount --bind -o ro {} {at}\n",
                q(&volume.to_string_lossy())
            )),
            Source::EmptyDir => s.push_str(&format!("mount -t tmpfs -o size=16m empty {at}\n")),
        }
    }
    let caps: Vec<String> = capabilities
        .iter()
        .map(|c| format!("+{}", c.to_lowercase()))
        .collect();
    let caps = if caps.is_empty() {
        "-all".to_owned()
    } else {
        format!("-all,{}", caps.join(","))
    };
    s.push_str(&format!(
        "exec chroot \"$R\" /usr/bin/setpriv --bounding-set {caps} --inh-caps -all --ambient-caps -all {}--",
        if pod.no_new_privs {
            "--no-new-privs "
        } else {
            ""
        }
    ));
    for a in pod
        .command
        .iter()
        .chain(pod.args.iter())
        .map(String::as_str)
        .chain(extra.iter().copied())
    {
        s.push(' ');
        s.push_str(&q(a));
    }
    s.push('\n');
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--net",
        "--propagation",
        "private",
        "sh",
        "-c",
        &s,
    ]);
    cmd
}

/// An HTTP GET of `url` from the loader's network namespace: the status and the body.
fn in_pod(t: &Tracer, url: &str) -> (u16, String) {
    let out = Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", t.pid()))
        .args(["curl", "-s", "-m", "5", "-w", "\n%{http_code}", url])
        .output()
        .unwrap_or_else(|e| panic!("nsenter curl: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The bits of named capabilities (`BPF`, as Kubernetes names them) in /proc's masks.
fn capability_mask(names: &[String]) -> u64 {
    names
        .iter()
        .map(|n| match n.as_str() {
            "NET_ADMIN" => 1 << 12,
            "SYS_PTRACE" => 1 << 19,
            "SYS_ADMIN" => 1 << 21,
            "SYS_RESOURCE" => 1 << 24,
            "PERFMON" => 1 << 38,
            "BPF" => 1 << 39,
            other => panic!("capability {other}: add its number here"),
        })
        .fold(0, |mask, bit| mask | bit)
}

/// The bundled overview policy shipped as the DaemonSet's ConfigMap: the loader in the
/// container attaches with exactly the DaemonSet's capabilities, keeps CAP_BPF and
/// CAP_PERFMON, prints the file opens the policy selects (and not the others), and follows
/// kubelet's update of the mounted ConfigMap to a second image.
#[test]
fn daemonset_runs_with_its_capabilities_and_mounts() {
    if !can_bpf() {
        return;
    }
    let pod = daemonset_pod();
    let s = Scratch::new();
    let first = compile_paths(
        &{
            let d = s.path().join("gen1");
            std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
            d
        },
        &[root_dir().join("testdata/policies/overview.yaml")],
    );
    let second_dir = s.path().join("gen2");
    std::fs::create_dir_all(&second_dir).unwrap_or_else(|e| panic!("{e}"));
    let dir = s.real_path();
    let second = compile_global(
        &second_dir,
        "fleet-2",
        &rule(
            "openat",
            &[&format!("args.pathname={}/after-*", dir.display())],
        ),
    );
    let volume = s.path().join("configmap");
    configmap_volume(&volume, &first);
    let rootfs = s.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap_or_else(|e| panic!("{e}"));

    let opened = s.file("opened-by-the-fleet");
    let outside = tempfile::Builder::new()
        .prefix("tracee-e2e-")
        .tempdir_in("/var/tmp")
        .unwrap_or_else(|e| panic!("{e}"));
    let outside_file = outside.path().join("not-under-tmp");
    std::fs::write(&outside_file, "x").unwrap_or_else(|e| panic!("{e}"));
    let after = dir.join("after-update");
    std::fs::write(&after, "x").unwrap_or_else(|e| panic!("{e}"));

    let t = Tracer::spawn(container(&pod, &rootfs, &volume, &pod.capabilities, &[]));
    // What the runtime would have given it: the added capabilities as its bounding set (the
    // loader, without CAP_SETPCAP, cannot change that), no new privileges, a mount and a
    // network namespace of its own.
    let status = std::fs::read_to_string(format!("/proc/{}/status", t.pid()))
        .unwrap_or_else(|e| panic!("{e}"));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            .to_owned()
    };
    assert_eq!(
        u64::from_str_radix(&field("CapBnd:"), 16).ok(),
        Some(capability_mask(&pod.capabilities)),
        "{status}"
    );
    assert_eq!(field("NoNewPrivs:"), "1");
    for ns in ["mnt", "net"] {
        let of = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).ok();
        assert_ne!(of(&t.pid().to_string()), of("self"), "{ns} namespace");
    }
    // Its root is the pod's: the volumes at their mount paths, the host's files only there.
    let pod_root = PathBuf::from(format!("/proc/{}/root", t.pid()));
    assert!(pod_root.join("etc/tracee/..data/rules.bin").is_file());
    assert!(pod_root.join("host/etc/os-release").is_file());
    assert!(!pod_root.join("etc/os-release").exists());
    assert!(
        t.wait_stderr(
            "capabilities kept: CAP_BPF, CAP_PERFMON",
            Duration::from_secs(10)
        ),
        "{:?}",
        t.stderr_so_far()
    );
    run("cat", &[&opened.to_string_lossy()]);
    run("cat", &[&outside_file.to_string_lossy()]);
    // The probes and the scrape, from inside the pod's network namespace, on the ports the
    // manifest names: live, ready, and counting what it printed.
    let args: Vec<&str> = pod.args.iter().map(String::as_str).collect();
    let port = |flag: &str| {
        let i = args.iter().position(|a| *a == flag);
        let addr = i
            .and_then(|i| args.get(i + 1))
            .unwrap_or_else(|| panic!("no {flag}"));
        addr.rsplit_once(':')
            .map(|(_, p)| p.to_owned())
            .unwrap_or_default()
    };
    let healthz = port("--healthz");
    for path in ["/livez", "/readyz"] {
        let (code, body) = in_pod(&t, &format!("http://127.0.0.1:{healthz}{path}"));
        assert_eq!(code, 200, "{path}: {body}");
    }
    let (code, metrics) = in_pod(
        &t,
        &format!("http://127.0.0.1:{}/metrics", port("--metrics")),
    );
    assert_eq!(code, 200, "{metrics}");
    assert!(
        metrics.contains("tracee_load_generation 1") && metrics.contains("tracee_load_ready 1"),
        "{metrics}"
    );
    configmap_update(&volume, &second);
    wait_for_generation_2(&t);
    run("cat", &[&after.to_string_lossy()]);
    let run = t.stop();
    run.assert_clean();
    let opens = run.with_arg("security_file_open", "pathname", &opened.to_string_lossy());
    assert_eq!(opens.len(), 1, "{:#?}", run.named("security_file_open"));
    assert_eq!(policies_of(opens[0]), ["overview-policy"]);
    assert!(
        run.with_arg(
            "security_file_open",
            "pathname",
            &outside_file.to_string_lossy()
        )
        .is_empty(),
        "an open outside /tmp was reported"
    );
    assert_eq!(run.open_policies(&after), ["fleet-2"]);
}

/// One capability fewer than the DaemonSet adds, for each the loader cannot attach without:
/// the loader refuses to start, and says which capability it needs.
#[test]
fn daemonset_without_a_required_capability_says_which() {
    if !can_bpf() {
        return;
    }
    let pod = daemonset_pod();
    let s = Scratch::new();
    let image = compile_paths(
        s.path(),
        &[root_dir().join("testdata/policies/overview.yaml")],
    );
    let volume = s.path().join("configmap");
    configmap_volume(&volume, &image);
    for missing in ["BPF", "PERFMON"] {
        assert!(pod.capabilities.iter().any(|c| c == missing), "{missing}");
        let fewer: Vec<String> = pod
            .capabilities
            .iter()
            .filter(|c| *c != missing)
            .cloned()
            .collect();
        let rootfs = s.path().join(format!("rootfs-{missing}"));
        std::fs::create_dir_all(&rootfs).unwrap_or_else(|e| panic!("{e}"));
        // --duration: a loader that starts after all must not run on.
        let mut cmd = container(&pod, &rootfs, &volume, &fewer, &["--duration", "5"]);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let mut child = KillOnDrop(child);
        let status = wait_within(&mut child.0, Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("without CAP_{missing}: did not exit"));
        let mut stderr = String::new();
        if let Some(mut err) = child.0.stderr.take() {
            use std::io::Read as _;
            let _ = err.read_to_string(&mut stderr);
        }
        assert_eq!(status.code(), Some(1), "without CAP_{missing}: {stderr}");
        assert!(
            stderr.contains("tracee-load: error:")
                && stderr.contains(&format!("has not got CAP_{missing}")),
            "without CAP_{missing}: {stderr}"
        );
        assert!(!stderr.contains("attached"), "{stderr}");
    }
}
