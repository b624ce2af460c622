#!/usr/bin/env bash
# What a dropped_executable policy costs writes: `dd bs=64` to a file (a read of /dev/zero
# and a write per block) untraced and under tracee-load with bench/policies/dropped.yaml,
# median ns per block of ROUNDS runs each, interleaved. Needs root. See bench/README.md.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BLOCKS="${BLOCKS:-300000}"
ROUNDS="${ROUNDS:-5}"
TRACEE_COMPILE="${TRACEE_COMPILE:-$REPO/target/release/tracee-compile}"
TRACEE_LOAD="${TRACEE_LOAD:-$REPO/target/release/tracee-load}"
[ -x "$TRACEE_LOAD" ] || (cd "$REPO" && cargo build --release -p tracee-compile -p tracee-load)
work="$(mktemp -d)"
loader_pid=""
cleanup() { [ -n "$loader_pid" ] && kill -INT "$loader_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$TRACEE_COMPILE" "$REPO/bench/policies/dropped.yaml" -o "$work/dropped.bin" >/dev/null 2>&1 ||
    { echo "write.sh: bench/policies/dropped.yaml does not compile" >&2; exit 2; }

per_block() { # ns per dd block
    local s e
    s=$(date +%s%N)
    dd if=/dev/zero of="$work/out" bs=64 count="$BLOCKS" status=none
    e=$(date +%s%N)
    echo $(((e - s) / BLOCKS))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

base=(); ours=()
for _ in $(seq "$ROUNDS"); do
    base+=("$(per_block)")
    "$TRACEE_LOAD" "$work/dropped.bin" >/dev/null 2>"$work/err" &
    loader_pid=$!
    for _ in $(seq 100); do grep -q attached "$work/err" 2>/dev/null && break; sleep 0.05; done
    ours+=("$(per_block)")
    kill -INT "$loader_pid"; wait "$loader_pid" || true; loader_pid=""
done
b=$(printf '%s\n' "${base[@]}" | median)
o=$(printf '%s\n' "${ours[@]}" | median)
echo "dd bs=64 to a file, ns per block (median of $ROUNDS): untraced $b, dropped_executable policy $o ($(awk "BEGIN {printf \"%.2f\", $o / $b}")x)"
