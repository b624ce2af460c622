#!/usr/bin/env bash
# Detectors benchmark (issue 14): what Tracee's default policy (its Helm chart's: every
# detector, global scope) costs benign work, measured beside the untraced baseline in the
# same run, and how many records the kernel sends up for that work (the target is none).
# A third configuration shows Tracee's way of deciding detections: every base event the
# detectors need sent up unfiltered, to be decided in user space.
# Needs root. Not a test: it exits 0 once the table is written. See bench/README.md.
#
#   bench/detectors.sh                      # ~2 min on 2 vCPUs
#   ROUNDS=1 ITERS=20000 bench/detectors.sh # a smoke run
#
# Environment (defaults in brackets):
#   ROUNDS [3]        rounds; each runs every configuration once, in a rotating order
#   ITERS [100000]    open+close iterations per repetition (syscall_bench openclose)
#   ITERS_EXEC [300]  fork+exec iterations per repetition (syscall_bench exec)
#   BLOCKS [200000]   64-byte writes per run (dd bs=64 to a file)
#   REPS [5]          syscall_bench repetitions (it reports their median)
#   BENCH_SRC [/work/shared/bench]   syscall_bench.c
#   BENCH_WORK [/tmp/tracee-bench-detectors]   build and log directory
#   OUT [bench/results-detectors.md] the Markdown written (also printed)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${BENCH_SRC:-/work/shared/bench}"
WORK="${BENCH_WORK:-/tmp/tracee-bench-detectors}"
OUT="${OUT:-$REPO/bench/results-detectors.md}"
ROUNDS="${ROUNDS:-3}"
ITERS="${ITERS:-100000}"
ITERS_EXEC="${ITERS_EXEC:-300}"
BLOCKS="${BLOCKS:-200000}"
REPS="${REPS:-5}"
TRACEE_COMPILE="${TRACEE_COMPILE:-$REPO/target/release/tracee-compile}"
TRACEE_LOAD="${TRACEE_LOAD:-$REPO/target/release/tracee-load}"

log() { echo "detectors.sh: $*" >&2; }
die() { log "error: $*"; exit 2; }
(( EUID == 0 )) || die "needs root"
[[ -f $SRC/syscall_bench.c ]] || die "no syscall_bench.c in $SRC (BENCH_SRC)"
mkdir -p "$WORK/log"
LOG="$WORK/log"

# shellcheck source=bench/paired.sh
. "$REPO/bench/paired.sh"

gcc -O2 -o "$WORK/syscall_bench" "$SRC/syscall_bench.c" 2>"$LOG/build.txt" || die "building syscall_bench failed"
SB="$WORK/syscall_bench"
if [[ ! -x $TRACEE_COMPILE || ! -x $TRACEE_LOAD ]]; then
    (cd "$REPO" && cargo build --release -p tracee-compile -p tracee-load)
fi

# The default policy, as the repository keeps it (Tracee's Helm file without its two
# template lines), and a policy with a rule on each base event its detectors are built from.
DEFAULT="$REPO/testdata/tracee-detector-policies/helm_default_policy.yaml"
"$TRACEE_COMPILE" "$DEFAULT" -o "$WORK/default.bin" >"$LOG/compile-default.txt" 2>&1 ||
    { cat "$LOG/compile-default.txt" >&2; die "the default policy does not compile"; }
"$TRACEE_COMPILE" list detectors --json >"$WORK/detectors.json"
python3 - "$WORK/detectors.json" "$DEFAULT" >"$WORK/base-events.yaml" <<'EOF'
import json, re, sys
rows = json.load(open(sys.argv[1]))
chosen = set(re.findall(r"- event: (\S+)", open(sys.argv[2]).read()))
bases = sorted({re.split(r"[\[{]", n)[0] for r in rows if r["name"] in chosen and r["produced"]
                for n in r["needs"]})
print("type: policy\nname: base-events\ndescription: every base event of the default policy's detectors\nscope: [global]\nrules:")
for b in bases:
    print(f"  - event: {b}")
EOF
"$TRACEE_COMPILE" "$WORK/base-events.yaml" -o "$WORK/base-events.bin" >"$LOG/compile-base.txt" 2>&1 ||
    { cat "$LOG/compile-base.txt" >&2; die "the base-event policy does not compile"; }

