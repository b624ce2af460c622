//! Builds the BPF object with libbpf-cargo and generates its skeleton into OUT_DIR.

use std::path::PathBuf;

const SRC: &str = "../bpf/tracee.bpf.c";
const HEADERS: &[&str] = &["../bpf/include/abi.h", "../bpf/maps.bpf.h"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH")?;
    // <linux/bpf.h> includes <asm/types.h>, which Debian keeps under the multiarch dir.
    let multiarch = format!("-I/usr/include/{arch}-linux-gnu");
    libbpf_cargo::SkeletonBuilder::new()
        .source(SRC)
        .clang_args(["-I../bpf/include", multiarch.as_str()])
        .build_and_generate(out.join("tracee.skel.rs"))?;
    println!("cargo:rerun-if-changed={SRC}");
    for header in HEADERS {
        println!("cargo:rerun-if-changed={header}");
    }
    Ok(())
}
