//! `bpf/include/abi.h` and `schema::abi` describe the same bytes: compile a probe against
//! the header with the host C compiler and compare every struct size and field offset.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use schema::abi::{LAYOUTS, Layout, RUNTIME_LAYOUTS};

/// Inputs on which abi.h's `anchor_sketch_bit` and Rust's must agree (the BPF programs
/// compute the bits the compiler sets).
const SKETCH_SAMPLES: [(u8, u8, u8, u8); 6] = [
    (1, 3, b'e', b'c'),
    (2, 7, b's', b's'),
    (3, 11, b'd', b'k'),
    (2, 48, 0xff, 0x80),
    (1, 1, b'/', b'/'),
    (3, 255, 255, 255),
];

#[test]
fn c_header_and_rust_structs_have_the_same_layout() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("tempdir: {e}"),
    };
    let mut probe = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"abi.h\"\nint main(void) {\n",
    );
    for layout in LAYOUTS.iter().chain(RUNTIME_LAYOUTS) {
        let c = layout.c_name;
        let _ = writeln!(probe, "  printf(\"{c} size %zu\\n\", sizeof(struct {c}));");
        for (field, _) in layout.fields {
            let _ = writeln!(
                probe,
                "  printf(\"{c}.{field} offset %zu\\n\", offsetof(struct {c}, {field}));"
            );
        }
    }
    for (name, _) in schema::abi::context_field::ALL {
        let _ = writeln!(
            probe,
            "  printf(\"FIELD_{name} %d\\n\", (int)FIELD_{name});"
        );
    }
    for (name, _) in schema::abi::CONSTANTS
        .iter()
        .chain(schema::abi::derived::ALL)
        .chain(schema::abi::derived::MASKS)
        .chain(schema::abi::derived::GROUPS)
    {
        let _ = writeln!(
            probe,
            "  printf(\"{name} %llu\\n\", (unsigned long long){name});"
        );
    }
    for (kind, len, first, last) in SKETCH_SAMPLES {
        let _ = writeln!(
            probe,
            "  printf(\"sketch {kind} {len} {first} {last} %u\\n\", anchor_sketch_bit({kind}, {len}, {first}, {last}));"
        );
    }
    probe.push_str("  return 0;\n}\n");
    let source = dir.path().join("probe.c");
    let binary = dir.path().join("probe");
    if let Err(e) = std::fs::write(&source, probe) {
        panic!("write probe: {e}");
    }
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&compiler)
        .arg("-I")
        .arg(root.join("bpf/include"))
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => panic!("compiling the layout probe with `{compiler}` failed: {other:?}"),
    }
    let output = match Command::new(&binary).output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => panic!("running the probe: {e}"),
    };
    let mut expected = String::new();
    for layout in LAYOUTS.iter().chain(RUNTIME_LAYOUTS) {
        let _ = writeln!(expected, "{} size {}", layout.c_name, layout.size);
        for (field, offset) in layout.fields {
            let _ = writeln!(expected, "{}.{field} offset {offset}", layout.c_name);
        }
    }
    for (name, id) in schema::abi::context_field::ALL {
        let _ = writeln!(expected, "FIELD_{name} {id}");
    }
    for (name, value) in schema::abi::CONSTANTS
        .iter()
        .chain(schema::abi::derived::ALL)
        .chain(schema::abi::derived::MASKS)
        .chain(schema::abi::derived::GROUPS)
    {
        let _ = writeln!(expected, "{name} {value}");
    }
    for (kind, len, first, last) in SKETCH_SAMPLES {
        let bit = schema::abi::anchor_sketch_bit(kind, len, first, last);
        let _ = writeln!(expected, "sketch {kind} {len} {first} {last} {bit}");
    }
    assert_eq!(output, expected, "C (left) and Rust (right) layouts differ");
}

/// The ABI hash of this source tree. Images carry the hash they were compiled for, and the
/// loader refuses an image whose hash differs from its own.
const PINNED_ABI_HASH: u64 = 0xcf5d_4b06_a634_2273;

#[test]
fn abi_hash_is_pinned() {
    assert_eq!(
        schema::abi::abi_hash(),
        PINNED_ABI_HASH,
        "schema::abi::abi_hash() changed (now {:#018x}): a struct layout, limit or context \
         field id changed. That must be a conscious bump: every image compiled before is \
         refused by the new loader (`recompile`). If the change is meant, put the new value \
         in PINNED_ABI_HASH (schema/tests/abi.rs) and say so in the change.",
        schema::abi::abi_hash()
    );
}

/// `abi_hash` covers every layout: `abi_hash_of(LAYOUTS)` is `abi_hash()` (so the hash is
/// made of them), and a copy of `LAYOUTS` with any one field offset, struct size or
/// struct name changed, or a struct left out, hashes differently.
#[test]
fn abi_hash_covers_every_layout() {
    let hash = schema::abi::abi_hash();
    assert_ne!(hash, schema::abi::FNV_OFFSET);
    assert_eq!(
        schema::abi::abi_hash_of(LAYOUTS),
        hash,
        "abi_hash() is no longer abi_hash_of(LAYOUTS)"
    );
    let changed = |what: String, layouts: Vec<Layout>| {
        assert_ne!(
            schema::abi::abi_hash_of(&layouts),
            hash,
            "abi_hash does not see {what}"
        );
    };
    let mut fields_seen = 0;
    for (i, layout) in LAYOUTS.iter().enumerate() {
        for (j, (field, offset)) in layout.fields.iter().enumerate() {
            let mut fields = layout.fields.to_vec();
            fields[j].1 = offset + 1;
            let mut layouts = LAYOUTS.to_vec();
            layouts[i].fields = Vec::leak(fields);
            changed(
                format!("{}.{field} moved by one byte", layout.c_name),
                layouts,
            );
            fields_seen += 1;
        }
        let mut layouts = LAYOUTS.to_vec();
        layouts[i].size += 8;
        changed(format!("{} grown by 8 bytes", layout.c_name), layouts);
        let mut layouts = LAYOUTS.to_vec();
        layouts[i].c_name = "renamed";
        changed(format!("{} renamed", layout.c_name), layouts);
        let mut layouts = LAYOUTS.to_vec();
        layouts.remove(i);
        changed(format!("{} left out", layout.c_name), layouts);
    }
    assert!(fields_seen > 50, "only {fields_seen} fields in LAYOUTS");
}

/// The kernel refuses to create an LPM trie whose key is larger than 4 + 256 bytes
/// (found with a prototype on this kernel: 268 bytes gave EINVAL).
#[test]
fn lpm_trie_keys_fit_the_kernel_limit() {
    assert!(std::mem::size_of::<schema::abi::LpmStrKey>() <= schema::abi::LPM_KEY_MAX);
}