# ------------------------------------------------------------------ measurements
declare -A RES=()     # "config|workload" -> medians
declare -A SENT=()    # config -> records the kernel sent, per round

writes_ns() { # ns per 64-byte write (dd: a read of /dev/zero and a write per block)
    local s e
    s=$(date +%s%N)
    dd if=/dev/zero of="$WORK/out" bs=64 count="$BLOCKS" status=none
    e=$(date +%s%N)
    rm -f "$WORK/out"
    echo $(((e - s) / BLOCKS))
}

workloads() { # CONFIG
    local line
    line="$("$SB" openclose "$ITERS" "$REPS")"
    RES["$1|openclose"]+="$(sed -n 's/.* median_ns=\([0-9.]*\).*/\1/p' <<<"$line") "
    line="$("$SB" exec "$ITERS_EXEC" "$REPS")"
    RES["$1|exec"]+="$(sed -n 's/.* median_ns=\([0-9.]*\).*/\1/p' <<<"$line") "
    line="$("$SB" getpid "$(( ITERS * 4 ))" "$REPS")"
    RES["$1|getpid"]+="$(sed -n 's/.* median_ns=\([0-9.]*\).*/\1/p' <<<"$line") "
    RES["$1|write"]+="$(writes_ns) "
}

with_loader() { # CONFIG IMAGE
    local err="$LOG/$1.err"
    start_loader "$@"
    workloads "$1"
    stop_loader
    # Records the kernel sent: printed, plus those the loader turned away.
    SENT[$1]+="$(python3 -c '
import re, sys
line = [l for l in open(sys.argv[1]) if "events printed" in l][-1]
n = lambda pat: int((re.search(pat, line) or [0, 0])[1])
print(n(r"(\d+) events printed") + n(r"(\d+) not matching") + n(r"(\d+) detections whose") + n(r"(\d+) lost"))
' "$err") "
}

CONFIGS=(baseline default base-events)
for r in $(seq "$ROUNDS"); do
    for k in 0 1 2; do
        c="${CONFIGS[$(( (k + r) % 3 ))]}"
        log "round $r: $c"
        case $c in
            baseline) workloads baseline ;;
            default) with_loader default "$WORK/default.bin" ;;
            base-events) with_loader base-events "$WORK/base-events.bin" ;;
        esac
    done
done

# ------------------------------------------------------------------ report
{
    echo "# Detectors benchmark"
    echo
    echo "$(date -u +%Y-%m-%d), $(git -C "$REPO" rev-parse --short HEAD), $(nproc) CPUs, kernel $(uname -r);"
    echo "$ROUNDS rounds: medians of the rounds' medians (ns per operation), and the median of the"
    echo "rounds' ratios to the baseline measured in the same round (each round's ratios in brackets)."
    echo
    echo "| workload | baseline | default policy | ratio | every base event sent up (Tracee's way) | ratio |"
    echo "|---|---:|---:|---:|---:|---:|"
    for w in openclose exec write getpid; do
        b="$(median <<<"${RES[baseline|$w]}")"
        d="$(median <<<"${RES[default|$w]}")"
        e="$(median <<<"${RES[base-events|$w]}")"
        case $w in
            openclose) label="open+close of a file under /tmp" ;;
            exec) label="fork+exec /bin/true" ;;
            write) label="64-byte writes (dd)" ;;
            getpid) label="getpid (a syscall no detector needs)" ;;
        esac
        rd="$(ratios "${RES[default|$w]}" "${RES[baseline|$w]}")"
        re="$(ratios "${RES[base-events|$w]}" "${RES[baseline|$w]}")"
        printf '| %s | %s | %s | %s (%s) | %s | %s |\n' "$label" "$b" "$d" "$(median <<<"$rd")" \
            "${rd% }" "$e" "$(median <<<"$re")"
    done
    echo
    echo "Records the kernel sent to user space, per round (the workload's and anything else"
    echo "running): default policy: ${SENT[default]% }; every base event: ${SENT[base-events]% }."
} | tee "$OUT"
