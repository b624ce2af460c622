//! Events carry their workload: a process in a container-named cgroup, with a fake docker
//! state under `--host-root` naming its container and pod, prints its container, pod,
//! executable and thread start time, in both JSON shapes; a host process prints none.

use serde_json::Value;

use crate::harness::*;

/// What the loader reads for a process's executable (`/proc/PID/exe` names the file itself,
/// symlinks resolved).
fn cat_path() -> String {
    let out = match std::process::Command::new("sh")
        .args(["-c", "command -v cat"])
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        other => panic!("no cat: {other:?}"),
    };
    match std::fs::canonicalize(out.trim()) {
        Ok(p) => p.to_string_lossy().into_owned(),
        Err(e) => panic!("{}: {e}", out.trim()),
    }
}

/// `cat MARKER -` from cgroup `cg`, kept alive a second by its stdin so its executable is
/// still there to read when the loader formats its event.
fn cat_in(cg: Option<&std::path::Path>, marker: &std::path::Path) {
    let join = cg.map_or(String::new(), |cg| {
        format!("echo $$ > {}/cgroup.procs && ", cg.display())
    });
    sh(&format!(
        "{join}sleep 1 | cat {} - > /dev/null",
        marker.display()
    ));
}

#[test]
fn events_carry_their_workload() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.path().to_string_lossy().into_owned();
    let id = format!("{:02x}b0cafe", 5).repeat(8);
    let host = s.path().join("host");
    let config = host.join(format!("var/lib/docker/containers/{id}/config.v2.json"));
    if let Some(parent) = config.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let state = serde_json::json!({
        "ID": id,
        "Name": "/api",
        "Image": "sha256:cafe",
        "Config": {"Image": "quay.io/shop/api:2", "Labels": {
            "io.kubernetes.pod.name": "api-7d9",
            "io.kubernetes.pod.namespace": "shop",
            "io.kubernetes.pod.uid": "6f1e-uid",
        }},
    });
    if let Err(e) = std::fs::write(&config, state.to_string()) {
        panic!("{e}");
    }
    let image = compile(
        s.path(),
        &[(
            "w.yaml",
            &policy(
                "workload",
                &["global"],
                &rule("openat", &[&format!("args.pathname={dir}/*")]),
            ),
        )],
    );
    let base = cgroup_v2().join(format!("tracee-e2e-workload-{}", std::process::id()));
    let cg = base.join(format!("docker-{id}.scope"));
    if let Err(e) = std::fs::create_dir_all(&cg) {
        panic!("create {}: {e}", cg.display());
    }
    let host_arg = host.to_string_lossy().into_owned();
    let cat = cat_path();
    let markers = |shape: &str| {
        (
            s.file(&format!("{shape}-in")),
            s.file(&format!("{shape}-host")),
        )
    };

    // Tracee v0.24's shape (`--output json`).
    let (inside, outside) = markers("v024");
    let t = Tracer::start(&image, &["--host-root", &host_arg]);
    cat_in(Some(&cg), &inside);
    cat_in(None, &outside);
    let v024 = t.stop();

    // Tracee's current shape.
    let (inside_v1, outside_v1) = markers("v1beta1");
    let mut cmd = loader();
    cmd.args(["--output", "json-v1beta1"])
        .arg(&image)
        .args(["--host-root", &host_arg]);
    let t = Tracer::spawn(cmd);
    cat_in(Some(&cg), &inside_v1);
    cat_in(None, &outside_v1);
    let v1 = t.stop();
    let _ = std::fs::remove_dir(&cg);
    let _ = std::fs::remove_dir(&base);

    v024.assert_clean();
    let e = v024.one_with("openat", "pathname", &inside);
    assert_eq!(e["processName"], "cat");
    assert_eq!(e["executable"], serde_json::json!({"path": cat}), "{e}");
    assert_eq!(e["containerId"], id.as_str());
    assert_eq!(
        e["container"],
        serde_json::json!({"id": id, "name": "api", "image": "quay.io/shop/api:2", "imageDigest": "sha256:cafe"})
    );
    assert_eq!(
        e["kubernetes"],
        serde_json::json!({"podName": "api-7d9", "podNamespace": "shop", "podUID": "6f1e-uid"})
    );
    // Wall-clock ns, like `timestamp`: the thread started just before its event.
    let (started, at) = (
        e["threadStartTime"].as_i64().unwrap_or(0),
        e["timestamp"].as_i64().unwrap_or(0),
    );
    assert!(
        started > 0 && started <= at && at - started < 30_000_000_000,
        "{e}"
    );
    let h = v024.one_with("openat", "pathname", &outside);
    assert_eq!(h["executable"], serde_json::json!({"path": cat}), "{h}");
    assert_eq!(h["containerId"], "");
    assert_eq!(h["container"], serde_json::json!({}));
    assert_eq!(h["kubernetes"], serde_json::json!({}));
    assert!(h["threadStartTime"].as_i64().unwrap_or(0) > 0, "{h}");

    v1.assert_clean();
    let one = |path: &std::path::Path| -> &Value {
        let path = path.to_string_lossy();
        let found: Vec<&Value> = v1
            .events
            .iter()
            .filter(|e| {
                e["name"] == "openat"
                    && e["data"].as_array().is_some_and(|d| {
                        d.iter()
                            .any(|v| v["name"] == "pathname" && v["str"] == *path)
                    })
            })
            .collect();
        assert_eq!(found.len(), 1, "{path}: {:#?}", v1.events);
        found[0]
    };
    let e = one(&inside_v1);
    assert_eq!(e["id"], 257);
    assert_eq!(e["policies"], serde_json::json!({"matched": ["workload"]}));
    assert!(
        e["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
        "{e}"
    );
    let w = &e["workload"];
    assert_eq!(w["process"]["executable"]["path"], cat.as_str(), "{e}");
    assert_eq!(w["process"]["thread"]["name"], "cat");
    assert_eq!(w["process"]["thread"]["syscall"], "openat");
    assert!(w["process"]["thread"]["start_time"].is_string(), "{e}");
    assert_eq!(
        w["container"],
        serde_json::json!({
            "id": id,
            "name": "api",
            "image": {"id": "", "repo_digests": ["sha256:cafe"], "name": "quay.io/shop/api:2"},
            "started": true,
        })
    );
    assert_eq!(
        w["k8s"],
        serde_json::json!({"pod": {"name": "api-7d9", "uid": "6f1e-uid"}, "namespace": {"name": "shop"}})
    );
    assert!(
        e["data"].as_array().is_some_and(|d| d
            .iter()
            .any(|v| v["name"] == "dirfd" && v["int32"].is_i64())),
        "{e}"
    );
    let h = one(&outside_v1);
    assert_eq!(h["workload"]["process"]["executable"]["path"], cat.as_str());
    assert!(h["workload"].get("container").is_none(), "{h}");
    assert!(h["workload"].get("k8s").is_none(), "{h}");
}
