//! The kernel against the reference evaluator and against the policies' meaning.
//!
//! Each round generates random policies (every operator, boundary values, prefixes equal to
//! the value, suffixes, substrings, `!=` on integers and strings, bounds in the scope and in
//! rules), compiles them, starts `tracee-load --audit` and runs generated syscalls
//! (`openat`, `faccessat`, `close`, `lseek`, `read` with arguments drawn from the same
//! boundary values) from processes with generated uids and command names. Every candidate
//! event of those processes, printed or not, is then decided three ways:
//! - the kernel (the `audit.kernelPolicies` the programs computed),
//! - `schema::eval` on the image and the event's raw values,
//! - `oracle` below, straight from the generated filters and `docs/policies.md`,
//!
//! and the three must agree. The seed is printed; `TRACEE_DIFF_SEED=N` replays one round,
//! `TRACEE_DIFF_ROUNDS=N` runs more (`scripts/differential` runs a long series).

#[path = "e2e/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../../scripts/testing/policygen.rs"]
mod policygen;

use std::path::Path;
use std::process::Command;

use harness::*;
use policygen::*;
use serde_json::Value;

/// One syscall of the workload: number and arguments (`@last`: the last fd openat gave).
#[derive(Clone, Debug)]
enum Arg {
    Int(i128),
    Str(String),
    LastFd,
}

fn workload(rng: &mut Rng, st: &Strings, ops: usize) -> Vec<(u32, Vec<Arg>)> {
    let int = |rng: &mut Rng, ty: Ty| Arg::Int(value(rng, st, ty));
    let path = |rng: &mut Rng| {
        let paths = if rng.chance(75) {
            &st.hot_paths
        } else {
            &st.paths
        };
        Arg::Str(rng.pick(paths).clone())
    };
    let fd = |rng: &mut Rng| {
        if rng.chance(40) {
            Arg::LastFd
        } else {
            // Never 0-2 or another low fd: the driver's own must stay open.
            let v = value(rng, st, Ty::I32);
            Arg::Int(if (0..1000).contains(&v) { v + 1000 } else { v })
        }
    };
    let dirfd = |rng: &mut Rng| {
        if rng.chance(70) {
            Arg::Int(-100)
        } else {
            int(rng, Ty::I32)
        }
    };
    (0..ops)
        .map(|_| match rng.below(5) {
            0 => {
                let flags = *rng.pick(&[0, 65, 524_288, 577, 2, 64]);
                (
                    257,
                    vec![dirfd(rng), path(rng), Arg::Int(flags), int(rng, Ty::U16)],
                )
            }
            1 => (
                269,
                vec![dirfd(rng), path(rng), Arg::Int(*rng.pick(&[0, 4, 7, -1]))],
            ),
            2 => (3, vec![fd(rng)]),
            3 => {
                // Any fd: seeking the driver's pipes fails harmlessly (ESPIPE).
                let fd = if rng.chance(40) {
                    Arg::LastFd
                } else {
                    int(rng, Ty::I32)
                };
                (
                    8,
                    vec![fd, int(rng, Ty::I64), Arg::Int(*rng.pick(&[0, 1, 2, 5]))],
                )
            }
            _ => (0, vec![fd(rng), int(rng, Ty::U64), int(rng, Ty::U64)]),
        })
        .collect()
}

const DRIVER: &str = r#"
import ctypes, json, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
spec = json.load(open(sys.argv[1]))
libc.prctl(15, spec["comm"].encode(), 0, 0, 0)
last = -1
keep = []
for nr, args in spec["ops"]:
    conv = []
    for a in args:
        if a == "@last":
            conv.append(ctypes.c_long(last))
        elif isinstance(a, str):
            b = ctypes.create_string_buffer(a.encode())
            keep.append(b)
            conv.append(ctypes.cast(b, ctypes.c_void_p))
        elif a >= 2**63:
            conv.append(ctypes.c_ulong(a))
        else:
            conv.append(ctypes.c_long(a))
    r = libc.syscall(ctypes.c_long(nr), *conv)
    if nr == 257 and r >= 0:
        last = r
"#;

struct Actor {
    uid: u32,
    comm: String,
    ops: Vec<(u32, Vec<Arg>)>,
    pid: u64,
}

