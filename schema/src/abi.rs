//! The map keys and values the compiler writes and the BPF programs read: Rust twins of
//! `bpf/include/abi.h`. `schema/tests/abi.rs` compiles that header with the host C compiler
//! and compares every size and field offset with the ones here, so the two cannot drift.
//!
//! All structs are plain old data (`bytemuck::Pod`) with explicit padding, so their bytes
//! are exactly what goes into the image.

use bytemuck::{Pod, Zeroable};

pub const MAX_POLICIES: usize = 64;
pub const STR_MAX: usize = 256;
/// Pattern bytes of an LPM trie key: the kernel caps LPM keys at 4 + 256 bytes
/// (`LPM_DATA_SIZE_MAX`), and the event/field header takes 8 of the 256.
pub const LPM_STR_MAX: usize = 248;
/// The largest LPM trie key the kernel creates a map for.
pub const LPM_KEY_MAX: usize = 4 + 256;
pub const COMM_LEN: usize = 16;
pub const UTS_LEN: usize = 65;
pub const PATH_MAX: usize = 256;
pub const MAX_EVENT_FIELDS: usize = 16;
pub const MAX_SYSCALL_ARGS: usize = 6;
/// `syscall_gate` covers syscall numbers below this.
pub const SYSCALL_GATE_SIZE: u32 = 512;
/// (detector, policy) pairs per `detect_chunk`: one bit each of a pseudo event's rules.
pub const DETECT_PAIRS: usize = 64;
/// Chunks one base event's detections may take (the kernel's loop bound).
pub const DETECT_MAX_CHUNKS: usize = 4;
/// Pseudo event ids of detection chunks: `DETECT_PSEUDO_BASE + chunk`, above every event id.
pub const DETECT_PSEUDO_BASE: u32 = 0x0010_0000;

/// `event_config.flags`: an argument lives in user memory, so it is read at syscall entry.
pub const EVENT_FLAG_ENTRY: u8 = 1 << 0;
/// `event_config.flags`: the syscall never returns (exit, exit_group): emitted at entry.
pub const EVENT_FLAG_EMIT_AT_ENTRY: u8 = 1 << 1;
/// `event_config.flags` of `sched_process_exec`: capture the environment (`env`), which a
/// rule or detection filters.
pub const EVENT_FLAG_ENV: u8 = 1 << 2;

/// `event_record.flags`: a dropped_executable from a copy (sendfile, splice,
/// copy_file_range), whose bytes the kernel could not read: printed only if the file starts
/// with the ELF magic (the loader reads it).
pub const RECORD_FLAG_CHECK_ELF: u8 = 1 << 0;

/// `syscall_gate.flags`, above the `EVENT_FLAG_*` bits: return values (negative, zero,
/// positive) that no policy's rule for the syscall admits. Its exit turns them away on the
/// gate's one load, before the scope. 0 (older images): every return value may match.
pub const GATE_NO_NEGATIVE_RET: u32 = 1 << 8;
pub const GATE_NO_ZERO_RET: u32 = 1 << 9;
pub const GATE_NO_POSITIVE_RET: u32 = 1 << 10;
/// `syscall_gate.flags`: the syscall serves only derived events built at its exit
/// (`schema::hooks::exit_only`): no entry hook, its arguments read from the registers there.
pub const GATE_AT_EXIT: u32 = 1 << 11;

/// Path anchors (`path_anchors`, docs/image-format.md): necessary conditions on a path's
/// first and last components, checked on the dentries before the path is built. The name
/// bytes of an anchor key, at most.
pub const ANCHOR_NAME_MAX: usize = 48;
/// The distinct lengths of last-component suffix anchors one event may have.
pub const ANCHOR_MAX_SUFFIX_LENS: usize = 8;
/// Bits of `event_config.anchor_sketch`: one per anchor, at `anchor_sketch_bit`, so most
/// names are known to be no anchor without a hash lookup.
pub const ANCHOR_SKETCH_BITS: usize = 256;

/// An anchor's bit in `event_config.anchor_sketch`, from its kind, length and first and
/// last bytes. `anchor_sketch_bit` in abi.h computes the same (schema/tests/abi.rs).
pub fn anchor_sketch_bit(kind: u8, len: u8, first: u8, last: u8) -> u32 {
    let mut h = u32::from(kind);
    for x in [len, first, last] {
        h = h.wrapping_mul(31).wrapping_add(u32::from(x));
    }
    (h ^ (h >> 8)) & (ANCHOR_SKETCH_BITS as u32 - 1)
}
pub mod anchor {
    /// The path's first component is the name.
    pub const TOP: u8 = 1;
    /// The path's last component is the name.
    pub const LAST: u8 = 2;
    /// The path's last component ends with the name.
    pub const LAST_SUFFIX: u8 = 3;
}

