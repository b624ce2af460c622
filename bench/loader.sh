#!/usr/bin/env bash
# Loader benchmark: what attaching tracee-load costs the traced workload, how many events per
# second it prints, and how long it takes to start, each against anchors measured in the same
# run (untraced baseline, bpftrace, and the minimal hand-written libbpf filter `min_filter`).
# Needs root. Not a test: it always exits 0 once the table is written (a tracer that fails to
# start shows as n/a). See bench/README.md, section "loader.sh".
#
#   bench/loader.sh                               # ~2-3 min on 2 vCPUs
#   ITERS=20000 REPS=3 STARTUP_RUNS=3 bench/loader.sh    # quick smoke run
#
# Environment (defaults in brackets):
#   ITERS [200000]            syscall_bench iterations per repetition (getpid, close_bad,
#                             openclose_tmp_miss)
#   ITERS_OPENCLOSE [ITERS/4] iterations for openclose (slow once every open is an event)
#   REPS [5]                  syscall_bench repetitions (its median is over these)
#   ROUNDS [1]                outer rounds; the configuration order rotates every round and
#                             the baseline runs at the start and the end of each round
#   WORKLOADS ["openclose openclose_tmp_miss getpid close_bad exec mixed"]
#   CONFIGS ["ours_none ours_seed ours_events bt_none bt_some mf_none mf_batched", plus
#            "old_none old_seed" when OLD_LOAD is set; old_events on request, when
#            OLD_COMPILE knows every event of bench/policies/events13.yaml]
#   OLD_LOAD, OLD_COMPILE     another build's tracee-load and tracee-compile (an A/B against
#                             a previous commit): configurations old_none, old_seed and
#                             old_events
#   TP_ITERS [3000000]        close(-1) calls per process for the throughput run (0: skip)
#   TP_PROCS [1]              syscall_bench processes driving the throughput run in parallel
#   TP_CONFIGS ["ours ours_metrics ours_file mf"]  throughput configurations: ours (JSON to
#                             /dev/null), ours_metrics (the same with --metrics, scraped every
#                             second), ours_file (the same plus the file sink: --output-file in
#                             SINK_DIR, rotated every 64 MiB, 2 kept), mf (min_filter)
#   SINK_DIR [$BENCH_WORK]    where ours_file's sink file goes (removed after the run)
#   STARTUP_RUNS [10]         start-up measurements per tracer (0: skip)
#   READY_TIMEOUT [60]        seconds to wait for a tracer to attach
#   STOP_TIMEOUT [60]         seconds to wait for a tracer to exit after SIGINT
#   SETTLE [0.5]              seconds to wait after a tracer attached, before measuring
#   BENCH_WORK [/tmp/tracee-bench]   build and log directory (kept: logs in $BENCH_WORK/log)
#   BENCH_SRC [/work/shared/bench]   syscall_bench.c, min_filter*, bt_*.bt
#   OUT [bench/results-loader.md]    the Markdown written (also printed on stdout)
#   TRACEE_COMPILE, TRACEE_LOAD [target/release/...]  built with cargo when missing
#   BENCH_NO_INSTALL=1        never apt-get install (missing tools make their columns n/a)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${BENCH_SRC:-/work/shared/bench}"
WORK="${BENCH_WORK:-/tmp/tracee-bench}"
OUT="${OUT:-$REPO/bench/results-loader.md}"
ITERS="${ITERS:-200000}"
ITERS_OPENCLOSE="${ITERS_OPENCLOSE:-$(( ITERS / 4 > 0 ? ITERS / 4 : 1 ))}"
ITERS_EXEC="${ITERS_EXEC:-300}"
REPS="${REPS:-5}"
ROUNDS="${ROUNDS:-1}"
WORKLOADS="${WORKLOADS:-openclose openclose_tmp_miss getpid close_bad exec mixed}"
ITERS_MIXED="${ITERS_MIXED:-$(( ITERS / 20 > 0 ? ITERS / 20 : 1 ))}"
OLD_LOAD="${OLD_LOAD:-}"
OLD_COMPILE="${OLD_COMPILE:-}"
DEFAULT_CONFIGS="ours_none ours_seed ours_events bt_none bt_some mf_none mf_batched"
[[ -z $OLD_LOAD ]] || DEFAULT_CONFIGS="old_none old_seed $DEFAULT_CONFIGS"
CONFIGS="${CONFIGS:-$DEFAULT_CONFIGS}"
TP_ITERS="${TP_ITERS:-3000000}"
TP_PROCS="${TP_PROCS:-1}"
TP_CONFIGS="${TP_CONFIGS:-ours ours_metrics ours_file mf}"
SINK_DIR="${SINK_DIR:-$WORK}"
STARTUP_RUNS="${STARTUP_RUNS:-10}"
READY_TIMEOUT="${READY_TIMEOUT:-60}"
STOP_TIMEOUT="${STOP_TIMEOUT:-60}"
SETTLE="${SETTLE:-0.5}"
TRACEE_COMPILE="${TRACEE_COMPILE:-$REPO/target/release/tracee-compile}"
TRACEE_LOAD="${TRACEE_LOAD:-$REPO/target/release/tracee-load}"

