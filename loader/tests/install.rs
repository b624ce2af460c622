//! The image's maps install into this kernel: every entry of the bundled policies' image is
//! read back from the kernel maps. Needs root (BPF); outside CI it skips loudly without it.

use std::mem::MaybeUninit;
use std::path::Path;

#[path = "e2e/harness.rs"]
#[allow(dead_code)]
mod harness;

use harness::can_bpf;

fn bundled_image() -> schema::image::Image {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/policies");
    let checked = match compiler::check_paths(&[dir]) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let Some(lowered) = &checked.lowered else {
        panic!("bundled policies do not lower")
    };
    compiler::encode::image(&checked.policies, lowered)
}

fn plan(image: &schema::image::Image) -> loader::Plan {
    match loader::Plan::from_probes(&image.meta.probes) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// Every program of the object passes the verifier of this kernel (not only those the
/// bundled policies happen to need).
#[test]
fn every_program_loads() {
    if !can_bpf() {
        return;
    }
    let image = bundled_image();
    let probes: Vec<String> = [
        "tp_btf/sys_enter",
        "tp_btf/sys_exit",
        "tp/syscalls/sys_enter_openat",
        "tp/syscalls/sys_exit_openat",
        "tp_btf/sched_process_fork",
        "tp_btf/sched_process_exec",
        "tp_btf/sched_process_exit",
        "tp_btf/cgroup_mkdir",
        "tp_btf/ext4_unlink_enter",
        "iter/task",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let plan = match loader::Plan::from_probes(&probes) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let mut storage = MaybeUninit::uninit();
    if let Err(e) = loader::install(
        &image,
        &plan,
        loader::DEFAULT_RING_BYTES,
        &mut storage,
        None,
        1,
    ) {
        panic!("install with every program: {e}");
    }
}

#[test]
fn unknown_probes_and_bad_ring_sizes_are_refused() {
    let err = loader::Plan::from_probes(&["kprobe/do_sys_open".to_owned()]);
    assert!(
        matches!(&err, Err(e) if e.to_string().contains("kprobe/do_sys_open")),
        "{err:?}"
    );
    let plan = match loader::Plan::from_probes(&["derived/dropped_executable".to_owned()]) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(plan.unsupported, vec!["dropped_executable".to_owned()]);
    // Nothing for the event; only the exec and fork hooks that record every executable.
    assert_eq!(
        plan.hooks,
        [
            loader::Hook::Btf("tr_sched_exec"),
            loader::Hook::Btf("tr_sched_fork")
        ]
    );
    if !can_bpf() {
        return;
    }
    let image = bundled_image();
    let mut storage = MaybeUninit::uninit();
    match loader::install(&image, &plan, 3 << 20, &mut storage, None, 1) {
        Ok(_) => panic!("a 3 MiB ring buffer was accepted"),
        Err(e) => assert!(e.to_string().contains("power of two"), "{e}"),
    }
}

#[test]
fn every_image_entry_is_in_the_kernel_maps() {
    if !can_bpf() {
        return;
    }
    let image = bundled_image();
    let mut storage = MaybeUninit::uninit();
    let (skel, installed) = match loader::install(
        &image,
        &plan(&image),
        loader::DEFAULT_RING_BYTES,
        &mut storage,
        None,
        1,
    ) {
        Ok(x) => x,
        Err(e) => panic!("install: {e}"),
    };
    let expected: usize = image.maps.iter().map(|m| m.entries.len()).sum();
    assert_eq!(installed.entries, expected);
    assert_eq!(installed.maps, image.maps.len());
    assert!(expected > 100, "the bundled image should fill the maps");
    for map in &image.maps {
        for (key, value) in &map.entries {
            let got = match loader::lookup(&skel, &map.name, key) {
                Ok(v) => v,
                Err(e) => panic!("{e}"),
            };
            assert_eq!(got.as_ref(), Some(value), "map {} key {key:02x?}", map.name);
        }
    }
}

#[test]
fn images_for_other_layouts_or_catalogs_are_refused_before_loading() {
    if !can_bpf() {
        return;
    }
    let mut image = bundled_image();
    image.abi_hash ^= 1;
    let mut storage = MaybeUninit::uninit();
    let err = match loader::install(
        &image,
        &plan(&image),
        loader::DEFAULT_RING_BYTES,
        &mut storage,
        None,
        1,
    ) {
        Ok(_) => panic!("an image for another layout was installed"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("recompile"), "{err}");

    let mut image = bundled_image();
    image.maps.retain(|m| m.name != "rule_int");
    let mut storage = MaybeUninit::uninit();
    match loader::install(
        &image,
        &plan(&image),
        loader::DEFAULT_RING_BYTES,
        &mut storage,
        None,
        1,
    ) {
        Ok(_) => panic!("an image without rule_int was installed"),
        Err(e) => assert!(e.to_string().contains("`rule_int` is missing"), "{e}"),
    }
}
