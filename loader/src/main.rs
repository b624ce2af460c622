//! `tracee-load IMAGE`: installs a tracee-compile image, attaches the hooks it needs and
//! prints the events its policies select until stopped; SIGHUP (or `--watch`) installs the
//! image file again without a restart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use loader::run::{Output, RunOptions};
use loader::session::Session;
use loader::watch::ImageSource;
use loader::{LoadError, Plan};

#[derive(Clone, Copy, ValueEnum)]
enum OutputArg {
    /// Columns like Tracee's table: time, uid, comm, pid, tid, ret, event, args (decoded
    /// flags and modes), fitted to the terminal's width.
    Table,
    /// One JSON object per line with Tracee's event field names (Tracee v0.24's `trace.Event`).
    Json,
    /// One JSON object per line in the shape of Tracee's current API (`v1beta1.Event`).
    #[value(name = "json-v1beta1")]
    JsonV1beta1,
}

#[derive(Parser)]
#[command(
    name = "tracee-load",
    version = schema::VERSION,
    about = "Install a tracee-compile map image into the kernel and print the events it selects"
)]
struct Cli {
    /// The image written by `tracee-compile -o`.
    #[arg(required_unless_present_any = ["completions", "man"])]
    image: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    output: OutputArg,
    /// The table's width in columns (0: unlimited, one line per event). Default: the
    /// terminal's width when stdout is a terminal, else unlimited.
    #[arg(long, value_name = "N")]
    width: Option<usize>,
    /// JSON: write flags, modes, commands and pointers decoded, as strings
    /// (`"O_WRONLY|O_CREAT"`), as Tracee's parse-arguments option does. The table always
    /// decodes them.
    #[arg(long)]
    parse_arguments: bool,
    /// Stop after printing this many events.
    #[arg(long, value_name = "N")]
    max_events: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Ring buffer size in MiB (a power of two).
    #[arg(long, value_name = "MIB", default_value_t = loader::DEFAULT_RING_BYTES >> 20, value_parser = ring_mb)]
    ring_buffer_mb: u32,
    /// Where the host's root directory is (container runtime state is read under it), for a
    /// loader that runs in a container with the host's root mounted elsewhere.
    #[arg(long, value_name = "DIR", default_value = "/")]
    host_root: PathBuf,
    /// Reload the image whenever the file changes (as on SIGHUP).
    #[arg(long)]
    watch: bool,
    /// Never reload: drop every capability once attached (SIGHUP is then ignored).
    #[arg(long, conflicts_with = "watch")]
    no_reload: bool,
    /// Accept an image file that users other than root can write.
    #[arg(long)]
    allow_insecure_image: bool,
    /// Print libbpf's messages (the verifier's log of a refused program among them) as
    /// they come, instead of saving them to a file named in the error.
    #[arg(long, short)]
    verbose: bool,
    /// Report newly lost events this often (seconds).
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    lost_report_interval: f64,
    /// Also print every candidate event no policy matched, each event with the kernel's
    /// decision (an `audit` object; needs --output json or json-v1beta1): for checking the
    /// kernel against `tracee-compile test` and the reference evaluator. Costs nothing when
    /// not given.
    #[arg(long)]
    audit: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 0.0.0.0:9464): events per
    /// event and policy, lost, reloads, the active generation and image, ring buffer fill.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Serve health checks at http://ADDR/livez (the consumer is draining), /readyz
    /// (attached, the last reload not refused) and /healthz (both).
    #[arg(long, value_name = "ADDR")]
    healthz: Option<SocketAddr>,
    /// The loader's own messages on stderr: text, or JSON lines (level, ts, msg).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Read settings from this YAML file: keys are the long flags without `--` (`watch:
    /// true`, `output: json`, `image: /etc/tracee/rules.bin`); flags given on the command
    /// line win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    completions: Option<clap_complete::Shell>,
    /// Write the man page (tracee-load.1) into DIR and exit.
    #[arg(long, value_name = "DIR", exclusive = true)]
    man: Option<PathBuf>,
    #[command(flatten)]
    sinks: loader::sinks::SinkArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// `--ring-buffer-mb`: a usage error (exit 2) when the kernel could never take it.
fn ring_mb(text: &str) -> Result<u32, String> {
    let mb: u32 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number of MiB"))?;
    if mb == 0 || !mb.is_power_of_two() || mb > 1024 {
        return Err(format!(
            "the ring buffer is a power of two of MiB (the kernel's rule), from 1 to 1024, not {mb}"
        ));
    }
    Ok(mb)
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    loader::say!("tracee-load: error: {message}");
    ExitCode::from(code)
}

