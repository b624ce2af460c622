#!/usr/bin/env python3
"""Generate schema/src/catalog_data.rs from the plain-text event tables in this directory.

Inputs (all in this directory, see README.md for where each one comes from):
  syscalls_x86_64.tsv         syscalls as defined by Tracee's era-1 pkg/events/core.go
  syscalls_x86_64_kernel.tsv  x86-64 syscalls newer than that Tracee version (up to Linux 6.18)
  extra_events.tsv            the non-syscall events
  unistd_64.h                 x86-64 syscall numbers 0..450 (kernel UAPI header, cross-check)
  syscall_64_tbl_excerpt.txt  Linux 6.18 syscall_64.tbl entries newer than unistd_64.h (cross-check)
  kernel_6.18_tracefs_formats.txt  tracefs formats of the kernel-sourced syscalls (cross-check)

Usage:
  python3 schema/gen/gen_catalog.py              # writes schema/src/catalog_data.rs
  python3 schema/gen/gen_catalog.py --out FILE   # writes FILE instead
  python3 schema/gen/gen_catalog.py --check      # exits 1 if catalog_data.rs is not up to date

Standard library only; the output depends only on the input files (deterministic).
Any inconsistency (unknown C type, wrong syscall number, missing syscall, duplicate name...) is an
error: the script prints it and exits with status 1 without writing anything.
"""

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "src", "catalog_data.rs"))