/// `syscall_gate.derived_handlers`: one bit per BPF handler of derived events (`DERIVED_*`
/// in abi.h); each handler builds every event of its family (`schema::hooks::SourceDef`).
pub mod derived {
    pub const FILE_OPEN: u64 = 1 << 0;
    pub const SOCKET_CONNECT: u64 = 1 << 1;
    pub const SOCKET_CREATE: u64 = 1 << 2;
    pub const SOCKET_BIND: u64 = 1 << 3;
    pub const SB_MOUNT: u64 = 1 << 4;
    pub const INODE_UNLINK: u64 = 1 << 5;
    pub const MAGIC_WRITE: u64 = 1 << 6;
    pub const SB_UMOUNT: u64 = 1 << 7;
    pub const INODE_RENAME: u64 = 1 << 8;
    pub const INODE_MKNOD: u64 = 1 << 9;
    pub const INODE_SYMLINK: u64 = 1 << 10;
    pub const SET_FS_PWD: u64 = 1 << 11;
    pub const TASK_PRCTL: u64 = 1 << 12;
    pub const TASK_SETRLIMIT: u64 = 1 << 13;
    pub const SETTIME64: u64 = 1 << 14;
    pub const SWITCH_TASK_NS: u64 = 1 << 15;
    pub const SOCKET_LISTEN: u64 = 1 << 16;
    pub const SOCKET_SETSOCKOPT: u64 = 1 << 17;
    pub const SOCKET_ACCEPT: u64 = 1 << 18;
    pub const SOCKET_DUP: u64 = 1 << 19;
    pub const MEM: u64 = 1 << 20;
    pub const SIGACTION: u64 = 1 << 21;
    pub const EXECUTE_FAILED: u64 = 1 << 22;
    pub const BPF: u64 = 1 << 23;
    pub const TRUNCATE: u64 = 1 << 24;
    pub const UTIMES: u64 = 1 << 25;
    pub const CREDS: u64 = 1 << 26;
    pub const VFS_RW: u64 = 1 << 27;
    pub const SYSCALL_ORIGIN: u64 = 1 << 28;
    pub const FILE_MOD: u64 = 1 << 29;
    pub const KERNEL_READ_FILE: u64 = 1 << 30;
    pub const NOTIFY: u64 = 1 << 31;
    pub const INIT_MODULE: u64 = 1 << 32;
    pub const DIRTY_PIPE: u64 = 1 << 33;
    pub const CHMOD: u64 = 1 << 34;
    /// The handlers that also read something at the syscall's entry (a program of their
    /// own there too: bpf/tracee.bpf.h `DERIVED_ENTRY`).
    pub const AT_ENTRY: u64 = SWITCH_TASK_NS | MEM | SIGACTION | CREDS;
    /// The handlers' programs, one per BPF source file (bpf/tracee.bpf.h
    /// `DERIVED_HANDLERS`): the handlers each runs. The loader loads a group's programs when
    /// the image names one of its handlers.
    pub const GROUPS: &[(&str, u64)] = &[
        ("DERIVED_GROUP_FILE_OPEN", FILE_OPEN),
        (
            "DERIVED_GROUP_NET",
            SOCKET_CONNECT
                | SOCKET_CREATE
                | SOCKET_BIND
                | SOCKET_LISTEN
                | SOCKET_SETSOCKOPT
                | SOCKET_ACCEPT
                | SOCKET_DUP,
        ),
        ("DERIVED_GROUP_MOUNT", SB_MOUNT | SB_UMOUNT),
        (
            "DERIVED_GROUP_INODE",
            INODE_UNLINK
                | INODE_RENAME
                | INODE_MKNOD
                | INODE_SYMLINK
                | TRUNCATE
                | UTIMES
                | NOTIFY
                | CHMOD,
        ),
        ("DERIVED_GROUP_WRITE", MAGIC_WRITE | DIRTY_PIPE),
        (
            "DERIVED_GROUP_TASK",
            SET_FS_PWD
                | TASK_PRCTL
                | TASK_SETRLIMIT
                | SETTIME64
                | SWITCH_TASK_NS
                | SIGACTION
                | EXECUTE_FAILED
                | CREDS,
        ),
        ("DERIVED_GROUP_MEM", MEM | SYSCALL_ORIGIN),
        ("DERIVED_GROUP_BPF", BPF | KERNEL_READ_FILE),
        ("DERIVED_GROUP_RW", VFS_RW | FILE_MOD),
        ("DERIVED_GROUP_MODULES", INIT_MODULE),
    ];
    /// Masks of bits, with their C names (checked against abi.h as `ALL` is).
    pub const MASKS: &[(&str, u64)] = &[("DERIVED_AT_ENTRY", AT_ENTRY)];
    /// Every bit, with its C name (the drift test checks them against abi.h).
    pub const ALL: &[(&str, u64)] = &[
        ("DERIVED_FILE_OPEN", FILE_OPEN),
        ("DERIVED_SOCKET_CONNECT", SOCKET_CONNECT),
        ("DERIVED_SOCKET_CREATE", SOCKET_CREATE),
        ("DERIVED_SOCKET_BIND", SOCKET_BIND),
        ("DERIVED_SB_MOUNT", SB_MOUNT),
        ("DERIVED_INODE_UNLINK", INODE_UNLINK),
        ("DERIVED_MAGIC_WRITE", MAGIC_WRITE),
        ("DERIVED_SB_UMOUNT", SB_UMOUNT),
        ("DERIVED_INODE_RENAME", INODE_RENAME),
        ("DERIVED_INODE_MKNOD", INODE_MKNOD),
        ("DERIVED_INODE_SYMLINK", INODE_SYMLINK),
        ("DERIVED_SET_FS_PWD", SET_FS_PWD),
        ("DERIVED_TASK_PRCTL", TASK_PRCTL),
        ("DERIVED_TASK_SETRLIMIT", TASK_SETRLIMIT),
        ("DERIVED_SETTIME64", SETTIME64),
        ("DERIVED_SWITCH_TASK_NS", SWITCH_TASK_NS),
        ("DERIVED_SOCKET_LISTEN", SOCKET_LISTEN),
        ("DERIVED_SOCKET_SETSOCKOPT", SOCKET_SETSOCKOPT),
        ("DERIVED_SOCKET_ACCEPT", SOCKET_ACCEPT),
        ("DERIVED_SOCKET_DUP", SOCKET_DUP),
        ("DERIVED_MEM", MEM),
        ("DERIVED_SIGACTION", SIGACTION),
        ("DERIVED_EXECUTE_FAILED", EXECUTE_FAILED),
        ("DERIVED_BPF", BPF),
        ("DERIVED_TRUNCATE", TRUNCATE),
        ("DERIVED_UTIMES", UTIMES),
        ("DERIVED_CREDS", CREDS),
        ("DERIVED_VFS_RW", VFS_RW),
        ("DERIVED_SYSCALL_ORIGIN", SYSCALL_ORIGIN),
        ("DERIVED_FILE_MOD", FILE_MOD),
        ("DERIVED_KERNEL_READ_FILE", KERNEL_READ_FILE),
        ("DERIVED_NOTIFY", NOTIFY),
        ("DERIVED_INIT_MODULE", INIT_MODULE),
        ("DERIVED_DIRTY_PIPE", DIRTY_PIPE),
        ("DERIVED_CHMOD", CHMOD),
    ];
}

