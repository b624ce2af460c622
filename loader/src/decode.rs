//! Numbers made readable the way Tracee's parse-arguments option makes them: open flags as
//! `O_WRONLY|O_CREAT`, capabilities as `CAP_SYS_ADMIN`, `AT_FDCWD`, and so on.
//!
//! Everything here is data: one table of (value, name) pairs per kind of number, with
//! Tracee's names and order (`common/parsers/` in its repository, amd64), and one table
//! saying which argument of which event is which kind. A kind decodes the same way wherever
//! it is used, so adding an event is adding a row.
//!
//! Where we differ from Tracee, on purpose: bits no name covers are kept as a hex remainder
//! (`O_WRONLY|0x40000000`) where Tracee drops them; a flags value of zero is `0` where Tracee
//! prints an empty string (open flags, access modes and `prot` keep their zero names,
//! `O_RDONLY`, `F_OK`, `PROT_NONE`, as in Tracee); file modes name the set-id and sticky bits.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use schema::catalog::{ArgDef, ArgType};
use schema::record::ArgValue;

type Names = &'static [(u64, &'static str)];

/// How one kind of number is written.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// One value of a list (a command, an option, a capability): its name, else `other`, else
    /// the number.
    Enum {
        names: Names,
        other: Option<&'static str>,
    },
    /// A set of flags: the name of each entry whose bits are all set, in table order, joined
    /// by `|`; the bits left over in hex; `zero` for no bit at all.
    Flags { names: Names, zero: &'static str },
    /// Open flags: the access mode (the low two bits) always, then the other flags.
    Open,
    /// A file mode: the file type, then the permission bits (`S_IRWXU` for all three of a
    /// class).
    InodeMode,
    /// A socket type: the type (low four bits), then `SOCK_NONBLOCK`, `SOCK_CLOEXEC`.
    SocketType,
    /// mmap flags: one name per bit below the huge page size, then `MAP_HUGE_<size>`.
    MmapFlags,
    /// A directory descriptor: `AT_FDCWD`, any other number left as it is.
    Dirfd,
}

const CLONE: Names = &[
    (0x0000_0100, "CLONE_VM"),
    (0x0000_0200, "CLONE_FS"),
    (0x0000_0400, "CLONE_FILES"),
    (0x0000_0800, "CLONE_SIGHAND"),
    (0x0000_1000, "CLONE_PIDFD"),
    (0x0000_2000, "CLONE_PTRACE"),
    (0x0000_4000, "CLONE_VFORK"),
    (0x0000_8000, "CLONE_PARENT"),
    (0x0001_0000, "CLONE_THREAD"),
    (0x0002_0000, "CLONE_NEWNS"),
    (0x0004_0000, "CLONE_SYSVSEM"),
    (0x0008_0000, "CLONE_SETTLS"),
    (0x0010_0000, "CLONE_PARENT_SETTID"),
    (0x0020_0000, "CLONE_CHILD_CLEARTID"),
    (0x0040_0000, "CLONE_DETACHED"),
    (0x0080_0000, "CLONE_UNTRACED"),
    (0x0100_0000, "CLONE_CHILD_SETTID"),
    (0x0200_0000, "CLONE_NEWCGROUP"),
    (0x0400_0000, "CLONE_NEWUTS"),
    (0x0800_0000, "CLONE_NEWIPC"),
    (0x1000_0000, "CLONE_NEWUSER"),
    (0x2000_0000, "CLONE_NEWPID"),
    (0x4000_0000, "CLONE_NEWNET"),
    (0x8000_0000, "CLONE_IO"),
];

/// setns(2)'s nstype: the CLONE_NEW* flags, in Tracee's order.
const NAMESPACES: Names = &[
    (0x0002_0000, "CLONE_NEWNS"),
    (0x0400_0000, "CLONE_NEWUTS"),
    (0x0800_0000, "CLONE_NEWIPC"),
    (0x1000_0000, "CLONE_NEWUSER"),
    (0x2000_0000, "CLONE_NEWPID"),
    (0x4000_0000, "CLONE_NEWNET"),
    (0x0200_0000, "CLONE_NEWCGROUP"),
];

const OPEN_ACCESS: Names = &[
    (0, "O_RDONLY"),
    (1, "O_WRONLY"),
    (2, "O_RDWR"),
    (3, "O_ACCMODE"),
];

/// After the access mode. Octal, as in asm-generic/fcntl.h (x86-64 values); O_SYNC and
/// O_TMPFILE include the bits of O_DSYNC and O_DIRECTORY, which are named with them.
const OPEN: Names = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o4010000, "O_SYNC"),
    (0o20000, "FASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o10000000, "O_PATH"),
    (0o20200000, "O_TMPFILE"),
];

const ACCESS: Names = &[(1, "X_OK"), (2, "W_OK"), (4, "R_OK")];

const FACCESSAT: Names = &[
    (0x200, "AT_EACCESS"),
    (0x1000, "AT_EMPTY_PATH"),
    (0x100, "AT_SYMLINK_NOFOLLOW"),
];

const EXECVEAT: Names = &[(0x100, "AT_SYMLINK_NOFOLLOW"), (0x1000, "AT_EMPTY_PATH")];

const FCHMODAT: Names = &[(0x100, "AT_SYMLINK_NOFOLLOW")];

const PROT: Names = &[
    (0x1, "PROT_READ"),
    (0x2, "PROT_WRITE"),
    (0x4, "PROT_EXEC"),
    (0x8, "PROT_SEM"),
    (0x0100_0000, "PROT_GROWSDOWN"),
    (0x0200_0000, "PROT_GROWSUP"),
];

/// One bit each, below the huge page size (bits 26-31).
const MMAP: Names = &[
    (0x1, "MAP_SHARED"),
    (0x2, "MAP_PRIVATE"),
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x40, "MAP_32BIT"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x10000, "MAP_NONBLOCK"),
    (0x20000, "MAP_STACK"),
    (0x40000, "MAP_HUGETLB"),
    (0x80000, "MAP_SYNC"),
    (0x100000, "MAP_FIXED_NOREPLACE"),
];

