#!/usr/bin/env bash
# Network benchmark (issue 15): what the packet programs cost loopback traffic, measured
# beside the untraced baseline in the same run. Two workloads (bench/net_bench.c, in a
# network namespace of their own): a TCP stream (64 KiB writes) and a UDP request/response
# loop (64 bytes, to port 53: the packets pass the DNS port check and have their header
# read, the worst case for a policy on DNS; they are no DNS message, so none is sent up). Three configurations: untraced, a policy selecting net_packet_dns only
# (every other packet must cost next to nothing), and a policy selecting every packet
# event (each packet decoded and sent up once per event).
# Needs root. Not a test: it exits 0 once the table is written. See bench/README.md.
#
#   bench/network.sh                     # ~2 min on 2 vCPUs
#   ROUNDS=1 bench/network.sh            # a smoke run
#
# Environment (defaults in brackets):
#   ROUNDS [5]        rounds; each runs every configuration once, in a rotating order
#   MIB [256]         MiB per TCP stream
#   TRIPS [20000]     UDP round trips per repetition
#   REPS [3]          repetitions per measurement (net_bench reports their median)
#   CPU [the last]    the CPU both ends of each workload run on
#   BENCH_WORK [/tmp/tracee-bench-network]   build and log directory
#   OUT [bench/results-network.md]   the Markdown written (also printed)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${BENCH_WORK:-/tmp/tracee-bench-network}"
OUT="${OUT:-$REPO/bench/results-network.md}"
ROUNDS="${ROUNDS:-5}"
MIB="${MIB:-256}"
TRIPS="${TRIPS:-20000}"
REPS="${REPS:-3}"
CPU="${CPU:-$(( $(nproc) - 1 ))}"
TRACEE_COMPILE="${TRACEE_COMPILE:-$REPO/target/release/tracee-compile}"
TRACEE_LOAD="${TRACEE_LOAD:-$REPO/target/release/tracee-load}"

log() { echo "network.sh: $*" >&2; }
die() { log "error: $*"; exit 2; }
(( EUID == 0 )) || die "needs root"
mkdir -p "$WORK/log"
LOG="$WORK/log"

# shellcheck source=bench/paired.sh
. "$REPO/bench/paired.sh"

gcc -O2 -Wall -o "$WORK/net_bench" "$REPO/bench/net_bench.c" 2>"$LOG/build.txt" ||
    die "building net_bench failed: $(cat "$LOG/build.txt")"
NB="$WORK/net_bench"
if [[ ! -x $TRACEE_COMPILE || ! -x $TRACEE_LOAD ]]; then
    (cd "$REPO" && cargo build --release -p tracee-compile -p tracee-load)
fi

policy() { # NAME EVENTS...
    local name="$1"; shift
    printf 'type: policy\nname: %s\ndescription: network benchmark\nscope: [global]\nrules:\n' "$name"
    for e in "$@"; do printf '  - event: %s\n' "$e"; done
}
policy dns net_packet_dns >"$WORK/dns.yaml"
policy all net_packet_raw net_packet_ipv4 net_packet_ipv6 net_packet_tcp net_packet_udp \
    net_packet_icmp net_packet_icmpv6 net_packet_dns net_packet_dns_request \
    net_packet_dns_response net_packet_http net_packet_http_request \
    net_packet_http_response >"$WORK/all.yaml"
for p in dns all; do
    "$TRACEE_COMPILE" "$WORK/$p.yaml" -o "$WORK/$p.bin" >"$LOG/compile-$p.txt" 2>&1 ||
        { cat "$LOG/compile-$p.txt" >&2; die "the $p policy does not compile"; }
done

# ------------------------------------------------------------------ measurements
declare -A RES=()     # "config|workload" -> medians
declare -A SENT=()    # config -> records the kernel sent, per round

workloads() { # CONFIG
    local out
    # On one CPU: a request/response loop spread over two CPUs measures how fast an idle
    # CPU wakes up (faster while the loader keeps the other one busy), not the packets.
    out="$(unshare -n taskset -c "$CPU" sh -c "ip link set lo up && $NB tcp $MIB $REPS && $NB udp $TRIPS $REPS")"
    RES["$1|tcp"]+="$(sed -n 's/^tcp .* median_ns=\([0-9]*\).*/\1/p' <<<"$out") "
    RES["$1|udp"]+="$(sed -n 's/^udp .* median_ns=\([0-9]*\).*/\1/p' <<<"$out") "
}

with_loader() { # CONFIG IMAGE
    local err="$LOG/$1.err"
    start_loader "$@"
    workloads "$1"
    stop_loader
    SENT[$1]+="$(python3 -c '
import re, sys
line = [l for l in open(sys.argv[1]) if "events printed" in l][-1]
n = lambda pat: int((re.search(pat, line) or [0, 0])[1])
print(n(r"(\d+) events printed") + n(r"(\d+) lost"))
' "$err") "
}

CONFIGS=(baseline dns all)
for r in $(seq "$ROUNDS"); do
    for k in 0 1 2; do
        c="${CONFIGS[$(( (k + r) % 3 ))]}"
        log "round $r: $c"
        case $c in
            baseline) workloads baseline ;;
            *) with_loader "$c" "$WORK/$c.bin" ;;
        esac
    done
done

# ------------------------------------------------------------------ report
{
    echo "# Network benchmark"
    echo
    echo "$(date -u +%Y-%m-%d), $(git -C "$REPO" rev-parse --short HEAD), $(nproc) CPUs, kernel $(uname -r);"
    echo "$ROUNDS rounds: medians of the rounds' medians, and the median of the rounds' ratios to"
    echo "the baseline measured in the same round (each round's ratios in brackets)."
    echo
    echo "| workload | baseline | net_packet_dns only | ratio | every packet event | ratio |"
    echo "|---|---:|---:|---:|---:|---:|"
    for w in tcp udp; do
        case $w in
            tcp) label="TCP stream, ns per MiB (64 KiB writes)" ;;
            udp) label="UDP request/response to port 53, ns per round trip" ;;
        esac
        rd="$(ratios "${RES[dns|$w]}" "${RES[baseline|$w]}")"
        ra="$(ratios "${RES[all|$w]}" "${RES[baseline|$w]}")"
        printf '| %s | %s | %s | %s (%s) | %s | %s (%s) |\n' "$label" \
            "$(median <<<"${RES[baseline|$w]}")" "$(median <<<"${RES[dns|$w]}")" \
            "$(median <<<"$rd")" "${rd% }" "$(median <<<"${RES[all|$w]}")" \
            "$(median <<<"$ra")" "${ra% }"
    done
    echo
    echo "Records sent to user space per round (the workloads' and anything else on the host):"
    echo "net_packet_dns only: ${SENT[dns]% }; every packet event: ${SENT[all]% }."
} | tee "$OUT"
