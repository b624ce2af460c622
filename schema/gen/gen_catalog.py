#!/usr/bin/env python3
"""Generate schema/src/catalog_data.rs and schema/src/tracee_data.rs from the tables in this directory.

Inputs (all in this directory, see README.md for where each one comes from):
  syscalls_x86_64.tsv         syscalls as defined by Tracee's era-1 pkg/events/core.go
  syscalls_x86_64_kernel.tsv  x86-64 syscalls newer than that Tracee version (up to Linux 6.18)
  extra_events.tsv            the non-syscall events
  unistd_64.h                 x86-64 syscall numbers 0..450 (kernel UAPI header, cross-check)
  syscall_64_tbl_excerpt.txt  Linux 6.18 syscall_64.tbl entries newer than unistd_64.h (cross-check)
  kernel_6.18_tracefs_formats.txt  tracefs formats of the kernel-sourced syscalls (cross-check)
  tracee_events.tsv           Tracee's whole event table (name, kind, internal, sets, fields)
  not_produced.tsv            why each Tracee event outside our catalog is not produced

Usage:
  python3 schema/gen/gen_catalog.py              # writes schema/src/catalog_data.rs and tracee_data.rs
  python3 schema/gen/gen_catalog.py --out FILE --tracee-out FILE2   # writes those files instead
  python3 schema/gen/gen_catalog.py --check      # exits 1 if either file is not up to date

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
DEFAULT_TRACEE_OUT = os.path.normpath(os.path.join(HERE, "..", "src", "tracee_data.rs"))

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

# Tracee's current Go type (tracee_events.tsv) -> (Rust `ArgType` expression, type name shown).
# Every field of an event Tracee defines takes its name and type from there; a Go type missing
# here is an error. float64 is a `struct timespec` Tracee reads and shows as seconds: this loader
# records the address instead (docs/events.md lists it as a difference), so it is shown as
# `trace.Pointer`, the truth about the value printed.
GO_TYPE_MAP = {
    "int32": ("Int(4)", "int32"),
    "int64": ("Int(8)", "int64"),
    "uint8": ("UInt(1)", "uint8"),
    "uint16": ("UInt(2)", "uint16"),
    "uint32": ("UInt(4)", "uint32"),
    "uint64": ("UInt(8)", "uint64"),
    "bool": ("Bool", "bool"),
    "string": ("Str", "string"),
    "[]string": ("StrArray", "[]string"),
    "[]byte": ("Bytes", "[]byte"),
    "trace.Pointer": ("Pointer", "trace.Pointer"),
    "SockAddr": ("SockAddr", "SockAddr"),
    "[2]int": ("IntArray", "[2]int"),
    "[]uint64": ("IntArray", "[]uint64"),
    "time.Time": ("UInt(8)", "time.Time"),
    "float64": ("Pointer", "trace.Pointer"),
    # Credentials (commit_creds): a record of their own, printed as Tracee's object.
    "trace.SlimCred": ("Bytes", "trace.SlimCred"),
    # The network events' structures: decoded by the loader from the packet the kernel
    # captured (loader/src/packet.rs), shown with Tracee's Go type.
    "trace.PacketMetadata": ("Bytes", "trace.PacketMetadata"),
    "trace.PktMeta": ("Bytes", "trace.PktMeta"),
    "trace.ProtoIPv4": ("Bytes", "trace.ProtoIPv4"),
    "trace.ProtoIPv6": ("Bytes", "trace.ProtoIPv6"),
    "trace.ProtoTCP": ("Bytes", "trace.ProtoTCP"),
    "trace.ProtoUDP": ("Bytes", "trace.ProtoUDP"),
    "trace.ProtoICMP": ("Bytes", "trace.ProtoICMP"),
    "trace.ProtoICMPv6": ("Bytes", "trace.ProtoICMPv6"),
    "trace.ProtoDNS": ("Bytes", "trace.ProtoDNS"),
    "[]trace.DnsQueryData": ("Bytes", "[]trace.DnsQueryData"),
    "[]trace.DnsResponseData": ("Bytes", "[]trace.DnsResponseData"),
    "trace.ProtoHTTP": ("Bytes", "trace.ProtoHTTP"),
    "trace.ProtoHTTPRequest": ("Bytes", "trace.ProtoHTTPRequest"),
    "trace.ProtoHTTPResponse": ("Bytes", "trace.ProtoHTTPResponse"),
}

# The reverse, for our events Tracee does not define (syscalls newer than its table,
# dropped_executable): the Go type Tracee would give the era-1 C type.
ARG_TYPE_GO = {
    "Int(1)": "int8",
    "Int(2)": "int16",
    "Int(4)": "int32",
    "Int(8)": "int64",
    "UInt(1)": "uint8",
    "UInt(2)": "uint16",
    "UInt(4)": "uint32",
    "UInt(8)": "uint64",
    "Bool": "bool",
    "Str": "string",
    "StrArray": "[]string",
    "Bytes": "[]byte",
    "Pointer": "trace.Pointer",
    "SockAddr": "SockAddr",
    "IntArray": "[2]int",
}

# Field names Tracee renamed since the era-1 tables: (event, old name) -> current name. Policies
# written for older Tracee keep working with the old name. An era-1 field that Tracee's table no
# longer has must be listed here (or the generator fails).
FIELD_ALIASES = {
    ("sched_process_fork", "up_parent_tid"): "parent_process_tid",
    ("sched_process_fork", "up_parent_ns_tid"): "parent_process_ns_tid",
    ("sched_process_fork", "up_parent_pid"): "parent_process_pid",
    ("sched_process_fork", "up_parent_ns_pid"): "parent_process_ns_pid",
    ("sched_process_fork", "up_parent_start_time"): "parent_process_start_time",
}

KINDS = {"Syscall", "Tracepoint", "Lsm", "Derived", "Network"}

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
    apply_tracee_fields(by_name)
    return [by_id[i] for i in sorted(by_id)]


def apply_tracee_fields(by_name):
    """Our events take their fields from Tracee's current table where it defines them.

    Each event's "args" become (name, type name shown, ArgType) triples and "aliases" the
    (old name, current name) pairs of FIELD_ALIASES for it. `returnValue` is not an argument:
    it is the event's return value (`retval` in filters).
    """
    _, tracee = parse_tracee_events()
    tracee = {ev["name"]: ev for ev in tracee}
    used = set()
    for name, ev in by_name.items():
        t = tracee.get(name)
        ev["aliases"] = []
        if t is None:
            ev["args"] = [(a, ARG_TYPE_GO[ty], ty) for a, _, ty in ev["args"]]
            continue
        args = []
        for fname, go_type in t["fields"]:
            if fname == "returnValue":
                continue
            if go_type not in GO_TYPE_MAP:
                fail(f"{t['where']}: {name}.{fname}: Go type {go_type!r} is not in GO_TYPE_MAP")
            if not TRACEE_FIELD.match(fname):
                fail(f"{t['where']}: {name}.{fname}: not a field name")
            ty, shown = GO_TYPE_MAP[go_type]
            args.append((fname, shown, ty))
        current = {a for a, _, _ in args}
        for old, _, _ in ev["args"]:
            if old in current:
                continue
            new = FIELD_ALIASES.get((name, old))
            if new is None:
                fail(f"{ev['where']}: {name}.{old} is not in Tracee's table; add it to FIELD_ALIASES")
            if new not in current:
                fail(f"FIELD_ALIASES: {name}.{new} is not a field of Tracee's {name}")
            ev["aliases"].append((old, new))
            used.add((name, old))
        ev["args"] = args
    unused = sorted(set(FIELD_ALIASES) - used)
    if unused:
        fail(f"FIELD_ALIASES rows that alias nothing: {unused}")


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
            name, shown, ty = ev["args"][0]
            w("        args: &[ArgDef {\n")
            w(f"            name: \"{name}\",\n")
            w(f"            type_name: \"{shown}\",\n")
            w(f"            ty: ArgType::{ty},\n")
            w("        }],\n")
        else:
            w("        args: &[\n")
            for name, shown, ty in ev["args"]:
                w("            ArgDef {\n")
                w(f"                name: \"{name}\",\n")
                w(f"                type_name: \"{shown}\",\n")
                w(f"                ty: ArgType::{ty},\n")
                w("            },\n")
            w("        ],\n")
        if not ev["aliases"]:
            w("        aliases: &[],\n")
        else:
            w("        aliases: &[\n")
            for old, new in ev["aliases"]:
                w(f"            (\"{old}\", \"{new}\"),\n")
            w("        ],\n")
        w("    },\n")
    w("];\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Tracee's event table (tracee_events.tsv) and the reasons we do not produce some of it
# (not_produced.tsv), rendered into tracee_data.rs.

TRACEE_HEADER = re.compile(
    r"^# Tracee event definitions at aquasecurity/tracee@([0-9a-f]{40}), pkg/events/core\.go$"
)
TRACEE_COLUMNS = "# name\tkind\tinternal\tsets\tfields (name:go-type, in order)"
TRACEE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
TRACEE_SET = re.compile(r"^[a-z0-9_]+$")
# Field names are Go-style identifiers, dotted for nested ones (`binary.path`).
TRACEE_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# A Go type as Tracee writes it: int32, trace.Pointer, []string, map[string]trace.HookedSymbolData.
GO_TYPE = re.compile(r"^[A-Za-z0-9_.\[\]*]+$")

# not_produced.tsv reason-kind -> Rust `NotProduced` variant.
NOT_PRODUCED_KINDS = {
    "network": "Network",
    "compat": "Compat",
    "kernel-text": "KernelText",
    "not-yet": "NotYet",
}
NETWORK_SETS = {"network_events", "flows", "packets"}
COMPAT_SET = "32bit_unique"
# Tracee events of kind syscall that are not system calls at all (so neither `compat` although
# they have no x86-64 number, nor a syscall in our catalog): chmod_common is a kprobe on the
# kernel function every chmod-family syscall reaches.
TRACEE_NOT_A_SYSCALL = {"chmod_common"}

# Rust line width (rustfmt's max_width, and its array_width of 60% of it for one-line arrays).
MAX_WIDTH = 100
ARRAY_WIDTH = 60


def parse_tracee_events():
    name = "tracee_events.tsv"
    path = os.path.join(HERE, name)
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    if len(lines) < 2:
        fail(f"{name}: too short")
    m = TRACEE_HEADER.match(lines[0])
    if not m:
        fail(f"{name}:1: header does not name the Tracee commit: {lines[0]!r}")
    commit = m.group(1)
    if lines[1] != TRACEE_COLUMNS:
        fail(f"{name}:2: unexpected column header {lines[1]!r}")
    events = []
    seen = set()
    for lineno, line in enumerate(lines[2:], 3):
        where = f"{name}:{lineno}"
        if not line.strip() or line.startswith("#"):
            fail(f"{where}: blank or comment line after the header")
        cols = line.split("\t")
        if len(cols) != 5:
            fail(f"{where}: want 5 tab-separated columns, got {len(cols)}")
        ev_name, kind, internal, sets, fields = cols
        if not TRACEE_NAME.match(ev_name):
            fail(f"{where}: bad event name {ev_name!r}")
        if ev_name in seen:
            fail(f"{where}: duplicate event {ev_name}")
        seen.add(ev_name)
        if kind not in ("syscall", "other"):
            fail(f"{where}: bad kind {kind!r}")
        if internal not in ("", "internal"):
            fail(f"{where}: bad internal column {internal!r}")
        set_list = sets.split(",") if sets else []
        for s in set_list:
            if not TRACEE_SET.match(s):
                fail(f"{where}: bad set name {s!r}")
        if len(set(set_list)) != len(set_list):
            fail(f"{where}: a set is named twice")
        field_list = []
        field_names = set()
        for field in fields.split(" ") if fields else []:
            fname, sep, go_type = field.partition(":")
            if not sep or not TRACEE_FIELD.match(fname) or not GO_TYPE.match(go_type):
                fail(f"{where}: malformed field {field!r} (want name:go-type)")
            if fname in field_names:
                fail(f"{where}: duplicate field {fname!r}")
            field_names.add(fname)
            field_list.append((fname, go_type))
        events.append(
            {
                "name": ev_name,
                "syscall": kind == "syscall",
                "internal": internal == "internal",
                "sets": set_list,
                "fields": field_list,
                "where": where,
            }
        )
    if not events:
        fail(f"{name}: no events")
    return commit, events


def parse_not_produced():
    rows = {}
    for where, line in read_lines("not_produced.tsv"):
        cols = line.split("\t")
        if len(cols) != 2:
            fail(f"{where}: want name<TAB>reason-kind")
        ev_name, kind = cols
        if kind not in NOT_PRODUCED_KINDS:
            fail(f"{where}: bad reason-kind {kind!r} (one of {', '.join(NOT_PRODUCED_KINDS)})")
        if ev_name in rows:
            fail(f"{where}: {ev_name} is listed twice")
        rows[ev_name] = (kind, where)
    return rows


def build_tracee(catalog):
    """Tracee's events, each with its `not_produced` reason-kind (None: ours, or internal)."""
    commit, events = parse_tracee_events()
    not_produced = parse_not_produced()
    ours = {ev["name"]: ev for ev in catalog}
    # Every name with an x86-64 syscall number: our syscall tables (Tracee's names) and the
    # kernel's UAPI header.
    numbered = {ev["name"] for ev in catalog if ev["kind"] == "Syscall"} | set(parse_unistd())
    by_name = {ev["name"]: ev for ev in events}

    for ev_name, (kind, where) in not_produced.items():
        ev = by_name.get(ev_name)
        if ev is None:
            fail(f"{where}: {ev_name} is not a Tracee event")
        if ev["internal"]:
            fail(f"{where}: {ev_name} is internal in Tracee: policies cannot select it")
        if ev_name in ours:
            fail(f"{where}: {ev_name} is in our catalog, so it is produced")

    problems = []
    for ev in events:
        ev_name = ev["name"]
        ev["not_produced"] = None
        mine = ours.get(ev_name)
        if mine is not None:
            if ev["syscall"] != (mine["kind"] == "Syscall") and ev_name not in TRACEE_NOT_A_SYSCALL:
                problems.append(
                    f"{ev['where']}: {ev_name} is a {'syscall' if ev['syscall'] else 'non-syscall'} "
                    f"in Tracee but {mine['kind']} in our catalog"
                )
            if COMPAT_SET in ev["sets"]:
                problems.append(f"{ev['where']}: {ev_name} is 32-bit only, but in our catalog")
            continue
        if ev["internal"]:
            continue
        row = not_produced.get(ev_name)
        if row is None:
            problems.append(
                f"{ev['where']}: {ev_name} is neither in our catalog nor in not_produced.tsv"
            )
            continue
        kind, where = row
        network = ev_name.startswith("net_") or bool(NETWORK_SETS & set(ev["sets"]))
        compat = not network and (
            COMPAT_SET in ev["sets"]
            or (ev["syscall"] and ev_name not in numbered and ev_name not in TRACEE_NOT_A_SYSCALL)
        )
        want = "network" if network else "compat" if compat else None
        if want is not None and kind != want:
            problems.append(f"{where}: {ev_name} must be {want}, not {kind}")
        if want is None and kind in ("network", "compat"):
            problems.append(f"{where}: {ev_name} is not a {kind} event by the rules of not_produced.tsv")
        ev["not_produced"] = NOT_PRODUCED_KINDS[kind]
    if problems:
        fail("\n  ".join(["Tracee events and not_produced.tsv disagree:"] + problems))
    return commit, events


