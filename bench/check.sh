#!/usr/bin/env bash
# Benchmarks `tracee-compile --check`: wall time (median, min) and peak RSS per case.
#
#   bench/check.sh            # from the repository root (or anywhere: it finds the root)
#   BENCH_KEEP=1 bench/check.sh   # keep the generated inputs (path printed at the end)
#   BENCH_NO_HYPERFINE=1 bench/check.sh   # time with the plain loop even if hyperfine is there
#
# Builds the release binary, generates the inputs into a temporary directory
# (bench/gen_policies.py), times each case with hyperfine (installed with apt-get when
# missing and running as root; otherwise a plain timing loop), measures peak RSS with
# `/usr/bin/time -v` in one extra run that also checks the exit status and diagnostic code,
# and prints a markdown table. Takes about 40 seconds (plus the build).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '>> %s\n' "$*" >&2; }

log "building: cargo build --release -p tracee-compile"
cargo build --release -p tracee-compile >&2
bin="$root/target/release/tracee-compile"

# --- tools -------------------------------------------------------------------------------
can_install() { [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; }
if ! command -v hyperfine >/dev/null && can_install; then
    log "installing hyperfine"
    apt-get install -y hyperfine >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 && apt-get install -y hyperfine >/dev/null 2>&1; } || true
fi
if [[ ! -x /usr/bin/time ]] && can_install; then
    log "installing time"
    apt-get install -y time >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 && apt-get install -y time >/dev/null 2>&1; } || true
fi
have_hyperfine=false
command -v hyperfine >/dev/null && [[ -z ${BENCH_NO_HYPERFINE:-} ]] && have_hyperfine=true
have_time=false
[[ -x /usr/bin/time ]] && have_time=true
$have_hyperfine || log "hyperfine not available: timing with a plain loop (min/median of N runs)"
$have_time || log "/usr/bin/time not available: no peak RSS"

# --- inputs ------------------------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/tracee-bench.XXXXXX")"
if [[ -z ${BENCH_KEEP:-} ]]; then
    trap 'rm -rf "$work"' EXIT
fi
log "generating inputs in $work"
python3 bench/gen_policies.py "$work/in"
in="$work/in"
results="$work/results.tsv"
: >"$results"

# --- measuring ---------------------------------------------------------------------------
# Wall time of `"$@"` over $runs runs (after $warmup): prints "median_ms<TAB>min_ms".
time_runs() {
    local runs=$1 warmup=$2
    shift 2
    if $have_hyperfine; then
        # -N: no intermediate shell; -i: error exits are expected in some cases.
        hyperfine -N -i --style none --warmup "$warmup" --runs "$runs" \
            --export-json "$work/hf.json" -- "$(printf '%q ' "$@")" >/dev/null 2>&1
        python3 - "$work/hf.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"{r['median'] * 1000:.2f}\t{r['min'] * 1000:.2f}")
EOF
    else
        python3 - "$runs" "$warmup" "$@" <<'EOF'
import statistics, subprocess, sys, time
runs, warmup, cmd = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
times = []
for i in range(warmup + runs):
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if i >= warmup:
        times.append(time.perf_counter() - start)
print(f"{statistics.median(times) * 1000:.2f}\t{min(times) * 1000:.2f}")
EOF
    fi
}

