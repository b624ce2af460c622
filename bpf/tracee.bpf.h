/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Shared by every .bpf.c: the maps (defined once, in maps.bpf.c, and `extern` elsewhere; the
 * libbpf linker joins them), the event under construction, and the global functions each
 * concern exports. Global (non-static, __noinline) functions are verified once on their
 * own, which keeps the verifier's work small (bpf/prototype/README.md: 13k instead of 90k
 * instructions for one string field).
 */
#ifndef TRACEE_BPF_H
#define TRACEE_BPF_H

#include "vmlinux.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "abi.h"

#ifdef TRACEE_DEFINE_MAPS
#define TRACEE_MAP
#else
#define TRACEE_MAP extern
#endif

/* ---- image maps: written by the loader from the image; sizes come from the image ---- */

#define IMAGE_HASH(name, key_t, value_t)                                                \
	TRACEE_MAP struct {                                                              \
		__uint(type, BPF_MAP_TYPE_HASH);                                         \
		__uint(max_entries, 1);                                                  \
		__type(key, key_t);                                                      \
		__type(value, value_t);                                                  \
	} name SEC(".maps")

#define IMAGE_ARRAY(name, value_t)                                                      \
	TRACEE_MAP struct {                                                              \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                        \
		__uint(max_entries, 1);                                                  \
		__type(key, __u32);                                                      \
		__type(value, value_t);                                                  \
	} name SEC(".maps")

#define IMAGE_LPM(name)                                                                 \
	TRACEE_MAP struct {                                                              \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                                     \
		__uint(max_entries, 1);                                                  \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                    \
		__type(key, struct lpm_str_key);                                         \
		__type(value, struct eq_bits);                                           \
	} name SEC(".maps")

typedef char comm_key_t[ABI_COMM_LEN];
typedef char uts_key_t[ABI_UTS_LEN];

IMAGE_ARRAY(scope_config, struct scope_config);
IMAGE_HASH(scope_uid, __u32, struct eq_bits);
IMAGE_HASH(scope_pid, __u32, struct eq_bits);
IMAGE_HASH(scope_mntns, __u64, struct eq_bits);
IMAGE_HASH(scope_pidns, __u64, struct eq_bits);
IMAGE_HASH(scope_uts, uts_key_t, struct eq_bits);
IMAGE_HASH(scope_comm, comm_key_t, struct eq_bits);
IMAGE_HASH(scope_tree, __u32, struct eq_bits);
IMAGE_HASH(scope_exe, struct scope_exe_key, struct eq_bits);
IMAGE_ARRAY(scope_ranges, struct range_entry);
IMAGE_ARRAY(syscall_gate, struct syscall_gate);
IMAGE_HASH(events, __u32, struct event_config);
IMAGE_HASH(rule_fields, struct field_key, struct field_config);
IMAGE_HASH(rule_int, struct int_key, struct eq_bits);
IMAGE_HASH(rule_str, struct str_key, struct eq_bits);
IMAGE_LPM(rule_prefix);
IMAGE_LPM(rule_suffix);
IMAGE_ARRAY(rule_contains, struct contains_entry);
IMAGE_ARRAY(rule_ranges, struct range_entry);
IMAGE_ARRAY(detect_chunks, struct detect_chunk);
IMAGE_HASH(path_anchors, struct anchor_key, __u32);

/* ---- runtime maps: kernel state, not in the image (the loader's RUNTIME_MAPS) ---- */

/* Largest string argument recorded (NUL excluded), string-array element, arguments area. */
#define STR_CAP 1024
#define ARGV_CAP 256
#define ARGV_MAX 32
#define ARGS_BUF 4096
/* Reads may run past ARGS_BUF by one string; the record never includes those bytes. */
#define ARGS_SLACK (STR_CAP + 16)
#define MAX_ARGS 32 /* argument slots per event (sched_process_fork has 20) */
/* Spare `ints` slots of a syscall's pending record (past its six arguments): switch_task_ns
 * keeps the namespaces before the syscall there. */
#define NS_SLOT 8
#define NS_KINDS 6
#define MAGIC_LEN 24 /* magic_write's `bytes` (Tracee: the first 20) */
#define STR_NONE 0xffff

enum pending_state {
	PENDING_NONE = 0,
	PENDING_ARMED = 1, /* captured at syscall entry, waiting for the exit */
};

/*
 * One event being built. Arguments are appended to `args` in the record's TLV format, so
 * `rec` + `args` is exactly the ring-buffer record; `ints`/`str_off` index them for the
 * rule filters.
 */
