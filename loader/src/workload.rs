//! Who an event's process is, for the output: its container and pod (the runtime state
//! `containers::Resolver` reads, cached per cgroup) and the path of its executable (cached
//! per program image of a thread). After the first event of a cgroup and of a thread image,
//! an event costs two hash lookups; events outside containers share one `NotContainer`.
//!
//! The executable is read when a thread image is first seen, from the binary the kernel
//! recorded for the process at its exec (inherited at fork; seeded from /proc at start for
//! the processes already running in the loader's mount namespace): its task storage, looked
//! up through a pidfd, which needs no capability (reading `/proc/PID/exe` of another
//! process needs CAP_SYS_PTRACE, which the loader does not keep). The kernel names the
//! image in each record (host thread id, thread start time, exec count), so a reused pid or
//! a later exec is a new cache entry, and the storage says which exec recorded its binary:
//! a record of a program the process has since replaced gets no path, never the later
//! program's. A process reaped by then (short-lived, and its records still queued) has no
//! path either, except in its own `sched_process_exec` event, whose `pathname` is the new
//! image's.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use libbpf_rs::{MapCore, MapFlags, MapHandle};

use schema::record::{ArgValue, Record};

use crate::containers::{Lookup, Resolver};

/// Entries kept before the caches start over: threads come and go, cgroup ids are never
/// reused, and a cold entry costs one readlink (or one runtime state read) again.
const MAX_ENTRIES: usize = 1 << 16;

/// One event's workload, as the printers show it.
#[derive(Debug, Clone)]
pub struct Workload {
    pub container: Rc<Lookup>,
    /// Empty when unknown.
    pub exe: Rc<str>,
}

impl Workload {
    /// No container, no executable known (reports, tests).
    pub fn none() -> Workload {
        Workload {
            container: Rc::new(Lookup::NotContainer),
            exe: Rc::from(""),
        }
    }

    /// The container's id (empty outside containers).
    pub fn container_id(&self) -> &str {
        match &*self.container {
            Lookup::NotContainer => "",
            Lookup::Unknown { id, .. } => id,
            Lookup::Found(c) => &c.id,
        }
    }
}

/// The binaries the BPF programs record per task (`pending_store`'s `exe_known`, `exe`).
pub struct ExeStore {
    map: MapHandle,
    at: crate::ExeOffsets,
}

impl ExeStore {
    pub fn new(map: MapHandle, at: crate::ExeOffsets) -> ExeStore {
        ExeStore { map, at }
    }

    /// The binary recorded for process `pid`, while it exists, if it is the one it ran at
    /// exec count `exec_id` (a record of an earlier program gets none, never a later one's).
    fn exe_of(&self, pid: u32, exec_id: u32) -> Option<String> {
        let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
        let value = self
            .map
            .lookup(&pidfd.as_raw_fd().to_le_bytes(), MapFlags::ANY)
            .ok()??;
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(value.get(at..at + 4)?.try_into().ok()?))
        };
        match word(self.at.known)? {
            crate::EXE_SEEDED => {}
            crate::EXE_AT_EXEC if word(self.at.exec_id)? == exec_id => {}
            _ => return None,
        }
        // `struct scope_exe_key`: the mount namespace, then the path.
        let path = value.get(self.at.exe + 8..self.at.exe + 8 + schema::abi::PATH_MAX)?;
        let path = schema::abi::c_str(path);
        (!path.is_empty()).then_some(path)
    }
}

/// (host thread id, exec count, thread start time): one program image of one thread.
type ThreadKey = (u32, u32, u64);

#[derive(Default)]
struct ThreadEntry {
    exe: Option<Rc<str>>,
    /// Hosts whose runtimes use cgroup v1 hierarchies: the container, per thread image
    /// (the v2 cgroup id names none there).
    container: Option<Rc<Lookup>>,
}