/// Per-CPU counters of the BPF `stats` map (`enum abi_stat`).
pub mod stat {
    pub const SUBMITTED: u32 = 0;
    pub const LOST: u32 = 1;
    /// Syscalls armed at entry and not exited yet, per generation parity.
    pub const INFLIGHT0: u32 = 2;
    pub const INFLIGHT1: u32 = 3;
    pub const COUNT: u32 = 4;
}

/// Values of the runtime `containers` map: a container cgroup that existed when the loader
/// started, or one created after (`container=new`).
pub mod container {
    pub const EXISTING: u32 = 1;
    pub const NEW: u32 = 2;
}

/// Scope dimensions looked up in an equality map (`enum abi_scope_dim`).
pub mod scope_dim {
    pub const UID: usize = 0;
    pub const PID: usize = 1;
    pub const MNTNS: usize = 2;
    pub const PIDNS: usize = 3;
    pub const UTS: usize = 4;
    pub const COMM: usize = 5;
    pub const TREE: usize = 6;
    pub const EXE: usize = 7;
    pub const COUNT: usize = 8;
}

/// Scope conditions that are true or false for a task (`enum abi_scope_bool`).
pub mod scope_bool {
    pub const IN_CONTAINER: usize = 0;
    pub const NEW_PID: usize = 1;
    pub const NEW_CONTAINER: usize = 2;
    pub const CONTAINER_STARTED: usize = 3;
    pub const COUNT: usize = 4;
}