const CAPABILITIES: Names = &[
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (2, "CAP_DAC_READ_SEARCH"),
    (3, "CAP_FOWNER"),
    (4, "CAP_FSETID"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (8, "CAP_SETPCAP"),
    (9, "CAP_LINUX_IMMUTABLE"),
    (10, "CAP_NET_BIND_SERVICE"),
    (11, "CAP_NET_BROADCAST"),
    (12, "CAP_NET_ADMIN"),
    (13, "CAP_NET_RAW"),
    (14, "CAP_IPC_LOCK"),
    (15, "CAP_IPC_OWNER"),
    (16, "CAP_SYS_MODULE"),
    (17, "CAP_SYS_RAWIO"),
    (18, "CAP_SYS_CHROOT"),
    (19, "CAP_SYS_PTRACE"),
    (20, "CAP_SYS_PACCT"),
    (21, "CAP_SYS_ADMIN"),
    (22, "CAP_SYS_BOOT"),
    (23, "CAP_SYS_NICE"),
    (24, "CAP_SYS_RESOURCE"),
    (25, "CAP_SYS_TIME"),
    (26, "CAP_SYS_TTY_CONFIG"),
    (27, "CAP_MKNOD"),
    (28, "CAP_LEASE"),
    (29, "CAP_AUDIT_WRITE"),
    (30, "CAP_AUDIT_CONTROL"),
    (31, "CAP_SETFCAP"),
    (32, "CAP_MAC_OVERRIDE"),
    (33, "CAP_MAC_ADMIN"),
    (34, "CAP_SYSLOG"),
    (35, "CAP_WAKE_ALARM"),
    (36, "CAP_BLOCK_SUSPEND"),
    (37, "CAP_AUDIT_READ"),
    (38, "CAP_PERFMON"),
    (39, "CAP_BPF"),
    (40, "CAP_CHECKPOINT_RESTORE"),
];

const PRCTL: Names = &[
    (1, "PR_SET_PDEATHSIG"),
    (2, "PR_GET_PDEATHSIG"),
    (3, "PR_GET_DUMPABLE"),
    (4, "PR_SET_DUMPABLE"),
    (5, "PR_GET_UNALIGN"),
    (6, "PR_SET_UNALIGN"),
    (7, "PR_GET_KEEPCAPS"),
    (8, "PR_SET_KEEPCAPS"),
    (9, "PR_GET_FPEMU"),
    (10, "PR_SET_FPEMU"),
    (11, "PR_GET_FPEXC"),
    (12, "PR_SET_FPEXC"),
    (13, "PR_GET_TIMING"),
    (14, "PR_SET_TIMING"),
    (15, "PR_SET_NAME"),
    (16, "PR_GET_NAME"),
    (19, "PR_GET_ENDIAN"),
    (20, "PR_SET_ENDIAN"),
    (21, "PR_GET_SECCOMP"),
    (22, "PR_SET_SECCOMP"),
    (23, "PR_CAPBSET_READ"),
    (24, "PR_CAPBSET_DROP"),
    (25, "PR_GET_TSC"),
    (26, "PR_SET_TSC"),
    (27, "PR_GET_SECUREBITS"),
    (28, "PR_SET_SECUREBITS"),
    (29, "PR_SET_TIMERSLACK"),
    (30, "PR_GET_TIMERSLACK"),
    (31, "PR_TASK_PERF_EVENTS_DISABLE"),
    (32, "PR_TASK_PERF_EVENTS_ENABLE"),
    (33, "PR_MCE_KILL"),
    (34, "PR_MCE_KILL_GET"),
    (35, "PR_SET_MM"),
    (0x5961_6d61, "PR_SET_PTRACER"),
    (36, "PR_SET_CHILD_SUBREAPER"),
    (37, "PR_GET_CHILD_SUBREAPER"),
    (38, "PR_SET_NO_NEW_PRIVS"),
    (39, "PR_GET_NO_NEW_PRIVS"),
    (40, "PR_GET_TID_ADDRESS"),
    (41, "PR_SET_THP_DISABLE"),
    (42, "PR_GET_THP_DISABLE"),
    (43, "PR_MPX_ENABLE_MANAGEMENT"),
    (44, "PR_MPX_DISABLE_MANAGEMENT"),
    (45, "PR_SET_FP_MODE"),
    (46, "PR_GET_FP_MODE"),
    (47, "PR_CAP_AMBIENT"),
    (50, "PR_SVE_SET_VL"),
    (51, "PR_SVE_GET_VL"),
    (52, "PR_GET_SPECULATION_CTRL"),
    (53, "PR_SET_SPECULATION_CTRL"),
    (54, "PR_PAC_RESET_KEYS"),
    (55, "PR_SET_TAGGED_ADDR_CTRL"),
    (56, "PR_GET_TAGGED_ADDR_CTRL"),
    (57, "PR_SET_IO_FLUSHER"),
    (58, "PR_GET_IO_FLUSHER"),
    (59, "PR_SET_SYSCALL_USER_DISPATCH"),
    (60, "PR_PAC_SET_ENABLED_KEYS"),
    (61, "PR_PAC_GET_ENABLED_KEYS"),
    (62, "PR_SCHED_CORE"),
    (63, "PR_SME_SET_VL"),
    (64, "PR_SME_GET_VL"),
    (65, "PR_SET_MDWE"),
    (66, "PR_GET_MDWE"),
    (0x5356_4d41, "PR_SET_VMA"),
    (0x4155_5856, "PR_GET_AUXV"),
    (67, "PR_SET_MEMORY_MERGE"),
    (68, "PR_GET_MEMORY_MERGE"),
];

const BPF_CMD: Names = &[
    (0, "BPF_MAP_CREATE"),
    (1, "BPF_MAP_LOOKUP_ELEM"),
    (2, "BPF_MAP_UPDATE_ELEM"),
    (3, "BPF_MAP_DELETE_ELEM"),
    (4, "BPF_MAP_GET_NEXT_KEY"),
    (5, "BPF_PROG_LOAD"),
    (6, "BPF_OBJ_PIN"),
    (7, "BPF_OBJ_GET"),
    (8, "BPF_PROG_ATTACH"),
    (9, "BPF_PROG_DETACH"),
    (10, "BPF_PROG_TEST_RUN"),
    (11, "BPF_PROG_GET_NEXT_ID"),
    (12, "BPF_MAP_GET_NEXT_ID"),
    (13, "BPF_PROG_GET_FD_BY_ID"),
    (14, "BPF_MAP_GET_FD_BY_ID"),
    (15, "BPF_OBJ_GET_INFO_BY_FD"),
    (16, "BPF_PROG_QUERY"),
    (17, "BPF_RAW_TRACEPOINT_OPEN"),
    (18, "BPF_BTF_LOAD"),
    (19, "BPF_BTF_GET_FD_BY_ID"),
    (20, "BPF_TASK_FD_QUERY"),
    (21, "BPF_MAP_LOOKUP_AND_DELETE_ELEM"),
    (22, "BPF_MAP_FREEZE"),
    (23, "BPF_BTF_GET_NEXT_ID"),
    (24, "BPF_MAP_LOOKUP_BATCH"),
    (25, "BPF_MAP_LOOKUP_AND_DELETE_BATCH"),
    (26, "BPF_MAP_UPDATE_BATCH"),
    (27, "BPF_MAP_DELETE_BATCH"),
    (28, "BPF_LINK_CREATE"),
    (29, "BPF_LINK_UPDATE"),
    (30, "BPF_LINK_GET_FD_BY_ID"),
    (31, "BPF_LINK_GET_NEXT_ID"),
    (32, "BPF_ENABLE_STATS"),
    (33, "BPF_ITER_CREATE"),
    (34, "BPF_LINK_DETACH"),
    (35, "BPF_PROG_BIND_MAP"),
    (36, "BPF_TOKEN_CREATE"),
];

const BPF_PROG_TYPES: Names = &[
    (0, "BPF_PROG_TYPE_UNSPEC"),
    (1, "BPF_PROG_TYPE_SOCKET_FILTER"),
    (2, "BPF_PROG_TYPE_KPROBE"),
    (3, "BPF_PROG_TYPE_SCHED_CLS"),
    (4, "BPF_PROG_TYPE_SCHED_ACT"),
    (5, "BPF_PROG_TYPE_TRACEPOINT"),
    (6, "BPF_PROG_TYPE_XDP"),
    (7, "BPF_PROG_TYPE_PERF_EVENT"),
    (8, "BPF_PROG_TYPE_CGROUP_SKB"),
    (9, "BPF_PROG_TYPE_CGROUP_SOCK"),
    (10, "BPF_PROG_TYPE_LWT_IN"),
    (11, "BPF_PROG_TYPE_LWT_OUT"),
    (12, "BPF_PROG_TYPE_LWT_XMIT"),
    (13, "BPF_PROG_TYPE_SOCK_OPS"),
    (14, "BPF_PROG_TYPE_SK_SKB"),
    (15, "BPF_PROG_TYPE_CGROUP_DEVICE"),
    (16, "BPF_PROG_TYPE_SK_MSG"),
    (17, "BPF_PROG_TYPE_RAW_TRACEPOINT"),
    (18, "BPF_PROG_TYPE_CGROUP_SOCK_ADDR"),
    (19, "BPF_PROG_TYPE_LWT_SEG6LOCAL"),
    (20, "BPF_PROG_TYPE_LIRC_MODE2"),
    (21, "BPF_PROG_TYPE_SK_REUSEPORT"),
    (22, "BPF_PROG_TYPE_FLOW_DISSECTOR"),
    (23, "BPF_PROG_TYPE_CGROUP_SYSCTL"),
    (24, "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE"),
    (25, "BPF_PROG_TYPE_CGROUP_SOCKOPT"),
    (26, "BPF_PROG_TYPE_TRACING"),
    (27, "BPF_PROG_TYPE_STRUCT_OPS"),
    (28, "BPF_PROG_TYPE_EXT"),
    (29, "BPF_PROG_TYPE_LSM"),
    (30, "BPF_PROG_TYPE_SK_LOOKUP"),
    (31, "BPF_PROG_TYPE_SYSCALL"),
];

/// x86-64's requests (the architecture-specific ones among them).
const PTRACE: Names = &[
    (0, "PTRACE_TRACEME"),
    (1, "PTRACE_PEEKTEXT"),
    (2, "PTRACE_PEEKDATA"),
    (3, "PTRACE_PEEKUSER"),
    (4, "PTRACE_POKETEXT"),
    (5, "PTRACE_POKEDATA"),
    (6, "PTRACE_POKEUSER"),
    (7, "PTRACE_CONT"),
    (8, "PTRACE_KILL"),
    (9, "PTRACE_SINGLESTEP"),
    (12, "PTRACE_GETREGS"),
    (13, "PTRACE_SETREGS"),
    (14, "PTRACE_GETFPREGS"),
    (15, "PTRACE_SETFPREGS"),
    (16, "PTRACE_ATTACH"),
    (17, "PTRACE_DETACH"),
    (18, "PTRACE_GETFPXREGS"),
    (19, "PTRACE_SETFPXREGS"),
    (24, "PTRACE_SYSCALL"),
    (25, "PTRACE_GET_THREAD_AREA"),
    (26, "PTRACE_SET_THREAD_AREA"),
    (30, "PTRACE_ARCH_PRCTL"),
    (31, "PTRACE_SYSEMU"),
    (32, "PTRACE_SYSEMU_SINGLESTEP"),
    (33, "PTRACE_SINGLEBLOCK"),
    (0x4200, "PTRACE_SETOPTIONS"),
    (0x4201, "PTRACE_GETEVENTMSG"),
    (0x4202, "PTRACE_GETSIGINFO"),
    (0x4203, "PTRACE_SETSIGINFO"),
    (0x4204, "PTRACE_GETREGSET"),
    (0x4205, "PTRACE_SETREGSET"),
    (0x4206, "PTRACE_SEIZE"),
    (0x4207, "PTRACE_INTERRUPT"),
    (0x4208, "PTRACE_LISTEN"),
    (0x4209, "PTRACE_PEEKSIGINFO"),
    (0x420a, "PTRACE_GETSIGMASK"),
    (0x420b, "PTRACE_SETSIGMASK"),
    (0x420c, "PTRACE_SECCOMP_GET_FILTER"),
    (0x420d, "PTRACE_SECCOMP_GET_METADATA"),
    (0x420e, "PTRACE_GET_SYSCALL_INFO"),
    (0x420f, "PTRACE_GET_RSEQ_CONFIGURATION"),
    (0x4210, "PTRACE_SET_SYSCALL_USER_DISPATCH_CONFIG"),
    (0x4211, "PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG"),
];

const SOCKET_DOMAINS: Names = &[
    (0, "AF_UNSPEC"),
    (1, "AF_UNIX"),
    (2, "AF_INET"),
    (3, "AF_AX25"),
    (4, "AF_IPX"),
    (5, "AF_APPLETALK"),
    (6, "AF_NETROM"),
    (7, "AF_BRIDGE"),
    (8, "AF_ATMPVC"),
    (9, "AF_X25"),
    (10, "AF_INET6"),
    (11, "AF_ROSE"),
    (12, "AF_DECnet"),
    (13, "AF_NETBEUI"),
    (14, "AF_SECURITY"),
    (15, "AF_KEY"),
    (16, "AF_NETLINK"),
    (17, "AF_PACKET"),
    (18, "AF_ASH"),
    (19, "AF_ECONET"),
    (20, "AF_ATMSVC"),
    (21, "AF_RDS"),
    (22, "AF_SNA"),
    (23, "AF_IRDA"),
    (24, "AF_PPPOX"),
    (25, "AF_WANPIPE"),
    (26, "AF_LLC"),
    (27, "AF_IB"),
    (28, "AF_MPLS"),
    (29, "AF_CAN"),
    (30, "AF_TIPC"),
    (31, "AF_BLUETOOTH"),
    (32, "AF_IUCV"),
    (33, "AF_RXRPC"),
    (34, "AF_ISDN"),
    (35, "AF_PHONET"),
    (36, "AF_IEEE802154"),
    (37, "AF_CAIF"),
    (38, "AF_ALG"),
    (39, "AF_NFC"),
    (40, "AF_VSOCK"),
    (41, "AF_KCM"),
    (42, "AF_QIPCRTR"),
    (43, "AF_SMC"),
    (44, "AF_XDP"),
    (45, "AF_MCTP"),
];

const SOCKET_TYPES: Names = &[
    (1, "SOCK_STREAM"),
    (2, "SOCK_DGRAM"),
    (3, "SOCK_RAW"),
    (4, "SOCK_RDM"),
    (5, "SOCK_SEQPACKET"),
    (6, "SOCK_DCCP"),
    (10, "SOCK_PACKET"),
];

const SOCKET_TYPE_FLAGS: Names = &[(0o4000, "SOCK_NONBLOCK"), (0o2000000, "SOCK_CLOEXEC")];

const SOCKET_LEVELS: Names = &[
    (0, "SOL_IP"),
    (1, "SOL_SOCKET"),
    (6, "SOL_TCP"),
    (41, "SOL_IPV6"),
    (58, "SOL_ICMPV6"),
    (100, "SOL_CAN_BASE"),
    (101, "SOL_CAN_RAW"),
    (255, "SOL_RAW"),
    (261, "SOL_DECNET"),
    (262, "SOL_X25"),
    (263, "SOL_PACKET"),
    (264, "SOL_ATM"),
    (265, "SOL_AAL"),
    (266, "SOL_IRDA"),
    (267, "SOL_NETBEUI"),
    (268, "SOL_LLC"),
    (269, "SOL_DCCP"),
    (270, "SOL_NETLINK"),
    (271, "SOL_TIPC"),
    (272, "SOL_RXRPC"),
    (273, "SOL_PPPOL2TP"),
    (275, "SOL_PNPIPE"),
    (276, "SOL_RDS"),
    (277, "SOL_IUCV"),
    (278, "SOL_CAIF"),
    (279, "SOL_ALG"),
    (280, "SOL_NFC"),
    (281, "SOL_KCM"),
    (282, "SOL_TLS"),
    (283, "SOL_XDP"),
    (284, "SOL_MCTCP"),
    (285, "SOL_MCTP"),
    (286, "SOL_SMC"),
];

/// The file type (S_IFMT bits), exactly.
const FILE_TYPES: Names = &[
    (0o140000, "S_IFSOCK"),
    (0o120000, "S_IFLNK"),
    (0o100000, "S_IFREG"),
    (0o060000, "S_IFBLK"),
    (0o040000, "S_IFDIR"),
    (0o020000, "S_IFCHR"),
    (0o010000, "S_IFIFO"),
];

/// Per class (owner, group, others): all three bits, then each.
const PERMISSIONS: [(u64, &str, Names); 3] = [
    (
        0o700,
        "S_IRWXU",
        &[(0o400, "S_IRUSR"), (0o200, "S_IWUSR"), (0o100, "S_IXUSR")],
    ),
    (
        0o070,
        "S_IRWXG",
        &[(0o040, "S_IRGRP"), (0o020, "S_IWGRP"), (0o010, "S_IXGRP")],
    ),
    (
        0o007,
        "S_IRWXO",
        &[(0o004, "S_IROTH"), (0o002, "S_IWOTH"), (0o001, "S_IXOTH")],
    ),
];

const MODE_SPECIAL: Names = &[
    (0o4000, "S_ISUID"),
    (0o2000, "S_ISGID"),
    (0o1000, "S_ISVTX"),
];

/// Tracee's strings for its kernel_read_file types.
const KERNEL_READ: Names = &[
    (0, "unknown"),
    (1, "firmware"),
    (2, "kernel-module"),
    (3, "kexec-image"),
    (4, "kexec-initramfs"),
    (5, "security-policy"),
    (6, "x509-certificate"),
];

/// Tracee's strings for mem_prot_alert's alert.
const MEM_PROT_ALERTS: Names = &[
    (1, "Mmaped region with W+E permissions!"),
    (2, "Protection changed to Executable!"),
    (3, "Protection changed from E to W+E!"),
    (4, "Protection changed from W to E!"),
];

/// include/linux/fsnotify_backend.h, with Tracee's names (its `FS_CLOSE_OPEN` for FS_OPEN
/// included: the strings are what pipelines written for Tracee match).
const FSNOTIFY: Names = &[
    (0x1, "FS_ACCESS"),
    (0x2, "FS_MODIFY"),
    (0x4, "FS_ATTRIB"),
    (0x8, "FS_CLOSE_WRITE"),
    (0x10, "FS_CLOSE_NOWRITE"),
    (0x20, "FS_CLOSE_OPEN"),
    (0x40, "FS_MOVED_FROM"),
    (0x80, "FS_MOVED_TO"),
    (0x100, "FS_CREATE"),
    (0x200, "FS_DELETE"),
    (0x400, "FS_DELETE_SELF"),
    (0x800, "FS_MOVE_SELF"),
    (0x1000, "FS_OPEN_EXEC"),
    (0x2000, "FS_UNMOUNT"),
    (0x4000, "FS_Q_OVERFLOW"),
    (0x8000, "FS_ERROR"),
    (0x10000, "FS_OPEN_PERM"),
    (0x20000, "FS_ACCESS_PERM"),
    (0x40000, "FS_OPEN_EXEC_PERM"),
    (0x0800_0000, "FS_EVENT_ON_CHILD"),
    (0x1000_0000, "FS_RENAME"),
    (0x2000_0000, "FS_DN_MULTISHOT"),
    (0x4000_0000, "FS_ISDIR"),
];

const FSNOTIFY_OBJ: Names = &[
    (0, "FSNOTIFY_OBJ_TYPE_INODE"),
    (1, "FSNOTIFY_OBJ_TYPE_VFSMOUNT"),
    (2, "FSNOTIFY_OBJ_TYPE_SB"),
    (3, "FSNOTIFY_OBJ_TYPE_DETACHED"),
];

/// x86-64 signal numbers (the real-time ones stay numbers).
const SIGNALS: Names = &[
    (1, "SIGHUP"),
    (2, "SIGINT"),
    (3, "SIGQUIT"),
    (4, "SIGILL"),
    (5, "SIGTRAP"),
    (6, "SIGABRT"),
    (7, "SIGBUS"),
    (8, "SIGFPE"),
    (9, "SIGKILL"),
    (10, "SIGUSR1"),
    (11, "SIGSEGV"),
    (12, "SIGUSR2"),
    (13, "SIGPIPE"),
    (14, "SIGALRM"),
    (15, "SIGTERM"),
    (16, "SIGSTKFLT"),
    (17, "SIGCHLD"),
    (18, "SIGCONT"),
    (19, "SIGSTOP"),
    (20, "SIGTSTP"),
    (21, "SIGTTIN"),
    (22, "SIGTTOU"),
    (23, "SIGURG"),
    (24, "SIGXCPU"),
    (25, "SIGXFSZ"),
    (26, "SIGVTALRM"),
    (27, "SIGPROF"),
    (28, "SIGWINCH"),
    (29, "SIGIO"),
    (30, "SIGPWR"),
    (31, "SIGSYS"),
];

/// include/uapi/asm-generic/fcntl.h and linux/fcntl.h.
const FCNTL: Names = &[
    (0, "F_DUPFD"),
    (1, "F_GETFD"),
    (2, "F_SETFD"),
    (3, "F_GETFL"),
    (4, "F_SETFL"),
    (5, "F_GETLK"),
    (6, "F_SETLK"),
    (7, "F_SETLKW"),
    (8, "F_SETOWN"),
    (9, "F_GETOWN"),
    (10, "F_SETSIG"),
    (11, "F_GETSIG"),
    (15, "F_SETOWN_EX"),
    (16, "F_GETOWN_EX"),
    (17, "F_GETOWNER_UIDS"),
    (36, "F_OFD_GETLK"),
    (37, "F_OFD_SETLK"),
    (38, "F_OFD_SETLKW"),
    (1024, "F_SETLEASE"),
    (1025, "F_GETLEASE"),
    (1026, "F_NOTIFY"),
    (1029, "F_CANCELLK"),
    (1030, "F_DUPFD_CLOEXEC"),
    (1031, "F_SETPIPE_SZ"),
    (1032, "F_GETPIPE_SZ"),
    (1033, "F_ADD_SEALS"),
    (1034, "F_GET_SEALS"),
    (1035, "F_GET_RW_HINT"),
    (1036, "F_SET_RW_HINT"),
    (1037, "F_GET_FILE_RW_HINT"),
    (1038, "F_SET_FILE_RW_HINT"),
];

const fn one_of(names: Names) -> Kind {
    Kind::Enum { names, other: None }
}

const fn flags(names: Names) -> Kind {
    Kind::Flags { names, zero: "0" }
}

pub const OPEN_FLAGS: Kind = Kind::Open;
pub const FILE_MODE: Kind = Kind::InodeMode;
pub const MMAP_PROT: Kind = Kind::Flags {
    names: PROT,
    zero: "PROT_NONE",
};
pub const MMAP_FLAGS: Kind = Kind::MmapFlags;
pub const CLONE_FLAGS: Kind = flags(CLONE);
pub const NAMESPACE_TYPE: Kind = flags(NAMESPACES);
pub const ACCESS_MODE: Kind = Kind::Flags {
    names: ACCESS,
    zero: "F_OK",
};
pub const FACCESSAT_FLAGS: Kind = flags(FACCESSAT);
pub const EXECVEAT_FLAGS: Kind = flags(EXECVEAT);
pub const FCHMODAT_FLAGS: Kind = flags(FCHMODAT);
pub const CAPABILITY: Kind = one_of(CAPABILITIES);
pub const PRCTL_OPTION: Kind = one_of(PRCTL);
pub const BPF_COMMAND: Kind = one_of(BPF_CMD);
/// Tracee writes an unknown program type as BPF_PROG_TYPE_UNSPEC.
pub const BPF_PROG_TYPE: Kind = Kind::Enum {
    names: BPF_PROG_TYPES,
    other: Some("BPF_PROG_TYPE_UNSPEC"),
};
pub const PTRACE_REQUEST: Kind = one_of(PTRACE);
pub const SOCKET_DOMAIN: Kind = one_of(SOCKET_DOMAINS);
pub const SOCKET_TYPE: Kind = Kind::SocketType;
pub const SOCKET_LEVEL: Kind = one_of(SOCKET_LEVELS);
pub const KERNEL_READ_TYPE: Kind = Kind::Enum {
    names: KERNEL_READ,
    other: Some("unknown"),
};
pub const MEM_PROT_ALERT: Kind = Kind::Enum {
    names: MEM_PROT_ALERTS,
    other: Some("Unknown alert"),
};
pub const FSNOTIFY_MASK: Kind = flags(FSNOTIFY);
pub const FSNOTIFY_OBJ_TYPE: Kind = one_of(FSNOTIFY_OBJ);
pub const SIGNAL: Kind = one_of(SIGNALS);
pub const FCNTL_CMD: Kind = one_of(FCNTL);
pub const DIRFD: Kind = Kind::Dirfd;

/// Which decoders apply: Tracee's own (its parse-arguments, for `--parse-arguments` JSON),
/// or those and ours (the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tracee,
    Table,
}

