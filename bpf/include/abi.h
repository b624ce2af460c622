/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The contract between tracee-compile and the BPF programs: every map key and value the
 * compiler writes into the image. schema/src/abi.rs holds the Rust twins; a test compiles
 * this header with the host C compiler and compares every size and offset with Rust.
 * Fixed-width types, explicit padding, no kernel types, so both sides build it.
 */
#ifndef TRACEE_ABI_H
#define TRACEE_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ABI_MAX_POLICIES 64
/* Longest string a filter compares: 255 bytes plus NUL. */
#define ABI_STR_MAX 256
/* LPM trie keys hold at most 4 + 256 bytes (the kernel's LPM_DATA_SIZE_MAX): after the
 * 8-byte event/field header, 248 bytes of pattern. */
#define ABI_LPM_STR_MAX 248
#define ABI_COMM_LEN 16
#define ABI_UTS_LEN 65
#define ABI_PATH_MAX 256
#define ABI_MAX_EVENT_FIELDS 16
#define ABI_MAX_SYSCALL_ARGS 6
/* syscall_gate covers syscall numbers 0..ABI_SYSCALL_GATE_SIZE-1. */
#define ABI_SYSCALL_GATE_SIZE 512
/* (detector, policy) pairs per detect_chunk; chunks per base event; pseudo event ids. */
#define ABI_DETECT_PAIRS 64
#define ABI_DETECT_MAX_CHUNKS 4
#define ABI_DETECT_PSEUDO_BASE 0x100000
/* Path anchors: name bytes of a key, suffix lengths per event, bits of an event's sketch. */
#define ABI_ANCHOR_NAME_MAX 48
#define ABI_ANCHOR_MAX_SUFFIX_LENS 8
#define ABI_ANCHOR_SKETCH_BITS 256

/* Scope dimensions looked up in an equality map (index into scope_config arrays). */
enum abi_scope_dim {
	SCOPE_UID = 0,
	SCOPE_PID = 1,
	SCOPE_MNTNS = 2,
	SCOPE_PIDNS = 3,
	SCOPE_UTS = 4,
	SCOPE_COMM = 5,
	SCOPE_TREE = 6,
	SCOPE_EXE = 7,
	SCOPE_EQ_DIMS = 8,
};

/* Scope conditions that are true or false for a task. */
enum abi_scope_bool {
	SCOPE_IN_CONTAINER = 0,
	SCOPE_NEW_PID = 1,
	SCOPE_NEW_CONTAINER = 2,
	SCOPE_CONTAINER_STARTED = 3,
	SCOPE_BOOL_DIMS = 4,
};

/* Rule field ids: arguments by index, then the return value, then context fields. */
#define FIELD_ARG_BASE 0
#define FIELD_RETVAL 64
#define FIELD_CONTEXT_BASE 65
/* FIELD_MASKED_BASE + i: argument i ANDed with field_config.mask (a detector's `flags % 4`). */
#define FIELD_MASKED_BASE 128

