//! `tracee-compile`: checks policy files (`--check`), compiles them into a map image
//! (`-o FILE`), shows what an image holds (`inspect`) and what a policy change does (`diff`).
//! Exit status: 0 no errors, 1 policy errors (or warnings with `--deny-warnings`) or a
//! refused image, 2 usage or I/O errors.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use compiler::diagnostics::render::{self, Summary};

#[derive(Parser)]
#[command(
    name = "tracee-compile",
    version = schema::VERSION,
    about = "Check Tracee-style security policies and compile them into a BPF map image",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
#[command(
    after_help = "Exit status: 0 no errors, 1 policy errors (or warnings with --deny-warnings), 2 usage or I/O errors.\n`tracee-compile explain CODE` explains a diagnostic code (E211, W301, ...)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    compile: CompileArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Show what an image holds: header, policies, and every map entry as readable filters.
    Inspect(InspectArgs),
    /// What a policy change does in the kernel: policies, events, hooks, map entries and memory, OLD -> NEW (each an image or policy paths).
    Diff(compiler::diff::DiffArgs),
    /// List the events a policy can name (Tracee's and ours: sets, fields, produced here or why not), or the event sets.
    List(ListArgs),
    /// Run the policy tests (`*.test.yaml` next to the policies) against the compiled image, as the kernel would decide each case.
    Test(TestArgs),
    /// Explain a diagnostic code: what it means, why it matters, an example and its fix.
    Explain(ExplainArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Write the man pages (tracee-compile.1 and one per subcommand) into a directory.
    Man(ManArgs),
}

#[derive(Args)]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Args)]
struct ManArgs {
    /// The directory to write them in (created if missing).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

#[derive(Args)]
struct ExplainArgs {
    /// The code, as printed in a diagnostic (E211, w301).
    #[arg(value_name = "CODE")]
    code: String,
}

#[derive(Args)]
struct ListArgs {
    /// What to list.
    #[arg(value_enum)]
    what: ListWhat,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ListWhat {
    /// Every event: name, id, kind, Tracee's sets, fields and their types, produced here or why not.
    Events,
    /// Every event set (`tag=NAME` in a rule) and its members.
    Sets,
    /// Every detector (`event: NAME`, or `event: threat.severity>=high`): id, severity, MITRE, what it needs.
    Detectors,
}

#[derive(Args)]
struct TestArgs {
    /// Policy files or directories (their `*.test.yaml`/`*.test.yml` files are the tests), and test files.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// How to print failures.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Colour in human output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Args)]
struct InspectArgs {
    /// The image file written by `tracee-compile -o`.
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// For each policy rule, which filters run in the kernel and which in userspace.
    #[arg(long)]
    explain: bool,
}

#[derive(Args)]
struct CompileArgs {
    /// Policy files, or directories whose *.yaml, *.yml and *.json files are read (not recursively, in file-name order); `-` reads one from standard input.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Only check the policies: report every problem, write nothing (not even with -o).
    #[arg(long)]
    check: bool,

    /// The map image to write (required unless --check). Written atomically; nothing is written when there are errors.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Print at most N diagnostics in the human and github formats, then the total (0: all).
    /// JSON and SARIF always carry every one.
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_diagnostics: usize,

    /// What -o writes: the map image, or a Kubernetes ConfigMap carrying it (binaryData
    /// `rules.bin`) for `kubectl apply`.
    #[arg(long, value_enum, default_value_t = Emit::Image)]
    emit: Emit,

    /// The ConfigMap's name (--emit configmap).
    #[arg(long, value_name = "NAME", default_value = "tracee-rules")]
    configmap_name: String,

    /// The ConfigMap's namespace (--emit configmap).
    #[arg(long, value_name = "NAMESPACE", default_value = "tracee")]
    namespace: String,

    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,

    /// Treat warnings as errors (exit status 1).
    #[arg(long)]
    deny_warnings: bool,

