//! The Kubernetes delivery (`deploy/`) checked without a cluster: every manifest, and the
//! ConfigMaps `tracee-compile --emit configmap` writes, against the Kubernetes API's own
//! schemas (a pinned copy, from the `kubernetes-validate` package that `scripts/deps.sh`
//! installs); the DaemonSet against the loader it runs; the Dockerfile against the build and
//! the libraries the loader links. The run with the DaemonSet's capabilities and mounts is
//! in `tests/e2e/deploy.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[path = "../../scripts/testing/skip.rs"]
mod skip;

/// Where `scripts/deps.sh` installs the validator (a venv of `deploy/validate-requirements.txt`),
/// unless `TRACEE_KUBERNETES_VALIDATE` names it.
const VALIDATOR: &str = "target/tools/kubernetes-validate-1.37.0/bin/kubernetes-validate";

/// The oldest and the newest Kubernetes versions the pinned package has schemas for: the
/// manifests must be valid for both.
const KUBERNETES_VERSIONS: &[&str] = &["1.25.0", "1.37.0"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn manifests() -> Vec<PathBuf> {
    let dir = root().join("deploy/manifests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files.push(root().join("deploy/crds/policies.tracee.aquasec.com.yaml"));
    files
}

/// The validator, or None (after a loud skip, or a failure in CI) when it is not installed.
fn validator() -> Option<PathBuf> {
    let path = std::env::var_os("TRACEE_KUBERNETES_VALIDATE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(VALIDATOR));
    if path.is_file() {
        Some(path)
    } else {
        skip::skip(&format!(
            "{} is not installed: run `. scripts/deps.sh` (it installs kubernetes-validate from deploy/validate-requirements.txt)",
            path.display()
        ));
        None
    }
}

/// Runs the validator in strict mode (unknown fields are errors) on `files` for every
/// version; Err with what it said when any file is refused.
fn validate(validator: &Path, files: &[PathBuf]) -> Result<(), String> {
    for version in KUBERNETES_VERSIONS {
        let out = Command::new(validator)
            .args(["--strict", "--quiet", "--kubernetes-version", version])
            .args(files)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", validator.display()));
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() || said.contains("ERROR") {
            return Err(format!("Kubernetes {version}: {}\n{said}", out.status));
        }
    }
    Ok(())
}

#[test]
fn manifests_are_valid_kubernetes_objects() {
    let Some(validator) = validator() else {
        return;
    };
    let files = manifests();
    assert!(files.len() >= 4, "{files:?}");
    if let Err(e) = validate(&validator, &files) {
        panic!("{e}");
    }
    // The validator refuses what the API server would: a misspelled field, a wrong type.
    let daemonset = read(&root().join("deploy/manifests/30-daemonset.yaml"));
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (from, to) in [
        ("hostPID: true", "hostPid: true"),
        ("containerPort: 9464", "containerPort: metrics"),
    ] {
        assert!(daemonset.contains(from), "{from}");
        let bad = scratch.path().join("bad.yaml");
        std::fs::write(&bad, daemonset.replacen(from, to, 1)).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            validate(&validator, &[bad]).is_err(),
            "`{to}` was not refused"
        );
    }
}

/// The ConfigMap `--emit configmap` writes, for the bundled policies, each Tracee example
/// that compiles on its own, and the detector policies.
#[test]
fn emitted_configmaps_are_valid_kubernetes_objects() {
    let Some(validator) = validator() else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut inputs = vec![
        root().join("testdata/policies"),
        root().join("testdata/tracee-detector-policies"),
    ];
    let examples = root().join("testdata/tracee-examples");
    let mut examples: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap_or_else(|e| panic!("{}: {e}", examples.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "json"))
        .collect();
    examples.sort();
    inputs.extend(examples);
    let mut written = Vec::new();
    for input in &inputs {
        let checked =
            compiler::check_paths(std::slice::from_ref(input)).unwrap_or_else(|e| panic!("{e}"));
        let Some(lowered) = &checked.lowered else {
            continue;
        };
        let image = schema::image::encode(&compiler::encode::image(&checked.policies, lowered));
        let names: Vec<String> = checked.policies.iter().map(|p| p.name.clone()).collect();
        let yaml = compiler::emit::configmap(&image, "tracee-rules", "tracee", &names)
            .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        let out = scratch.path().join(format!("{}.yaml", written.len()));
        std::fs::write(&out, yaml).unwrap_or_else(|e| panic!("{e}"));
        written.push(out);
    }
    assert!(
        written.len() >= 10,
        "only {} of {} inputs compiled",
        written.len(),
        inputs.len()
    );
    if let Err(e) = validate(&validator, &written) {
        panic!("{e}");
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The value following `flag` in `args`.
fn flag_value<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| *a == flag)
        .and_then(|i| args.get(i + 1).copied())
}

fn port_of(addr: &str) -> Option<u64> {
    addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

/// The DaemonSet reads the ConfigMap `tracee-compile --emit configmap` writes, where kubelet
/// updates it, with flags the loader has, and its probes and scrape annotations name the
/// ports the loader serves.
#[test]
fn daemonset_agrees_with_the_configmap_and_the_loader() {
    let ds = yaml(&root().join("deploy/manifests/30-daemonset.yaml"));
    let ns = yaml(&root().join("deploy/manifests/00-namespace.yaml"));
    let sa = yaml(&root().join("deploy/manifests/10-serviceaccount.yaml"));
    assert_eq!(ds["metadata"]["namespace"], ns["metadata"]["name"]);
    assert_eq!(sa["metadata"]["namespace"], ns["metadata"]["name"]);
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], sa["metadata"]["name"]);
    assert_eq!(pod["hostPID"], true);
    let containers = pod["containers"].as_array().cloned().unwrap_or_default();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let args = strs(&c["args"]);
    assert_eq!(strs(&c["command"]), ["/usr/local/bin/tracee-load"]);

    // The image is `rules.bin` of the ConfigMap volume, mounted as a directory (a subPath
    // mount would never see kubelet's update), with --watch.
    let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
    let mounts = c["volumeMounts"].as_array().cloned().unwrap_or_default();
    let mount_of = |name: &str| {
        mounts
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no mount of {name}"))
    };
    let rules = volumes
        .iter()
        .find(|v| v["configMap"].is_object())
        .unwrap_or_else(|| panic!("no ConfigMap volume"));
    assert_eq!(rules["configMap"]["name"], "tracee-rules");
    let rules_mount = mount_of(rules["name"].as_str().unwrap_or_default());
    assert!(rules_mount["subPath"].is_null(), "{rules_mount}");
    assert_eq!(
        format!(
            "{}/{}",
            rules_mount["mountPath"].as_str().unwrap_or_default(),
            compiler::emit::CONFIGMAP_KEY
        ),
        args[0]
    );
    assert!(args.contains(&"--watch"));
    // The ConfigMap the docs tell CI to write is the one mounted.
    let docs = read(&root().join("docs/kubernetes.md"));
    assert!(
        docs.contains("--emit configmap --configmap-name tracee-rules --namespace tracee"),
        "docs/kubernetes.md names another ConfigMap"
    );

    // --host-root is where the host's / is mounted.
    let host_root = flag_value(&args, "--host-root").unwrap_or_else(|| panic!("{args:?}"));
    let host_volume = volumes
        .iter()
        .find(|v| v["hostPath"]["path"] == "/")
        .unwrap_or_else(|| panic!("no hostPath /"));
    let host_mount = mount_of(host_volume["name"].as_str().unwrap_or_default());
    assert_eq!(host_mount["mountPath"], host_root);
    assert_eq!(host_mount["readOnly"], true);
    for m in &mounts {
        assert!(
            m["readOnly"] == true || m["mountPath"] == "/tmp",
            "every mount but the scratch /tmp is read-only: {m}"
        );
    }

    // Capabilities: none but those added (docs/kubernetes.md says why each).
    let sc = &c["securityContext"];
    assert_eq!(strs(&sc["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(
        strs(&sc["capabilities"]["add"]),
        ["BPF", "PERFMON", "SYS_PTRACE", "NET_ADMIN"]
    );
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["allowPrivilegeEscalation"], false);

    // Every flag is one the loader has.
    let help = Command::new(env!("CARGO_BIN_EXE_tracee-load"))
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        let known = help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n"));
        assert!(known, "tracee-load has no {flag}:\n{help}");
    }

    // Probes and scraping use the ports the loader listens on.
    let port_named = |name: &str| {
        c["ports"]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| p["name"] == name))
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("no port {name}"))
    };
    let metrics = port_named("metrics");
    let healthz = port_named("healthz");
    assert_eq!(
        flag_value(&args, "--metrics").and_then(port_of),
        Some(metrics)
    );
    assert_eq!(
        flag_value(&args, "--healthz").and_then(port_of),
        Some(healthz)
    );
    let annotations = &ds["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], metrics.to_string());
    for (probe, path) in [("livenessProbe", "/livez"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["path"], path);
        assert_eq!(c[probe]["httpGet"]["port"], "healthz");
    }
    assert!(c["resources"]["requests"].is_object() && c["resources"]["limits"].is_object());
    assert_eq!(pod["tolerations"][0]["operator"], "Exists");
    assert_eq!(ds["spec"]["updateStrategy"]["type"], "RollingUpdate");
}