# measure ID DESCRIPTION EXPECTED_EXIT EXPECTED_CODE RUNS WARMUP -- COMMAND...
# One run under /usr/bin/time -v gives the peak RSS, the exit status and the output, which
# must hold EXPECTED_CODE (a diagnostic code, or a word of the summary line).
measure() {
    local id=$1 what=$2 want_rc=$3 want_code=$4 runs=$5 warmup=$6
    shift 7
    log "case $id: $what"
    local rc=0 rss=""
    if $have_time; then
        /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/out.txt" 2>&1 || rc=$?
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    else
        "$@" >"$work/out.txt" 2>&1 || rc=$?
    fi
    local summary codes outcome
    summary=$(grep -E '^checked |panicked|^error:' "$work/out.txt" | head -n 1 | cut -c1-120 || true)
    codes=$(grep -oE '\b[EW][0-9]{3}\b' "$work/out.txt" | sort | uniq -c |
        awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1}' || true)
    if grep -q 'panicked' "$work/out.txt"; then
        outcome="**PANIC** (exit $rc): $(grep -m1 -A1 'panicked' "$work/out.txt" | tail -n 1 | cut -c1-80)"
    elif [[ $rc == "$want_rc" ]] && { [[ -z $want_code ]] || grep -q -- "$want_code" "$work/out.txt"; }; then
        outcome="exit $rc${codes:+, $codes}"
    else
        outcome="**UNEXPECTED** exit $rc (wanted $want_rc ${want_code}): ${summary}"
    fi
    local times
    times=$(time_runs "$runs" "$warmup" "$@")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$what" "$times" "$runs" "${rss:-}" "$outcome" >>"$results"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
n_realistic=$(ls "$in/realistic64" | wc -l)
n_many=$(ls "$in/many1000" | wc -l)

measure 0 "process start: \`--version\`" 0 "" 30 3 -- "$bin" --version
measure a "$n_realistic realistic policies, one directory" 0 "no problems" 30 3 -- "$bin" --check "$in/realistic64"
measure b1 "10,000 values in one comma list (79 KB)" 0 "no problems" 30 3 -- "$bin" --check "$in/list10k.yaml"
measure b2 "10,000 filter entries in one rule (319 KB)" 0 "no problems" 20 2 -- "$bin" --check "$in/entries10k.yaml"
measure c "$n_many policy files, one directory (over the 64 limit)" 1 E204 10 1 -- "$bin" --check "$in/many1000"
measure d1 "YAML bomb, 9 levels x 9 aliases (342 B)" 1 E105 10 1 -- "$bin" --check "$in/bomb.yaml"
measure d2 "8 MiB + 1 byte file (over the size limit)" 1 E104 10 1 -- "$bin" --check "$in/over8mib.yaml"
measure d3 "8 MiB file at the limit: one list of ~850,000 values" 0 "no problems" 5 1 -- "$bin" --check "$in/at8mib.yaml"
measure e1 "10,000 errors in one file (E214), \`--format json\`" 1 E214 3 0 -- "$bin" --check --format json "$in/errors10k.yaml"
measure e2 "10,000 errors in one file (E214), human output" 1 E214 2 0 -- "$bin" --check --color never "$in/errors10k.yaml"
measure f "97 KiB minified JSON, error at column 97,112" 1 E211 5 1 -- "$bin" --check --color never "$in/minified.json"
measure g "one unknown event name of 64 KiB" 1 E211 2 0 -- "$bin" --check --format json "$in/longevent.yaml"

# --- report ------------------------------------------------------------------------------
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || echo unknown)
echo
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- compiler/src schema/src 2>/dev/null | grep -q . && echo " + uncommitted changes" || true)
echo "tracee-compile $("$bin" --version | awk '{print $2}') at $commit$dirty; $(nproc) CPUs ($cpu);" \
    "$(uname -sr); load average before: $load_before; timing: $($have_hyperfine && hyperfine --version || echo 'plain loop')"
echo
python3 - "$results" <<'EOF'
import sys
print("| case | input | median | min | runs | peak RSS | result |")
print("|---|---|---:|---:|---:|---:|---|")
for line in open(sys.argv[1]):
    case, what, median, low, runs, rss, outcome = line.rstrip("\n").split("\t")
    def ms(v):
        v = float(v)
        return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.1f} ms"
    rss = f"{int(rss) / 1024:.1f} MiB" if rss else "n/a"
    print(f"| {case} | {what} | {ms(median)} | {ms(low)} | {runs} | {rss} | {outcome} |")
EOF
if [[ -n ${BENCH_KEEP:-} ]]; then
    echo
    echo "inputs kept in $in"
fi