/* Context field ids. */
enum abi_context_field {
	FIELD_TIMESTAMP = FIELD_CONTEXT_BASE + 0,
	FIELD_PROCESSOR_ID = FIELD_CONTEXT_BASE + 1,
	FIELD_PID = FIELD_CONTEXT_BASE + 2,
	FIELD_TID = FIELD_CONTEXT_BASE + 3,
	FIELD_PPID = FIELD_CONTEXT_BASE + 4,
	FIELD_HOST_TID = FIELD_CONTEXT_BASE + 5,
	FIELD_HOST_PID = FIELD_CONTEXT_BASE + 6,
	FIELD_HOST_PPID = FIELD_CONTEXT_BASE + 7,
	FIELD_UID = FIELD_CONTEXT_BASE + 8,
	FIELD_MNTNS = FIELD_CONTEXT_BASE + 9,
	FIELD_PIDNS = FIELD_CONTEXT_BASE + 10,
	FIELD_COMM = FIELD_CONTEXT_BASE + 11,
	FIELD_HOST_NAME = FIELD_CONTEXT_BASE + 12,
	FIELD_CGROUP_ID = FIELD_CONTEXT_BASE + 13,
	FIELD_CONTAINER = FIELD_CONTEXT_BASE + 14,
	FIELD_HOST = FIELD_CONTEXT_BASE + 15,
	FIELD_CONTAINER_ID = FIELD_CONTEXT_BASE + 16,
	FIELD_CONTAINER_IMAGE = FIELD_CONTEXT_BASE + 17,
	FIELD_CONTAINER_IMAGE_DIGEST = FIELD_CONTEXT_BASE + 18,
	FIELD_CONTAINER_NAME = FIELD_CONTEXT_BASE + 19,
	FIELD_POD_NAME = FIELD_CONTEXT_BASE + 20,
	FIELD_POD_NAMESPACE = FIELD_CONTEXT_BASE + 21,
	FIELD_POD_UID = FIELD_CONTEXT_BASE + 22,
	FIELD_POD_SANDBOX = FIELD_CONTEXT_BASE + 23,
	FIELD_SYSCALL = FIELD_CONTEXT_BASE + 24,
};

/* How a field's values are looked up (field_config.kinds bits). */
#define FIELD_KIND_INT (1U << 0)
#define FIELD_KIND_EXACT (1U << 1)
#define FIELD_KIND_PREFIX (1U << 2)
#define FIELD_KIND_SUFFIX (1U << 3)
#define FIELD_KIND_CONTAINS (1U << 4)
/* Integers of this field are signed: range starts are biased by 1 << 63. */
#define FIELD_KIND_SIGNED (1U << 5)
/* The field is a string array: a value matches when one of its entries does. */
#define FIELD_KIND_ARRAY (1U << 6)

/* Value of every equality map: policies that list the key with `=`, and with `!=`. */
struct eq_bits {
	__u64 eq;
	__u64 ne;
};

/* One step of a sorted interval table: policies whose bounds hold values from `start`
 * up to the next entry's start. */
struct range_entry {
	__u64 start;
	__u64 bits;
};

/* scope_config[0]: how the scope dimensions combine. */
struct scope_config {
	__u64 policies;
	__u64 eq_enabled[SCOPE_EQ_DIMS];
	/* Policies that match a value missing from the dimension's map (no `=` values). */
	__u64 eq_match_missing[SCOPE_EQ_DIMS];
	/* Policies with bounds on the dimension: their default comes from scope_ranges. */
	__u64 ranged[SCOPE_EQ_DIMS];
	__u32 range_first[SCOPE_EQ_DIMS];
	__u32 range_count[SCOPE_EQ_DIMS];
	__u64 bool_enabled[SCOPE_BOOL_DIMS];
	/* Bit set: the policy wants the condition true; clear: false. */
	__u64 bool_expect[SCOPE_BOOL_DIMS];
	__u64 follow;
};

struct scope_exe_key {
	/* 0: any mount namespace; 1: the host's; otherwise that namespace id. */
	__u64 mount_ns;
	char path[ABI_PATH_MAX];
};