pub struct Workloads {
    by_cgroup: HashMap<u64, Rc<Lookup>>,
    threads: HashMap<ThreadKey, ThreadEntry>,
    outside: Rc<Lookup>,
    no_exe: Rc<str>,
    /// `sched_process_exec` and the index of its `pathname`.
    exec: Option<(u32, u8)>,
    store: Option<ExeStore>,
    /// The last answer given from the caches, and for which thread image and cgroup: events
    /// come in runs from one thread, and a run pays two comparisons instead of two hashes.
    last: Option<(ThreadKey, u64, Workload)>,
}

impl Workloads {
    /// `store`: the kernel's recorded binaries (none: executables only from exec events).
    pub fn new(store: Option<ExeStore>) -> Workloads {
        let exec = schema::catalog::event("sched_process_exec").and_then(|e| {
            let (index, _) = e.arg_index("pathname")?;
            Some((e.id, u8::try_from(index).ok()?))
        });
        Workloads {
            by_cgroup: HashMap::new(),
            threads: HashMap::new(),
            outside: Rc::new(Lookup::NotContainer),
            no_exe: Rc::from(""),
            exec,
            store,
            last: None,
        }
    }

    /// The workload of a record. The loader's own records (`existing_container`) name the
    /// loader's process, as Tracee's do Tracee's.
    pub fn of(&mut self, resolver: &mut Resolver, record: &Record) -> Workload {
        let h = &record.header;
        let key = (h.host_tid, h.exec_id, h.thread_start_ns);
        if let Some((k, cgroup, w)) = &self.last
            && *k == key
            && *cgroup == h.cgroup_id
        {
            return w.clone();
        }
        let mut from_caches = true;
        let per_thread = resolver.per_process();
        let container = if per_thread {
            self.threads
                .get(&key)
                .and_then(|t| t.container.clone())
                .unwrap_or_else(|| {
                    from_caches = false;
                    let lookup = self.shared(resolver.lookup(h.cgroup_id, h.host_pid));
                    self.thread(key).container = Some(Rc::clone(&lookup));
                    lookup
                })
        } else {
            match self.by_cgroup.get(&h.cgroup_id) {
                Some(hit) => Rc::clone(hit),
                None => {
                    from_caches = false;
                    let lookup = self.shared(resolver.lookup(h.cgroup_id, h.host_pid));
                    if resolver.is_final(h.cgroup_id) {
                        if self.by_cgroup.len() >= MAX_ENTRIES {
                            self.by_cgroup.clear();
                        }
                        self.by_cgroup.insert(h.cgroup_id, Rc::clone(&lookup));
                    }
                    lookup
                }
            }
        };
        let exe = match self.threads.get(&key).and_then(|t| t.exe.clone()) {
            Some(exe) => exe,
            None => {
                from_caches = false;
                let exe = self.read_exe(record);
                self.thread(key).exe = Some(Rc::clone(&exe));
                exe
            }
        };
        let workload = Workload { container, exe };
        // Only answers the caches hold (final ones): the next event of this thread image
        // gets what the caches would give it.
        self.last = from_caches.then(|| (key, h.cgroup_id, workload.clone()));
        workload
    }

    fn thread(&mut self, key: ThreadKey) -> &mut ThreadEntry {
        if self.threads.len() >= MAX_ENTRIES && !self.threads.contains_key(&key) {
            self.threads.clear();
        }
        self.threads.entry(key).or_default()
    }

    /// Outside containers, one shared answer (no allocation per cgroup).
    fn shared(&self, lookup: Rc<Lookup>) -> Rc<Lookup> {
        match *lookup {
            Lookup::NotContainer => Rc::clone(&self.outside),
            _ => lookup,
        }
    }

    fn read_exe(&self, record: &Record) -> Rc<str> {
        let h = &record.header;
        if let Some(path) = self
            .store
            .as_ref()
            .and_then(|s| s.exe_of(h.host_pid, h.exec_id))
        {
            return Rc::from(path.as_str());
        }
        if let Some((event, index)) = self.exec
            && h.event_id == event
            && let Some(ArgValue::Str(path)) = record
                .args
                .iter()
                .find(|a| a.index == index)
                .map(|a| &a.value)
        {
            return Rc::from(path.as_str());
        }
        Rc::clone(&self.no_exe)
    }
}
