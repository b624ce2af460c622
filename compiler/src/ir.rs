//! The validated policies: every key resolved, every value parsed into its type. This is
//! what lowering (into map contents) consumes; spans are kept for its diagnostics.

use schema::catalog::{ArgDef, EventDef};

use crate::source::FileId;
use crate::yaml::ByteSpan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub const ALL: [Op; 6] = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    pub fn is_equality(self) -> bool {
        matches!(self, Op::Eq | Op::Ne)
    }
}

/// How a string value matches: `*` at the start and/or end of a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StrMatch {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// Integers of every width and signedness (i128 holds both i64 and u64).
    Int(i128),
    Str(StrMatch),
    Bool(bool),
    /// `pid=new`, `container=new`: started after the loader.
    New,
    /// `container=started`: past its entrypoint.
    Started,
    /// `executable=[host:|MNTNS:]/path`.
    Executable {
        mount_ns: MountNs,
        path: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MountNs {
    Any,
    Host,
    Id(u32),
}

/// One `KEY OP VALUE,VALUE...` entry, after parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter<K> {
    pub key: K,
    pub op: Op,
    pub values: Vec<Value>,
    pub span: ByteSpan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKey {
    Uid,
    Pid,
    MntNs,
    PidNs,
    Uts,
    Comm,
    /// Bare `container` is `Filter { op: Eq, values: [] }`.
    Container,
    NotContainer,
    Tree,
    Executable,
    Follow,
}

/// Context fields a rule may filter on (aliases resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextField {
    Timestamp,
    ProcessorId,
    Pid,
    Tid,
    Ppid,
    HostTid,
    HostPid,
    HostPpid,
    Uid,
    MntNs,
    PidNs,
    Comm,
    HostName,
    CgroupId,
    Container,
    Host,
    ContainerId,
    ContainerImage,
    ContainerImageDigest,
    ContainerName,
    PodName,
    PodNamespace,
    PodUid,
    PodSandbox,
    Syscall,
}

impl ContextField {
    /// Container and pod metadata: known to the container runtime, not to the kernel.
    pub fn from_container_runtime(self) -> bool {
        matches!(
            self,
            ContextField::ContainerId
                | ContextField::ContainerImage
                | ContextField::ContainerImageDigest
                | ContextField::ContainerName
                | ContextField::PodName
                | ContextField::PodNamespace
                | ContextField::PodUid
                | ContextField::PodSandbox
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RuleField {
    Context(ContextField),
    /// `args.NAME` / `data.NAME`: the argument at `index` of the rule's event.
    Arg {
        index: usize,
        def: &'static ArgDef,
    },
    Retval,
    /// A detector's `getEventData("NAME") % N` (N a power of two): the integer argument at
    /// `index` ANDed with `mask` (N - 1). Detector conditions only (`args.NAME%N`).
    ArgMasked {
        index: usize,
        def: &'static ArgDef,
        mask: u32,
    },
    /// `args.NAME.PART` of a packet event's structure the kernel reads a string from
    /// (`http_request.method`): in string slot `slot` (schema::hooks::PACKET_PARTS).
    Part {
        def: &'static ArgDef,
        part: &'static str,
        slot: u16,
    },
    /// `args.NAME.port`, `.ip`, `.path`: a part of the socket address argument at `index`.
    SockAddr {
        index: usize,
        def: &'static ArgDef,
        part: SockPart,
    },
}

/// The parts of a socket address the kernel filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SockPart {
    /// The port of an IPv4 or IPv6 address (0 for other families).
    Port,
    /// An IPv4 address, as a number in network order (`10.0.0.1` is 0x0a000001); 0 for
    /// other families.
    Ip,
    /// A unix socket's path (absent for other families).
    Path,
}

impl SockPart {
    /// As a filter names it, with the older spellings of Tracee's JSON (`sin_port`, ...).
    pub fn parse(name: &str) -> Option<SockPart> {
        match name {
            "port" | "sin_port" | "sin6_port" => Some(SockPart::Port),
            "ip" | "addr" | "sin_addr" => Some(SockPart::Ip),
            "path" | "sun_path" => Some(SockPart::Path),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SockPart::Port => "port",
            SockPart::Ip => "ip",
            SockPart::Path => "path",
        }
    }

    /// The rule field id of the part, for the socket address at `index`: slots past every
    /// event's own arguments (schema::abi::SOCK_PORT_SLOT, SOCK_IP_SLOT, SOCK_PATH_FIELD).
    pub fn slot(self, index: usize) -> u16 {
        let base = match self {
            SockPart::Port => schema::abi::SOCK_PORT_SLOT,
            SockPart::Ip => schema::abi::SOCK_IP_SLOT,
            SockPart::Path => schema::abi::SOCK_PATH_FIELD,
        };
        base + index as u16
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub event: &'static EventDef,
    pub filters: Vec<Filter<RuleField>>,
    pub actions: Vec<Action>,
    pub span: ByteSpan,
}

/// A rule naming a detector (`event: anti_debugging`, or one member of a threat selection):
/// its detections, for this policy, with the policy's own (context) filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The detector's produced event name (`crate::detectors::Known::detector`).
    pub detector: String,
    pub filters: Vec<Filter<RuleField>>,
    pub actions: Vec<Action>,
    pub span: ByteSpan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Log,
    Print,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Position in load order: the policy's bit in the kernel's 64-bit bitmap.
    pub id: usize,
    pub name: String,
    pub description: String,
    pub file: FileId,
    pub name_span: ByteSpan,
    /// `scope: [global]`.
    pub global: bool,
    pub scope: Vec<Filter<ScopeKey>>,
    pub default_actions: Vec<Action>,
    pub rules: Vec<Rule>,
    pub detections: Vec<Detection>,
}

/// At most this many policies: one bit each in a u64.
pub const MAX_POLICIES: usize = 64;