/// Argument slots (rule field ids) holding the parts of a socket address argument at index
/// i (i below SOCK_ADDR_MAX_INDEX): its port at SOCK_PORT_SLOT + i, its IPv4 address (a
/// number in network order) or unix path at SOCK_IP_SLOT + i. Past every event's own
/// arguments: no event with a socket address has more than SOCK_PORT_SLOT arguments.
pub const SOCK_PORT_SLOT: u16 = 20;
pub const SOCK_IP_SLOT: u16 = 26;
pub const SOCK_ADDR_MAX_INDEX: usize = 6;
/// The rule field id of a unix socket path at argument index i is SOCK_PATH_FIELD + i: the
/// kernel reads argument fields from slot `id % 32` (integers and strings have separate
/// tables), so the path shares the IPv4 address's slot number in the string table under an
/// id of its own.
pub const SOCK_PATH_FIELD: u16 = 32 + SOCK_IP_SLOT;

/// The packet events, in the order of their bits in packets.bpf.c's `packet_events`
/// (abi.h `PACKET_*`): the loader sets the bits of those the image selects.
pub const PACKET_EVENTS: &[&str] = &[
    "net_packet_raw",
    "net_packet_ipv4",
    "net_packet_ipv6",
    "net_packet_tcp",
    "net_packet_udp",
    "net_packet_icmp",
    "net_packet_icmpv6",
    "net_packet_dns",
    "net_packet_dns_request",
    "net_packet_dns_response",
    "net_packet_http",
    "net_packet_http_request",
    "net_packet_http_response",
];
/// A packet record's extra argument slots, which the loader strips: the packet from its IP
/// header (bounded), and direction (1: ingress) | ifindex << 8 | length << 32.
pub const PACKET_CAPTURE_SLOT: u8 = 30;
pub const PACKET_INFO_SLOT: u8 = 31;
/// An HTTP request's method, path (without the query) and Host header (lowercase, without
/// its port), in
/// these string slots (rule field ids) of net_packet_http and net_packet_http_request:
/// filters name them `FIELD.method`, `FIELD.uri_path`, `FIELD.host`.
pub const HTTP_METHOD_SLOT: u16 = 8;
pub const HTTP_PATH_SLOT: u16 = 9;
pub const HTTP_HOST_SLOT: u16 = 10;

/// Rule field ids: arguments by index, then the return value, then context fields.
pub const FIELD_ARG_BASE: u16 = 0;
pub const FIELD_RETVAL: u16 = 64;
pub const FIELD_CONTEXT_BASE: u16 = 65;
/// `FIELD_MASKED_BASE + i`: argument `i` ANDed with its `field_config.mask` (a detector's
/// `flags % 4`: the open flags' access mode).
pub const FIELD_MASKED_BASE: u16 = 128;

/// Context field ids (`FIELD_CONTEXT_BASE + n`), as the BPF programs know them.
pub mod context_field {
    pub const TIMESTAMP: u16 = super::FIELD_CONTEXT_BASE;
    pub const PROCESSOR_ID: u16 = super::FIELD_CONTEXT_BASE + 1;
    pub const PID: u16 = super::FIELD_CONTEXT_BASE + 2;
    pub const TID: u16 = super::FIELD_CONTEXT_BASE + 3;
    pub const PPID: u16 = super::FIELD_CONTEXT_BASE + 4;
    pub const HOST_TID: u16 = super::FIELD_CONTEXT_BASE + 5;
    pub const HOST_PID: u16 = super::FIELD_CONTEXT_BASE + 6;
    pub const HOST_PPID: u16 = super::FIELD_CONTEXT_BASE + 7;
    pub const UID: u16 = super::FIELD_CONTEXT_BASE + 8;
    pub const MNTNS: u16 = super::FIELD_CONTEXT_BASE + 9;
    pub const PIDNS: u16 = super::FIELD_CONTEXT_BASE + 10;
    pub const COMM: u16 = super::FIELD_CONTEXT_BASE + 11;
    pub const HOST_NAME: u16 = super::FIELD_CONTEXT_BASE + 12;
    pub const CGROUP_ID: u16 = super::FIELD_CONTEXT_BASE + 13;
    pub const CONTAINER: u16 = super::FIELD_CONTEXT_BASE + 14;
    pub const HOST: u16 = super::FIELD_CONTEXT_BASE + 15;
    pub const CONTAINER_ID: u16 = super::FIELD_CONTEXT_BASE + 16;
    pub const CONTAINER_IMAGE: u16 = super::FIELD_CONTEXT_BASE + 17;
    pub const CONTAINER_IMAGE_DIGEST: u16 = super::FIELD_CONTEXT_BASE + 18;
    pub const CONTAINER_NAME: u16 = super::FIELD_CONTEXT_BASE + 19;
    pub const POD_NAME: u16 = super::FIELD_CONTEXT_BASE + 20;
    pub const POD_NAMESPACE: u16 = super::FIELD_CONTEXT_BASE + 21;
    pub const POD_UID: u16 = super::FIELD_CONTEXT_BASE + 22;
    pub const POD_SANDBOX: u16 = super::FIELD_CONTEXT_BASE + 23;
    pub const SYSCALL: u16 = super::FIELD_CONTEXT_BASE + 24;

