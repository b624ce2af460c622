//! `tracee-load IMAGE`: installs a tracee-compile image, attaches the hooks it needs and
//! prints the events its policies select until stopped.

use std::io::Write;
use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use loader::run::{Output, RunOptions};
use loader::{Hook, Plan};

#[derive(Clone, Copy, ValueEnum)]
enum OutputArg {
    /// Columns like Tracee's table: time, uid, comm, pid, tid, ret, event, args.
    Table,
    /// One JSON object per line with Tracee's event field names.
    Json,
}

#[derive(Parser)]
#[command(
    name = "tracee-load",
    version,
    about = "Install a tracee-compile map image into the kernel and print the events it selects"
)]
struct Cli {
    /// The image written by `tracee-compile -o`.
    image: PathBuf,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    output: OutputArg,
    /// Stop after printing this many events.
    #[arg(long, value_name = "N")]
    max_events: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Ring buffer size in MiB (a power of two).
    #[arg(long, value_name = "MIB", default_value_t = loader::DEFAULT_RING_BYTES >> 20)]
    ring_buffer_mb: u32,
    /// Where the host's root directory is (container runtime state is read under it), for a
    /// loader that runs in a container with the host's root mounted elsewhere.
    #[arg(long, value_name = "DIR", default_value = "/")]
    host_root: PathBuf,
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("tracee-load: error: {message}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    let duration = match cli.duration {
        Some(s) if !(s.is_finite() && s >= 0.0) => {
            return fail(
                2,
                format!("--duration must be a number of seconds, got {s}"),
            );
        }
        s => s.map(Duration::from_secs_f64),
    };
    let image = match schema::image::read_file(&cli.image) {
        Ok((image, _)) => image,
        Err(err @ schema::image::ReadError::Io { .. }) => return fail(2, err),
        Err(err) => return fail(1, err),
    };
    // Everything about the image is checked before the kernel is touched.
    if let Err(err) = image.check_compat(schema::abi::abi_hash(), schema::catalog::catalog_hash()) {
        return fail(1, err);
    }
    let plan = match Plan::from_probes(&image.meta.probes) {
        Ok(plan) => plan,
        Err(err) => return fail(1, err),
    };
    for note in &plan.degraded {
        eprintln!("tracee-load: warning: {note}");
    }
    for event in &plan.unsupported {
        eprintln!(
            "tracee-load: warning: event `{event}` is not produced by this loader yet; rules selecting it print nothing"
        );
    }
    for field in &loader::containers::MetadataFilters::new(&image).unknown_fields {
        eprintln!(
            "tracee-load: warning: this loader cannot decide filters on `{field}` (an image from a newer tracee-compile?): their policies match nothing"
        );
    }
    let ring_bytes = cli.ring_buffer_mb.saturating_mul(1 << 20);
    if let Err(err) = loader::check_kernel() {
        return fail(1, err);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            return fail(1, format!("installing the signal handler: {e}"));
        }
    }
    let needs_tracefs = plan
        .hooks
        .iter()
        .any(|h| matches!(h, Hook::SyscallTracepoint { .. }));
    if needs_tracefs {
        match loader::ensure_tracefs() {
            Ok(true) => eprintln!(
                "tracee-load: mounted tracefs at /sys/kernel/tracing (per-syscall tracepoints need it)"
            ),
            Ok(false) => {}
            Err(err) => return fail(1, err),
        }
    }
    serve(&cli, &image, &plan, ring_bytes, duration, &stop, started)
}

fn serve(
    cli: &Cli,
    image: &schema::image::Image,
    plan: &Plan,
    ring_bytes: u32,
    duration: Option<Duration>,
    stop: &AtomicBool,
    started: Instant,
) -> ExitCode {
    let mut storage = MaybeUninit::uninit();
    let (skel, installed) = match loader::install(image, plan, ring_bytes, &mut storage) {
        Ok(done) => done,
        Err(err) => return fail(1, err),
    };
    if let Err(err) = loader::seed_tree(&skel, image) {
        return fail(1, err);
    }
    let containers = plan.hooks.contains(&Hook::Btf("tr_cgroup_mkdir"));
    if let Err(err) = containers
        .then(|| loader::seed_containers(&skel, installed.cgroup_v1.as_ref()))
        .transpose()
    {
        return fail(1, err);
    }
    let links = match loader::attach(&skel, plan) {
        Ok(links) => links,
        Err(err) => return fail(1, err),
    };
    // Again after attaching: what appeared in between is caught by one or the other.
    if let Err(err) = loader::seed_tree(&skel, image) {
        return fail(1, err);
    }
    if let Err(err) = containers
        .then(|| loader::seed_containers(&skel, installed.cgroup_v1.as_ref()))
        .transpose()
    {
        return fail(1, err);
    }
    if let Err(err) = loader::seed_follow(&skel, plan) {
        return fail(1, err);
    }
    eprintln!(
        "tracee-load: attached {} hooks for {} events of {} policies ({} map entries) in {} ms",
        links.len(),
        image.meta.events.len(),
        image.meta.policies.len(),
        installed.entries,
        started.elapsed().as_millis()
    );
    let options = RunOptions {
        output: match cli.output {
            OutputArg::Table => Output::Table,
            OutputArg::Json => Output::Json,
        },
        max_events: cli.max_events,
        duration,
        host_root: cli.host_root.clone(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = loader::run::run(&skel, image, &options, stop, &mut out);
    drop(links);
    let (_, lost) = loader::counters(&skel);
    match result {
        Ok(summary) => {
            let mut line = format!(
                "tracee-load: {} events printed, {} lost",
                summary.printed, lost
            );
            if summary.filtered > 0 {
                line.push_str(&format!(
                    ", {} not matching container metadata filters",
                    summary.filtered
                ));
            }
            if summary.output_closed {
                line.push_str(" (output closed)");
            }
            let _ = writeln!(std::io::stderr(), "{line}");
            ExitCode::SUCCESS
        }
        Err(err) => fail(1, err),
    }
}