struct pending {
	__u32 event;
	__u32 state;
	__u64 scope; /* policies whose scope matched */
	/* Armed syscalls: the policies whose rule for the syscall's own event passed the
	 * filters decided at entry (its arguments); the rest are decided at exit. */
	__u64 own;
	/* Audit mode: the syscall's own event was looked up at entry (it is a candidate). */
	__u32 candidate;
	__u32 candidate_pad;
	__u64 ints[MAX_ARGS];
	__u16 str_off[MAX_ARGS]; /* offset of string i's bytes in args, STR_NONE if none */
	__u16 str_len[MAX_ARGS];
	__u32 used; /* bytes of args in use */
	__u32 generation; /* of the programs that armed it (shared across a reload) */
	/* At a syscall's exit, for the handler programs reached by tail call: its return
	 * value and the handlers (DERIVED_*) still to run. */
	__u64 chain_ret;
	__u64 chain_left;
	__u64 chain_bit; /* the handler whose slot was called */
	/* The first bytes a write-family syscall writes at offset 0 of a regular file
	 * (magic_write), read at entry; magic_len 0: the write does not qualify. */
	__u8 magic[MAGIC_LEN];
	__u32 magic_len;
	/* The open family at its exit (GATE_AT_EXIT): the returned file's path met an anchor
	 * (file_open_may), so the handler need not look again. */
	__u32 anchors_met;
	/* The scratch_keys slot its string filters use: 0, or a packet program's nesting level
	 * (a packet program can interrupt any other program on its CPU). */
	__u32 key_slot;
	/* Packet and flow records (key_slot set): the socket owner's container state, which
	 * the rules' `container`/`host` fields read instead of the interrupted task's. */
	__u32 owner_container;
	/* The unlinked inode, when a filesystem tracepoint saw it (security_inode_unlink). */
	__u32 unlink_known;
	__u32 unlink_dev;
	__u64 unlink_ino;
	__u64 unlink_ctime;
	/* Task storage only: the task's executable (recorded at exec, inherited at fork) and
	 * its mount namespace, for the `executable` scope. Never reset by begin_event. */
	__u32 exe_known; /* 1: recorded at exec; 2: seeded from /proc (exec count unknown) */
	/* The task's exec count (self_exec_id) when `exe` was recorded: the loader tells a
	 * record of an earlier program of the task from one of this one. */
	__u32 exe_exec_id;
	struct scope_exe_key exe;
	struct event_record rec;
	__u8 args[ARGS_BUF + ARGS_SLACK];
};

/* Per-task state, created on first use and freed with the task. */
#define TASK_STORAGE(name, value_type)                                              \
	TRACEE_MAP struct {                                                         \
		__uint(type, BPF_MAP_TYPE_TASK_STORAGE);                            \
		__uint(map_flags, BPF_F_NO_PREALLOC);                               \
		__type(key, int);                                                   \
		__type(value, value_type);                                          \
	} name SEC(".maps")

/* Syscall arguments captured at entry wait here until the exit (per task, created on
 * first use, freed with the task). */
TASK_STORAGE(pending_store, struct pending);

/* Events built and sent in one program run: [0] syscall exit / sched events,
 * [1] security_file_open (built while [0] or the task's pending record is in use),
 * [2..] packets, one per nesting level of the packet programs (NET_NEST): a packet
 * program runs in softirq context too, where it can interrupt any program on its CPU. */
#define SCRATCH_EVENT 0
#define SCRATCH_FILE_OPEN 1
#define SCRATCH_PACKET 2
#define NET_NEST 2
TRACEE_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_PACKET + NET_NEST);
	__type(key, __u32);
	__type(value, struct pending);
} scratch_events SEC(".maps");

/* Lookup keys for string filters: bytes 4.. of `fwd` double as a struct str_key, bytes
 * 0..259 as the prefix trie key; `rev` is the reversed string for the suffix trie. */
struct str_scratch {
	__u32 prefixlen;
	__u32 event;
	__u16 field;
	__u16 pad;
	char str[ABI_STR_MAX + 8];
};

/* Loop state kept in map memory rather than on the stack: the verifier does not track
 * map contents, so a bpf_loop callback over it is verified once, not per iteration. */
struct walk_state {
	__u64 dentry;
	__u64 vfsmnt;
	__u64 mnt;
	__u64 mnt_parent;
	__u32 off;
	__u32 pad;
};

/* The walk that checks a path's anchors (file_open.bpf.c): dentries up to the root, its
 * first and last components and its length, nothing copied. */
struct anchor_walk {
	__u64 dentry;
	__u64 mnt; /* struct mount * */
	__u64 top;
	__u64 last;
	__u32 total;
	__u32 state; /* ANCHOR_WALKING, _ROOTED, _NO_ROOT */
};
#define ANCHOR_WALKING 0
#define ANCHOR_ROOTED 1
#define ANCHOR_NO_ROOT 2

struct key_scratch {
	struct walk_state walk;
	struct anchor_walk anchor;
	struct anchor_key anchor_key;
	struct scope_exe_key exe; /* scope_exe lookup key */
	struct str_scratch fwd;
	struct str_scratch rev;
	char path[2 * 4096]; /* the dentry walk builds paths backwards from the middle */
};

/* [0]: every program but the packet programs; [1 + level]: a packet program's (key_slot). */
TRACEE_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1 + NET_NEST);
	__type(key, __u32);
	__type(value, struct key_scratch);
} scratch_keys SEC(".maps");

/* Per CPU, per scope dimension: the last value looked up and its bits (scope.bpf.c). */
struct dim_memo {
	__u64 key;
	__u64 eq;
	__u64 ne;
	__u32 found;
	__u32 valid;
};