fn run_actor(dir: &Path, n: usize, actor: &mut Actor) {
    let ops: Vec<Value> = actor
        .ops
        .iter()
        .map(|(nr, args)| {
            let args: Vec<Value> = args
                .iter()
                .map(|a| match a {
                    Arg::Int(i) if *i < 0 => Value::from(*i as i64),
                    Arg::Int(i) => Value::from(*i as u64),
                    Arg::Str(s) => Value::from(s.clone()),
                    Arg::LastFd => Value::from("@last"),
                })
                .collect();
            serde_json::json!([nr, args])
        })
        .collect();
    let spec = dir.join(format!("actor-{n}.json"));
    let driver = dir.join("driver.py");
    let text = serde_json::json!({"comm": actor.comm, "ops": ops}).to_string();
    std::fs::write(&spec, text).unwrap_or_else(|e| panic!("write {}: {e}", spec.display()));
    std::fs::write(&driver, DRIVER).unwrap_or_else(|e| panic!("write driver: {e}"));
    let uid = actor.uid.to_string();
    let mut child = Command::new("setpriv")
        .args([
            "--reuid",
            &uid,
            "--regid",
            &uid,
            "--clear-groups",
            "/usr/bin/python3",
        ])
        .arg(&driver)
        .arg(&spec)
        .current_dir(dir)
        .spawn()
        .unwrap_or_else(|e| panic!("setpriv python3: {e}"));
    actor.pid = u64::from(child.id());
    let status = child.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert!(status.success(), "actor {n} (uid {uid}) failed: {status}");
}

/// Is this printed event the one op (same syscall, same known arguments)?
fn is_op(event: &Value, nr: u32, args: &[Arg]) -> bool {
    let Some(def) = schema::catalog::event_by_id(nr) else {
        return false;
    };
    if event["eventName"] != def.name {
        return false;
    }
    args.iter().zip(def.args).all(|(a, d)| match a {
        Arg::LastFd => true,
        Arg::Str(s) => arg_str(event, d.name).as_deref() == Some(s.as_str()),
        Arg::Int(i) => policygen::arg(event, d.name).is_some_and(|v| {
            v.as_i64()
                .map(i128::from)
                .or_else(|| v.as_u64().map(i128::from))
                == Some(*i)
        }),
    })
}

struct Round {
    seed: u64,
    policies: Vec<Policy>,
    checked: usize,
    /// Candidate events some policy matched.
    matched: usize,
    mismatches: Vec<String>,
}

fn round(seed: u64) -> Round {
    let mut rng = Rng(seed);
    let s = Scratch::new();
    let work = s.path().join("w");
    std::fs::create_dir_all(&work).unwrap_or_else(|e| panic!("mkdir: {e}"));
    // Actors of any uid create files here.
    let _ = Command::new("chmod").arg("1777").arg(&work).status();
    let st = strings(&mut rng, &work);
    let count = 4 + rng.below(5);
    let policies = generate(&mut rng, &st, count);
    let src = s.path().join("policies");
    std::fs::create_dir_all(&src).unwrap_or_else(|e| panic!("mkdir: {e}"));
    for (i, p) in policies.iter().enumerate() {
        let file = src.join(format!("{i:02}.yaml"));
        std::fs::write(&file, yaml(p)).unwrap_or_else(|e| panic!("write: {e}"));
    }
    let image_path = compile_paths(s.path(), &[src]);
    let image = match schema::image::read_file(&image_path) {
        Ok((image, _)) => image,
        Err(e) => panic!("read image: {e}"),
    };
    let evaluator = schema::eval::Evaluator::new(&image).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = image.meta.policies.iter().map(|p| p.name.clone()).collect();

    let mut actors: Vec<Actor> = (0..3 + rng.below(3))
        .map(|_| {
            let uid = *rng.pick(&[0u32, 1000, 1001, 4321, 65534]);
            let comm = rng.pick(&st.comms).clone();
            let ops = 30 + rng.below(30);
            Actor {
                uid,
                comm,
                ops: workload(&mut rng, &st, ops),
                pid: 0,
            }
        })
        .collect();
    let tracer = Tracer::start(&image_path, &["--audit"]);
    for (n, actor) in actors.iter_mut().enumerate() {
        run_actor(&work, n, actor);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let run = tracer.stop();
    run.assert_clean();

    let mut mismatches = Vec::new();
    let mut checked = 0;
    let mut matched = 0;
    let selected: Vec<&str> = image.meta.events.iter().map(|e| e.name.as_str()).collect();
    for actor in &actors {
        let mine: Vec<&Value> = run
            .events
            .iter()
            .filter(|e| e["hostProcessId"].as_u64() == Some(actor.pid))
            .collect();
        for e in &mine {
            checked += 1;
            let kernel = e["audit"]["kernelPolicies"].as_u64().unwrap_or(u64::MAX);
            let mut event = match schema::eval::input::event(e) {
                Ok(ev) => ev,
                Err(err) => panic!("seed {seed}: event not readable ({err}): {e}"),
            };
            event.task.new_pid = true;
            let verdict = evaluator.evaluate(&event);
            let expected = oracle(&policies, e);
            let printed = policies_of(e);
            let by_eval = schema::eval::policy_names(verdict.kernel, &names);
            let by_kernel = schema::eval::policy_names(kernel, &names);
            matched += usize::from(!by_kernel.is_empty());
            if by_kernel != by_eval || by_kernel != expected || printed != by_kernel {
                let why: Vec<String> = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("{n}: {:?}", verdict.refused_by(i as u8)))
                    .collect();
                mismatches.push(format!(
                    "kernel {by_kernel:?}, evaluator {by_eval:?}, policies' meaning {expected:?}, printed {printed:?}\n  evaluator refusals: {why:?}\n  event: {e}"
                ));
            }
        }
        // Every op of a selected syscall is among the candidates, in order.
        let mut rest = mine.iter();
        for (nr, args) in &actor.ops {
            let Some(def) = schema::catalog::event_by_id(*nr) else {
                continue;
            };
            if !selected.contains(&def.name) {
                continue;
            }
            if !rest.any(|e| is_op(e, *nr, args)) {
                mismatches.push(format!(
                    "no candidate event for {} {args:?} of the actor with pid {} (comm {}, uid {})",
                    def.name, actor.pid, actor.comm, actor.uid
                ));
                break;
            }
        }
    }
    Round {
        seed,
        policies,
        checked,
        matched,
        mismatches,
    }
}

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("TRACEE_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let rounds = std::env::var("TRACEE_DIFF_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    (0..rounds).map(|i| start.wrapping_add(i * 7919)).collect()
}