fn seconds(name: &str, s: f64) -> Result<Duration, String> {
    if s.is_finite() && s >= 0.0 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(format!("{name} must be a number of seconds, got {s}"))
    }
}

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    loader::log::use_json(matches!(cli.log_format, LogFormat::Json));
    if let Some(shell) = cli.completions {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "tracee-load",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = &cli.man {
        return match std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(
                2,
                format!("cannot write the man page into `{}`: {e}", dir.display()),
            ),
        };
    }
    let Some(image) = cli.image.clone() else {
        return fail(2, "give the image file written by `tracee-compile -o`");
    };
    let duration = match cli.duration.map(|s| seconds("--duration", s)).transpose() {
        Ok(d) => d,
        Err(e) => return fail(2, e),
    };
    let lost_report_interval = match seconds("--lost-report-interval", cli.lost_report_interval) {
        Ok(d) => d,
        Err(e) => return fail(2, e),
    };
    if cli.audit && !matches!(cli.output, OutputArg::Json | OutputArg::JsonV1beta1) {
        return fail(2, "--audit prints JSON: add --output json");
    }
    if cli.width.is_some() && matches!(cli.output, OutputArg::Json) {
        return fail(
            2,
            "--width lays out the table: drop it, or use --output table",
        );
    }
    // Signals first, before any other thread: they are served by a thread of their own,
    // and a stop asked for during start-up is honoured as soon as the step in progress ends.
    let (requests, incoming) = std::sync::mpsc::channel();
    let signals = match loader::signals::install((!cli.no_reload).then(|| requests.clone())) {
        Ok(s) => s,
        Err(e) => return fail(1, e),
    };
    let stop = &signals.stop;
    let cancelled = || stop.load(Ordering::SeqCst);
    loader::libbpf_log::capture(cli.verbose);
    // The endpoints answer from the start (alive, not ready), on threads without privilege.
    let telemetry =
        (cli.metrics.is_some() || cli.healthz.is_some()).then(loader::telemetry::Telemetry::new);
    if let Some(t) = &telemetry
        && let Err(e) = loader::serve::start(cli.metrics, cli.healthz, t)
    {
        return fail(2, e);
    }
    // The image file is read on a thread of its own (never by the consumer), through one
    // descriptor checked first; everything about the image is checked before the kernel
    // is touched.
    let source = match ImageSource::start(
        &image,
        cli.allow_insecure_image,
        cli.watch,
        requests,
        incoming,
    ) {
        Ok(s) => s,
        Err(e) => return fail(1, e),
    };
    source.request();
    let read = loop {
        if cancelled() {
            return stopped_early();
        }
        if let Some(read) = source.wait(Duration::from_millis(20)) {
            break read;
        }
    };
    let read = match read {
        Ok(read) => read,
        Err(refusal) => return fail(if refusal.io { 2 } else { 1 }, refusal.message),
    };
    warn_about(&read.image, &read.plan);
    let settings = loader::Settings {
        ring_bytes: cli.ring_buffer_mb.saturating_mul(1 << 20),
        audit: cli.audit,
    };
    if let Err(err) = loader::harden::check_privileges(read.plan.needs_net_admin()) {
        return fail(1, err);
    }
    if let Err(err) = loader::check_kernel() {
        return fail(1, err);
    }
    if read.plan.needs_tracefs() {
        match loader::ensure_tracefs() {
            Ok(true) => loader::say!(
                "tracee-load: mounted tracefs at /sys/kernel/tracing (per-syscall tracepoints need it)"
            ),
            Ok(false) => {}
            Err(err) => return fail(1, err),
        }
    }
    if cancelled() {
        return stopped_early();
    }
    // Sinks are checked (and their threads started) before the kernel is touched: a bad
    // flag costs no attach.
    let sinks = match cli.sinks.start() {
        Ok(s) => s,
        Err(e) => return fail(2, e),
    };
    if let Some(t) = &telemetry {
        t.watch_sinks(sinks.stats());
    }
    let (mut session, shared) = match Session::start(read, source, &image, settings, &cancelled) {
        Ok(s) => s,
        Err(LoadError::Cancelled) => return stopped_early(),
        Err(err) => {
            let note = loader::libbpf_log::note(&err, 1);
            return fail(1, format!("{err}{note}"));
        }
    };
    // The output thread starts before the capabilities go: the line below then describes
    // every thread of the loader.
    let writer = match loader::output::Writer::stdout(matches!(cli.output, OutputArg::Json)) {
        Ok(w) => w,
        Err(e) => return fail(1, e),
    };
    // CAP_NET_ADMIN is kept for an image with network events, and under --watch when it was
    // granted: a later image (a ConfigMap update) may add network events, and a capability
    // dropped cannot come back without a restart.
    let network = session.current().plan.needs_net_admin()
        || (cli.watch && loader::harden::can_load_packet_programs());
    let kept = match loader::harden::drop_capabilities(!cli.no_reload, network) {
        Ok(kept) => kept,
        Err(err) => return fail(1, err),
    };
    loader::say!(
        "tracee-load: {}; capabilities kept: {}",
        session.current().describe(started),
        if kept.is_empty() {
            "none".to_owned()
        } else {
            kept.join(", ")
        }
    );
    let options = RunOptions {
        output: match cli.output {
            OutputArg::Table => Output::Table,
            OutputArg::Json => Output::Json,
            OutputArg::JsonV1beta1 => Output::JsonV1beta1,
        },
        max_events: cli.max_events,
        duration,
        host_root: cli.host_root.clone(),
        lost_report_interval,
        audit: cli.audit,
        telemetry,
        layout: loader::table::Layout::new(table_width(cli.width)),
        parse_arguments: cli.parse_arguments,
    };
    let result = loader::run::run(&mut session, &shared, &options, stop, writer, sinks);
    session.finish();
    let lost = loader::counters(shared.stats()).lost;
    match result {
        Ok(summary) => {
            let mut line = format!(
                "tracee-load: {} events printed, {} lost",
                summary.printed, lost
            );
            if summary.unwritten > 0 {
                line.push_str(&format!(", {} unwritten", summary.unwritten));
            }
            if summary.filtered > 0 {
                line.push_str(&format!(
                    ", {} not matching container metadata filters",
                    summary.filtered
                ));
            }
            if summary.undetected > 0 {
                line.push_str(&format!(
                    ", {} detections whose loader conditions did not hold",
                    summary.undetected
                ));
            }
            if summary.reloads > 0 {
                line.push_str(&format!(", {} reloads", summary.reloads));
            }
            if summary.output_closed {
                line.push_str(" (output closed)");
            }
            for sink in &summary.sinks {
                line.push_str(&format!("; {sink}"));
            }
            let incomplete = summary.unwritten > 0;
            if incomplete && let Some(error) = &summary.output_error {
                line.push_str(&format!(" (the output failed: {error})"));
            }
            loader::say!("{line}");
            // The events went to the kernel's programs and back, but not all of them out:
            // an I/O error, as documented.
            if incomplete {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => fail(1, err),
    }
}

/// The command line, with the settings of `--config FILE` for every flag it does not give.
fn parse() -> Result<Cli, clap::Error> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = Cli::command();
    let merged = loader::config::merge(&command, argv)
        .map_err(|message| Cli::command().error(clap::error::ErrorKind::InvalidValue, message))?;
    let matches = command.try_get_matches_from(merged)?;
    Cli::from_arg_matches(&matches)
}