TRACEE_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCOPE_EQ_DIMS);
	__type(key, __u32);
	__type(value, struct dim_memo);
} scope_memo SEC(".maps");

/* Container cgroups (v2 ids), found at start by the loader and learned at cgroup_mkdir. */
TRACEE_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u32);
} containers SEC(".maps");

/* Processes that `follow` policies adopted: host pid -> policy bits. */
TRACEE_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* memory only when `follow` is used */
	__type(key, __u32);
	__type(value, __u64);
} followed SEC(".maps");

TRACEE_MAP struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24); /* the loader sets the size */
} rb SEC(".maps");

TRACEE_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* The active generation and the reload state (see `decide`), shared by the objects of a
 * reload. */
TRACEE_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct control_word);
} control SEC(".maps");

/* Hand-over records of `decide`, per task: one per hook class, since invocations of one
 * class never nest for a task. */
#define HANDOFF_SYS_ENTER 0
#define HANDOFF_SYS_EXIT 1
#define HANDOFF_SCHED 2
#define HANDOFF_SLOTS 3

struct handoff_rec {
	__u64 at;      /* bpf_ktime_get_ns() when written */
	__u32 key;     /* the hook invocation within its class: syscall number or event id */
	__u32 decided; /* the generation active when the older generation's program ran */
	__u32 consumed; /* taken by the newest generation's program */
	__u32 pad;
};

struct handoff {
	struct handoff_rec rec[HANDOFF_SLOTS];
};

TASK_STORAGE(handoff_store, struct handoff);

/* A task's name just before exec replaced it (sched_process_exec's prev_comm): written by
 * the task_rename hook, which fires in exec just before the kernel copies the new name and
 * bumps self_exec_id; valid while exec_id is the task's current self_exec_id. */
struct exec_comm {
	char comm[ABI_COMM_LEN];
	__u32 exec_id;
	__u32 pad;
};

TASK_STORAGE(exec_comm_store, struct exec_comm);

/* suspicious_syscall_source reports a syscall, process and calling mapping once. */
struct origin_key {
	__u32 syscall;
	__u32 tgid;
	__u64 start_time;
	__u64 vma_start;
};

TRACEE_MAP struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct origin_key);
	__type(value, __u8);
} origin_seen SEC(".maps");

/* file_modification: files a process opened for writing, until their first modification. */
struct filemod_key {
	__u32 tgid;
	__u32 dev;
	__u64 ino;
};

struct filemod_state {
	__u64 open_ctime;
	__u64 open_size;
	__u32 done; /* reported already for this open */
	__u32 pad;
};

TRACEE_MAP struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct filemod_key);
	__type(value, struct filemod_state);
} filemod_open SEC(".maps");

/* The module an init_module or finit_module call is loading (for do_init_module at its
 * exit), per task. */
struct loading_module {
	char name[56];
	char version[64];
	char srcversion[32];
	/* The strings' lengths (without NUL); name_len 0: nothing kept. */
	__u32 name_len;
	__u32 version_len;
	__u32 srcversion_len;
	__u32 pad;
};

TASK_STORAGE(module_store, struct loading_module);

/* A task's credentials at the entry of a syscall that may change them (commit_creds). */
TASK_STORAGE(cred_store, struct slim_cred);

/* The derived-event handlers as programs of their own (syscalls.bpf.c), reached by tail call
 * at a syscall's exit, slot = the handler's DERIVED_* bit: the loader loads and installs only
 * those the image's gates name, so libbpf relocates and the verifier sees no other handler.
 * One array per type of exit program: a tail call stays within a program type. */
#define DERIVED_PROGS(name)                                                             \
	TRACEE_MAP struct {                                                              \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY);                                   \
		__uint(max_entries, 64);                                                 \
		__type(key, __u32);                                                      \
		__type(value, __u32);                                                    \
	} name SEC(".maps")
DERIVED_PROGS(derived_tp);  /* from tr_tp_exit: tracepoint programs */
DERIVED_PROGS(derived_btf); /* from tr_sys_exit: tp_btf/sys_exit programs */
/* What handlers read at entry (DERIVED_AT_ENTRY), after the syscall is armed. */
DERIVED_PROGS(entry_tp);    /* from tr_tp_enter */
DERIVED_PROGS(entry_btf);   /* from tr_sys_enter: tp_btf/sys_enter programs */