/* events[event id]: which policies have a rule for the event and which fields they filter. */
struct event_config {
	__u64 policies;
	/* Policies whose rule has a filter only userspace can decide (image metadata lists it). */
	__u64 userspace;
	/* Policies with a detection on this (base) event, and those of them with no rule of
	 * their own on it (never printed as it). */
	__u64 detect;
	__u64 detect_only;
	/* Policies every rule and detection of which on this event needs its path to meet an
	 * anchor (path_anchors); the lengths (bit n: n bytes) of its ANCHOR_LAST_SUFFIX ones. */
	__u64 anchored;
	__u64 anchor_suffix_lens;
	/* Bit anchor_sketch_bit(..) of every anchor of the event. */
	__u64 anchor_sketch[ABI_ANCHOR_SKETCH_BITS / 64];
	/* Its detection chunks: detect_chunks[detect_first ..], pseudo events
	 * ABI_DETECT_PSEUDO_BASE + index. */
	__u32 detect_first;
	__u16 detect_chunks;
	__u16 field_count;
	__u16 fields[ABI_MAX_EVENT_FIELDS];
	/* How a syscall's arguments are captured (the catalog's types, set by the compiler). */
	__u8 arg_count;
	__u8 flags; /* EVENT_FLAG_* */
	__u8 arg_kinds[ABI_MAX_SYSCALL_ARGS]; /* ARG_KIND_* */
	__u8 arg_sizes[ABI_MAX_SYSCALL_ARGS]; /* integer width in bytes */
	__u16 pad;
};

/* Up to 64 (detector, policy) pairs decided together on one base event: pair b is bit b of
 * the rules of the chunk's pseudo event. `event` is what a detection prints as (the base
 * event's own id for a policy's own rule moved beside its detections). */
struct detect_chunk {
	__u32 event[ABI_DETECT_PAIRS];
	__u64 policy[ABI_DETECT_PAIRS];
};

/* event_config.flags */
/* An argument lives in user memory (string, array, socket address): read it at entry. */
#define EVENT_FLAG_ENTRY (1U << 0)
/* The syscall never returns (exit, exit_group): emit at entry, return value 0. */
#define EVENT_FLAG_EMIT_AT_ENTRY (1U << 1)
/* sched_process_exec: capture the environment (a rule or detection filters `env`). */
#define EVENT_FLAG_ENV (1U << 2)

/* syscall_gate[nr]: the first thing a syscall hook reads, an array slot (no hashing), so a
 * syscall no policy selects costs one load. */
struct syscall_gate {
	__u64 policies;         /* policies with a rule for the syscall's own event */
	__u64 derived_policies; /* policies with a rule for the event it also reports */
	/* The handlers (DERIVED_*) that build the events derived from the syscall: at its
	 * entry (what they read then) and its exit. */
	__u64 derived_handlers;
	__u32 flags;            /* the syscall event's EVENT_FLAG_*, GATE_NO_*_RET */
	__u32 pad;
};

/* syscall_gate.derived_handlers: one bit per BPF handler of derived events (the handler
 * builds every event of its family; schema/src/hooks.rs HANDLERS). */
#define DERIVED_FILE_OPEN (1ULL << 0)
#define DERIVED_SOCKET_CONNECT (1ULL << 1)
#define DERIVED_SOCKET_CREATE (1ULL << 2)
#define DERIVED_SOCKET_BIND (1ULL << 3)
#define DERIVED_SB_MOUNT (1ULL << 4)
#define DERIVED_INODE_UNLINK (1ULL << 5)
#define DERIVED_MAGIC_WRITE (1ULL << 6)
#define DERIVED_SB_UMOUNT (1ULL << 7)
#define DERIVED_INODE_RENAME (1ULL << 8)
#define DERIVED_INODE_MKNOD (1ULL << 9)
#define DERIVED_INODE_SYMLINK (1ULL << 10)
#define DERIVED_SET_FS_PWD (1ULL << 11)
#define DERIVED_TASK_PRCTL (1ULL << 12)
#define DERIVED_TASK_SETRLIMIT (1ULL << 13)
#define DERIVED_SETTIME64 (1ULL << 14)
#define DERIVED_SWITCH_TASK_NS (1ULL << 15)
#define DERIVED_SOCKET_LISTEN (1ULL << 16)
#define DERIVED_SOCKET_SETSOCKOPT (1ULL << 17)
#define DERIVED_SOCKET_ACCEPT (1ULL << 18)
#define DERIVED_SOCKET_DUP (1ULL << 19)
#define DERIVED_MEM (1ULL << 20)
#define DERIVED_SIGACTION (1ULL << 21)
#define DERIVED_EXECUTE_FAILED (1ULL << 22)
#define DERIVED_BPF (1ULL << 23)
#define DERIVED_TRUNCATE (1ULL << 24)
#define DERIVED_UTIMES (1ULL << 25)
#define DERIVED_CREDS (1ULL << 26)
#define DERIVED_VFS_RW (1ULL << 27)
#define DERIVED_SYSCALL_ORIGIN (1ULL << 28)
#define DERIVED_FILE_MOD (1ULL << 29)
#define DERIVED_KERNEL_READ_FILE (1ULL << 30)
#define DERIVED_NOTIFY (1ULL << 31)
#define DERIVED_INIT_MODULE (1ULL << 32)
#define DERIVED_DIRTY_PIPE (1ULL << 33)
#define DERIVED_CHMOD (1ULL << 34)
/* The handlers' programs, one per BPF source file (bpf/tracee.bpf.h DERIVED_HANDLERS): the
 * handlers each one can run. */