log() { echo "loader.sh: $*" >&2; }
die() { log "error: $*"; exit 2; }

# ---------------------------------------------------------------- tracer lifecycle and cleanup
TRACER_PID=""      # the one background tracer running (at most one at a time)
HELPER_PID=""      # the start-up timing helper (it stops its own child on SIGTERM)

pid_alive() { # a zombie counts as gone
    local st
    kill -0 "$1" 2>/dev/null || return 1
    st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
    [[ -n $st && $st != Z ]]
}

# stop_pid PID TIMEOUT: SIGINT, then SIGTERM after TIMEOUT s, then SIGKILL 5 s later; reaps it.
stop_pid() {
    local pid="$1" timeout="$2" i sig polls rc=0
    for sig in INT TERM KILL; do
        pid_alive "$pid" || break
        kill -s "$sig" "$pid" 2>/dev/null || true
        polls=50
        if [[ $sig == INT ]]; then polls=$(( timeout * 10 )); else log "pid $pid did not exit, sent SIG$sig"; fi
        for ((i = 0; i < polls; i++)); do
            pid_alive "$pid" || break
            sleep 0.1
        done
    done
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

cleanup() {
    trap - EXIT INT TERM
    if [[ -n $HELPER_PID ]]; then kill -TERM "$HELPER_PID" 2>/dev/null || true; wait "$HELPER_PID" 2>/dev/null || true; fi
    if [[ -n $TRACER_PID ]]; then stop_pid "$TRACER_PID" 5 || true; fi
    TRACER_PID="" HELPER_PID=""
}
trap cleanup EXIT
trap 'log "interrupted"; cleanup; exit 130' INT TERM

# start_tracer NAME READY CMD...: runs CMD in the background (stdout to /dev/null, stderr to
# $LOG/NAME.err) and waits until it is attached. READY is `stderr:REGEX` (a line on its stderr)
# or `perf:N` (bpftool lists N tracepoint programs of that pid: bpftrace prints its "ready" on
# stdout, which goes to /dev/null here, and the perf list is what "ready" means). Returns 1 if
# the tracer exits or does not attach within READY_TIMEOUT (it is then stopped).
start_tracer() {
    local name="$1" ready="$2" deadline n
    shift 2
    ERR="$LOG/$name.err"
    "$@" </dev/null >/dev/null 2>"$ERR" &
    TRACER_PID=$!
    deadline=$(( $(date +%s) + READY_TIMEOUT ))
    while :; do
        case "$ready" in
            stderr:*) grep -qE "${ready#stderr:}" "$ERR" && break ;;
            perf:*)
                n="$(bpftool perf show 2>/dev/null | grep -cE "^pid $TRACER_PID +fd .*tracepoint" || true)"
                (( n >= ${ready#perf:} )) && break ;;
        esac
        if ! pid_alive "$TRACER_PID"; then
            log "$name exited before attaching; its stderr:"; sed 's/^/    /' "$ERR" >&2
            wait "$TRACER_PID" 2>/dev/null || true; TRACER_PID=""
            return 1
        fi
        if (( $(date +%s) >= deadline )); then
            log "$name not attached after ${READY_TIMEOUT}s; its stderr:"; sed 's/^/    /' "$ERR" >&2
            stop_pid "$TRACER_PID" 5 || true; TRACER_PID=""
            return 1
        fi
        sleep 0.05
    done
    sleep "$SETTLE"
}

# stop_tracer: SIGINT the running tracer and wait for it; sets STOP_RC.
stop_tracer() {
    STOP_RC=0
    stop_pid "$TRACER_PID" "$STOP_TIMEOUT" || STOP_RC=$?
    TRACER_PID=""
}

# ---------------------------------------------------------------- setup
(( EUID == 0 )) || die "needs root (BPF programs, tracefs)"
[[ -d $SRC ]] || die "no workload sources at $SRC (BENCH_SRC)"
mkdir -p "$WORK"
LOG="$WORK/log"
rm -rf "$LOG"
mkdir -p "$LOG"
RAW="$LOG/raw.txt"
: >"$RAW"

# Tools: install what is missing (apt-get), unless BENCH_NO_INSTALL=1.
missing=()
for pair in gcc:gcc make:make clang:clang bpftool:bpftool bpftrace:bpftrace; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
for pkg in libbpf-dev libelf-dev zlib1g-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if (( ${#missing[@]} )); then
    if [[ ${BENCH_NO_INSTALL:-0} == 1 ]] || ! command -v apt-get >/dev/null; then
        log "missing ${missing[*]} (not installing); the columns needing them show n/a"
    else
        log "installing ${missing[*]} with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >"$LOG/apt.txt" 2>&1 \
            || log "apt-get install failed (see $LOG/apt.txt); the columns needing them show n/a"
    fi
fi
command -v gcc >/dev/null && command -v make >/dev/null || die "gcc and make are needed for syscall_bench"
command -v python3 >/dev/null || die "python3 is needed (medians and start-up timing)"

# Per-syscall tracepoints need tracefs (tracee-load mounts it itself; bpftrace does not).
if [[ ! -d /sys/kernel/tracing/events ]]; then
    mount -t tracefs nodev /sys/kernel/tracing || log "could not mount tracefs"
fi

# The workload and the anchor, built in $WORK (cp -p keeps make from rebuilding needlessly).
BUILD="$WORK/build"
mkdir -p "$BUILD"
for f in "$SRC"/*; do
    [[ -f $f ]] || continue
    if [[ ! -e $BUILD/${f##*/} ]] || ! cmp -s "$f" "$BUILD/${f##*/}"; then cp -pf "$f" "$BUILD/"; fi
done
chmod u+w "$BUILD"/* 2>/dev/null || true
make -C "$BUILD" syscall_bench >"$LOG/build-syscall_bench.txt" 2>&1 \
    || { cat "$LOG/build-syscall_bench.txt" >&2; die "building syscall_bench failed"; }
SB="$BUILD/syscall_bench"
# Ours: the mixed workload (bench/mixed_bench.c), syscall_bench's output format.
gcc -O2 -Wall -o "$BUILD/mixed_bench" "$REPO/bench/mixed_bench.c" >"$LOG/build-mixed_bench.txt" 2>&1 \
    || { cat "$LOG/build-mixed_bench.txt" >&2; die "building mixed_bench failed"; }
MF=""
if make -C "$BUILD" min_filter >"$LOG/build-min_filter.txt" 2>&1; then
    MF="$BUILD/min_filter"
else
    log "building min_filter failed (see $LOG/build-min_filter.txt); its columns show n/a"
fi
BT=""
command -v bpftrace >/dev/null && BT="$(command -v bpftrace)" || log "bpftrace not found; its columns show n/a"
HAVE_BPFTOOL=0
command -v bpftool >/dev/null && HAVE_BPFTOOL=1

# Ours: build only when the binaries are missing.
if [[ ! -x $TRACEE_COMPILE || ! -x $TRACEE_LOAD ]]; then
    log "building tracee-compile and tracee-load (cargo build --release)"
    (cd "$REPO" && cargo build --release -p tracee-compile -p tracee-load)
fi
[[ -x $TRACEE_COMPILE && -x $TRACEE_LOAD ]] || die "no tracee-compile/tracee-load at $TRACEE_COMPILE, $TRACEE_LOAD"
for p in none seed throughput events13; do
    "$TRACEE_COMPILE" "$REPO/bench/policies/$p.yaml" -o "$WORK/$p.bin" >"$LOG/compile-$p.txt" 2>&1 \
        || { cat "$LOG/compile-$p.txt" >&2; die "compiling bench/policies/$p.yaml failed"; }
done
if [[ -n $OLD_LOAD ]]; then
    [[ -x $OLD_LOAD && -x $OLD_COMPILE ]] || die "OLD_LOAD and OLD_COMPILE must both be executables"
    for p in none seed; do
        "$OLD_COMPILE" "$REPO/bench/policies/$p.yaml" -o "$WORK/old-$p.bin" >"$LOG/compile-old-$p.txt" 2>&1 \
            || { cat "$LOG/compile-old-$p.txt" >&2; die "compiling bench/policies/$p.yaml with OLD_COMPILE failed"; }
    done
    # Builds from before issue 13 do not know these events: old_events is then n/a.
    "$OLD_COMPILE" "$REPO/bench/policies/events13.yaml" -o "$WORK/old-events13.bin" >"$LOG/compile-old-events13.txt" 2>&1 \
        || rm -f "$WORK/old-events13.bin"
fi

others="$(for n in tracee-load bpftrace min_filter; do pgrep -a -x "$n" || true; done)"
[[ -z $others ]] || log "warning: tracers already running (they will skew the numbers):"$'\n'"$others"

# ---------------------------------------------------------------- configurations
declare -A LABEL=(
    [baseline]="baseline"
    [ours_none]="ours, matches nothing"
    [ours_seed]="ours, seed-like (JSON)"
    [ours_events]="ours, every event new in issue 13 (JSON)"
    [old_none]="previous build (OLD_LOAD), matches nothing"
    [old_seed]="previous build (OLD_LOAD), seed-like (JSON)"
    [old_events]="previous build (OLD_LOAD), every event new in issue 13 (JSON)"
    [bt_none]="bpftrace, matches nothing"
    [bt_some]="bpftrace, seed-like"
    [mf_none]="min_filter, matches nothing"
    [mf_batched]="min_filter, all match, batched wakeups"
)
declare -A WLABEL=(
    [openclose]="open+close under /tmp"
    [openclose_tmp_miss]="open+close outside /tmp"
    [getpid]="getpid"
    [close_bad]="close(-1)"
    [exec]="fork+exec /bin/true"
    [mixed]="mixed (write, rename, symlink, mmap, socket, chdir, prctl)"
)
declare -A RES=()        # "config|workload" -> medians (ns/op), one per measurement
declare -A NOTES=()      # config -> tracer summary lines, one per round
for c in $CONFIGS; do [[ -n ${LABEL[$c]:-} ]] || die "unknown configuration $c (CONFIGS)"; done

# tracer_cmd CONFIG: sets READY and CMD (empty CMD: not available here).
tracer_cmd() {
    CMD=() READY=""
    case "$1" in
        ours_none) READY="stderr:attached"; CMD=("$TRACEE_LOAD" --output json "$WORK/none.bin") ;;
        ours_seed) READY="stderr:attached"; CMD=("$TRACEE_LOAD" --output json "$WORK/seed.bin") ;;
        ours_events) READY="stderr:attached"; CMD=("$TRACEE_LOAD" --output json "$WORK/events13.bin") ;;
        old_none) READY="stderr:attached"; CMD=("$OLD_LOAD" --output json "$WORK/old-none.bin") ;;
        old_seed) READY="stderr:attached"; CMD=("$OLD_LOAD" --output json "$WORK/old-seed.bin") ;;
        old_events)
            [[ -f $WORK/old-events13.bin ]] || return 0
            READY="stderr:attached"; CMD=("$OLD_LOAD" --output json "$WORK/old-events13.bin") ;;
        bt_none | bt_some)
            [[ -n $BT && $HAVE_BPFTOOL == 1 ]] || return 0
            READY="perf:2"; CMD=("$BT" -B line "$BUILD/${1}.bt") ;;
        mf_none) [[ -n $MF ]] || return 0; READY="stderr:^ready"; CMD=("$MF" -u 12345 -p /tmp/ -T) ;;
        mf_batched)
            [[ -n $MF ]] || return 0
            READY="stderr:^ready"; CMD=("$MF" -u 0 -p /tmp/ -T -w 262144 -t 20) ;;
    esac
}

iters_for() {
    case "$1" in
        openclose) echo "$ITERS_OPENCLOSE" ;;
        exec) echo "$ITERS_EXEC" ;;
        mixed) echo "$ITERS_MIXED" ;;
        *) echo "$ITERS" ;;
    esac
}

# run_workloads CONFIG TAG: every workload once; appends each median to RES.
run_workloads() {
    local cfg="$1" tag="$2" w line med
    for w in $WORKLOADS; do
        local bin="$SB"
        [[ $w == mixed ]] && bin="$BUILD/mixed_bench"
        line="$("$bin" "$w" "$(iters_for "$w")" "$REPS")" || { log "syscall_bench $w failed"; continue; }
        echo "$tag $cfg $line" >>"$RAW"
        med="$(sed -n 's/.* median_ns=\([0-9.]*\).*/\1/p' <<<"$line")"
        [[ -n $med ]] && RES["$cfg|$w"]+="$med "
    done
}

# summary line of a stopped tracer (from $ERR)
tracer_summary() {
    case "$1" in
        ours_* | old_*) grep -E 'events printed' "$ERR" | tail -1 || true ;;
        mf_*) grep -E '^stats:' "$ERR" | tail -1 || true ;;
        bt_*) echo "(bpftrace: event count not collected, its output goes to /dev/null)" ;;
    esac
}