/* ---- event ids outside the syscall range (schema catalog) ---- */
#define EVENT_SCHED_PROCESS_FORK 712
#define EVENT_SCHED_PROCESS_EXEC 713
#define EVENT_SCHED_PROCESS_EXIT 714
#define EVENT_SECURITY_BPRM_CHECK 729
#define EVENT_SECURITY_FILE_OPEN 730
#define EVENT_SECURITY_SOCKET_CONNECT 734
#define EVENT_SECURITY_SOCKET_CREATE 732
#define EVENT_SECURITY_SOCKET_BIND 736
#define EVENT_SECURITY_SB_MOUNT 738
#define NR_mount 165
#define EVENT_MAGIC_WRITE 725
#define EVENT_SECURITY_INODE_UNLINK 731
#define EVENT_DROPPED_EXECUTABLE 6022
#define EVENT_SCHED_SWITCH 715
#define EVENT_DO_EXIT 716
#define EVENT_CAP_CAPABLE 717
#define EVENT_CGROUP_MKDIR 727
#define EVENT_CGROUP_RMDIR 728
#define EVENT_TASK_RENAME 765
#define EVENT_SECURITY_INODE_RENAME 766
#define EVENT_SECURITY_INODE_MKNOD 742
#define EVENT_SECURITY_INODE_SYMLINK 744
#define EVENT_SET_FS_PWD 781
#define EVENT_SECURITY_TASK_PRCTL 793
#define EVENT_SECURITY_TASK_SETRLIMIT 789
#define EVENT_SECURITY_SETTIME64 790
#define EVENT_SWITCH_TASK_NS 724
#define EVENT_SECURITY_SB_UMOUNT 792
#define EVENT_CGROUP_ATTACH_TASK 726
#define EVENT_SECURITY_SOCKET_LISTEN 733
#define EVENT_SECURITY_SOCKET_ACCEPT 735
#define EVENT_SECURITY_SOCKET_SETSOCKOPT 737
#define EVENT_SOCKET_DUP 747
#define EVENT_DIRTY_PIPE_SPLICE 753
#define EVENT_CHMOD_COMMON 791
#define EVENT_SOCKET_ACCEPT 761
#define EVENT_CONTAINER_CREATE 2014
#define EVENT_CONTAINER_REMOVE 2015
#define EVENT_MEM_PROT_ALERT 722
#define EVENT_SECURITY_MMAP_FILE 745
#define EVENT_SECURITY_FILE_MPROTECT 746
#define EVENT_SHARED_OBJECT_LOADED 759
#define EVENT_DO_MMAP 770
#define EVENT_DO_SIGACTION 767
#define EVENT_PROCESS_EXECUTE_FAILED 777
#define EVENT_SECURITY_BPF 739
#define EVENT_SECURITY_BPF_MAP 740
#define EVENT_SECURITY_BPF_PROG 776
#define EVENT_DO_TRUNCATE 773
#define EVENT_VFS_UTIMES 772
#define EVENT_MODULE_LOAD 779
#define EVENT_MODULE_FREE 780
#define EVENT_COMMIT_CREDS 723
#define EVENT_VFS_WRITE 718
#define EVENT_VFS_WRITEV 719
#define EVENT_VFS_READ 720
#define EVENT_VFS_READV 721
#define EVENT_SUSPICIOUS_SYSCALL_SOURCE 782
#define EVENT_STACK_PIVOT 783
#define EVENT_FILE_MODIFICATION 774
#define EVENT_SECURITY_KERNEL_READ_FILE 741
#define EVENT_SECURITY_KERNEL_POST_READ_FILE 743
#define EVENT_INOTIFY_WATCH 775
#define EVENT_SECURITY_PATH_NOTIFY 784
#define EVENT_DO_INIT_MODULE 760
#define EVENT_NET_PACKET_RAW 701
#define EVENT_NET_PACKET_IPV4 2000
#define EVENT_NET_PACKET_IPV6 2001
#define EVENT_NET_PACKET_TCP 2002
#define EVENT_NET_PACKET_UDP 2003
#define EVENT_NET_PACKET_ICMP 2004
#define EVENT_NET_PACKET_ICMPV6 2005
#define EVENT_NET_PACKET_DNS 2006
#define EVENT_NET_PACKET_DNS_REQUEST 2007
#define EVENT_NET_PACKET_DNS_RESPONSE 2008
#define EVENT_NET_PACKET_HTTP 2009
#define EVENT_NET_PACKET_HTTP_REQUEST 2010
#define EVENT_NET_PACKET_HTTP_RESPONSE 2011
#define EVENT_NET_FLOW_TCP_BEGIN 2012
#define EVENT_NET_FLOW_TCP_END 2013
#define EVENT_NET_TCP_CONNECT 2030
#define NO_SYSCALL 0xffffffff

/* x86-64 syscall numbers of the open family (security_file_open). */
#define NR_open 2
#define NR_creat 85
#define NR_openat 257
#define NR_open_by_handle_at 304
#define NR_openat2 437
#define NR_connect 42
#define NR_write 1
#define NR_unlink 87
#define NR_unlinkat 263
#define AT_FDCWD -100

/* Kernel constants the handlers compare with (macros: not in BTF, so not in vmlinux.h). */
#define EPERM 1
#define ENOENT 2
#define EBADF 9
#define EACCES 13
#define EFAULT 14
#define EBUSY 16
#define ENOTDIR 20
#define EINVAL 22
#define ENFILE 23
#define EMFILE 24
#define EROFS 30
#define ENAMETOOLONG 36
#define ELOOP 40
#define ENOTSOCK 88
#define EPROTONOSUPPORT 93
#define ESOCKTNOSUPPORT 94
#define EAFNOSUPPORT 97
#define S_IFMT 0170000
#define S_IFIFO 010000
#define S_IFREG 0100000
#define S_IFSOCK 0140000
#define NR_pwrite64 18
#define NR_writev 20
#define NR_pwritev 296
#define NR_pwritev2 328

