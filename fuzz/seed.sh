#!/usr/bin/env bash
# Adds seed inputs to the fuzz corpora (fuzz/corpus/<target>/) from the repository's own
# data: the bundled and invalid policies, images compiled from them, and hand-built event
# records. Files are named by content hash, so running it twice adds nothing. After it,
# minimize with `scripts/fuzz cmin` (see docs/development.md).
set -euo pipefail
cd "$(dirname "$0")/.."

add() { # add TARGET FILE: copy FILE into the corpus under its SHA-1
    local sum
    sum="$(sha1sum "$2" | cut -d' ' -f1)"
    cp "$2" "fuzz/corpus/$1/$sum"
}
mkdir -p fuzz/corpus/policy fuzz/corpus/image fuzz/corpus/record

for f in testdata/policies/*.yaml testdata/policies/*.yml testdata/policies/*.json \
    testdata/policies/invalid/*.yaml testdata/policies/invalid/*.yml testdata/policies/invalid/*.json \
    testdata/policies/invalid/*/*; do
    [ -f "$f" ] && add policy "$f"
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cargo build -q --locked -p tracee-compile
compile=target/debug/tracee-compile
"$compile" testdata/policies -o "$tmp/all.bin" 2>/dev/null
add image "$tmp/all.bin"
for f in testdata/policies/*.yaml testdata/policies/*.yml testdata/policies/*.json; do
    "$compile" "$f" -o "$tmp/one.bin" 2>/dev/null && add image "$tmp/one.bin"
done

# Event records: the 184-byte EventRecord header (schema/src/abi.rs) and arguments of every
# kind, then a few broken ones.
python3 - "$tmp" <<'PY'
import struct, sys
out = sys.argv[1]
def arg(index, kind, data):
    return struct.pack("<BBH", index, kind, len(data)) + data
def record(event_id, args, args_size=None):
    body = b"".join(args)
    size = len(body) if args_size is None else args_size
    head = struct.pack("<QQQQQq", 1, 1, 4026531840, 4026531836, 1, 0)
    head += struct.pack("<10I", event_id, 0, 42, 42, 1, 42, 42, 1, 0, 257)
    head += struct.pack("<HBBI", size, len(args), 0, 0)
    head += b"cat".ljust(16, b"\0") + b"host".ljust(65, b"\0") + b"\0" * 7
    assert len(head) == 184
    return head + body
cases = {
    "empty": record(1, []),
    "open": record(257, [arg(0, 1, struct.pack("<q", -100)), arg(1, 3, b"/etc/passwd"),
                         arg(2, 2, struct.pack("<Q", 0)), arg(3, 7, b"\1")]),
    "exec": record(59, [arg(0, 3, b"/bin/sh"),
                        arg(1, 5, b"".join(struct.pack("<H", len(s)) + s for s in [b"sh", b"-c", b"id"])),
                        arg(2, 4, b"\x00\x01\x02")]),
    "connect": record(42, [arg(0, 1, struct.pack("<q", 3)),
                           arg(1, 6, struct.pack("<HH4s8x", 2, 0x5000, bytes([127, 0, 0, 1])))]),
    "short_args": record(1, [arg(0, 3, b"abc")], args_size=40),
    "bad_kind": record(1, [arg(0, 9, b"x")]),
}
for name, data in cases.items():
    open(f"{out}/record-{name}", "wb").write(data)
PY
for f in "$tmp"/record-*; do add record "$f"; done
for t in policy image record; do
    echo "fuzz/corpus/$t: $(ls "fuzz/corpus/$t" | wc -l) files"
done