def rust_str(s):
    if '"' in s or "\\" in s or not s.isprintable():
        fail(f"cannot write {s!r} as a plain Rust string literal")
    return f'"{s}"'


def render_tracee(commit, events):
    out = []
    w = out.append
    w("// @generated by schema/gen/gen_catalog.py, do not edit\n")
    w("// Sources and how to regenerate: schema/gen/README.md\n")
    w("\n")
    w("use super::{NotProduced, TraceeEvent, TraceeField};\n")
    w("\n")
    w("/// The Tracee commit whose `pkg/events/core.go` the table was taken from\n")
    w("/// (`aquasecurity/tracee`).\n")
    w(f"pub static TRACEE_COMMIT: &str = {rust_str(commit)};\n")
    w("\n")
    w("/// Every Tracee event, in the order of `schema/gen/tracee_events.tsv`.\n")
    w("pub static TRACEE_EVENTS: &[TraceeEvent] = &[\n")
    for ev in events:
        w("    TraceeEvent {\n")
        w(f"        name: {rust_str(ev['name'])},\n")
        w(f"        syscall: {'true' if ev['syscall'] else 'false'},\n")
        w(f"        internal: {'true' if ev['internal'] else 'false'},\n")
        array = "[" + ", ".join(rust_str(s) for s in ev["sets"]) + "]"
        line = f"        sets: &{array},\n"
        # rustfmt keeps an array on one line only within array_width and max_width.
        if len(array) > ARRAY_WIDTH or len(line) - 1 > MAX_WIDTH:
            fail(f"{ev['where']}: {ev['name']}'s set list is too long for one line; extend render_tracee")
        w(line)
        fields = ev["fields"]
        if not fields:
            w("        fields: &[],\n")
        elif len(fields) == 1:
            # rustfmt's layout for a one-element array of a struct literal
            fname, go_type = fields[0]
            w("        fields: &[TraceeField {\n")
            w(f"            name: {rust_str(fname)},\n")
            w(f"            go_type: {rust_str(go_type)},\n")
            w("        }],\n")
        else:
            w("        fields: &[\n")
            for fname, go_type in fields:
                w("            TraceeField {\n")
                w(f"                name: {rust_str(fname)},\n")
                w(f"                go_type: {rust_str(go_type)},\n")
                w("            },\n")
            w("        ],\n")
        if ev["not_produced"] is None:
            w("        not_produced: None,\n")
        else:
            w(f"        not_produced: Some(NotProduced::{ev['not_produced']}),\n")
        w("    },\n")
    w("];\n")
    return "".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="catalog output file (default: %(default)s)")
    parser.add_argument(
        "--tracee-out",
        default=DEFAULT_TRACEE_OUT,
        help="Tracee event table output file (default: %(default)s)",
    )
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if an output file differs"
    )
    opts = parser.parse_args()
    try:
        catalog = build()
        outputs = [
            (opts.out, render(catalog)),
            (opts.tracee_out, render_tracee(*build_tracee(catalog))),
        ]
    except GenError as e:
        print(f"gen_catalog.py: error: {e}", file=sys.stderr)
        return 1
    if opts.check:
        status = 0
        for path, text in outputs:
            try:
                with open(path, encoding="utf-8") as f:
                    current = f.read()
            except OSError as e:
                print(f"gen_catalog.py: {e}", file=sys.stderr)
                status = 1
                continue
            if current != text:
                print(f"gen_catalog.py: {path} is out of date; rerun gen_catalog.py", file=sys.stderr)
                status = 1
        return status
    for path, text in outputs:
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