/* The largest socket address captured (sockaddr_un). */
#define SOCKADDR_MAX 128

/* Index of the path argument of an open-family syscall, or -1 (open_by_handle_at). */
static __always_inline int open_path_arg(__u32 nr)
{
	switch (nr) {
	case NR_open:
	case NR_creat:
		return 0;
	case NR_openat:
	case NR_openat2:
		return 1;
	case NR_open_by_handle_at:
		return -1;
	}
	return -2; /* not an open-family syscall */
}

static __always_inline void count_stat(__u32 stat)
{
	__u64 *c = bpf_map_lookup_elem(&stats, &stat);
	if (c)
		*c += 1;
}

/*
 * Generations: each image the loader installs is one BPF object, numbered by `generation`
 * (rodata, set by the loader). During a reload two are attached, and each hook invocation
 * runs the programs of both, the older generation's first (they were attached first);
 * exactly one of them must decide it. `control.active` names the generation that decides,
 * and the loader switches by storing a new value. Read by each program on its own, a
 * switch that falls between the two reads has both decide the invocation (an event
 * printed twice, a syscall armed twice and its in-flight count never drained). So during a
 * reload (`control.newest` set) the older generation's program reads `active` and leaves
 * that decision in the task's record for the invocation's hook, and the newest one's
 * program, which runs right after it, takes the decision from there instead of reading
 * `active` again. Roles are fixed, so a record is written by one side and taken by the
 * other, never the reverse. The newest generation takes only a record of the same hook
 * key that it has not taken yet and that was written after it was attached (`since_ns`:
 * the loader sets it once the new programs are attached, and switches `active` 50 ms
 * later, so no invocation straddles both). Every program reaches `decide` for a given key
 * at every invocation or at none (its gate is fixed).
 *
 * The older-first order holds for programs attached the same way. When the two
 * generations hook one syscall differently (per-syscall tracepoint, generic raw
 * tracepoint) and another tool's perf probe on the syscall tracepoints predates ours, the
 * newest program can run first; it then takes the previous invocation's decision, and the
 * one invocation a task makes across the switch is decided by neither.
 *
 * A syscall armed at entry is finished at exit by the programs that armed it, even after
 * the switch (`pending.generation`).
 */
extern const volatile __u32 generation;

/*
 * Audit mode (`tracee-load --audit`, for differential tests against the reference
 * evaluator): every candidate event (an invocation of a hook some policy has a rule for,
 * from any task) is built in full and sent, with the policies the filters matched, 0 when
 * none did. The decision itself is computed as without it; only the early returns on "no
 * policy left" are skipped. The syscall and sched programs are built twice from the same
 * inline code, with `audit` a compile-time 0 (`tr_*`) or 1 (`tr_a_*`), and the loader loads
 * one set: without --audit the programs are exactly those of a build without the mode.
 */

static __noinline int decide_handoff(struct control_word *c, __u32 slot, __u32 key)
{
	__u32 active = c->active;
	struct handoff *h = bpf_task_storage_get(&handoff_store, bpf_get_current_task_btf(), 0,
						 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!h || slot >= HANDOFF_SLOTS)
		return active == generation;
	struct handoff_rec *r = &h->rec[slot];
	if (generation != c->newest) {
		r->at = bpf_ktime_get_ns();
		r->key = key;
		r->decided = active;
		r->consumed = 0;
		return active == generation;
	}
	if (r->key == key && !r->consumed && r->at >= c->since_ns) {
		r->consumed = 1;
		return r->decided == generation;
	}
	return active == generation;
}

/* Does this generation decide this invocation of hook class `slot` (`key` tells the
 * invocations of one class apart: the syscall number, the event id)? One array load when
 * no reload is in progress. */
static __always_inline int decide(__u32 slot, __u32 key)
{
	__u32 zero = 0;
	struct control_word *c = bpf_map_lookup_elem(&control, &zero);
	if (!c)
		return 0;
	if (!c->newest)
		return c->active == generation;
	return decide_handoff(c, slot, key);
}

/* An older generation at the exit of a syscall it armed at entry, during a reload: that
 * exit is its own, so the newest generation's `decide` for the same exit says no (a newer
 * image may serve the syscall at its exit alone, GATE_AT_EXIT, and would report it again).
 * The older generation's programs run first: the kernel runs a hook's programs in the
 * order they were attached. */
static __always_inline void claim_exit(__u32 key)
{
	__u32 zero = 0;
	struct control_word *c = bpf_map_lookup_elem(&control, &zero);
	if (!c || !c->newest || c->newest == generation)
		return;
	struct handoff *h = bpf_task_storage_get(&handoff_store, bpf_get_current_task_btf(), 0,
						 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!h)
		return;
	struct handoff_rec *r = &h->rec[HANDOFF_SYS_EXIT];
	r->at = bpf_ktime_get_ns();
	r->key = key;
	r->decided = generation;
	r->consumed = 0;
}