# run_config CONFIG ROUND
run_config() {
    local cfg="$1" r="$2" s
    if [[ $cfg == baseline* ]]; then
        log "round $r: baseline"
        run_workloads baseline "r$r"
        return
    fi
    tracer_cmd "$cfg"
    if (( ${#CMD[@]} == 0 )); then
        NOTES[$cfg]+="round $r: not available (tool missing)"$'\n'
        return
    fi
    log "round $r: ${LABEL[$cfg]}"
    if ! start_tracer "$cfg.r$r" "$READY" "${CMD[@]}"; then
        NOTES[$cfg]+="round $r: did not start (see $LOG/$cfg.r$r.err)"$'\n'
        return
    fi
    run_workloads "$cfg" "r$r"
    stop_tracer
    s="$(tracer_summary "$cfg")"
    (( STOP_RC == 0 )) || s+=" (exit status $STOP_RC)"
    NOTES[$cfg]+="round $r: $s"$'\n'
}

# ---------------------------------------------------------------- machine info
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
CPU_MODEL="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
REV="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -z $(git -C "$REPO" --no-optional-locks status --porcelain -- compiler loader bpf schema 2>/dev/null) ]] || REV+=" (uncommitted changes in the tree)"
log "logs in $LOG"

# ---------------------------------------------------------------- 1-2: overhead
read -r -a CFG_LIST <<<"$CONFIGS"
T_START=$(date +%s)
for ((r = 1; r <= ROUNDS; r++)); do
    n=${#CFG_LIST[@]}
    order=(baseline)
    for ((k = 0; k < n; k++)); do order+=("${CFG_LIST[$(( (k + r - 1) % n ))]}"); done
    order+=(baseline_end)
    for cfg in "${order[@]}"; do run_config "$cfg" "$r"; done
done

# ---------------------------------------------------------------- 3: throughput
# drive_close_bad TAG: TP_PROCS syscall_bench close_bad processes in parallel; sets TP_WALL_NS
# (spawn of the first to exit of the last) and TP_NS (median ns/op of each process).
drive_close_bad() {
    local tag="$1" t0 t1 i pids=() line
    t0=$(date +%s%N)
    for ((i = 0; i < TP_PROCS; i++)); do
        "$SB" close_bad "$TP_ITERS" 1 >"$LOG/tp-$tag-$i.txt" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || log "syscall_bench close_bad failed"; done
    t1=$(date +%s%N)
    TP_WALL_NS=$(( t1 - t0 ))
    TP_NS=""
    for ((i = 0; i < TP_PROCS; i++)); do
        line="$(cat "$LOG/tp-$tag-$i.txt")"
        echo "throughput $tag $line" >>"$RAW"
        TP_NS+="$(sed -n 's/.* median_ns=\([0-9.]*\).*/\1/p' <<<"$line") "
    done
}

TP_LINES=()
if (( TP_ITERS > 0 )); then
    calls=$(( TP_PROCS * (TP_ITERS + TP_ITERS / 10) ))   # syscall_bench adds a 10% warm-up
    log "throughput: baseline"
    drive_close_bad baseline
    TP_LINES+=("- baseline: $TP_PROCS x syscall_bench close_bad $TP_ITERS, ${calls} failed closes in $(awk -v w="$TP_WALL_NS" 'BEGIN{printf "%.2f", w/1e9}') s, ${TP_NS}ns/op")
    for tcfg in $TP_CONFIGS; do
        scraper=""
        if [[ $tcfg == ours ]]; then
            label="ours (\`throughput.yaml\`, --output json > /dev/null)"
            CMD=("$TRACEE_LOAD" --output json "$WORK/throughput.bin"); READY="stderr:attached"
        elif [[ $tcfg == ours_metrics ]]; then
            label="ours with --metrics, scraped every second"
            CMD=("$TRACEE_LOAD" --output json --metrics 127.0.0.1:19464 "$WORK/throughput.bin"); READY="stderr:attached"
        elif [[ $tcfg == ours_file ]]; then
            label="ours with the file sink beside stdout (--output json > /dev/null --output-file $SINK_DIR/tp-sink.json --rotate-mb 64 --rotate-keep 2)"
            rm -f "$SINK_DIR"/tp-sink.json*
            CMD=("$TRACEE_LOAD" --output json "$WORK/throughput.bin" --output-file "$SINK_DIR/tp-sink.json" --rotate-mb 64 --rotate-keep 2)
            READY="stderr:attached"
        else
            [[ -n $MF ]] || { TP_LINES+=("- min_filter: n/a (not built)"); continue; }
            label="min_filter anchor (-u 0 -p /tmp/ -T -w 262144 -t 20, root's failed closes)"
            CMD=("$MF" -u 0 -p /tmp/ -T -w 262144 -t 20); READY="stderr:^ready"
        fi
        log "throughput: $tcfg"
        if ! start_tracer "throughput-$tcfg" "$READY" "${CMD[@]}"; then
            TP_LINES+=("- $label: did not start (see $LOG/throughput-$tcfg.err)")
            continue
        fi
        if [[ $tcfg == ours_metrics ]]; then
            ( while :; do curl -s -o "$LOG/metrics-last.txt" http://127.0.0.1:19464/metrics || true; sleep 1; done ) &
            scraper=$!
        fi
        drive_close_bad "$tcfg"
        [[ -z $scraper ]] || { kill "$scraper" 2>/dev/null; wait "$scraper" 2>/dev/null || true; }
        t_stop0=$(date +%s%N)
        stop_tracer
        drain_ns=$(( $(date +%s%N) - t_stop0 ))
        if [[ $tcfg == ours* ]]; then
            summ="$(grep -E 'events printed' "$ERR" | tail -1 || true)"
            printed="$(sed -n 's/.*: \([0-9]*\) events printed.*/\1/p' <<<"$summ")"
            lost="$(sed -n 's/.* \([0-9]*\) lost.*/\1/p' <<<"$summ")"
        else
            summ="$(grep -E '^stats:' "$ERR" | tail -1 || true)"
            printed="$(sed -n 's/.* consumed=\([0-9]*\).*/\1/p' <<<"$summ")"
            lost="$(sed -n 's/.* dropped=\([0-9]*\).*/\1/p' <<<"$summ")"
        fi
        if [[ -n $printed ]]; then
            TP_LINES+=("$(awk -v p="$printed" -v l="${lost:-?}" -v w="$TP_WALL_NS" -v d="$drain_ns" -v c="$calls" \
                -v ns="$TP_NS" -v lab="$label" -v what="$([[ $tcfg == ours* ]] && echo printed || echo consumed)" 'BEGIN {
                printf "- %s: **%.0f events/s** (%d %s in the %.2f s of the workload; %.0f/s counting the %.2f s from SIGINT to exit), %s lost, %d failed closes issued; workload %sns/op",
                    lab, p / (w / 1e9), p, what, w / 1e9, p / ((w + d) / 1e9), d / 1e9, l, c, ns
                if (p > c * 1.01) printf " (**%d more events than the workload issued**: other processes failed closes meanwhile, so events/s is inflated)", p - c }')")
            if [[ $tcfg == ours_file ]]; then
                # The sink's own count: what reached the file, what its full queue dropped.
                sink="$(grep -o 'file [^;]*: [0-9]* delivered, [0-9]* dropped' <<<"$summ" || true)"
                TP_LINES[-1]+="; ${sink:-file sink: no count in the summary}"
                rm -f "$SINK_DIR"/tp-sink.json*
            fi
        else
            TP_LINES+=("- $label: no summary line (see $ERR)")
        fi
        (( STOP_RC == 0 )) || TP_LINES[-1]+=" (exit status $STOP_RC)"
    done
fi

# ---------------------------------------------------------------- 4: start-up
# spawn_ready.py STREAM REGEX TIMEOUT CMD...: spawn CMD, time until a line of STREAM matches
# REGEX, SIGINT it, wait; prints "ms=<spawn to line> line=<the line>" (or "fail=...").
cat >"$WORK/spawn_ready.py" <<'PY'
import re, signal, subprocess, sys, threading, time
stream, pattern, timeout, cmd = sys.argv[1], re.compile(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
child = None
def on_term(*_):
    raise SystemExit(143)
signal.signal(signal.SIGTERM, on_term)
found = threading.Event()
result = {}
def reader(f):
    for raw in f:
        line = raw.decode(errors="replace").rstrip("\n")
        if not found.is_set() and pattern.search(line):
            result["t"] = time.perf_counter()
            result["line"] = line
            found.set()
try:
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
                             stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL)
    th = threading.Thread(target=reader, args=(child.stdout if stream == "stdout" else child.stderr,), daemon=True)
    th.start()
    if found.wait(timeout):
        print(f"ms={(result['t'] - t0) * 1e3:.1f} line={result['line']}")
    else:
        print(f"fail=no line matching {pattern.pattern!r} within {timeout}s (exit status {child.poll()})")
finally:
    if child is not None and child.poll() is None:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
PY

# startup NAME STREAM REGEX CMD...: STARTUP_RUNS measurements; sets SU_MS and SU_SELF (the
# loader's own "in N ms") as space-separated lists, SU_FAIL the first failure.
startup() {
    local name="$1" stream="$2" regex="$3" i line
    shift 3
    SU_MS="" SU_SELF="" SU_FAIL=""
    for ((i = 0; i < STARTUP_RUNS; i++)); do
        python3 "$WORK/spawn_ready.py" "$stream" "$regex" "$READY_TIMEOUT" "$@" >"$LOG/startup-$name.txt" 2>&1 &
        HELPER_PID=$!
        wait "$HELPER_PID" || true
        HELPER_PID=""
        line="$(cat "$LOG/startup-$name.txt")"
        echo "startup $name $line" >>"$RAW"
        if [[ $line == ms=* ]]; then
            SU_MS+="$(sed -n 's/^ms=\([0-9.]*\).*/\1/p' <<<"$line") "
            SU_SELF+="$(sed -n 's/.* in \([0-9]*\) ms.*/\1/p' <<<"$line") "
        else
            SU_FAIL="${SU_FAIL:-$line}"
        fi
        sleep 0.2
    done
}

median() { python3 -c 'import statistics, sys; v = [float(x) for x in sys.argv[1:]]; print(f"{statistics.median(v):.6g}" if v else "")' "$@"; }
minmax() { python3 -c 'import sys; v = [float(x) for x in sys.argv[1:]]; print(f"{min(v):.1f}-{max(v):.1f}" if v else "")' "$@"; }

SU_LINES=()
if (( STARTUP_RUNS > 0 )); then
    log "start-up: tracee-load ($STARTUP_RUNS runs)"
    startup ours stderr 'attached' "$TRACEE_LOAD" --output json "$WORK/seed.bin"
    # shellcheck disable=SC2086
    if [[ -n $SU_MS ]]; then
        SU_LINES+=("- ours, \`seed.yaml\` image, spawn to \`attached\`: **$(median $SU_MS) ms** median of $(wc -w <<<"$SU_MS") (range $(minmax $SU_MS) ms); the loader's own \`in N ms\`: $(median $SU_SELF) ms median")
    fi
    [[ -z $SU_FAIL ]] || SU_LINES+=("- ours: failed run: $SU_FAIL")
    startup ours_events stderr 'attached' "$TRACEE_LOAD" --output json "$WORK/events13.bin"
    # shellcheck disable=SC2086
    [[ -z $SU_MS ]] || SU_LINES+=("- ours, \`events13.yaml\` image (every event new in issue 13), spawn to \`attached\`: **$(median $SU_MS) ms** median of $(wc -w <<<"$SU_MS") (range $(minmax $SU_MS) ms); the loader's own \`in N ms\`: $(median $SU_SELF) ms median")
    if [[ -n $OLD_LOAD ]]; then
        log "start-up: OLD_LOAD ($STARTUP_RUNS runs)"
        startup old stderr 'attached' "$OLD_LOAD" --output json "$WORK/old-seed.bin"
        # shellcheck disable=SC2086
        [[ -z $SU_MS ]] || SU_LINES+=("- previous build (OLD_LOAD), \`seed.yaml\` image, spawn to \`attached\`: **$(median $SU_MS) ms** median of $(wc -w <<<"$SU_MS") (range $(minmax $SU_MS) ms); the loader's own \`in N ms\`: $(median $SU_SELF) ms median")
        if [[ -f $WORK/old-events13.bin ]]; then
            startup old_events stderr 'attached' "$OLD_LOAD" --output json "$WORK/old-events13.bin"
            # shellcheck disable=SC2086
            [[ -z $SU_MS ]] || SU_LINES+=("- previous build (OLD_LOAD), \`events13.yaml\` image, spawn to \`attached\`: **$(median $SU_MS) ms** median of $(wc -w <<<"$SU_MS") (range $(minmax $SU_MS) ms); the loader's own \`in N ms\`: $(median $SU_SELF) ms median")
        fi
    fi
    if [[ -n $BT ]]; then
        log "start-up: bpftrace ($STARTUP_RUNS runs)"
        startup bpftrace stdout '^ready' "$BT" -B line "$BUILD/bt_none.bt"
        # shellcheck disable=SC2086
        [[ -z $SU_MS ]] || SU_LINES+=("- bpftrace \`bt_none.bt\`, spawn to \`ready\`: **$(median $SU_MS) ms** median of $(wc -w <<<"$SU_MS") (range $(minmax $SU_MS) ms)")
        [[ -z $SU_FAIL ]] || SU_LINES+=("- bpftrace: failed run: $SU_FAIL")
    else
        SU_LINES+=("- bpftrace: n/a (not installed)")
    fi
    if [[ -n $MF ]]; then
        log "start-up: min_filter ($STARTUP_RUNS runs)"
        startup min_filter stderr '^ready' "$MF" -u 12345 -p /tmp/ -T
        # shellcheck disable=SC2086
        [[ -z $SU_MS ]] || SU_LINES+=("- min_filter \`-u 12345 -p /tmp/ -T\`, spawn to \`ready\`: **$(median $SU_MS) ms** median of $(wc -w <<<"$SU_MS") (range $(minmax $SU_MS) ms)")
        [[ -z $SU_FAIL ]] || SU_LINES+=("- min_filter: failed run: $SU_FAIL")
    fi
fi
T_END=$(date +%s)

# ---------------------------------------------------------------- 5: report
fmt_ns() { awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f ns", v; else printf "%.1f ns", v }'; }

report() {
    local w c cols hdr sep row b v all
    echo "## loader.sh results"
    echo
    echo "$(nproc) CPUs (\`nproc\`), \"$CPU_MODEL\", Linux $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC');"
    echo "tracee-load at \`$REV\` ($("$TRACEE_LOAD" --version 2>/dev/null | head -1 || true)), $([[ -n $BT ]] && "$BT" --version 2>/dev/null | head -1 || echo 'no bpftrace');"
    echo "load average $LOAD_BEFORE before the run; ITERS=$ITERS (openclose $ITERS_OPENCLOSE), REPS=$REPS, ROUNDS=$ROUNDS; $(( T_END - T_START )) s in all."
    echo
    echo "Median ns per operation (syscall_bench, median of $REPS repetitions, then of the rounds), and the ratio to the untraced baseline measured in the same run:"
    echo
    hdr="| workload | baseline"
    sep="|---|---:"
    for c in $CONFIGS; do hdr+=" | ${LABEL[$c]}"; sep+="|---:"; done
    echo "$hdr |"
    echo "$sep|"
    for w in $WORKLOADS; do
        all="${RES["baseline|$w"]:-}"
        # shellcheck disable=SC2086
        b="$(median $all)"
        row="| ${WLABEL[$w]:-$w} | $([[ -n $b ]] && fmt_ns "$b" || echo n/a)"
        for c in $CONFIGS; do
            # shellcheck disable=SC2086
            v="$(median ${RES["$c|$w"]:-})"
            if [[ -z $v ]]; then row+=" | n/a"
            elif [[ -z $b ]]; then row+=" | $(fmt_ns "$v")"
            else row+=" | $(fmt_ns "$v") ($(awk -v v="$v" -v b="$b" 'BEGIN { printf "%.2fx", v / b }'))"; fi
        done
        echo "$row |"
    done
    echo
    echo "Baseline spread (each baseline measurement: start and end of every round), to judge the noise:"
    for w in $WORKLOADS; do
        all="${RES["baseline|$w"]:-}"
        echo "- ${WLABEL[$w]:-$w}: $(tr -s ' ' <<<"${all% }" | sed 's/ / ns, /g') ns"
    done
    echo
    echo "Tracer summaries (at SIGINT after the workloads; seed-like tracers also see every other root process):"
    for c in $CONFIGS; do
        while IFS= read -r line; do
            [[ -n $line ]] && echo "- ${LABEL[$c]}, $line"
        done <<<"${NOTES[$c]:-}"
    done
    echo
    if (( TP_ITERS > 0 )); then
        echo "Throughput (rule \`close\` \`retval!=0\`, global scope; $TP_PROCS syscall_bench close_bad process(es) of $TP_ITERS calls + 10% warm-up):"
        echo
        printf '%s\n' "${TP_LINES[@]}"
        echo
    fi
    if (( STARTUP_RUNS > 0 )); then
        echo "Start-up (spawn to attached, $STARTUP_RUNS runs each):"
        echo
        printf '%s\n' "${SU_LINES[@]}"
        echo
    fi
    echo "Raw syscall_bench lines and tracer logs: \`$LOG\`."
}

mkdir -p "$(dirname "$OUT")"
report | tee "$OUT"
log "wrote $OUT"
