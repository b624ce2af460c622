//! Builds the BPF programs: one object per `bpf/*.bpf.c` (one concern each), linked into a
//! single object with libbpf's static linker, then the libbpf-cargo skeleton over it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiled and linked in this order; maps.bpf.c holds the one definition of every map.
const SOURCES: &[&str] = &[
    "maps.bpf.c",
    "scope.bpf.c",
    "capture.bpf.c",
    "filter.bpf.c",
    "output.bpf.c",
    "file_open.bpf.c",
    "net.bpf.c",
    "packets.bpf.c",
    "sockets.bpf.c",
    "write.bpf.c",
    "containers.bpf.c",
    "inode.bpf.c",
    "task.bpf.c",
    "mem.bpf.c",
    "bpf_syscall.bpf.c",
    "modules.bpf.c",
    "rw.bpf.c",
    "mount.bpf.c",
    "syscalls.bpf.c",
    "sched.bpf.c",
];
const HEADERS: &[&str] = &[
    "include/abi.h",
    "include/vmlinux.h",
    "tracee.bpf.h",
    "range.bpf.h",
    "context.bpf.h",
    "sockets.bpf.h",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH")?;
    let bpf_dir = Path::new("../bpf");
    if arch != "x86_64" {
        return Err(format!(
            "the BPF programs read x86-64 registers; target {arch} is not supported yet"
        )
        .into());
    }

    // libbpf's own headers (bpf_helpers.h, ...) as vendored by libbpf-sys.
    let include = out.join("include");
    std::fs::create_dir_all(include.join("bpf"))?;
    for (name, contents) in libbpf_rs::libbpf_sys::API_HEADERS {
        std::fs::write(include.join("bpf").join(name), contents)?;
    }

    let mut objects = Vec::new();
    for source in SOURCES {
        let src = bpf_dir.join(source);
        let obj = out.join(source.replace(".c", ".o"));
        let status = Command::new(std::env::var("CLANG").unwrap_or_else(|_| "clang".into()))
            .args([
                "-g", "-O2", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror",
            ])
            .args(["-Wno-unused-function", "-D__TARGET_ARCH_x86"])
            .arg(format!("-I{}", include.display()))
            .arg(format!("-I{}", bpf_dir.join("include").display()))
            .arg(format!("-I{}", bpf_dir.display()))
            // <linux/bpf.h> includes <asm/types.h>, which Debian keeps under the multiarch dir.
            .arg("-I/usr/include/x86_64-linux-gnu")
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .status()
            .map_err(|e| format!("running clang (install it: apt-get install clang): {e}"))?;
        if !status.success() {
            return Err(format!("clang failed on {}", src.display()).into());
        }
        objects.push(obj);
    }
    let linked = out.join("tracee.bpf.o");
    let mut linker = libbpf_rs::Linker::new(&linked)?;
    for obj in &objects {
        linker.add_file(obj)?;
    }
    linker.link()?;

    libbpf_cargo::SkeletonBuilder::new()
        .obj(&linked)
        .generate(out.join("tracee.skel.rs"))?;

    for file in SOURCES.iter().chain(HEADERS) {
        println!("cargo:rerun-if-changed={}", bpf_dir.join(file).display());
    }
    Ok(())
}
