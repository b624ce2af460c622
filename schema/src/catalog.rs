//! The event catalog: every event a policy may name, with its id and its arguments.
//!
//! The table itself is generated data (`catalog_data.rs`, produced by
//! `schema/gen/gen_catalog.py` from the sources documented in `schema/gen/README.md`);
//! this module only gives it types and lookups.

#[path = "catalog_data.rs"]
mod catalog_data;

use std::collections::HashMap;
use std::sync::LazyLock;

/// How an argument's value can be compared in a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgType {
    /// Signed integer of the given width in bytes (int, long, pid_t, off_t, ...).
    Int(u8),
    /// Unsigned integer of the given width in bytes (unsigned int, size_t, dev_t, ...).
    UInt(u8),
    /// NUL-terminated string read from memory (`const char*`).
    Str,
    /// Array of strings (`const char**`: argv, envp).
    StrArray,
    /// A user-space address (`void*`, `struct stat*`, ...): compared as an unsigned 64-bit number.
    Pointer,
    /// Raw bytes (`bytes`: magic_write's buffer).
    Bytes,
    /// A socket address (`struct sockaddr*`).
    SockAddr,
    /// Boolean.
    Bool,
    /// An array of integers (`int[2]`, `unsigned long[]`).
    IntArray,
}

impl ArgType {
    /// Integer-like types take numeric values and all six operators.
    pub fn is_numeric(self) -> bool {
        matches!(self, ArgType::Int(_) | ArgType::UInt(_) | ArgType::Pointer)
    }
}

/// Where the event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A system call: arguments at entry, return value at exit.
    Syscall,
    /// A kernel tracepoint (`sched:*`).
    Tracepoint,
    /// An LSM hook (`security_*`).
    Lsm,
    /// Computed from other events (`magic_write`, `dropped_executable`).
    Derived,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgDef {
    /// Tracee's argument name (man-page style: `dirfd`, `pathname`, ...).
    pub name: &'static str,
    /// Tracee's era-1 C type string, shown to users (`const char*`).
    pub c_type: &'static str,
    pub ty: ArgType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventDef {
    /// Syscalls: the x86-64 syscall number. Others: Tracee's era-1 event id.
    pub id: u32,
    pub name: &'static str,
    pub kind: EventKind,
    pub args: &'static [ArgDef],
}

impl EventDef {
    pub fn arg(&self, name: &str) -> Option<&'static ArgDef> {
        self.args.iter().find(|a| a.name == name)
    }
}

/// Every event, in id order.
pub fn events() -> &'static [EventDef] {
    catalog_data::EVENTS
}

static BY_NAME: LazyLock<HashMap<&'static str, &'static EventDef>> =
    LazyLock::new(|| events().iter().map(|e| (e.name, e)).collect());

/// Looks an event up by its exact (case-sensitive) name.
pub fn event(name: &str) -> Option<&'static EventDef> {
    BY_NAME.get(name).copied()
}

/// Hash of every event's id, name, kind and arguments: an image refers to events by id, so
/// the loader refuses an image built against another catalog.
pub fn catalog_hash() -> u64 {
    use crate::abi::{FNV_OFFSET, fnv1a};
    let mut h = FNV_OFFSET;
    for event in events() {
        h = fnv1a(h, &event.id.to_le_bytes());
        h = fnv1a(h, event.name.as_bytes());
        h = fnv1a(h, format!("{:?}", event.kind).as_bytes());
        for arg in event.args {
            h = fnv1a(h, arg.name.as_bytes());
            h = fnv1a(h, arg.c_type.as_bytes());
            h = fnv1a(h, format!("{:?}", arg.ty).as_bytes());
        }
        h = fnv1a(h, b";");
    }
    h
}

static BY_ID: LazyLock<HashMap<u32, &'static EventDef>> =
    LazyLock::new(|| events().iter().map(|e| (e.id, e)).collect());

/// Looks an event up by its id.
pub fn event_by_id(id: u32) -> Option<&'static EventDef> {
    BY_ID.get(&id).copied()
}