#define DERIVED_GROUP_FILE_OPEN (DERIVED_FILE_OPEN)
#define DERIVED_GROUP_NET (DERIVED_SOCKET_CONNECT | DERIVED_SOCKET_CREATE | DERIVED_SOCKET_BIND | DERIVED_SOCKET_LISTEN | DERIVED_SOCKET_SETSOCKOPT | DERIVED_SOCKET_ACCEPT | DERIVED_SOCKET_DUP)
#define DERIVED_GROUP_MOUNT (DERIVED_SB_MOUNT | DERIVED_SB_UMOUNT)
#define DERIVED_GROUP_INODE (DERIVED_INODE_UNLINK | DERIVED_INODE_RENAME | DERIVED_INODE_MKNOD | DERIVED_INODE_SYMLINK | DERIVED_TRUNCATE | DERIVED_UTIMES | DERIVED_NOTIFY | DERIVED_CHMOD)
#define DERIVED_GROUP_WRITE (DERIVED_MAGIC_WRITE | DERIVED_DIRTY_PIPE)
#define DERIVED_GROUP_TASK (DERIVED_SET_FS_PWD | DERIVED_TASK_PRCTL | DERIVED_TASK_SETRLIMIT | DERIVED_SETTIME64 | DERIVED_SWITCH_TASK_NS | DERIVED_SIGACTION | DERIVED_EXECUTE_FAILED | DERIVED_CREDS)
#define DERIVED_GROUP_MEM (DERIVED_MEM | DERIVED_SYSCALL_ORIGIN)
#define DERIVED_GROUP_BPF (DERIVED_BPF | DERIVED_KERNEL_READ_FILE)
#define DERIVED_GROUP_RW (DERIVED_VFS_RW | DERIVED_FILE_MOD)
#define DERIVED_GROUP_MODULES (DERIVED_INIT_MODULE)
/* The handlers that also read something at the syscall's entry. */
#define DERIVED_AT_ENTRY (DERIVED_SWITCH_TASK_NS | DERIVED_MEM | DERIVED_SIGACTION | DERIVED_CREDS)

/* syscall_gate.flags: return values (negative, zero, positive) no policy's rule for the
 * syscall admits; its exit turns them away on the gate's load. */
#define GATE_NO_NEGATIVE_RET (1U << 8)
#define GATE_NO_ZERO_RET (1U << 9)
#define GATE_NO_POSITIVE_RET (1U << 10)
/* syscall_gate.flags: only derived events built at the exit (no entry hook). */
#define GATE_AT_EXIT (1U << 11)

/* path_anchors: necessary conditions on a path's first and last components, checked on the
 * dentries before the path is built (value: 1). */
#define ANCHOR_TOP 1
#define ANCHOR_LAST 2
#define ANCHOR_LAST_SUFFIX 3
struct anchor_key {
	__u32 event;
	__u16 field;
	__u8 kind;
	__u8 len;
	char name[ABI_ANCHOR_NAME_MAX];
};