    /// Colour in human output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Emit {
    /// The binary map image tracee-load reads.
    Image,
    /// A ConfigMap manifest (YAML) with the image as binaryData `rules.bin`.
    Configmap,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Reports with the source line and a help line (stderr).
    Human,
    /// One JSON document with a `diagnostics` array (stdout).
    Json,
    /// SARIF 2.1.0, for code-scanning upload (stdout).
    Sarif,
    /// GitHub Actions workflow commands `::error file=F,line=L,col=C::message` (stdout).
    Github,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Inspect(args)) => inspect(&args),
        Some(Command::Diff(args)) => diff(&args),
        Some(Command::Test(args)) => test(&args),
        Some(Command::List(args)) => list(&args),
        Some(Command::Explain(args)) => explain(&args),
        Some(Command::Completions(args)) => {
            use clap::CommandFactory;
            let mut command = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(args.shell, &mut command, "tracee-compile", &mut out);
            if write_all(&mut std::io::stdout(), &String::from_utf8_lossy(&out)) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Some(Command::Man(args)) => {
            use clap::CommandFactory;
            let written = std::fs::create_dir_all(&args.dir)
                .and_then(|()| clap_mangen::generate_to(Cli::command(), &args.dir));
            match written {
                Ok(()) => {
                    eprintln!("wrote the man pages into {}", args.dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!(
                        "error: cannot write the man pages into `{}`: {e}",
                        args.dir.display()
                    );
                    ExitCode::from(2)
                }
            }
        }
        None => compile(&cli.compile),
    }
}

fn explain(args: &ExplainArgs) -> ExitCode {
    use compiler::diagnostics::explain;
    match explain::explain(&args.code) {
        Some(page) => {
            if write_all(&mut std::io::stdout(), &format!("{page}\n")) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        None => {
            let known: Vec<&str> = explain::known().collect();
            eprintln!(
                "error: `{}` is not a tracee-compile diagnostic code; the codes are {}",
                args.code,
                known.join(", ")
            );
            ExitCode::from(2)
        }
    }
}

fn compile(cli: &CompileArgs) -> ExitCode {
    if !cli.check && cli.output.is_none() {
        eprintln!(
            "error: nothing to do: give `-o FILE` to write the image, or `--check` to only check the policies\n\nFor more information, try '--help'."
        );
        return ExitCode::from(2);
    }
    let checked = match compiler::check_paths(&cli.paths) {
        Ok(checked) => checked,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let diagnostics = checked.sorted_diagnostics();
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity() == compiler::diagnostics::Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    let summary = Summary {
        files: checked.sources.len(),
        policies: checked.documents,
        errors,
        warnings,
    };
    let closing = (cli.check || errors > 0 || warnings > 0).then(|| summary_line(&summary));
    let printed = report(
        &diagnostics,
        &checked.sources,
        &summary,
        cli.format,
        cli.color,
        closing.as_deref(),
        cli.max_diagnostics,
    );
    if !printed {
        return ExitCode::from(2);
    }
    if errors > 0 || (cli.deny_warnings && warnings > 0) {
        return ExitCode::from(1);
    }
    if cli.check {
        return ExitCode::SUCCESS;
    }
    let (Some(path), Some(lowered)) = (&cli.output, &checked.lowered) else {
        return ExitCode::SUCCESS;
    };
    let bytes = match compiler::encode::encode(&checked.policies, lowered) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("error: internal error, the image does not decode: {err}");
            return ExitCode::from(2);
        }
    };
    let written = match cli.emit {
        Emit::Image => bytes.clone(),
        Emit::Configmap => {
            let names: Vec<String> = checked.policies.iter().map(|p| p.name.clone()).collect();
            match compiler::emit::configmap(&bytes, &cli.configmap_name, &cli.namespace, &names) {
                Ok(text) => text.into_bytes(),
                Err(err) => {
                    eprintln!("error: {err}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    if let Err(err) = schema::image::write_atomic(path, &written) {
        eprintln!("error: cannot write `{}`: {err}", path.display());
        return ExitCode::from(2);
    }
    let form = match cli.emit {
        Emit::Image => String::new(),
        Emit::Configmap => format!(
            " (ConfigMap {}/{}, binaryData {})",
            cli.namespace,
            cli.configmap_name,
            compiler::emit::CONFIGMAP_KEY
        ),
    };
    eprintln!(
        "wrote {}{form}: {} policies, {} events, {} map entries, {} bytes (kernel maps reserve {} bytes)",
        path.display(),
        checked.policies.len(),
        lowered.events.len(),
        lowered.entry_count(),
        bytes.len(),
        lowered.kernel_bytes()
    );
    ExitCode::SUCCESS
}

/// Prints diagnostics in `format`; `closing` ends the human form. False: the output failed.
fn report(
    diagnostics: &[compiler::diagnostics::Diagnostic],
    sources: &[compiler::source::SourceFile],
    summary: &Summary,
    format: Format,
    color: Color,
    closing: Option<&str>,
    max: usize,
) -> bool {
    // People and annotations read the first ones; machines get them all.
    let shown = if max == 0 {
        diagnostics
    } else {
        &diagnostics[..diagnostics.len().min(max)]
    };
    let hidden = diagnostics.len() - shown.len();
    let more = (hidden > 0).then(|| {
        format!(
            "... and {hidden} more diagnostic{} not shown ({} in all; --max-diagnostics 0 shows every one)",
            if hidden == 1 { "" } else { "s" },
            diagnostics.len()
        )
    });
    match format {
        Format::Human => {
            let color = match color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            let width = if color { terminal_width() } else { 100 };
            let mut out = String::new();
            for d in shown {
                out.push_str(&render::human(d, sources, color, width));
                out.push('\n');
            }
            if let Some(line) = &more {
                out.push_str(line);
                out.push('\n');
            }
            if let Some(line) = closing {
                out.push_str(line);
                out.push('\n');
            }
            write_all(&mut std::io::stderr(), &out)
        }
        Format::Json => write_all(
            &mut std::io::stdout(),
            &(render::json(diagnostics, sources, summary) + "\n"),
        ),
        Format::Sarif => write_all(
            &mut std::io::stdout(),
            &(render::sarif(diagnostics, sources) + "\n"),
        ),
        Format::Github => {
            let mut out = render::github(shown, sources);
            if let Some(line) = &more {
                out.push_str(&format!("::notice::{line}\n"));
            }
            write_all(&mut std::io::stdout(), &out)
        }
    }
}

/// `tracee-compile test`: compiles the policies, runs the test files' cases against the
/// image (schema::eval), reports failures like `--check` reports problems.
fn test(args: &TestArgs) -> ExitCode {
    use compiler::source::{discover_tests, is_test_file};
    let named_test = |p: &PathBuf| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(is_test_file)
    };
    let policy_paths: Vec<PathBuf> = args
        .paths
        .iter()
        .filter(|p| !named_test(p))
        .cloned()
        .collect();
    if policy_paths.is_empty() {
        eprintln!("error: give the policies too (files or directories), not only test files");
        return ExitCode::from(2);
    }
    let checked = match compiler::check_paths(&policy_paths) {
        Ok(checked) => checked,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let test_paths = match discover_tests(&args.paths) {
        Ok(paths) => paths,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let mut sources = checked.sources.clone();
    let first_id = sources.len();
    let mut diagnostics = compiler::diagnostics::Diagnostics::default();
    let mut tests = Vec::new();
    for (i, path) in test_paths.iter().enumerate() {
        match compiler::source::read(path, first_id + i) {
            Ok((file, problem)) => {
                diagnostics.extend(problem);
                tests.push(file);
            }
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        }
    }
    let mut outcome = compiler::policy_test::Outcome {
        cases: 0,
        failed: 0,
    };
    match &checked.lowered {
        Some(lowered) if checked.diagnostics.error_count() == 0 => {
            let image = compiler::encode::image(&checked.policies, lowered);
            outcome = compiler::policy_test::run(&image, &tests, first_id, &mut diagnostics);
        }
        _ => diagnostics.extend(
            checked
                .sorted_diagnostics()
                .into_iter()
                .filter(|d| d.severity() == compiler::diagnostics::Severity::Error),
        ),
    }
    sources.extend(tests);
    let found = diagnostics.items.clone();
    let errors = diagnostics.error_count();
    let summary = Summary {
        files: sources.len(),
        policies: checked.documents,
        errors,
        warnings: diagnostics.warning_count(),
    };
    let closing = if test_paths.is_empty() {
        "no test files: name them *.test.yaml next to the policies".to_owned()
    } else if checked.diagnostics.error_count() > 0 {
        "the policies do not compile: no test was run".to_owned()
    } else {
        format!(
            "ran {} test case{} in {} file{}: {} passed, {} failed{}",
            outcome.cases,
            if outcome.cases == 1 { "" } else { "s" },
            test_paths.len(),
            if test_paths.len() == 1 { "" } else { "s" },
            outcome.cases - outcome.failed,
            outcome.failed,
            if errors > outcome.failed {
                format!(", {} other error(s)", errors - outcome.failed)
            } else {
                String::new()
            }
        )
    };
    if !report(
        &found,
        &sources,
        &summary,
        args.format,
        args.color,
        Some(&closing),
        0,
    ) {
        return ExitCode::from(2);
    }
    if errors > 0 || test_paths.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn list(args: &ListArgs) -> ExitCode {
    use compiler::list;
    let text = match (args.what, args.json) {
        (ListWhat::Events, false) => list::events_text(&list::events()),
        (ListWhat::Sets, false) => list::sets_text(&list::sets()),
        (ListWhat::Events, true) => json_text(&list::events()),
        (ListWhat::Sets, true) => json_text(&list::sets()),
        (ListWhat::Detectors, json) => match list::detectors() {
            Ok(rows) if json => json_text(&rows),
            Ok(rows) => list::detectors_text(&rows),
            Err(e) => {
                eprintln!("error: the built-in detectors do not read: {e}");
                return ExitCode::from(2);
            }
        },
    };
    if write_all(&mut std::io::stdout(), &text) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value)
        .map_or_else(|e| format!("{{\"error\": \"{e}\"}}\n"), |j| j + "\n")
}

fn inspect(args: &InspectArgs) -> ExitCode {
    let (image, size) = match schema::image::read_file(&args.image) {
        Ok(read) => read,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(image_exit_code(&err));
        }
    };
    let report = compiler::inspect::report(&image, size);
    let text = if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => json + "\n",
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        }
    } else {
        compiler::inspect::human(&report, args.explain)
    };
    if write_all(&mut std::io::stdout(), &text) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn diff(args: &compiler::diff::DiffArgs) -> ExitCode {
    match compiler::diff::run(args) {
        Ok(outcome) if write_all(&mut std::io::stdout(), &outcome.text) => {
            ExitCode::from(outcome.status)
        }
        Ok(_) => ExitCode::from(2),
        Err(failure) => {
            eprint!("{}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}

fn image_exit_code(err: &schema::image::ReadError) -> u8 {
    match err {
        schema::image::ReadError::Io { .. } => 2,
        schema::image::ReadError::Invalid { .. } => 1,
    }
}

fn summary_line(s: &Summary) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let checked = format!(
        "checked {} in {}",
        plural(s.policies, "policy document"),
        plural(s.files, "file")
    );
    if s.errors == 0 && s.warnings == 0 {
        format!("{checked}: no problems")
    } else {
        format!(
            "{checked}: {}, {}",
            plural(s.errors, "error"),
            plural(s.warnings, "warning")
        )
    }
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

/// A closed pipe (`| head`) is not an error worth a panic.
fn write_all(out: &mut dyn Write, text: &str) -> bool {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => true,
        Err(e) => e.kind() == std::io::ErrorKind::BrokenPipe,
    }
}