    /// Every context field id with its name, for the ABI hash.
    pub const ALL: &[(&str, u16)] = &[
        ("TIMESTAMP", TIMESTAMP),
        ("PROCESSOR_ID", PROCESSOR_ID),
        ("PID", PID),
        ("TID", TID),
        ("PPID", PPID),
        ("HOST_TID", HOST_TID),
        ("HOST_PID", HOST_PID),
        ("HOST_PPID", HOST_PPID),
        ("UID", UID),
        ("MNTNS", MNTNS),
        ("PIDNS", PIDNS),
        ("COMM", COMM),
        ("HOST_NAME", HOST_NAME),
        ("CGROUP_ID", CGROUP_ID),
        ("CONTAINER", CONTAINER),
        ("HOST", HOST),
        ("CONTAINER_ID", CONTAINER_ID),
        ("CONTAINER_IMAGE", CONTAINER_IMAGE),
        ("CONTAINER_IMAGE_DIGEST", CONTAINER_IMAGE_DIGEST),
        ("CONTAINER_NAME", CONTAINER_NAME),
        ("POD_NAME", POD_NAME),
        ("POD_NAMESPACE", POD_NAMESPACE),
        ("POD_UID", POD_UID),
        ("POD_SANDBOX", POD_SANDBOX),
        ("SYSCALL", SYSCALL),
    ];
}

pub const FIELD_KIND_INT: u32 = 1 << 0;
pub const FIELD_KIND_EXACT: u32 = 1 << 1;
pub const FIELD_KIND_PREFIX: u32 = 1 << 2;
pub const FIELD_KIND_SUFFIX: u32 = 1 << 3;
pub const FIELD_KIND_CONTAINS: u32 = 1 << 4;
pub const FIELD_KIND_SIGNED: u32 = 1 << 5;
/// The field is a string array: a value matches when one of its entries does.
pub const FIELD_KIND_ARRAY: u32 = 1 << 6;

/// Bytes of the LPM key before the string (event, field, pad), counted in `prefixlen`.
pub const LPM_HEADER_BYTES: u32 = 8;

/// Defines a `#[repr(C)]` Pod struct and its layout description (name, size, field
/// offsets) for the ABI hash and the C drift test.
macro_rules! abi_struct {
    ($(#[$meta:meta])* $name:ident / $c_name:literal { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }

        impl $name {
            pub const LAYOUT: Layout = Layout {
                c_name: $c_name,
                size: std::mem::size_of::<$name>(),
                fields: &[$((stringify!($field), std::mem::offset_of!($name, $field))),*],
            };
        }
    };
}

/// A struct's C name, size and field offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub c_name: &'static str,
    pub size: usize,
    pub fields: &'static [(&'static str, usize)],
}

abi_struct!(
    /// Value of every equality map: policies listing the key with `=`, and with `!=`.
    EqBits / "eq_bits" { eq: u64, ne: u64 }
);

abi_struct!(
    /// One step of a sorted interval table.
    RangeEntry / "range_entry" { start: u64, bits: u64 }
);

abi_struct!(
    /// `scope_config[0]`: how the scope dimensions combine.
    ScopeConfig / "scope_config" {
        policies: u64,
        eq_enabled: [u64; scope_dim::COUNT],
        eq_match_missing: [u64; scope_dim::COUNT],
        ranged: [u64; scope_dim::COUNT],
        range_first: [u32; scope_dim::COUNT],
        range_count: [u32; scope_dim::COUNT],
        bool_enabled: [u64; scope_bool::COUNT],
        bool_expect: [u64; scope_bool::COUNT],
        follow: u64,
    }
);

abi_struct!(
    ScopeExeKey / "scope_exe_key" { mount_ns: u64, path: [u8; PATH_MAX] }
);

abi_struct!(
    /// `events[event id]`.
    EventConfig / "event_config" {
        policies: u64,
        userspace: u64,
        /// Policies with a detection on this (base) event.
        detect: u64,
        /// Of those, the policies with no rule of their own on it: never printed as it.
        detect_only: u64,
        /// Policies every rule and detection of which on this event needs its path to meet
        /// an anchor (`path_anchors`): a path meeting none is turned away before it is built.
        anchored: u64,
        /// The lengths (bit n: n bytes) of the `ANCHOR_LAST_SUFFIX` anchors.
        anchor_suffix_lens: u64,
        /// Bit `anchor_sketch_bit(..)` of every anchor of the event.
        anchor_sketch: [u64; ANCHOR_SKETCH_BITS / 64],
        /// The first of its `detect_chunks` entries (pseudo event `DETECT_PSEUDO_BASE + i`).
        detect_first: u32,
        detect_chunks: u16,
        field_count: u16,
        fields: [u16; MAX_EVENT_FIELDS],
        arg_count: u8,
        flags: u8,
        arg_kinds: [u8; MAX_SYSCALL_ARGS],
        arg_sizes: [u8; MAX_SYSCALL_ARGS],
        pad: u16,
    }
);