/* An anchor's bit in event_config.anchor_sketch (schema::abi::anchor_sketch_bit). */
static inline __u32 anchor_sketch_bit(__u32 kind, __u32 len, __u32 first, __u32 last)
{
	__u32 h = kind;
	h = h * 31 + len;
	h = h * 31 + first;
	h = h * 31 + last;
	return (h ^ (h >> 8)) & (ABI_ANCHOR_SKETCH_BITS - 1);
}

struct field_key {
	__u32 event;
	__u16 field;
	__u16 pad;
};

struct field_config {
	__u64 enabled;
	__u64 match_missing;
	__u64 ranged;
	__u32 range_first;
	__u32 range_count;
	__u32 contains_first;
	__u32 contains_count;
	__u32 kinds;
	__u32 mask; /* FIELD_MASKED_BASE fields: what the argument is ANDed with */
};

struct int_key {
	__u32 event;
	__u16 field;
	__u16 pad;
	__u64 value;
};

struct str_key {
	__u32 event;
	__u16 field;
	__u16 pad;
	char str[ABI_STR_MAX];
};

/* LPM trie key: prefixlen counts bits from `event` on (8 header bytes + the pattern). */
struct lpm_str_key {
	__u32 prefixlen;
	__u32 event;
	__u16 field;
	__u16 pad;
	char str[ABI_LPM_STR_MAX];
};

struct contains_entry {
	__u64 eq;
	__u64 ne;
	__u32 len;
	__u32 pad;
	char str[ABI_STR_MAX];
};

/* Argument encodings in an event record (arg_header.kind). */
#define ARG_KIND_INT 1       /* 8 bytes, two's complement */
#define ARG_KIND_UINT 2      /* 8 bytes */
#define ARG_KIND_STR 3       /* len bytes, no NUL */
#define ARG_KIND_BYTES 4     /* len bytes */
#define ARG_KIND_STR_ARRAY 5 /* repeated { __u16 len; bytes } */
#define ARG_KIND_SOCKADDR 6  /* the raw struct sockaddr */
#define ARG_KIND_BOOL 7      /* 1 byte */
#define ARG_KIND_CRED 8      /* struct slim_cred: Tracee's SlimCred, 80 bytes */

/* Credentials as Tracee's SlimCred carries them (commit_creds). */
struct slim_cred {
	__u32 uid;
	__u32 gid;
	__u32 suid;
	__u32 sgid;
	__u32 euid;
	__u32 egid;
	__u32 fsuid;
	__u32 fsgid;
	__u32 user_ns;
	__u32 securebits;
	__u64 cap_inheritable;
	__u64 cap_permitted;
	__u64 cap_effective;
	__u64 cap_bset;
	__u64 cap_ambient;
};

/* One event in the ring buffer: this header, then args_size bytes of arguments, each an
 * arg_header followed by len bytes. */
struct event_record {
	__u64 timestamp_ns; /* CLOCK_BOOTTIME */
	__u64 matched_policies;
	__u64 mntns;
	__u64 pidns;
	__u64 cgroup_id;
	__s64 retval;
	__u32 event_id;
	__u32 cpu;
	__u32 pid; /* in the task's pid namespace */
	__u32 tid;
	__u32 ppid;
	__u32 host_pid;
	__u32 host_tid;
	__u32 host_ppid;
	__u32 uid;
	__u32 syscall; /* the syscall the event came from, or 0xffffffff */
	__u16 args_size;
	__u8 args_num;
	__u8 flags;
	__u32 generation; /* the loaded image that matched it (tracee-load reloads) */
	char comm[ABI_COMM_LEN];
	char uts[ABI_UTS_LEN];
	char pad1[3];
	__u32 detected_from; /* a detection: the event it was detected from */
	__u64 thread_start_ns; /* task->start_boottime (Tracee's threadStartTime) */
	__u32 exec_id; /* task->self_exec_id: which program image of the thread */
	__u32 pad2;
};