# C type string (exactly as written in the tables) -> Rust `ArgType` expression.
# Integers carry their x86-64 width in bytes; signedness follows the C type. dev_t is UInt(4)
# because Tracee decodes it as a u32. Pointers that Tracee reads as strings are Str, string
# arrays are StrArray, every other pointer (or pointer typedef) is Pointer.
# A type string missing from this table is an error: add it here deliberately.
TYPE_MAP = {
    # signed integers
    "int": "Int(4)",
    "const int": "Int(4)",
    "long": "Int(8)",
    "pid_t": "Int(4)",
    "off_t": "Int(8)",
    "loff_t": "Int(8)",
    "key_t": "Int(4)",
    "key_serial_t": "Int(4)",
    "clockid_t": "Int(4)",
    "const clockid_t": "Int(4)",
    "timer_t": "Int(4)",  # kernel __kernel_timer_t is int; Tracee decodes it as int
    "mqd_t": "Int(4)",
    "landlock_rule_type": "Int(4)",  # enum
    # unsigned integers
    "unsigned int": "UInt(4)",
    "unsigned long": "UInt(8)",
    "size_t": "UInt(8)",
    "uid_t": "UInt(4)",
    "gid_t": "UInt(4)",
    "mode_t": "UInt(4)",
    "umode_t": "UInt(2)",
    "dev_t": "UInt(4)",
    "qid_t": "UInt(4)",
    "u8": "UInt(1)",
    "u16": "UInt(2)",
    "u32": "UInt(4)",
    "u64": "UInt(8)",
    "aio_context_t": "UInt(8)",
    # strings and string arrays
    "const char*": "Str",
    "char*": "Str",
    "const char**": "StrArray",
    "const char*const*": "StrArray",
    "char**": "StrArray",
    # other scalar kinds
    "bool": "Bool",
    "bytes": "Bytes",
    "struct sockaddr*": "SockAddr",
    "const struct sockaddr*": "SockAddr",
    "int[2]": "IntArray",
    "unsigned long[]": "IntArray",
    # pointers (user-space addresses) and pointer typedefs
    "void*": "Pointer",
    "void *": "Pointer",  # sic, quotactl_fd in Tracee's core.go
    "const void*": "Pointer",
    "const void**": "Pointer",
    "int*": "Pointer",
    "const int*": "Pointer",
    "unsigned int*": "Pointer",
    "unsigned long*": "Pointer",
    "const unsigned long*": "Pointer",
    "unsigned char*": "Pointer",
    "u32*": "Pointer",
    "u64*": "Pointer",
    "uid_t*": "Pointer",
    "gid_t*": "Pointer",
    "off_t*": "Pointer",
    "size_t*": "Pointer",
    "time_t*": "Pointer",
    "timer_t*": "Pointer",
    "sigset_t*": "Pointer",
    "const sigset_t*": "Pointer",
    "siginfo_t*": "Pointer",
    "stack_t*": "Pointer",
    "const stack_t*": "Pointer",
    "fd_set*": "Pointer",
    "io_context_t": "Pointer",  # libaio: typedef struct io_context *io_context_t
    "io_context_t*": "Pointer",
    "cap_user_header_t": "Pointer",  # typedef struct __user_cap_header_struct *
    "cap_user_data_t": "Pointer",  # typedef struct __user_cap_data_struct *
    "const cap_user_data_t": "Pointer",
    "union bpf_attr*": "Pointer",
    # struct pointers
    "const struct __aio_sigset*": "Pointer",
    "const struct iovec*": "Pointer",
    "const struct itimerspec*": "Pointer",
    "const struct mq_attr*": "Pointer",
    "const struct rlimit*": "Pointer",
    "const struct rlimit64*": "Pointer",
    "const struct sigaction*": "Pointer",
    "const struct sigevent*": "Pointer",
    "const struct timespec*": "Pointer",
    "const struct timeval*": "Pointer",
    "const struct timezone*": "Pointer",
    "const struct utimbuf*": "Pointer",
    "const struct xattr_args*": "Pointer",
    "struct __sysctl_args*": "Pointer",
    "struct cachestat*": "Pointer",
    "struct cachestat_range*": "Pointer",
    "struct clone_args*": "Pointer",
    "struct epoll_event*": "Pointer",
    "struct file_attr*": "Pointer",
    "struct file_handle*": "Pointer",
    "struct futex_waitv*": "Pointer",
    "struct getcpu_cache*": "Pointer",
    "struct io_event*": "Pointer",
    "struct io_uring_params*": "Pointer",
    "struct iocb*": "Pointer",
    "struct iocb**": "Pointer",
    "struct itimerspec*": "Pointer",
    "struct itimerval*": "Pointer",
    "struct kexec_segment*": "Pointer",
    "struct landlock_ruleset_attr*": "Pointer",
    "struct linux_dirent*": "Pointer",
    "struct linux_dirent64*": "Pointer",
    "struct lsm_ctx*": "Pointer",
    "struct mmsghdr*": "Pointer",
    "struct mnt_id_req*": "Pointer",
    "struct mount_attr*": "Pointer",
    "struct mq_attr*": "Pointer",
    "struct msgbuf*": "Pointer",
    "struct msghdr*": "Pointer",
    "struct msqid_ds*": "Pointer",
    "struct open_how*": "Pointer",
    "struct perf_event_attr*": "Pointer",
    "struct pollfd*": "Pointer",
    "struct rlimit*": "Pointer",
    "struct rlimit64*": "Pointer",
    "struct robust_list_head*": "Pointer",
    "struct robust_list_head**": "Pointer",
    "struct rseq*": "Pointer",
    "struct rusage*": "Pointer",
    "struct sched_attr*": "Pointer",
    "struct sched_param*": "Pointer",
    "struct sembuf*": "Pointer",
    "struct shmid_ds*": "Pointer",
    "struct sigaction*": "Pointer",
    "struct sigevent*": "Pointer",
    "struct siginfo*": "Pointer",
    "struct stat*": "Pointer",
    "struct statfs*": "Pointer",
    "struct statmount*": "Pointer",
    "struct statx*": "Pointer",
    "struct sysinfo*": "Pointer",
    "struct timespec*": "Pointer",
    "struct timeval*": "Pointer",
    "struct timex*": "Pointer",
    "struct timezone*": "Pointer",
    "struct tms*": "Pointer",
    "struct user_desc*": "Pointer",
    "struct ustat*": "Pointer",
    "struct utsname*": "Pointer",
    "struct xattr_args*": "Pointer",
}

KINDS = {"Syscall", "Tracepoint", "Lsm", "Derived"}

# Tracee event names that differ from the kernel's syscall names.
TRACEE_SYSCALL_ALIASES = {"sysctl": "_sysctl", "afs": "afs_syscall"}

# Kernel-sourced syscalls that have no tracefs format on the machine the formats were taken from.
NO_TRACEFS_FORMAT = {"map_shadow_stack"}

IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


class GenError(Exception):
    pass