/// Any event: arguments decoded by their name alone.
const ANY: &str = "*";

/// (event, argument, kind, decoded by Tracee's parse-arguments too). Tracee decodes `dirfd`
/// only with its fd option, and signals, fcntl commands, and the modes of open, creat and
/// mkdir not at all: those rows are the table's.
const ARGS: &[(&str, &str, Kind, bool)] = &[
    ("open", "flags", OPEN_FLAGS, true),
    ("openat", "flags", OPEN_FLAGS, true),
    ("security_file_open", "flags", OPEN_FLAGS, true),
    ("mq_open", "oflag", OPEN_FLAGS, false),
    ("mknod", "mode", FILE_MODE, true),
    ("mknodat", "mode", FILE_MODE, true),
    ("security_inode_mknod", "mode", FILE_MODE, true),
    ("chmod", "mode", FILE_MODE, true),
    ("fchmod", "mode", FILE_MODE, true),
    ("fchmodat", "mode", FILE_MODE, true),
    ("fchmodat", "flags", FCHMODAT_FLAGS, true),
    ("fchmodat2", "mode", FILE_MODE, false),
    ("fchmodat2", "flags", FCHMODAT_FLAGS, false),
    ("chmod_common", "mode", FILE_MODE, true),
    ("sched_process_exec", "stdin_type", FILE_MODE, true),
    ("sched_process_exec", "inode_mode", FILE_MODE, false),
    ("dirty_pipe_splice", "in_file_type", FILE_MODE, true),
    ("open", "mode", FILE_MODE, false),
    ("openat", "mode", FILE_MODE, false),
    ("creat", "mode", FILE_MODE, false),
    ("mkdir", "mode", FILE_MODE, false),
    ("mkdirat", "mode", FILE_MODE, false),
    ("mq_open", "mode", FILE_MODE, false),
    ("mmap", "prot", MMAP_PROT, true),
    ("mmap", "flags", MMAP_FLAGS, true),
    ("mprotect", "prot", MMAP_PROT, true),
    ("pkey_mprotect", "prot", MMAP_PROT, true),
    ("security_mmap_file", "prot", MMAP_PROT, true),
    ("do_mmap", "prot", MMAP_PROT, true),
    ("do_mmap", "mmap_flags", MMAP_FLAGS, true),
    ("security_file_mprotect", "prot", MMAP_PROT, true),
    ("security_file_mprotect", "prev_prot", MMAP_PROT, true),
    ("mem_prot_alert", "alert", MEM_PROT_ALERT, true),
    ("mem_prot_alert", "prot", MMAP_PROT, true),
    ("mem_prot_alert", "prev_prot", MMAP_PROT, true),
    ("clone", "flags", CLONE_FLAGS, true),
    ("unshare", "flags", CLONE_FLAGS, false),
    ("setns", "nstype", NAMESPACE_TYPE, true),
    ("access", "mode", ACCESS_MODE, true),
    ("faccessat", "mode", ACCESS_MODE, true),
    ("faccessat", "flags", FACCESSAT_FLAGS, true),
    ("faccessat2", "mode", ACCESS_MODE, false),
    ("faccessat2", "flag", FACCESSAT_FLAGS, false),
    ("execveat", "flags", EXECVEAT_FLAGS, true),
    ("cap_capable", "cap", CAPABILITY, true),
    ("prctl", "option", PRCTL_OPTION, true),
    ("security_task_prctl", "option", PRCTL_OPTION, true),
    ("bpf", "cmd", BPF_COMMAND, true),
    ("security_bpf", "cmd", BPF_COMMAND, true),
    ("security_bpf_prog", "type", BPF_PROG_TYPE, true),
    ("ptrace", "request", PTRACE_REQUEST, true),
    ("socket", "domain", SOCKET_DOMAIN, true),
    ("socket", "type", SOCKET_TYPE, true),
    ("socketpair", "domain", SOCKET_DOMAIN, false),
    ("socketpair", "type", SOCKET_TYPE, false),
    ("security_socket_create", "family", SOCKET_DOMAIN, true),
    ("security_socket_create", "type", SOCKET_TYPE, true),
    ("security_socket_connect", "type", SOCKET_TYPE, true),
    ("setsockopt", "level", SOCKET_LEVEL, true),
    ("getsockopt", "level", SOCKET_LEVEL, true),
    ("security_socket_setsockopt", "level", SOCKET_LEVEL, true),
    ("security_kernel_read_file", "type", KERNEL_READ_TYPE, true),
    (
        "security_kernel_post_read_file",
        "type",
        KERNEL_READ_TYPE,
        true,
    ),
    ("security_path_notify", "mask", FSNOTIFY_MASK, true),
    ("security_path_notify", "obj_type", FSNOTIFY_OBJ_TYPE, true),
    ("kill", "sig", SIGNAL, false),
    ("tkill", "sig", SIGNAL, false),
    ("tgkill", "sig", SIGNAL, false),
    ("rt_sigqueueinfo", "sig", SIGNAL, false),
    ("rt_tgsigqueueinfo", "sig", SIGNAL, false),
    ("pidfd_send_signal", "sig", SIGNAL, false),
    ("do_sigaction", "sig", SIGNAL, false),
    ("fcntl", "cmd", FCNTL_CMD, false),
    (ANY, "dirfd", DIRFD, false),
    (ANY, "olddirfd", DIRFD, false),
    (ANY, "newdirfd", DIRFD, false),
    (ANY, "dfd", DIRFD, false),
    (ANY, "from_dfd", DIRFD, false),
    (ANY, "to_dfd", DIRFD, false),
];

