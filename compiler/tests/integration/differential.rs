//! Offline differential test: the compiled image, read by the reference evaluator
//! (`schema::eval`), against the generated policies' meaning (`policygen::oracle`), on
//! generated events. The kernel's side is `loader/tests/differential.rs`; this half runs
//! anywhere, in a second, and catches what the compiler gets wrong (a bound off by one, an
//! operator swapped, a pattern stored wrongly) with many more policies than the kernel test
//! can load. `TRACEE_GEN_SEED=N` replays one round.

#[path = "../../../scripts/testing/policygen.rs"]
mod policygen;

use std::path::PathBuf;

use compiler::diagnostics::Diagnostics;
use compiler::source::SourceFile;
use policygen::*;
use serde_json::{Value, json};

/// One event in `tracee-load --output json` form, its values drawn from the round's pools.
fn event(rng: &mut Rng, st: &Strings, spec: &EventSpec) -> Value {
    let mut args = Vec::new();
    for f in &spec.fields {
        let Source::Arg(name) = f.source else {
            continue;
        };
        let value = match f.ty {
            Ty::Str => {
                let paths = if rng.chance(75) {
                    &st.hot_paths
                } else {
                    &st.paths
                };
                Value::from(rng.pick(paths).clone())
            }
            ty => number(value(rng, st, ty)),
        };
        args.push(json!({"name": name, "value": value}));
    }
    let retval = value(rng, st, Ty::I64);
    let uid = if rng.chance(50) {
        value(rng, st, Ty::U32)
    } else {
        i128::from(*rng.pick(&[0u32, 1000, 1001, 4321, 65534]))
    };
    let pid = 100 + rng.below(200_000);
    json!({
        "eventName": spec.name,
        "processName": rng.pick(&st.comms),
        "hostName": rng.pick(&st.hosts),
        "userId": number(uid),
        "hostProcessId": pid,
        "processId": pid,
        "returnValue": number(retval),
        "args": args,
    })
}

fn number(v: i128) -> Value {
    match i64::try_from(v) {
        Ok(i) => Value::from(i),
        Err(_) => Value::from(u64::try_from(v).unwrap_or(u64::MAX)),
    }
}

/// Compiles the policies; None (with the report) when they do not compile.
fn image(policies: &[Policy]) -> Result<schema::image::Image, String> {
    let sources = policies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = format!("{i:02}.yaml");
            SourceFile::new(PathBuf::from(&name), name, yaml(p))
        })
        .collect();
    let checked = compiler::check_sources(sources, Diagnostics::default());
    match &checked.lowered {
        Some(lowered) if checked.diagnostics.error_count() == 0 => {
            Ok(compiler::encode::image(&checked.policies, lowered))
        }
        _ => Err(checked.render_plain(100)),
    }
}

fn round(seed: u64, events_per_round: usize) -> (usize, usize) {
    let mut rng = Rng(seed);
    let st = strings(&mut rng, std::path::Path::new("/tmp/tracee-gen"));
    let count = 1 + rng.below(12);
    let policies = generate(&mut rng, &st, count);
    let image = image(&policies).unwrap_or_else(|report| {
        panic!("TRACEE_GEN_SEED={seed}: the generated policies do not compile:\n{report}")
    });
    let evaluator = schema::eval::Evaluator::new(&image).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = image.meta.policies.iter().map(|p| p.name.clone()).collect();
    let specs = events();
    let mut matched = 0;
    for _ in 0..events_per_round {
        let spec = rng.pick(&specs);
        let e = event(&mut rng, &st, spec);
        let parsed = schema::eval::input::event(&e)
            .unwrap_or_else(|err| panic!("TRACEE_GEN_SEED={seed}: {err}: {e}"));
        let verdict = evaluator.evaluate(&parsed);
        let by_image = schema::eval::policy_names(verdict.kernel, &names);
        let meant = oracle(&policies, &e);
        if by_image != meant {
            let policies: Vec<String> = policies.iter().map(yaml).collect();
            panic!(
                "TRACEE_GEN_SEED={seed}: the image matches {by_image:?}, the policies mean {meant:?}\n  event: {e}\n  steps: {:?}\n\npolicies:\n{}",
                verdict.steps,
                policies.join("---\n")
            );
        }
        matched += usize::from(!by_image.is_empty());
    }
    (events_per_round, matched)
}

#[test]
fn the_image_means_what_the_policies_say() {
    let seeds: Vec<u64> = match std::env::var("TRACEE_GEN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => {
            let start = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            (0..300u64)
                .map(|i| start.wrapping_add(i * 104_729))
                .collect()
        }
    };
    let (mut total, mut matched) = (0, 0);
    for seed in &seeds {
        let (n, m) = round(*seed, 200);
        total += n;
        matched += m;
    }
    assert!(
        matched > total / 20 && matched < total,
        "{matched} of {total} generated events matched: the generator lost its balance"
    );
}
