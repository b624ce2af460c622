//! What to attach: the hooks the image lists, the programs that serve them (their
//! audit-mode builds with `--audit`), and the hooks this kernel lacks.

use crate::LoadError;

/// One program attachment the image needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// A tp_btf program attached by its section name.
    Btf(&'static str),
    /// The generic tracepoint program attached to `syscalls/<name>`.
    SyscallTracepoint { entry: bool, name: String },
    /// A BPF iterator program, run (not attached) once the others are attached.
    Iter(&'static str),
}

/// What to attach, from the image's probe list, and the events this loader cannot produce.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub hooks: Vec<Hook>,
    pub unsupported: Vec<String>,
    /// Events produced with less than usual on this kernel, and why.
    pub degraded: Vec<String>,
}

/// Does the running kernel have this (BTF) tracepoint?
pub(crate) fn kernel_has_tracepoint(name: &str) -> bool {
    let Ok(btf) = libbpf_rs::btf::Btf::from_vmlinux() else {
        return false;
    };
    btf.type_by_name::<libbpf_rs::btf::types::Typedef<'_>>(&format!("btf_trace_{name}"))
        .is_some()
}

impl Plan {
    pub fn from_probes(probes: &[String]) -> Result<Plan, LoadError> {
        let mut plan = Plan::default();
        for probe in probes {
            let hook = match probe.as_str() {
                "tp_btf/sys_enter" => Hook::Btf("tr_sys_enter"),
                "tp_btf/sys_exit" => Hook::Btf("tr_sys_exit"),
                "tp_btf/sched_process_fork" => Hook::Btf("tr_sched_fork"),
                "tp_btf/sched_process_exec" => Hook::Btf("tr_sched_exec"),
                "tp_btf/sched_process_exit" => Hook::Btf("tr_sched_exit"),
                "tp_btf/cgroup_mkdir" => Hook::Btf("tr_cgroup_mkdir"),
                "iter/task" => Hook::Iter("seed_follow"),
                // Optional: only kernels with ext4 have it (security_inode_unlink's inode).
                "tp_btf/ext4_unlink_enter" => {
                    if kernel_has_tracepoint("ext4_unlink_enter") {
                        Hook::Btf("tr_ext4_unlink")
                    } else {
                        plan.degraded.push("security_inode_unlink: this kernel has no ext4_unlink_enter tracepoint, so inode, dev and ctime are 0".to_owned());
                        continue;
                    }
                }
                p if p.starts_with("derived/") => {
                    plan.unsupported.push(p["derived/".len()..].to_owned());
                    continue;
                }
                p => match p.strip_prefix("tp/syscalls/") {
                    Some(name)
                        if (name.starts_with("sys_enter_") || name.starts_with("sys_exit_"))
                            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                    {
                        Hook::SyscallTracepoint {
                            entry: name.starts_with("sys_enter_"),
                            name: name.to_owned(),
                        }
                    }
                    _ => {
                        return Err(LoadError::UnknownProbe {
                            probe: probe.clone(),
                        });
                    }
                },
            };
            plan.hooks.push(hook);
        }
        Ok(plan)
    }

    /// Per-syscall tracepoints are found through tracefs.
    pub fn needs_tracefs(&self) -> bool {
        self.hooks
            .iter()
            .any(|h| matches!(h, Hook::SyscallTracepoint { .. }))
    }

    /// The programs to load: only those something attaches (their audit-mode builds with
    /// `audit`).
    pub(crate) fn programs(&self, audit: bool) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .hooks
            .iter()
            .map(|h| match h {
                Hook::Btf(name) | Hook::Iter(name) => name,
                Hook::SyscallTracepoint { entry: true, .. } => "tr_tp_enter",
                Hook::SyscallTracepoint { entry: false, .. } => "tr_tp_exit",
            })
            .map(|name| program(name, audit))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// The programs built twice, once for audit mode (bpf/tracee.bpf.h `audit`): the program
/// to load for a hook's program in that mode.
pub(crate) const AUDIT_PROGRAMS: &[(&str, &str)] = &[
    ("tr_sys_enter", "tr_a_sys_enter"),
    ("tr_sys_exit", "tr_a_sys_exit"),
    ("tr_tp_enter", "tr_a_tp_enter"),
    ("tr_tp_exit", "tr_a_tp_exit"),
    ("tr_sched_fork", "tr_a_sched_fork"),
    ("tr_sched_exec", "tr_a_sched_exec"),
    ("tr_sched_exit", "tr_a_sched_exit"),
];

pub(crate) fn program(name: &'static str, audit: bool) -> &'static str {
    if !audit {
        return name;
    }
    AUDIT_PROGRAMS
        .iter()
        .find(|(plain, _)| *plain == name)
        .map_or(name, |(_, audited)| audited)
}