/* Armed syscalls of this generation not exited yet (the loader waits for 0 to detach it). */
static __always_inline void count_inflight(__s64 delta)
{
	__u32 slot = STAT_INFLIGHT0 + (generation & 1);
	__u64 *c = bpf_map_lookup_elem(&stats, &slot);
	if (c)
		*c += delta;
}

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/*
 * The current task as an untrusted BTF pointer: its fields are still plain loads (cheap to
 * run, unlike a probe read each), but the verifier does not check every loaded pointer
 * for trust, which it does by looking a type up by name in the kernel's BTF, a linear
 * scan per load that made loading the programs several times slower.
 */
static __always_inline struct task_struct *current_task(void)
{
	return bpf_rdonly_cast(bpf_get_current_task_btf(), bpf_core_type_id_kernel(struct task_struct));
}

/* The open file behind one of the current task's fds, as an address; 0 if none. */
static __always_inline __u64 fd_file(__u64 fd)
{
	struct fdtable *fdt = current_task()->files->fdt;
	if (fd >= fdt->max_fds)
		return 0;
	__u64 file = 0;
	bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]);
	return file;
}

/* An inode's change time in ns, across the kernels' three layouts of it. */
static __always_inline __u64 inode_ctime(struct inode *inode)
{
	__u64 sec = 0, nsec = 0;
	if (bpf_core_field_exists(inode->i_ctime_sec)) {
		sec = BPF_CORE_READ(inode, i_ctime_sec);
		/* The top bits of i_ctime_nsec are multigrain-timestamp flags (6.13+). */
		nsec = BPF_CORE_READ(inode, i_ctime_nsec) & 0x3fffffff;
	} else if (bpf_core_field_exists(((struct inode___pre611 *)inode)->__i_ctime)) {
		struct inode___pre611 *old = (void *)inode;
		sec = BPF_CORE_READ(old, __i_ctime.tv_sec);
		nsec = BPF_CORE_READ(old, __i_ctime.tv_nsec);
	} else {
		struct inode___pre66 *old = (void *)inode;
		sec = BPF_CORE_READ(old, i_ctime.tv_sec);
		nsec = BPF_CORE_READ(old, i_ctime.tv_nsec);
	}
	return sec * 1000000000ULL + nsec;
}

/* The task's number in its own (innermost) pid namespace. */
static __always_inline __u32 ns_nr(struct pid *pid)
{
	unsigned int level = BPF_CORE_READ(pid, level);
	int nr = 0;
	bpf_core_read(&nr, sizeof(nr), &pid->numbers[level].nr);
	return nr;
}

static __always_inline struct pending *scratch_event(__u32 slot)
{
	return bpf_map_lookup_elem(&scratch_events, &slot);
}

/* The lookup keys of the program building `p` (its key_slot); NULL for a bad slot. */
static __always_inline struct key_scratch *keys_of(struct pending *p)
{
	__u32 slot = p->key_slot;
	if (slot > NET_NEST)
		return 0;
	return bpf_map_lookup_elem(&scratch_keys, &slot);
}

/* ---- appending arguments (struct arg_header + bytes) ---- */

/* An argument slot index the verifier can bound wherever clang reloads it from (a check
 * made earlier in the function is not always visible on the register used). */
static __always_inline __u32 arg_slot(__u32 index)
{
	barrier_var(index);
	return index & (MAX_ARGS - 1);
}

static __always_inline void header(struct pending *p, __u32 off, __u32 index, __u32 kind,
				   __u32 len)
{
	struct arg_header h = { .index = index, .kind = kind, .len = len };
	if (off > ARGS_BUF - sizeof(h))
		return;
	__builtin_memcpy(&p->args[off], &h, sizeof(h));
}

static __always_inline void counted(struct pending *p, __u32 index, __u32 end)
{
	p->used = end;
	p->rec.args_size = end;
	p->rec.args_num += 1;
	(void)index;
}

/* Appends `n` string bytes already written after a header at `off` (n counts the NUL the
 * read helpers copy, or is <= 0 when the read failed: then an empty string). */
static __always_inline void finish_str(struct pending *p, __u32 index, __u32 off, long n)
{
	__u32 len = n > 0 ? n - 1 : 0;
	__u32 start = off + sizeof(struct arg_header);
	if (len > STR_CAP)
		len = STR_CAP;
	if (start + len > ARGS_BUF)
		len = ARGS_BUF - start;
	header(p, off, index, ARG_KIND_STR, len);
	p->str_off[arg_slot(index)] = start;
	p->str_len[arg_slot(index)] = len;
	counted(p, index, start + len);
}

/* Appends a string copied from kernel memory (program memory included). */
static __always_inline int append_str(struct pending *p, __u32 index, const void *src, __u32 len)
{
	if (index >= MAX_ARGS)
		return 0;
	__u32 off = p->used;
	if (off > ARGS_BUF - sizeof(struct arg_header))
		return 0;
	barrier_var(len); /* keep clang from folding the bound into `off` math */
	if (len > STR_CAP)
		len = STR_CAP;
	long n = 1;
	if (len > 0 && !bpf_probe_read_kernel(&p->args[off + sizeof(struct arg_header)], len, src))
		n = len + 1;
	finish_str(p, index, off, n);
	return 0;
}