abi_struct!(
    /// `detect_chunks[i]`: up to 64 (detector, policy) pairs decided together on one base
    /// event; pair `b` is bit `b` of the rule maps of pseudo event `DETECT_PSEUDO_BASE + i`.
    DetectChunk / "detect_chunk" {
        /// The event id a detection of the pair is printed as (the base event's own id for
        /// a policy's own rule on the base event, moved here beside its detections).
        event: [u32; DETECT_PAIRS],
        /// The policy of the pair (one bit).
        policy: [u64; DETECT_PAIRS],
    }
);

abi_struct!(
    /// `syscall_gate[nr]`: the policies a syscall hook serves, read before any hashing.
    SyscallGate / "syscall_gate" {
        policies: u64,
        derived_policies: u64,
        derived_handlers: u64,
        flags: u32,
        pad: u32,
    }
);

abi_struct!(FieldKey / "field_key" { event: u32, field: u16, pad: u16 });

abi_struct!(
    /// `path_anchors` key: an anchor of one path field of one event (value: 1).
    AnchorKey / "anchor_key" {
        event: u32,
        field: u16,
        /// `anchor::*`
        kind: u8,
        /// The name's length in bytes.
        len: u8,
        name: [u8; ANCHOR_NAME_MAX],
    }
);

abi_struct!(
    FieldConfig / "field_config" {
        enabled: u64,
        match_missing: u64,
        ranged: u64,
        range_first: u32,
        range_count: u32,
        contains_first: u32,
        contains_count: u32,
        kinds: u32,
        /// For `FIELD_MASKED_BASE + i` fields: what argument `i` is ANDed with.
        mask: u32,
    }
);

abi_struct!(IntKey / "int_key" { event: u32, field: u16, pad: u16, value: u64 });

abi_struct!(StrKey / "str_key" { event: u32, field: u16, pad: u16, str: [u8; STR_MAX] });

abi_struct!(
    LpmStrKey / "lpm_str_key" { prefixlen: u32, event: u32, field: u16, pad: u16, str: [u8; LPM_STR_MAX] }
);

abi_struct!(
    ContainsEntry / "contains_entry" { eq: u64, ne: u64, len: u32, pad: u32, str: [u8; STR_MAX] }
);

/// Argument encodings in an event record (`arg_header.kind`).
pub mod arg_kind {
    pub const INT: u8 = 1;
    pub const UINT: u8 = 2;
    pub const STR: u8 = 3;
    pub const BYTES: u8 = 4;
    pub const STR_ARRAY: u8 = 5;
    pub const SOCKADDR: u8 = 6;
    pub const BOOL: u8 = 7;
    /// `struct slim_cred` (Tracee's SlimCred), 80 bytes.
    pub const CRED: u8 = 8;
}

abi_struct!(
    /// Credentials as Tracee's `SlimCred` carries them (`commit_creds`'s arguments).
    SlimCred / "slim_cred" {
        uid: u32,
        gid: u32,
        suid: u32,
        sgid: u32,
        euid: u32,
        egid: u32,
        fsuid: u32,
        fsgid: u32,
        user_ns: u32,
        securebits: u32,
        cap_inheritable: u64,
        cap_permitted: u64,
        cap_effective: u64,
        cap_bset: u64,
        cap_ambient: u64,
    }
);

abi_struct!(
    /// One event in the ring buffer, followed by `args_size` bytes of arguments.
    EventRecord / "event_record" {
        timestamp_ns: u64,
        matched_policies: u64,
        mntns: u64,
        pidns: u64,
        cgroup_id: u64,
        retval: i64,
        event_id: u32,
        cpu: u32,
        pid: u32,
        tid: u32,
        ppid: u32,
        host_pid: u32,
        host_tid: u32,
        host_ppid: u32,
        uid: u32,
        syscall: u32,
        args_size: u16,
        args_num: u8,
        flags: u8,
        /// The loaded image whose policies matched it (1, 2, ... as tracee-load reloads).
        generation: u32,
        comm: [u8; COMM_LEN],
        uts: [u8; UTS_LEN],
        pad1: [u8; 3],
        /// A detection: the id of the event it was detected from (0 otherwise).
        detected_from: u32,
        /// When the thread started (`task->start_boottime`, CLOCK_BOOTTIME like
        /// `timestamp_ns`): Tracee's `threadStartTime`.
        thread_start_ns: u64,
        /// The thread's exec count (`task->self_exec_id`, low 32 bits): with the thread id
        /// and start time, names one program image of one thread (the loader's executable
        /// path cache key).
        exec_id: u32,
        pad2: u32,
    }
);

