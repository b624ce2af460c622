#!/usr/bin/env bash
# Compile-to-image benchmark: 64 policies holding 10,000 filter values in all, written to an
# image. Reports compile time (median and min of N runs), image size, map entries and the
# kernel memory the maps reserve ((key + value) x max entries, summed). Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-10}"
cargo build --release -q -p tracee-compile
bin="$PWD/target/release/tracee-compile"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$work/policies" <<'PY'
import os, sys
out = sys.argv[1]
os.makedirs(out)
# 64 policies; 10,000 values spread over scope uids, exact/prefix/suffix paths, ports and
# retval lists, so every map kind is exercised.
per = 10_000 // 64
total = 0
for p in range(64):
    n = per + (1 if p < 10_000 - per * 64 else 0)
    total += n
    q = n // 4
    uids = ",".join(str(1000 + p * 1000 + i) for i in range(q))
    exact = ",".join(f"/srv/app{p}/file{i}.conf" for i in range(q))
    prefix = ",".join(f"/var/lib/app{p}/d{i}/*" for i in range(q))
    suffix = ",".join(f"*.p{p}x{i}" for i in range(n - 3 * q))
    with open(f"{out}/p{p:02}.yaml", "w") as f:
        f.write(f"""type: policy
name: bench-{p}
description: benchmark policy {p}
scope:
  - uid={uids}
  - comm!=sshd
rules:
  - event: openat
    filters:
      - args.pathname={exact}
      - args.pathname={prefix}
      - args.pathname={suffix}
      - retval>=0
  - event: close
    filters:
      - retval<0
""")
print(f"generated 64 policies with {total} filter values", file=sys.stderr)
PY

times=()
for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$bin" "$work/policies" -o "$work/rules.bin" 2>"$work/summary.txt"
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
median=${sorted[$(( runs / 2 ))]}
min=${sorted[0]}
rss=$( { /usr/bin/time -f '%M' "$bin" "$work/policies" -o "$work/rules.bin" 2>&1 >/dev/null; } | tail -1 )
summary=$(cat "$work/summary.txt")
echo "| case | compile median | compile min | peak RSS | result |"
echo "|---|---|---|---|---|"
printf '| 64 policies, 10,000 values -> image | %d.%03d ms | %d.%03d ms | %s KiB | %s |\n' \
    $((median / 1000)) $((median % 1000)) $((min / 1000)) $((min % 1000)) "$rss" "$summary"