/* Argument slots of the parts of a socket address argument at index i (< SOCK_ADDR_MAX_INDEX):
 * its port at SOCK_PORT_SLOT + i, its IPv4 address (network order, as a number) at
 * SOCK_IP_SLOT + i of the integers, a unix path at the same slot of the strings, which rules
 * name as field SOCK_PATH_FIELD + i (argument fields read slot `id % 32`). */
#define SOCK_PORT_SLOT 20
#define SOCK_IP_SLOT 26
#define SOCK_ADDR_MAX_INDEX 6
#define SOCK_PATH_FIELD (32 + SOCK_IP_SLOT)

/* Packet events the image selects (packets.bpf.c `packet_events`, set by the loader): one
 * bit per event, in schema::abi::PACKET_EVENTS order. */
#define PACKET_RAW (1U << 0)
#define PACKET_IPV4 (1U << 1)
#define PACKET_IPV6 (1U << 2)
#define PACKET_TCP (1U << 3)
#define PACKET_UDP (1U << 4)
#define PACKET_ICMP (1U << 5)
#define PACKET_ICMPV6 (1U << 6)
#define PACKET_DNS (1U << 7)
#define PACKET_DNS_REQUEST (1U << 8)
#define PACKET_DNS_RESPONSE (1U << 9)
#define PACKET_HTTP (1U << 10)
#define PACKET_HTTP_REQUEST (1U << 11)
#define PACKET_HTTP_RESPONSE (1U << 12)
/* A packet record's extra argument slots, stripped by the loader: the packet from its IP
 * header (bounded), and direction (1: ingress) | ifindex << 8 | length << 32. */
#define PACKET_CAPTURE_SLOT 30
#define PACKET_INFO_SLOT 31
/* An HTTP request's method, path and Host header (net_packet_http, _http_request): the
 * string slots (rule field ids) of `FIELD.method`, `.uri_path`, `.host`. */
#define HTTP_METHOD_SLOT 8
#define HTTP_PATH_SLOT 9
#define HTTP_HOST_SLOT 10

/* event_record.flags */
/* dropped_executable from a copy (sendfile, splice, copy_file_range): the kernel could not
 * read the bytes; the loader prints it only if the file starts with the ELF magic. */
#define RECORD_FLAG_CHECK_ELF (1U << 0)

struct arg_header {
	__u8 index; /* position in the event's argument list (the catalog) */
	__u8 kind;
	__u16 len;
};

/* Per-CPU counters of the `stats` map, summed by the loader. */
enum abi_stat {
	STAT_SUBMITTED = 0, /* records written to the ring buffer */
	STAT_LOST = 1,      /* records dropped: the ring buffer was full */
	/* Syscalls armed at entry and not yet exited, per generation parity: a generation's
	 * programs are detached once their count drops to 0 after a reload. */
	STAT_INFLIGHT0 = 2,
	STAT_INFLIGHT1 = 3,
	STAT_COUNT = 4,
};

/* The runtime `control` map's one value, shared by the generations of a reload and
 * written only by the loader. `active` names the generation that decides new events.
 * During a reload `newest` names the generation being installed (0 otherwise): the older
 * one's programs then leave their decision for each hook invocation in a per-task record
 * that the newest one's programs take (tracee.bpf.h `decide`); records written before
 * `since_ns` (CLOCK_MONOTONIC) are not taken. */
struct control_word {
	__u32 active;
	__u32 newest;
	__u64 since_ns;
};

/* Values of the runtime `containers` map (cgroup id -> kind), written by the loader for
 * the container cgroups that exist when it starts and by cgroup_mkdir for later ones. */
enum abi_container {
	CONTAINER_EXISTING = 1,
	CONTAINER_NEW = 2,
};

#endif /* TRACEE_ABI_H */
