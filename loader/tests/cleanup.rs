//! After tracee-load exits (SIGTERM, SIGINT, --duration) the kernel holds none of its
//! programs or maps: compared with the kernel's own listing. A separate test binary, so no
//! other loader of this test run is alive meanwhile.

#[path = "e2e/harness.rs"]
#[allow(dead_code)]
mod harness;

use harness::*;

/// Our programs (tr_*) and maps (the image's and the runtime ones) loaded in the kernel.
fn ours() -> (Vec<String>, Vec<String>) {
    let progs = libbpf_rs::query::ProgInfoIter::default()
        .map(|p| p.name.to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tr_"))
        .collect();
    let maps = libbpf_rs::query::MapInfoIter::default()
        .map(|m| m.name.to_string_lossy().into_owned())
        .filter(|n| {
            loader::RUNTIME_MAPS.contains(&n.as_str())
                || n.starts_with("scope_")
                || n.starts_with("rule_")
                || n == "events"
        })
        .collect();
    (progs, maps)
}

/// The kernel frees a program or map after its last reference goes, in an RCU callback:
/// give it a few seconds, and say what is still there after that.
fn assert_gone(after: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = ours();
        if left == (vec![], vec![]) {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!("left behind after {after}: {left:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn nothing_stays_in_the_kernel_after_exit() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile_paths(
        s.path(),
        &[std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/policies")],
    );
    assert_gone("earlier tests");
    for how in ["TERM", "INT"] {
        let t = Tracer::start(&image, &[]);
        let (progs, maps) = ours();
        assert!(
            !progs.is_empty() && !maps.is_empty(),
            "nothing loaded while running"
        );
        signal(t.pid(), how);
        let mut t = t;
        let run = t.finish();
        run.assert_clean();
        assert_gone(&format!("SIG{how}"));
    }
    let mut t = Tracer::start(&image, &["--duration", "0.2"]);
    t.finish().assert_clean();
    assert_gone("--duration");
}