static __always_inline int put_int(struct pending *p, __u32 index, __u32 kind, __u64 value)
{
	if (!p || index >= MAX_ARGS)
		return 0;
	__u32 off = p->used;
	__u32 size = kind == ARG_KIND_BOOL ? 1 : 8;
	if (off > ARGS_BUF - sizeof(struct arg_header) - 8)
		return 0;
	header(p, off, index, kind, size);
	if (size == 1)
		p->args[off + sizeof(struct arg_header)] = value != 0;
	else
		__builtin_memcpy(&p->args[off + sizeof(struct arg_header)], &value, 8);
	p->ints[arg_slot(index)] = value;
	counted(p, index, off + sizeof(struct arg_header) + size);
	return 0;
}

/* A 32-bit signed value (an int register, a pid) as an integer argument. */
static __always_inline int put_i32(struct pending *p, __u32 index, __s32 v)
{
	return put_int(p, index, ARG_KIND_INT, (__u64)(__s64)v);
}

/* One element of a string array, just read after a u16 length slot at *cursor (n counts
 * the NUL, as the read helpers return it): writes the length, advances the cursor.
 * Returns 1 (stop) when the array is full. */
static __always_inline long array_element(struct pending *p, __u32 *cursor, long n)
{
	__u32 at = *cursor;
	__u16 len = n > 0 ? n - 1 : 0;
	if (len > ARGV_CAP)
		len = ARGV_CAP;
	if (at > ARGS_BUF - 2 || at + 2 + len > ARGS_BUF)
		return 1;
	__builtin_memcpy(&p->args[at], &len, 2);
	*cursor = at + 2 + len;
	return 0;
}

/* Appends a socket address copied from kernel memory (another event's captured bytes). */
/* capture.bpf.c: a socket address's port, IPv4 address or unix path into the slots the
 * rule filters read (abi.h SOCK_PORT_SLOT, SOCK_IP_SLOT). */
int sockaddr_parts(struct pending *p, __u32 index, __u32 off, __u32 len);

static __always_inline int append_sockaddr(struct pending *p, __u32 index, const void *src,
					   __u32 len)
{
	if (index >= MAX_ARGS)
		return 0;
	__u32 off = p->used;
	if (off > ARGS_BUF - sizeof(struct arg_header) - SOCKADDR_MAX)
		return 0;
	barrier_var(len);
	if (len > SOCKADDR_MAX)
		len = SOCKADDR_MAX;
	if (len > 0 && bpf_probe_read_kernel(&p->args[off + sizeof(struct arg_header)], len, src))
		len = 0;
	header(p, off, index, ARG_KIND_SOCKADDR, len);
	counted(p, index, off + sizeof(struct arg_header) + len);
	sockaddr_parts(p, index, off + sizeof(struct arg_header), len);
	return 0;
}

/* ---- global functions, one concern per file ---- */

/* scope.bpf.c: the candidate policies whose scope admits the current task. */
__u64 scope_eval(__u64 candidates);
__u64 scope_eval_task(__u64 task_addr, __u64 candidates);
/* scope.bpf.c: tree/follow bookkeeping for a new process (current is the parent). */
int lineage_fork(__u32 child_pid);
int lineage_exit(__u32 pid);
/* capture.bpf.c: append arguments. */
int put_user_str(struct pending *p, __u32 index, __u64 user_ptr);
int put_kernel_str(struct pending *p, __u32 index, __u64 kernel_ptr);
int put_user_sockaddr(struct pending *p, __u32 index, __u64 user_ptr);
int capture_syscall_args(struct pending *p, struct event_config *cfg);
/* filter.bpf.c: the policies whose rule filters on the fields of these classes pass
 * (cheap first: a syscall's arguments and return value are checked before its context is
 * read). */
#define RULES_ARGS (1U << 0)
#define RULES_RETVAL (1U << 1)
#define RULES_CONTEXT (1U << 2)
#define RULES_ALL (RULES_ARGS | RULES_RETVAL | RULES_CONTEXT)
__u64 rules_eval(struct pending *p, struct event_config *ev, __u32 event, __u64 policies,
		 __u32 classes);
/* output.bpf.c: send the record with these matched policies (nothing when none)... */
int emit(struct pending *p, __u64 matched);
/* ... or, in audit mode, whatever they are. */
int emit_candidate(struct pending *p, __u64 matched);

static __always_inline int emit_as(struct pending *p, __u64 matched, const int audit)
{
	return audit ? emit_candidate(p, matched) : emit(p, matched);
}
/* write.bpf.c: does this write-family syscall start at offset 0 of a regular file? Then
 * its first bytes go to p->magic (at entry). */
int magic_write_entry(struct pending *p, __u32 nr);
int magic_write_qualifies(__u32 nr, __u64 a0, __u64 a2, __u64 a3);
/* file_open.bpf.c: the executed file's path (and this mount namespace) into the task's
 * storage, for the `executable` scope. */