/// The Debian package that holds `path` (a library as `ldd` resolves it), trying both sides
/// of the /usr merge.
fn package_of(path: &str) -> Option<String> {
    let mut candidates = vec![path.to_owned()];
    if let Some(rest) = path.strip_prefix("/usr") {
        candidates.push(rest.to_owned());
    } else {
        candidates.push(format!("/usr{path}"));
    }
    for candidate in candidates {
        let out = Command::new("dpkg")
            .args(["-S", &candidate])
            .output()
            .ok()?;
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            let pkg = text.split(':').next()?.trim().to_owned();
            return Some(pkg);
        }
    }
    None
}

/// The Dockerfile builds both binaries from the sources the build context has (.dockerignore
/// keeps none of them out, and the workspace resolves from them alone), and its final stage
/// has every shared library the loader, as built here, links.
#[test]
fn dockerfile_builds_the_binaries_and_ships_their_libraries() {
    use dockerfile_parser::{Dockerfile, Instruction, ShellOrExecExpr};
    let text = read(&root().join("deploy/Dockerfile"));
    let dockerfile = Dockerfile::parse(&text).unwrap_or_else(|e| panic!("deploy/Dockerfile: {e}"));
    let stages: Vec<_> = dockerfile.iter_stages().collect();
    assert!(stages.len() >= 2, "multi-stage: a build and a final stage");
    let run_text = |i: &Instruction| match i {
        Instruction::Run(r) => match &r.expr {
            ShellOrExecExpr::Shell(s) => Some(s.to_string()),
            ShellOrExecExpr::Exec(a) => Some(a.as_str_vec().join(" ")),
        },
        _ => None,
    };
    let build = &stages[0];
    let builds = build
        .instructions
        .iter()
        .filter_map(|i| run_text(i))
        .any(|r| {
            r.contains("cargo build --release --locked")
                && r.contains("-p tracee-load")
                && r.contains("-p tracee-compile")
        });
    assert!(builds, "the build stage builds both binaries in release");

    // COPY sources: in the repository, not ignored (the last pattern that names a path
    // decides, `!` re-including it, as Docker reads the file).
    let ignore = read(&root().join(".dockerignore"));
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let is_ignored = |src: &str| {
        let mut ignored = false;
        for p in &patterns {
            let (keep, p) = match p.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, *p),
            };
            if src == p || src.starts_with(&format!("{p}/")) {
                ignored = !keep;
            }
        }
        ignored
    };
    let context = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut copied = Vec::new();
    for i in &build.instructions {
        let Instruction::Copy(copy) = i else { continue };
        if !copy.flags.is_empty() {
            continue;
        }
        for src in &copy.sources {
            let src = src.content.trim_end_matches('/');
            assert!(root().join(src).exists(), "COPY {src}: no such path");
            assert!(
                !is_ignored(src),
                "COPY {src}: .dockerignore keeps it out of the build context"
            );
            copy_tree(&root().join(src), &context.path().join(src));
            copied.push(src.to_owned());
        }
    }
    for needed in ["Cargo.toml", "Cargo.lock", "bpf"] {
        assert!(copied.iter().any(|c| c == needed), "COPY {needed}");
    }
    // Every file the sources compile in is in the context.
    for file in rust_sources(context.path()) {
        let text = read(&file);
        for literal in included_paths(&text) {
            let dir = file.parent().unwrap_or(context.path());
            assert!(
                dir.join(&literal).exists(),
                "{} compiles in {literal}, which the Dockerfile does not COPY",
                file.strip_prefix(context.path()).unwrap_or(&file).display()
            );
        }
    }
    // The workspace, its members and the lock file resolve from the copied sources alone
    // (what the build needs on this platform: the crates are in cargo's cache already).
    let metadata = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "-e", "normal,build"])
        .args(["-p", "tracee-load", "-p", "tracee-compile"])
        .args(["--target", "x86_64-unknown-linux-gnu"])
        .current_dir(context.path())
        .output()
        .unwrap_or_else(|e| panic!("cargo metadata: {e}"));
    assert!(
        metadata.status.success(),
        "the build context does not resolve: {}",
        String::from_utf8_lossy(&metadata.stderr)
    );

    // The final stage: the binaries copied from the build, tracee-load the entrypoint, and
    // the packages of the libraries it links installed.
    let last = &stages[stages.len() - 1];
    let copies_binaries = last.instructions.iter().any(|i| {
        matches!(i, Instruction::Copy(c) if c.flags.iter().any(|f| f.name.content == "from"
            && f.value.content == "build") && c.destination.content.starts_with("/usr/local/bin"))
    });
    assert!(copies_binaries, "the final stage copies the binaries");
    let entrypoint = last.instructions.iter().find_map(|i| match i {
        Instruction::Entrypoint(e) => match &e.expr {
            ShellOrExecExpr::Exec(a) => Some(a.as_str_vec().join(" ")),
            ShellOrExecExpr::Shell(_) => None,
        },
        _ => None,
    });
    assert_eq!(
        entrypoint.as_deref(),
        Some("/usr/local/bin/tracee-load"),
        "exec-form ENTRYPOINT, so SIGTERM reaches the loader"
    );
    let installed: String = last
        .instructions
        .iter()
        .filter_map(|i| run_text(i))
        .collect::<Vec<_>>()
        .join(" ");
    let Ok(ldd) = Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_tracee-load"))
        .output()
    else {
        skip::skip("no ldd here: cannot list the loader's libraries");
        return;
    };
    let ldd = String::from_utf8_lossy(&ldd.stdout).into_owned();
    let libraries: Vec<&str> = ldd
        .lines()
        .filter_map(|l| l.split("=>").nth(1))
        .filter_map(|r| r.split_whitespace().next())
        .collect();
    assert!(libraries.iter().any(|l| l.contains("libelf")), "ldd: {ldd}");
    for library in libraries {
        let Some(package) = package_of(library) else {
            skip::skip(&format!("dpkg does not know which package holds {library}"));
            return;
        };
        assert!(
            installed.split_whitespace().any(|w| w == package),
            "{library} (package {package}) is not installed in the final stage"
        );
    }
}

/// The crates' library and binary sources and build scripts under `dir` (what the image's
/// build compiles; tests, benchmarks and fuzz targets it does not).
fn rust_sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if !["tests", "benches", "fuzz", "examples", "target"]
                    .iter()
                    .any(|skip| name == *skip)
                {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "rs") {
                found.push(path);
            }
        }
    }
    found
}

/// The literal paths of `include_str!("...")` and `include_bytes!("...")` in Rust source.
fn included_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for mac in ["include_str!(\"", "include_bytes!(\""] {
        for (at, _) in text.match_indices(mac) {
            let rest = &text[at + mac.len()..];
            if let Some(end) = rest.find('"') {
                paths.push(rest[..end].to_owned());
            }
        }
    }
    paths
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        if from.file_name().is_some_and(|n| n == "target") {
            return;
        }
        std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
        for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{e}")) {
            let entry = entry.unwrap_or_else(|e| panic!("{e}"));
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        if let Err(e) = std::fs::copy(from, to) {
            panic!("copy {}: {e}", from.display());
        }
    }
}