def fail(msg):
    raise GenError(msg)


def rust_arg_type(c_type, where):
    if c_type in TYPE_MAP:
        return TYPE_MAP[c_type]
    fail(f"{where}: unknown C type string {c_type!r}; add it to TYPE_MAP in gen_catalog.py")


def read_lines(name):
    path = os.path.join(HERE, name)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            yield f"{name}:{lineno}", line


def parse_args(fields, where):
    args = []
    seen = set()
    for field in fields:
        name, sep, c_type = field.partition(":")
        if not sep or not name or not c_type:
            fail(f"{where}: malformed argument {field!r} (want name:type)")
        if not IDENT.match(name):
            fail(f"{where}: bad argument name {name!r}")
        if name in seen:
            fail(f"{where}: duplicate argument {name!r}")
        seen.add(name)
        if c_type != c_type.strip() or '"' in c_type or "\\" in c_type:
            fail(f"{where}: bad C type string {c_type!r}")
        args.append((name, c_type, rust_arg_type(c_type, where)))
    return args


def parse_event_table(name, with_kind):
    events = []
    for where, line in read_lines(name):
        fields = line.split("\t")
        head = 3 if with_kind else 2
        if len(fields) < head:
            fail(f"{where}: too few columns")
        if not fields[0].isdigit():
            fail(f"{where}: bad id {fields[0]!r}")
        ev_id = int(fields[0])
        ev_name = fields[1]
        if not IDENT.match(ev_name):
            fail(f"{where}: bad event name {ev_name!r}")
        kind = fields[2] if with_kind else "Syscall"
        if kind not in KINDS or (with_kind and kind == "Syscall"):
            fail(f"{where}: bad kind {kind!r}")
        events.append(
            {
                "id": ev_id,
                "name": ev_name,
                "kind": kind,
                "args": parse_args(fields[head:], where),
                "where": where,
            }
        )
    return events


def parse_unistd():
    numbers = {}
    with open(os.path.join(HERE, "unistd_64.h"), encoding="utf-8") as f:
        lines = [(f"unistd_64.h:{n}", line.rstrip("\n")) for n, line in enumerate(f, 1)]
    for where, line in lines:
        m = re.match(r"^#define __NR_([a-z0-9_]+) (\d+)$", line)
        if m:
            if m.group(1) in numbers:
                fail(f"{where}: duplicate __NR_{m.group(1)}")
            numbers[m.group(1)] = int(m.group(2))
    if not numbers:
        fail("unistd_64.h: no __NR_ definitions found")
    return numbers


def parse_tbl_excerpt():
    entries = {}
    for where, line in read_lines("syscall_64_tbl_excerpt.txt"):
        cols = line.split()
        if len(cols) < 3 or not cols[0].isdigit():
            fail(f"{where}: malformed table line")
        nr, abi, name = int(cols[0]), cols[1], cols[2]
        if abi not in ("common", "64"):
            fail(f"{where}: abi {abi!r} is not a 64-bit entry")
        if nr in entries:
            fail(f"{where}: duplicate number {nr}")
        entries[nr] = name
    return entries


def parse_tracefs_formats():
    """name -> number of syscall argument fields, from the saved tracefs format files."""
    counts = {}
    current = None
    for where, line in read_lines("kernel_6.18_tracefs_formats.txt"):
        m = re.match(r"^name: sys_enter_([a-z0-9_]+)$", line)
        if m:
            current = m.group(1)
            counts[current] = 0
            continue
        m = re.match(r"^\tfield:(.*?);\toffset:", line)
        if m and current is not None:
            decl = m.group(1)
            if "common_" in decl or "__syscall_nr" in decl:
                continue
            counts[current] += 1
    return counts


