#!/usr/bin/env python3
"""Writes the benchmark inputs of bench/check.sh into a directory (python3 stdlib only).

    python3 bench/gen_policies.py OUT_DIR

Creates, under OUT_DIR:

  realistic64/      64 policy files, each with 1-4 scope entries and 3-6 rules with filters
                    (all valid: `tracee-compile --check` exits 0)
  many1000/         1,000 policy files of the same kind (over the 64-policy limit: E204)
  list10k.yaml      one policy, one rule with one filter of 10,000 comma-separated values
  entries10k.yaml   one policy, one rule with 10,000 separate filter entries
  bomb.yaml         "billion laughs": 9 levels of 9 aliases each (9^9 leaves if expanded)
  over8mib.yaml     a valid-looking policy padded to 8 MiB + 1 byte (over the size limit)
  at8mib.yaml       a policy of exactly 8 MiB (the largest file read): one filter list
                    of ~850,000 values, which the parser must actually parse
  errors10k.yaml    entries10k.yaml with a misspelt argument (`args.pathnam=`): 10,000
                    E214 diagnostics to render
  minified.json     a ~97 KiB policy in minified JSON (one line) with an unknown event
                    after column 65,535: one E211 to render far right on a long line
  longevent.yaml    one rule whose event is a 64 KiB unknown name (one E211, for which
                    the checker looks for a "did you mean" among all catalog events)

The output is deterministic (fixed random seed), so runs are comparable.
"""

import json
import os
import random
import sys

MIB = 1024 * 1024
MAX_FILE_BYTES = 8 * MIB  # compiler/src/source.rs

HEADER = """apiVersion: aquasecurity.github.io/v1beta1
kind: TraceePolicy
metadata:
  name: {name}
  annotations:
    description: {description}
spec:
"""

# Scope entries that combine without warnings (no `global`, no container conflicts).
SCOPES = [
    "comm=bash,sh,zsh,dash",
    "uid>=1000",
    "uid<60000",
    "pid>1",
    "executable=/usr/bin/curl,/usr/bin/wget",
    "container",
    "follow",
    "uts=build-host",
]

# (event, filter generators): every filter is valid for its event.
RULES = [
    ("openat", [
        lambda r: "args.pathname=/etc/shadow,/etc/passwd,/etc/sudoers",
        lambda r: "args.pathname=*/.ssh/*",
        lambda r: f"args.flags={r.choice([0, 64, 577])}",
        lambda r: "retval>=0",
    ]),
    ("execve", [
        lambda r: "args.pathname=/usr/bin/nc,/usr/bin/ncat,/bin/nc",
        lambda r: "args.pathname=/tmp/*",
        lambda r: f"uid={r.randrange(0, 2000)}",
    ]),
    ("security_file_open", [
        lambda r: "args.pathname=/tmp/*",
        lambda r: "args.pathname=/proc/*",
        lambda r: "comm!=systemd",
    ]),
    ("sched_process_exec", [
        lambda r: "args.pathname=/usr/bin/sudo,/usr/bin/su",
        lambda r: f"uid>{r.randrange(0, 1000)}",
        lambda r: "containerImage=docker.io/library/*",
    ]),
    ("close", [lambda r: "retval!=0", lambda r: "args.fd>2"]),
    ("unlinkat", [
        lambda r: "args.pathname=/var/log/*",
        lambda r: "args.flags=0",
    ]),
    ("ptrace", [lambda r: f"args.request={r.choice([16, 4, 5])}", lambda r: "retval=0"]),
    ("setuid", [lambda r: "args.uid=0", lambda r: "retval=0"]),
    ("chmod", [lambda r: "args.pathname=/etc/*", lambda r: "args.mode=2559"]),
    ("connect", [lambda r: "args.sockfd>=0", lambda r: "retval=0"]),
]


def realistic_policy(rng: random.Random, index: int) -> str:
    out = [HEADER.format(name=f"bench-policy-{index:04d}",
                         description=f"benchmark policy number {index}")]
    out.append("  scope:\n")
    for entry in rng.sample(SCOPES, rng.randint(1, 4)):
        out.append(f"    - {entry}\n")
    out.append("  defaultActions:\n    - log\n")
    out.append("  rules:\n")
    for event, filters in rng.sample(RULES, rng.randint(3, 6)):
        out.append(f"    - event: {event}\n")
        chosen = rng.sample(filters, rng.randint(1, len(filters)))
        out.append("      filters:\n")
        for make in chosen:
            out.append(f"        - {make(rng)}\n")
    return "".join(out)