/// `--width`, else the terminal's (its window size, else `COLUMNS`, else 80) when stdout is
/// one; else unlimited: a pipe or a file gets whole lines.
fn table_width(flag: Option<usize>) -> Option<usize> {
    if flag.is_some() {
        return flag;
    }
    let stdout = std::io::stdout();
    if !rustix::termios::isatty(&stdout) {
        return None;
    }
    let window = rustix::termios::tcgetwinsize(&stdout)
        .ok()
        .map(|w| usize::from(w.ws_col));
    let columns = || {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
    };
    Some(
        window
            .filter(|w| *w > 0)
            .or_else(|| columns().filter(|w| *w > 0))
            .unwrap_or(80),
    )
}

fn stopped_early() -> ExitCode {
    loader::say!("tracee-load: stopped before attaching; 0 events printed, 0 lost");
    ExitCode::SUCCESS
}

fn warn_about(image: &schema::image::Image, plan: &Plan) {
    for note in &plan.degraded {
        loader::say!("tracee-load: warning: {note}");
    }
    for event in &plan.unsupported {
        loader::say!(
            "tracee-load: warning: event `{event}` is not produced by this loader yet; rules selecting it print nothing"
        );
    }
    for field in &loader::containers::MetadataFilters::new(image).unknown_fields {
        loader::say!(
            "tracee-load: warning: this loader cannot decide filters on `{field}` (an image from a newer tracee-compile?): their policies match nothing"
        );
    }
}
