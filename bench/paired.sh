# Sourced by the paired benchmarks (detectors.sh, network.sh): each round measures every
# configuration within seconds, so the VM's drift between rounds cancels out in the rounds'
# own ratios. Expects `log`, `die` and `LOG` (the log directory) from the script.

LOADER_PID=""
# BPF run-time statistics cost every program run two clock reads: off while measuring.
STATS="$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)"
sysctl -q kernel.bpf_stats_enabled=0 2>/dev/null || true
cleanup() {
    [[ -z $LOADER_PID ]] || kill -INT "$LOADER_PID" 2>/dev/null || true
    sysctl -q kernel.bpf_stats_enabled="$STATS" 2>/dev/null || true
}
trap cleanup EXIT

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The rounds' ratios A_i / B_i, space-separated.
ratios() { # A-list B-list
    paste <(tr ' ' '\n' <<<"$1" | grep -v '^$') <(tr ' ' '\n' <<<"$2" | grep -v '^$') |
        awk '{printf "%.4f ", $1 / $2}'
}

# Starts tracee-load on IMAGE (JSON to /dev/null, stderr to $LOG/CONFIG.err) and waits until
# it has attached; stop_loader ends it.
start_loader() { # CONFIG IMAGE
    local err="$LOG/$1.err" i
    "$TRACEE_LOAD" --output json "$2" >/dev/null 2>"$err" &
    LOADER_PID=$!
    for i in $(seq 600); do grep -q attached "$err" && break; sleep 0.05; done
    grep -q attached "$err" || die "tracee-load did not attach: $(cat "$err")"
    sleep 0.5
}

stop_loader() {
    kill -INT "$LOADER_PID"; wait "$LOADER_PID" || true; LOADER_PID=""
}