/// The tests of this binary look at which programs are loaded: one at a time.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn kernel_evaluator_and_policies_agree() {
    if !can_bpf() {
        return;
    }
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let (mut total, mut matched) = (0, 0);
    for seed in seeds() {
        eprintln!("differential round: TRACEE_DIFF_SEED={seed}");
        let r = round(seed);
        total += r.checked;
        matched += r.matched;
        if !r.mismatches.is_empty() {
            let shown: Vec<&String> = r.mismatches.iter().take(8).collect();
            let policies: Vec<String> = r.policies.iter().map(yaml).collect();
            panic!(
                "TRACEE_DIFF_SEED={}: {} of {} candidate events disagree (replay with TRACEE_DIFF_SEED={} cargo test -p tracee-load --test differential):\n{}\n\npolicies:\n{}",
                r.seed,
                r.mismatches.len(),
                r.checked,
                r.seed,
                shown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                policies.join("---\n")
            );
        }
        assert!(r.checked > 0, "seed {seed}: no candidate event was checked");
    }
    eprintln!("differential: {total} candidate events agreed, {matched} of them matched");
    // Rounds where nothing matches would prove little about the filters.
    assert!(
        matched > 0 && matched < total,
        "{matched} of {total} candidate events matched: the generator lost its balance"
    );
}

/// Names of our programs loaded in the kernel now.
fn loaded_programs() -> Vec<String> {
    libbpf_rs::query::ProgInfoIter::default()
        .map(|p| p.name.to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tr_"))
        .collect()
}

/// Audit mode loads the programs built for it, and only when asked: without `--audit` the
/// kernel runs the same programs as a build without the mode (docs/performance.md).
#[test]
fn audit_mode_has_programs_of_its_own() {
    if !can_bpf() {
        return;
    }
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "p.yaml",
            &policy(
                "p",
                &["global"],
                &rule("openat", &["args.pathname=/nonexistent/x"]),
            ),
        )],
    );
    for (args, audited) in [(&[][..], false), (&["--audit"][..], true)] {
        let tracer = Tracer::start(&image, args);
        let names = loaded_programs();
        let run = tracer.stop();
        run.assert_clean();
        let ours: Vec<&String> = names
            .iter()
            .filter(|n| n.contains("sys_") || n.contains("tp_"))
            .collect();
        assert!(!ours.is_empty(), "no syscall program loaded: {names:?}");
        assert!(
            ours.iter().all(|n| n.starts_with("tr_a_") == audited),
            "--audit {audited}: {ours:?}"
        );
        // Without --audit only matched events are printed; with it, candidates too.
        let unmatched = run
            .events
            .iter()
            .filter(|e| policies_of(e).is_empty())
            .count();
        assert_eq!(unmatched > 0, audited, "{} events", run.events.len());
    }
    let out = loader()
        .arg("--audit")
        .arg(&image)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2), "--audit without --output json");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--output json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