def build():
    unistd = parse_unistd()
    tbl = parse_tbl_excerpt()
    formats = parse_tracefs_formats()

    kernel_nr_to_name = {nr: name for name, nr in unistd.items()}
    for nr, name in tbl.items():
        if nr in kernel_nr_to_name and kernel_nr_to_name[nr] != name:
            fail(f"syscall {nr}: unistd_64.h says {kernel_nr_to_name[nr]}, table excerpt says {name}")
        kernel_nr_to_name[nr] = name

    tracee = parse_event_table("syscalls_x86_64.tsv", with_kind=False)
    newer = parse_event_table("syscalls_x86_64_kernel.tsv", with_kind=False)
    extra = parse_event_table("extra_events.tsv", with_kind=True)

    for ev in tracee:
        kname = TRACEE_SYSCALL_ALIASES.get(ev["name"], ev["name"])
        if kernel_nr_to_name.get(ev["id"]) != kname:
            fail(
                f"{ev['where']}: {ev['name']} has number {ev['id']}, but the kernel's "
                f"syscall {ev['id']} is {kernel_nr_to_name.get(ev['id'])!r}"
            )
    for ev in newer:
        if kernel_nr_to_name.get(ev["id"]) != ev["name"]:
            fail(
                f"{ev['where']}: {ev['name']} has number {ev['id']}, but the kernel's "
                f"syscall {ev['id']} is {kernel_nr_to_name.get(ev['id'])!r}"
            )
        if ev["name"] in formats:
            if formats[ev["name"]] != len(ev["args"]):
                fail(
                    f"{ev['where']}: {ev['name']} has {len(ev['args'])} arguments, "
                    f"tracefs has {formats[ev['name']]}"
                )
        elif ev["name"] not in NO_TRACEFS_FORMAT:
            fail(f"{ev['where']}: no tracefs format saved for {ev['name']}")

    syscalls = tracee + newer
    covered = sorted(ev["id"] for ev in syscalls)
    if sorted(set(covered)) != covered:
        fail("a syscall number appears twice")
    missing = sorted(set(kernel_nr_to_name) - set(covered))
    if missing:
        fail(f"x86-64 syscalls missing from the tables: {missing}")

    events = syscalls + extra
    by_id = {}
    by_name = {}
    for ev in events:
        if ev["id"] in by_id:
            fail(f"{ev['where']}: id {ev['id']} already used by {by_id[ev['id']]['name']}")
        if ev["name"] in by_name:
            fail(f"{ev['where']}: name {ev['name']} already used")
        by_id[ev["id"]] = ev
        by_name[ev["name"]] = ev
    return [by_id[i] for i in sorted(by_id)]


def render(events):
    out = []
    w = out.append
    w("// @generated by schema/gen/gen_catalog.py, do not edit\n")
    w("// Sources and how to regenerate: schema/gen/README.md\n")
    w("\n")
    w("use super::{ArgDef, ArgType, EventDef, EventKind};\n")
    w("\n")
    w("pub(super) static EVENTS: &[EventDef] = &[\n")
    for ev in events:
        w("    EventDef {\n")
        w(f"        id: {ev['id']},\n")
        w(f"        name: \"{ev['name']}\",\n")
        w(f"        kind: EventKind::{ev['kind']},\n")
        if not ev["args"]:
            w("        args: &[],\n")
        elif len(ev["args"]) == 1:
            # rustfmt's layout for a one-element array of a struct literal
            name, c_type, ty = ev["args"][0]
            w("        args: &[ArgDef {\n")
            w(f"            name: \"{name}\",\n")
            w(f"            c_type: \"{c_type}\",\n")
            w(f"            ty: ArgType::{ty},\n")
            w("        }],\n")
        else:
            w("        args: &[\n")
            for name, c_type, ty in ev["args"]:
                w("            ArgDef {\n")
                w(f"                name: \"{name}\",\n")
                w(f"                c_type: \"{c_type}\",\n")
                w(f"                ty: ArgType::{ty},\n")
                w("            },\n")
            w("        ],\n")
        w("    },\n")
    w("];\n")
    return "".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="output file (default: %(default)s)")
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if the output file differs"
    )
    opts = parser.parse_args()
    try:
        text = render(build())
    except GenError as e:
        print(f"gen_catalog.py: error: {e}", file=sys.stderr)
        return 1
    if opts.check:
        try:
            with open(opts.out, encoding="utf-8") as f:
                current = f.read()
        except OSError as e:
            print(f"gen_catalog.py: {e}", file=sys.stderr)
            return 1
        if current != text:
            print(f"gen_catalog.py: {opts.out} is out of date; rerun gen_catalog.py", file=sys.stderr)
            return 1
        return 0
    with open(opts.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