/// (event, argument) -> (kind, Tracee's too).
type ArgKinds = HashMap<(&'static str, &'static str), (Kind, bool)>;

static BY_ARG: LazyLock<ArgKinds> = LazyLock::new(|| {
    ARGS.iter()
        .map(|(event, arg, kind, tracee)| ((*event, *arg), (*kind, *tracee)))
        .collect()
});

/// The decoder of `event`'s argument `arg` in `mode`, if any.
pub fn kind_of(event: &str, arg: &str, mode: Mode) -> Option<Kind> {
    let (kind, tracee) = BY_ARG
        .get(&(event, arg))
        .or_else(|| BY_ARG.get(&(ANY, arg)))?;
    (*tracee || mode == Mode::Table).then_some(*kind)
}

/// A decoded value, and whether its type becomes `string` (in Tracee's JSON a decoded
/// number does; a pointer shown in hex keeps its type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub retyped: bool,
}

/// `event`'s argument `def` with value `value` decoded in `mode`: its names, a pointer in
/// hex; None leaves the value as it is.
pub fn decode(event: &str, def: &ArgDef, value: &ArgValue, mode: Mode) -> Option<Decoded> {
    if def.ty == ArgType::Pointer {
        let p = match value {
            ArgValue::UInt(p) => *p,
            ArgValue::Int(p) => *p as u64,
            _ => return None,
        };
        return Some(Decoded {
            text: format!("0x{p:x}"),
            retyped: false,
        });
    }
    let kind = kind_of(event, def.name, mode)?;
    // The argument's own width: an int32 of -1 is 0xffffffff, not 64 set bits.
    let (raw, signed) = match (value, def.ty) {
        (ArgValue::Int(v), ArgType::Int(w)) => (*v as u64 & mask(w), *v),
        (ArgValue::UInt(v), ArgType::UInt(w)) => (v & mask(w), *v as i64),
        (ArgValue::Int(v), _) => (*v as u64, *v),
        (ArgValue::UInt(v), _) => (*v, *v as i64),
        _ => return None,
    };
    let text = render(kind, raw, signed)?;
    Some(Decoded {
        text,
        retyped: true,
    })
}