abi_struct!(ArgHeader / "arg_header" { index: u8, kind: u8, len: u16 });

abi_struct!(
    /// The runtime `control` map's value: the active generation and the reload state.
    /// Between the loader and its own BPF programs only (not in images).
    ControlWord / "control_word" { active: u32, newest: u32, since_ns: u64 }
);

/// Structs of the runtime maps, shared by the loader and its BPF programs (built together):
/// checked against the header like the others, but not part of `abi_hash`, which is about
/// images.
pub const RUNTIME_LAYOUTS: &[Layout] = &[ControlWord::LAYOUT];

/// Every ABI struct, in header order.
pub const LAYOUTS: &[Layout] = &[
    EqBits::LAYOUT,
    RangeEntry::LAYOUT,
    ScopeConfig::LAYOUT,
    ScopeExeKey::LAYOUT,
    EventConfig::LAYOUT,
    DetectChunk::LAYOUT,
    SyscallGate::LAYOUT,
    FieldKey::LAYOUT,
    AnchorKey::LAYOUT,
    FieldConfig::LAYOUT,
    IntKey::LAYOUT,
    StrKey::LAYOUT,
    LpmStrKey::LAYOUT,
    ContainsEntry::LAYOUT,
    EventRecord::LAYOUT,
    ArgHeader::LAYOUT,
    SlimCred::LAYOUT,
];

/// Constants the BPF programs and Rust both use, by their C names (checked by the drift test).
pub const CONSTANTS: &[(&str, u64)] = &[
    ("ABI_MAX_SYSCALL_ARGS", MAX_SYSCALL_ARGS as u64),
    ("ABI_SYSCALL_GATE_SIZE", SYSCALL_GATE_SIZE as u64),
    ("ABI_DETECT_PAIRS", DETECT_PAIRS as u64),
    ("ABI_DETECT_MAX_CHUNKS", DETECT_MAX_CHUNKS as u64),
    ("ABI_DETECT_PSEUDO_BASE", DETECT_PSEUDO_BASE as u64),
    ("EVENT_FLAG_ENTRY", EVENT_FLAG_ENTRY as u64),
    ("EVENT_FLAG_EMIT_AT_ENTRY", EVENT_FLAG_EMIT_AT_ENTRY as u64),
    ("GATE_NO_NEGATIVE_RET", GATE_NO_NEGATIVE_RET as u64),
    ("GATE_NO_ZERO_RET", GATE_NO_ZERO_RET as u64),
    ("GATE_NO_POSITIVE_RET", GATE_NO_POSITIVE_RET as u64),
    ("GATE_AT_EXIT", GATE_AT_EXIT as u64),
    ("ABI_ANCHOR_NAME_MAX", ANCHOR_NAME_MAX as u64),
    ("ABI_ANCHOR_MAX_SUFFIX_LENS", ANCHOR_MAX_SUFFIX_LENS as u64),
    ("ABI_ANCHOR_SKETCH_BITS", ANCHOR_SKETCH_BITS as u64),
    ("ANCHOR_TOP", anchor::TOP as u64),
    ("ANCHOR_LAST", anchor::LAST as u64),
    ("ANCHOR_LAST_SUFFIX", anchor::LAST_SUFFIX as u64),
    ("RECORD_FLAG_CHECK_ELF", RECORD_FLAG_CHECK_ELF as u64),
    ("SOCK_PORT_SLOT", SOCK_PORT_SLOT as u64),
    ("SOCK_IP_SLOT", SOCK_IP_SLOT as u64),
    ("SOCK_ADDR_MAX_INDEX", SOCK_ADDR_MAX_INDEX as u64),
    ("SOCK_PATH_FIELD", SOCK_PATH_FIELD as u64),
    ("PACKET_RAW", 1 << 0),
    ("PACKET_IPV4", 1 << 1),
    ("PACKET_IPV6", 1 << 2),
    ("PACKET_TCP", 1 << 3),
    ("PACKET_UDP", 1 << 4),
    ("PACKET_ICMP", 1 << 5),
    ("PACKET_ICMPV6", 1 << 6),
    ("PACKET_DNS", 1 << 7),
    ("PACKET_DNS_REQUEST", 1 << 8),
    ("PACKET_DNS_RESPONSE", 1 << 9),
    ("PACKET_HTTP", 1 << 10),
    ("PACKET_HTTP_REQUEST", 1 << 11),
    ("PACKET_HTTP_RESPONSE", 1 << 12),
    ("PACKET_CAPTURE_SLOT", PACKET_CAPTURE_SLOT as u64),
    ("PACKET_INFO_SLOT", PACKET_INFO_SLOT as u64),
    ("HTTP_METHOD_SLOT", HTTP_METHOD_SLOT as u64),
    ("HTTP_PATH_SLOT", HTTP_PATH_SLOT as u64),
    ("HTTP_HOST_SLOT", HTTP_HOST_SLOT as u64),
    ("STAT_SUBMITTED", stat::SUBMITTED as u64),
    ("STAT_LOST", stat::LOST as u64),
    ("STAT_INFLIGHT0", stat::INFLIGHT0 as u64),
    ("STAT_INFLIGHT1", stat::INFLIGHT1 as u64),
    ("STAT_COUNT", stat::COUNT as u64),
    ("CONTAINER_EXISTING", container::EXISTING as u64),
    ("CONTAINER_NEW", container::NEW as u64),
    ("FIELD_KIND_INT", FIELD_KIND_INT as u64),
    ("FIELD_KIND_EXACT", FIELD_KIND_EXACT as u64),
    ("FIELD_KIND_PREFIX", FIELD_KIND_PREFIX as u64),
    ("FIELD_KIND_SUFFIX", FIELD_KIND_SUFFIX as u64),
    ("FIELD_KIND_CONTAINS", FIELD_KIND_CONTAINS as u64),
    ("FIELD_KIND_SIGNED", FIELD_KIND_SIGNED as u64),
    ("FIELD_KIND_ARRAY", FIELD_KIND_ARRAY as u64),
    ("FIELD_MASKED_BASE", FIELD_MASKED_BASE as u64),
    ("EVENT_FLAG_ENV", EVENT_FLAG_ENV as u64),
    ("ARG_KIND_INT", arg_kind::INT as u64),
    ("ARG_KIND_UINT", arg_kind::UINT as u64),
    ("ARG_KIND_STR", arg_kind::STR as u64),
    ("ARG_KIND_BYTES", arg_kind::BYTES as u64),
    ("ARG_KIND_STR_ARRAY", arg_kind::STR_ARRAY as u64),
    ("ARG_KIND_SOCKADDR", arg_kind::SOCKADDR as u64),
    ("ARG_KIND_BOOL", arg_kind::BOOL as u64),
    ("ARG_KIND_CRED", arg_kind::CRED as u64),
];