int record_exe(struct pending *ts, __u64 path, __u64 mntns);
/* containers.bpf.c: is the current task in a container's cgroup (or below one)? */
int in_container(void);
int in_container_task(__u64 task_addr);
/* file_open.bpf.c: the absolute path of a path argument (relative ones resolved against
 * the directory fd or the working directory) into the argument slot. */
int put_abs_path(struct pending *p, __u32 index, struct pending *sys, __u32 arg, __u64 dirfd);
/* file_open.bpf.c: a path's full name into the argument slot. */
int put_path(struct pending *p, __u32 index, __u64 path);
/* file_open.bpf.c: may the file an open-family syscall returned (`fd`) give a
 * security_file_open some of the policies in `scope` take? 0 when its path meets no anchor
 * of policies all anchored. */
int file_open_may(__u64 fd, __u64 scope);

/* ---- the events derived from a syscall, at its exit ----
 *
 * The handlers (DERIVED_* bits) run in programs of their own, one per BPF source file
 * (DERIVED_GROUP_*), declared there with DERIVED_HANDLERS: tr_d_G, reached from the
 * per-syscall tracepoint exit, and tr_db_G, from the generic tp_btf/sys_exit one. The exit
 * program puts the return value and the handlers to run in the task's storage and
 * tail-calls the first handler's slot; each program runs the handler of the slot it was
 * called through and tail-calls the next one. A group's programs sit in the slots of each
 * of its handlers the image names. What handlers read at entry (DERIVED_AT_ENTRY) runs the same
 * way, once the syscall is armed (DERIVED_ENTRIES: tr_e_G, tr_eb_G). The programs are `?`
 * (not loaded unless asked): the loader loads the groups the image's gates name, so
 * libbpf relocates and the verifier sees no other group's code, and within a group
 * `derived_loaded` makes the handlers the image does not name dead code. */

/* The handlers this object's image names (syscalls.bpf.c), a load-time constant. */
extern const volatile __u64 derived_loaded;

/* The next handler still to run. A slot left empty makes the tail call return: that
 * handler is skipped and the chain goes on. */
static __always_inline void derived_next(void *ctx, struct pending *p, void *progs)
{
	for (int i = 0; i < 4; i++) {
		__u64 left = p->chain_left;
		if (!left)
			return;
		__u64 low = left & -left;
		p->chain_left = left & ~low;
		p->chain_bit = low;
		/* The lowest bit's index without a loop: BPF has no count-trailing-zeros. */
		bpf_tail_call(ctx, progs, __builtin_popcountll(low - 1));
	}
}

#define DERIVED_PROGRAM(name, section, progs, run_fn, mask)                               \
	SEC(section)                                                                     \
	int name(void *ctx)                                                              \
	{                                                                                \
		struct pending *p = bpf_task_storage_get(                                \
			&pending_store, bpf_get_current_task_btf(), 0, 0);               \
		if (!p)                                                                  \
			return 0;                                                        \
		__u64 h = p->chain_bit & (mask) & derived_loaded;                        \
		run_fn(p, h, p->chain_ret);                                              \
		derived_next(ctx, p, progs);                                             \
		return 0;                                                                \
	}

/* A group's handlers: the block builds, for the one bit of `h` (DERIVED_*), that handler's
 * events from `p` (the syscall's entry state, left in the task's storage by its exit) and
 * `ret`. An `else if` chain: each path runs one handler, so the verifier walks each handler
 * once (after a run of `if`s it would walk the next handler once per outcome of the ones
 * before). The tp_btf program names its caller's tracepoint: the kernel lets a tracing program
 * tail-call only programs of the same attach point. */
#define DERIVED_HANDLERS(G, ...)                                                         \
	static __always_inline void derived_run_##G(struct pending *p, __u64 h, __u64 ret) \
		__VA_ARGS__                                                              \
	DERIVED_PROGRAM(tr_d_##G, "?tracepoint", &derived_tp, derived_run_##G,           \
			DERIVED_GROUP_##G)                                               \
	DERIVED_PROGRAM(tr_db_##G, "?tp_btf/sys_exit", &derived_btf, derived_run_##G,    \
			DERIVED_GROUP_##G)

/* What a group's handlers read at the syscall's entry, from and into `p` (the armed
 * syscall's state); `ret` means nothing there. */
#define DERIVED_ENTRIES(G, ...)                                                          \
	static __always_inline void derived_entry_##G(struct pending *p, __u64 h,          \
						      __u64 ret) __VA_ARGS__                 \
	DERIVED_PROGRAM(tr_e_##G, "?tracepoint", &entry_tp, derived_entry_##G,           \
			DERIVED_GROUP_##G & DERIVED_AT_ENTRY)                            \
	DERIVED_PROGRAM(tr_eb_##G, "?tp_btf/sys_enter", &entry_btf, derived_entry_##G,   \
			DERIVED_GROUP_##G & DERIVED_AT_ENTRY)

#endif /* TRACEE_BPF_H */