fn mask(width: u8) -> u64 {
    match width {
        1..=7 => (1u64 << (u32::from(width) * 8)) - 1,
        _ => u64::MAX,
    }
}

/// `raw` (the argument's bits) as `kind` writes it; `signed` is the number to show when no
/// name fits an enumeration.
pub fn render(kind: Kind, raw: u64, signed: i64) -> Option<String> {
    Some(match kind {
        Kind::Enum { names, other } => match name_of(names, raw) {
            Some(name) => name.to_owned(),
            None => other.map_or_else(|| signed.to_string(), str::to_owned),
        },
        Kind::Flags { names, zero } => {
            if raw == 0 {
                zero.to_owned()
            } else {
                let mut out = String::new();
                let rest = flag_names(&mut out, names, raw);
                finish(out, rest)
            }
        }
        Kind::Open => {
            let mut out = name_of(OPEN_ACCESS, raw & 3).unwrap_or_default().to_owned();
            let rest = flag_names(&mut out, OPEN, raw & !3);
            finish(out, rest)
        }
        Kind::InodeMode => inode_mode(raw),
        Kind::SocketType => {
            let mut out = match name_of(SOCKET_TYPES, raw & 0xf) {
                Some(name) => name.to_owned(),
                None => format!("{}", raw & 0xf),
            };
            let rest = flag_names(&mut out, SOCKET_TYPE_FLAGS, raw & !0xf);
            finish(out, rest)
        }
        Kind::MmapFlags => {
            const HUGE_SHIFT: u32 = 26;
            let mut out = String::new();
            let rest = flag_names(&mut out, MMAP, raw & ((1 << HUGE_SHIFT) - 1));
            let huge = (raw >> HUGE_SHIFT) & 0x3f;
            if huge != 0 {
                // log2 of the page size: MAP_HUGE_2MB, MAP_HUGE_1GB.
                let units = ["", "K", "M", "G", "T", "P", "E"];
                let unit = units.get((huge / 10) as usize).copied().unwrap_or("E");
                push(
                    &mut out,
                    &format!("MAP_HUGE_{}{unit}B", 1u64 << (huge % 10)),
                );
            }
            let rest = rest | (raw & !((1 << (HUGE_SHIFT + 6)) - 1));
            if out.is_empty() && rest == 0 {
                "0".to_owned()
            } else {
                finish(out, rest)
            }
        }
        Kind::Dirfd => {
            if signed as i32 == -100 {
                "AT_FDCWD".to_owned()
            } else {
                return None;
            }
        }
    })
}

