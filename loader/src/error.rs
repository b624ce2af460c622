//! Why loading failed, with the hint users need for the kernel refusals they meet.

use schema::image::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("cannot read {path}: {}", schema::input::describe_io(.source))]
    ImageIo {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} {problem}\n  help: {help}")]
    ImageFile {
        path: String,
        problem: String,
        help: String,
    },
    #[error("{path}: {source}")]
    ImageInvalid {
        path: String,
        #[source]
        source: ImageError,
    },
    #[error(
        "the image has map `{name}`, which this loader's BPF object does not define: the image was built for another loader version"
    )]
    UnknownMap { name: String },
    #[error(
        "the BPF object's map `{name}` is missing from the image: recompile the policies with the matching tracee-compile"
    )]
    MissingMap { name: String },
    #[error(
        "map `{name}`: the image has {image_key}-byte keys and {image_value}-byte values, the BPF object {object_key} and {object_value}"
    )]
    MapShape {
        name: String,
        image_key: u32,
        image_value: u32,
        object_key: u32,
        object_value: u32,
    },
    #[error(
        "the image asks for hook `{probe}`, which this loader does not know: recompile the policies with the matching tracee-compile"
    )]
    UnknownProbe { probe: String },
    #[error("{0}")]
    Kernel(String),
    /// A stop (SIGINT, SIGTERM) arrived while the programs were being loaded.
    #[error("stopped before the programs were attached")]
    Cancelled,
    #[error(
        "--ring-buffer-mb: the ring buffer must be a power of two of at least 1 MiB, got {0} bytes"
    )]
    RingSize(u64),
    #[error("{step}: {source}{}", hint(source))]
    Libbpf {
        step: String,
        #[source]
        source: libbpf_rs::Error,
    },
}

/// What to do about the kernel refusals users meet.
pub(crate) fn hint(source: &libbpf_rs::Error) -> &'static str {
    match source.kind() {
        libbpf_rs::ErrorKind::PermissionDenied => {
            " (run as root: loading BPF programs needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)"
        }
        libbpf_rs::ErrorKind::NotFound => {
            " (the kernel lacks this hook or type: tracee-load needs Linux 5.15+ with BTF, tp_btf and task storage)"
        }
        libbpf_rs::ErrorKind::OutOfMemory => {
            " (BPF maps are charged to the loader's memory cgroup: raise its memory limit, or lower --ring-buffer-mb)"
        }
        _ => "",
    }
}

pub(crate) fn libbpf(step: impl Into<String>) -> impl FnOnce(libbpf_rs::Error) -> LoadError {
    let step = step.into();
    move |source| LoadError::Libbpf { step, source }
}