/// FNV-1a, 64 bit: a stable hash with no dependency, for layouts and the catalog.
pub fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Hash of every struct's name, size and field offsets (and the limits): an image built
/// for other layouts is refused by the loader.
pub fn abi_hash() -> u64 {
    abi_hash_of(LAYOUTS)
}

/// `abi_hash` over the given layouts (the limits and context field ids included): what the
/// hash is made of, so a test can check that changing any layout changes it.
pub fn abi_hash_of(layouts: &[Layout]) -> u64 {
    let mut h = FNV_OFFSET;
    for limit in [
        MAX_POLICIES,
        STR_MAX,
        LPM_STR_MAX,
        COMM_LEN,
        UTS_LEN,
        PATH_MAX,
        MAX_EVENT_FIELDS,
        MAX_SYSCALL_ARGS,
    ] {
        h = fnv1a(h, &limit.to_le_bytes());
    }
    for (name, id) in context_field::ALL {
        h = fnv1a(h, name.as_bytes());
        h = fnv1a(h, &id.to_le_bytes());
    }
    // The anchor sketch's bits are set by the compiler and tested by the programs.
    for (kind, len, first, last) in [(1, 3, b'e', b'c'), (3, 11, b'd', b'k')] {
        h = fnv1a(h, &anchor_sketch_bit(kind, len, first, last).to_le_bytes());
    }
    for layout in layouts {
        h = fnv1a(h, layout.c_name.as_bytes());
        h = fnv1a(h, &layout.size.to_le_bytes());
        for (name, offset) in layout.fields {
            h = fnv1a(h, name.as_bytes());
            h = fnv1a(h, &offset.to_le_bytes());
        }
    }
    h
}

/// The text of a zero-padded fixed buffer, up to its first NUL.
pub fn c_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A string as a zero-padded fixed buffer (the caller checked it fits).
pub fn fixed<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = s.len().min(N);
    out[..n].copy_from_slice(&s[..n]);
    out
}