fn name_of(names: Names, value: u64) -> Option<&'static str> {
    names.iter().find(|(v, _)| *v == value).map(|(_, n)| *n)
}

fn push(out: &mut String, name: &str) {
    if !out.is_empty() {
        out.push('|');
    }
    out.push_str(name);
}

/// Appends the name of every entry whose bits are all in `value`; returns the bits no
/// entry named.
fn flag_names(out: &mut String, names: Names, value: u64) -> u64 {
    let mut named = 0;
    for (bits, name) in names {
        if *bits != 0 && value & bits == *bits {
            push(out, name);
            named |= bits;
        }
    }
    value & !named
}

/// The names, then the unnamed bits in hex.
fn finish(mut out: String, rest: u64) -> String {
    if rest != 0 {
        if !out.is_empty() {
            out.push('|');
        }
        let _ = write!(out, "0x{rest:x}");
    }
    out
}

fn inode_mode(raw: u64) -> String {
    if raw == 0 {
        return "0".to_owned();
    }
    let mut out = String::new();
    let file_type = raw & 0o170000;
    let mut rest = raw & !0o170000;
    if file_type != 0 {
        match name_of(FILE_TYPES, file_type) {
            Some(name) => push(&mut out, name),
            None => rest |= file_type,
        }
    }
    for (all, all_name, each) in PERMISSIONS {
        if raw & all == all {
            push(&mut out, all_name);
        } else {
            flag_names(&mut out, each, raw & all);
        }
        rest &= !all;
    }
    rest = flag_names(&mut out, MODE_SPECIAL, rest);
    finish(out, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(kind: Kind, raw: u64) -> String {
        render(kind, raw, raw as i64).unwrap_or_else(|| "<none>".to_owned())
    }

    #[test]
    fn open_flags() {
        assert_eq!(r(OPEN_FLAGS, 0), "O_RDONLY");
        assert_eq!(r(OPEN_FLAGS, 0o101), "O_WRONLY|O_CREAT");
        // 34817 = 0o104001: what a table printed before.
        assert_eq!(r(OPEN_FLAGS, 34817), "O_WRONLY|O_NONBLOCK|O_LARGEFILE");
        assert_eq!(
            r(OPEN_FLAGS, 0o2 | 0o1000 | 0o2000000),
            "O_RDWR|O_TRUNC|O_CLOEXEC"
        );
        // O_SYNC carries O_DSYNC's bit, O_TMPFILE O_DIRECTORY's: named with them, as Tracee.
        assert_eq!(r(OPEN_FLAGS, 0o4010000), "O_RDONLY|O_DSYNC|O_SYNC");
        assert_eq!(r(OPEN_FLAGS, 0o20200002), "O_RDWR|O_DIRECTORY|O_TMPFILE");
        assert_eq!(r(OPEN_FLAGS, 0x4000_0001), "O_WRONLY|0x40000000");
    }

    #[test]
    fn file_modes() {
        assert_eq!(r(FILE_MODE, 0), "0");
        assert_eq!(
            r(FILE_MODE, 0o100644),
            "S_IFREG|S_IRUSR|S_IWUSR|S_IRGRP|S_IROTH"
        );
        assert_eq!(
            r(FILE_MODE, 0o40755),
            "S_IFDIR|S_IRWXU|S_IRGRP|S_IXGRP|S_IROTH|S_IXOTH"
        );
        assert_eq!(r(FILE_MODE, 0o777), "S_IRWXU|S_IRWXG|S_IRWXO");
        assert_eq!(r(FILE_MODE, 0o10600), "S_IFIFO|S_IRUSR|S_IWUSR");
        assert_eq!(
            r(FILE_MODE, 0o104755),
            "S_IFREG|S_IRWXU|S_IRGRP|S_IXGRP|S_IROTH|S_IXOTH|S_ISUID"
        );
        // 0o170000 is no file type: kept as bits.
        assert_eq!(r(FILE_MODE, 0o170000), "0xf000");
        assert_eq!(r(FILE_MODE, 0o1000000), "0x40000");
    }

    #[test]
    fn mmap_prot_and_flags() {
        assert_eq!(r(MMAP_PROT, 0), "PROT_NONE");
        assert_eq!(r(MMAP_PROT, 5), "PROT_READ|PROT_EXEC");
        assert_eq!(
            r(MMAP_PROT, 0x7 | 0x100),
            "PROT_READ|PROT_WRITE|PROT_EXEC|0x100"
        );
        assert_eq!(r(MMAP_FLAGS, 0), "0");
        assert_eq!(r(MMAP_FLAGS, 0x22), "MAP_PRIVATE|MAP_ANONYMOUS");
        assert_eq!(r(MMAP_FLAGS, 0x812), "MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE");
        assert_eq!(
            r(MMAP_FLAGS, 0x40022 | (21 << 26)),
            "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|MAP_HUGE_2MB"
        );
        assert_eq!(
            r(MMAP_FLAGS, 0x40000 | (30 << 26)),
            "MAP_HUGETLB|MAP_HUGE_1GB"
        );
        assert_eq!(r(MMAP_FLAGS, 0x2 | 0x8), "MAP_PRIVATE|0x8");
        assert_eq!(r(MMAP_FLAGS, 1 << 40), "0x10000000000");
    }

    #[test]
    fn clone_and_namespace_flags() {
        assert_eq!(r(CLONE_FLAGS, 0), "0");
        assert_eq!(
            r(CLONE_FLAGS, 0x0120_0011),
            "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|0x11"
        );
        assert_eq!(
            r(CLONE_FLAGS, 0x3d0f00),
            "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID"
        );
        assert_eq!(r(CLONE_FLAGS, 0x1_0000_0000), "0x100000000");
        assert_eq!(r(NAMESPACE_TYPE, 0x4000_0000), "CLONE_NEWNET");
        assert_eq!(r(NAMESPACE_TYPE, 0x2002_0000), "CLONE_NEWNS|CLONE_NEWPID");
    }

    #[test]
    fn enumerations() {
        assert_eq!(r(CAPABILITY, 21), "CAP_SYS_ADMIN");
        assert_eq!(r(CAPABILITY, 0), "CAP_CHOWN");
        assert_eq!(r(CAPABILITY, 41), "41");
        assert_eq!(r(PRCTL_OPTION, 15), "PR_SET_NAME");
        assert_eq!(r(PRCTL_OPTION, 0x5961_6d61), "PR_SET_PTRACER");
        assert_eq!(r(PRCTL_OPTION, 0), "0");
        assert_eq!(r(BPF_COMMAND, 5), "BPF_PROG_LOAD");
        assert_eq!(r(BPF_COMMAND, 37), "37");
        assert_eq!(r(BPF_PROG_TYPE, 29), "BPF_PROG_TYPE_LSM");
        assert_eq!(r(BPF_PROG_TYPE, 99), "BPF_PROG_TYPE_UNSPEC");
        assert_eq!(r(PTRACE_REQUEST, 3), "PTRACE_PEEKUSER");
        assert_eq!(r(PTRACE_REQUEST, 0x4206), "PTRACE_SEIZE");
        assert_eq!(r(SOCKET_DOMAIN, 10), "AF_INET6");
        assert_eq!(r(SOCKET_DOMAIN, 99), "99");
        assert_eq!(r(SOCKET_LEVEL, 1), "SOL_SOCKET");
        assert_eq!(r(SOCKET_LEVEL, 0), "SOL_IP");
        assert_eq!(r(SIGNAL, 9), "SIGKILL");
        assert_eq!(r(SIGNAL, 0), "0");
        assert_eq!(r(SIGNAL, 34), "34");
        assert_eq!(r(FCNTL_CMD, 1030), "F_DUPFD_CLOEXEC");
        assert_eq!(r(FCNTL_CMD, 4), "F_SETFL");
        assert_eq!(r(KERNEL_READ_TYPE, 2), "kernel-module");
        assert_eq!(r(KERNEL_READ_TYPE, 9), "unknown");
        assert_eq!(r(MEM_PROT_ALERT, 1), "Mmaped region with W+E permissions!");
        assert_eq!(r(FSNOTIFY_OBJ_TYPE, 1), "FSNOTIFY_OBJ_TYPE_VFSMOUNT");
        // An unknown negative value shows as the number it was.
        assert_eq!(render(CAPABILITY, 0xffff_ffff, -1).as_deref(), Some("-1"));
    }

    #[test]
    fn sockets_access_and_at_flags() {
        assert_eq!(r(SOCKET_TYPE, 1), "SOCK_STREAM");
        assert_eq!(
            r(SOCKET_TYPE, 2 | 0o4000 | 0o2000000),
            "SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC"
        );
        assert_eq!(r(SOCKET_TYPE, 7 | 0x100), "7|0x100");
        assert_eq!(r(ACCESS_MODE, 0), "F_OK");
        assert_eq!(r(ACCESS_MODE, 6), "W_OK|R_OK");
        assert_eq!(r(ACCESS_MODE, 9), "X_OK|0x8");
        assert_eq!(r(FACCESSAT_FLAGS, 0), "0");
        assert_eq!(r(FACCESSAT_FLAGS, 0x300), "AT_EACCESS|AT_SYMLINK_NOFOLLOW");
        assert_eq!(r(EXECVEAT_FLAGS, 0x1000), "AT_EMPTY_PATH");
        assert_eq!(r(FCHMODAT_FLAGS, 0x100), "AT_SYMLINK_NOFOLLOW");
        assert_eq!(r(FSNOTIFY_MASK, 0x4000_0100), "FS_CREATE|FS_ISDIR");
        assert_eq!(r(FSNOTIFY_MASK, 0x8000_0000), "0x80000000");
    }

    #[test]
    fn dirfd_is_named_only_for_the_cwd() {
        assert_eq!(
            render(DIRFD, (-100i64) as u64, -100).as_deref(),
            Some("AT_FDCWD")
        );
        assert_eq!(render(DIRFD, 3, 3), None);
    }

    fn def(name: &'static str, ty: ArgType) -> ArgDef {
        ArgDef {
            name,
            type_name: "int32",
            ty,
        }
    }

    /// The argument table: by event and name, Tracee's rows in both modes, ours only in
    /// the table, the argument's width respected.
    #[test]
    fn arguments_find_their_decoder() {
        let flags = def("flags", ArgType::Int(4));
        let got = decode("openat", &flags, &ArgValue::Int(0o101), Mode::Tracee);
        assert_eq!(
            got,
            Some(Decoded {
                text: "O_WRONLY|O_CREAT".into(),
                retyped: true
            })
        );
        // The same name in another event is another number.
        assert_eq!(
            decode("sendto", &flags, &ArgValue::Int(0o101), Mode::Table),
            None
        );
        let dirfd = def("dirfd", ArgType::Int(4));
        let cwd = ArgValue::Int(-100);
        assert_eq!(decode("openat", &dirfd, &cwd, Mode::Tracee), None);
        assert_eq!(
            decode("openat", &dirfd, &cwd, Mode::Table).map(|d| d.text),
            Some("AT_FDCWD".into())
        );
        let sig = def("sig", ArgType::Int(4));
        assert_eq!(decode("kill", &sig, &ArgValue::Int(15), Mode::Tracee), None);
        assert_eq!(
            decode("kill", &sig, &ArgValue::Int(15), Mode::Table).map(|d| d.text),
            Some("SIGTERM".into())
        );
        // A negative int32 is its 32 bits, not 64.
        assert_eq!(
            decode("openat", &flags, &ArgValue::Int(-1), Mode::Table).map(|d| d.text),
            Some("O_ACCMODE|O_CREAT|O_EXCL|O_NOCTTY|O_TRUNC|O_APPEND|O_NONBLOCK|O_DSYNC|O_SYNC|FASYNC|O_DIRECT|O_LARGEFILE|O_DIRECTORY|O_NOFOLLOW|O_NOATIME|O_CLOEXEC|O_PATH|O_TMPFILE|0xff80003c".into())
        );
        let ptr = ArgDef {
            name: "addr",
            type_name: "trace.Pointer",
            ty: ArgType::Pointer,
        };
        assert_eq!(
            decode("mmap", &ptr, &ArgValue::UInt(0x7f00_1000), Mode::Tracee),
            Some(Decoded {
                text: "0x7f001000".into(),
                retyped: false
            })
        );
        // Every row names an argument the catalog has, with a number for a value.
        for (event, arg, _, _) in ARGS {
            if *event == ANY {
                continue;
            }
            let found = schema::catalog::event(event).and_then(|e| e.arg(arg));
            assert!(
                found.is_some_and(|a| matches!(a.ty, ArgType::Int(_) | ArgType::UInt(_))),
                "{event}.{arg}"
            );
        }
    }
}