def write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def policy_dir(path: str, count: int, seed: int) -> None:
    os.makedirs(path, exist_ok=True)
    rng = random.Random(seed)
    for i in range(count):
        write(os.path.join(path, f"policy-{i:04d}.yaml"), realistic_policy(rng, i))


def one_rule_policy(name: str, filters_yaml: str) -> str:
    return (HEADER.format(name=name, description="benchmark, large filter")
            + "  scope:\n    - global\n  rules:\n    - event: openat\n      filters:\n"
            + filters_yaml)


def list10k(count: int = 10_000) -> str:
    values = ",".join(f"/a/{i}" for i in range(1, count + 1))
    return one_rule_policy("list-10k", f"        - args.pathname={values}\n")


def entries10k(count: int = 10_000) -> str:
    lines = "".join(f"        - args.pathname=/a/{i}\n" for i in range(1, count + 1))
    return one_rule_policy("entries-10k", lines)


def bomb(levels: int = 9, width: int = 9) -> str:
    out = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    prev = "a"
    for level in range(1, levels):
        name = chr(ord("a") + level)
        refs = ",".join(f"*{prev}" for _ in range(width))
        out.append(f"{name}: &{name} [{refs}]\n")
        prev = name
    return "".join(out)


def errors10k(count: int = 10_000) -> str:
    return entries10k(count).replace("args.pathname=", "args.pathnam=")


def minified_json(count: int = 12_000) -> str:
    values = ",".join(f"/a/{i}" for i in range(1, count))
    doc = {
        "apiVersion": "tracee.aquasec.com/v1beta1",
        "kind": "Policy",
        "metadata": {"name": "minified", "annotations": {"description": "one line"}},
        "spec": {
            "scope": ["global"],
            "rules": [
                {"event": "openat", "filters": ["args.pathname=" + values]},
                {"event": "opennat"},
            ],
        },
    }
    return json.dumps(doc, separators=(",", ":")) + "\n"


def long_event(length: int = 64 * 1024) -> str:
    return (HEADER.format(name="long-event", description="one unknown event name")
            + "  scope:\n    - global\n  rules:\n    - event: " + "x" * length + "\n")


def padded_policy(size: int) -> str:
    """A valid policy followed by a YAML comment that fills the file to `size` bytes."""
    head = one_rule_policy("padded", "        - args.pathname=/tmp/*\n") + "# "
    return head + "x" * (size - len(head) - 1) + "\n"


def at_limit_list(size: int) -> str:
    """One filter with as many `/a/N` values as fit in exactly `size` bytes."""
    head = one_rule_policy("at-limit", "        - args.pathname=")
    parts = [head]
    used = len(head)
    i = 1
    while True:
        item = f"/a/{i}"
        sep = "," if i > 1 else ""
        if used + len(sep) + len(item) + 1 > size:
            break
        parts.append(sep + item)
        used += len(sep) + len(item)
        i += 1
    # Pad the last value so the file is exactly `size` bytes (with the final newline).
    parts.append("0" * (size - used - 1) if i > 1 else "")
    parts.append("\n")
    return "".join(parts)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    policy_dir(os.path.join(out, "realistic64"), 64, seed=64)
    policy_dir(os.path.join(out, "many1000"), 1000, seed=1000)
    write(os.path.join(out, "list10k.yaml"), list10k())
    write(os.path.join(out, "entries10k.yaml"), entries10k())
    write(os.path.join(out, "bomb.yaml"), bomb())
    write(os.path.join(out, "over8mib.yaml"), padded_policy(MAX_FILE_BYTES + 1))
    write(os.path.join(out, "at8mib.yaml"), at_limit_list(MAX_FILE_BYTES))
    write(os.path.join(out, "errors10k.yaml"), errors10k())
    write(os.path.join(out, "minified.json"), minified_json())
    write(os.path.join(out, "longevent.yaml"), long_event())
    for name in ("over8mib.yaml", "at8mib.yaml"):
        size = os.path.getsize(os.path.join(out, name))
        expected = MAX_FILE_BYTES + (1 if name.startswith("over") else 0)
        assert size == expected, (name, size, expected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
