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
    /// A cgroup program attached to the cgroup v2 root (packets, socket creation).
    Cgroup(&'static str),
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
            let hook = if let Some(def) = schema::hooks::hook_def(probe) {
                let tracepoint = probe.strip_prefix("tp_btf/").unwrap_or(probe);
                match def.optional {
                    Some(lost) if !kernel_has_tracepoint(tracepoint) => {
                        plan.degraded.push(lost.to_owned());
                        continue;
                    }
                    _ if def.iterator => Hook::Iter(def.program),
                    _ if schema::hooks::is_cgroup_hook(probe) => Hook::Cgroup(def.program),
                    _ => Hook::Btf(def.program),
                }
            } else if let Some(event) = probe.strip_prefix("derived/") {
                plan.unsupported.push(event.to_owned());
                continue;
            } else {
                match probe.strip_prefix("tp/syscalls/") {
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
                }
            };
            plan.hooks.push(hook);
        }
        // The output's `executable`: every exec is recorded, and inherited at fork, in the
        // task's storage (workload.rs), whatever the image selects.
        for program in ["tr_sched_exec", "tr_sched_fork"] {
            if !plan.hooks.contains(&Hook::Btf(program)) {
                plan.hooks.push(Hook::Btf(program));
            }
        }
        Ok(plan)
    }

    /// The packet programs (cgroup hooks), which only CAP_NET_ADMIN may load.
    pub fn needs_net_admin(&self) -> bool {
        self.hooks.iter().any(|h| matches!(h, Hook::Cgroup(_)))
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
        let mut names: Vec<&'static str> = self.hooks.iter().map(|h| h.program(audit)).collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

impl Hook {
    /// The program that serves it: its audit-mode build with `audit` (bpf/tracee.bpf.h).
    pub fn program(&self, audit: bool) -> &'static str {
        use schema::hooks::{
            SYSCALL_TRACEPOINT_AUDIT_PROGRAMS as AUDIT, SYSCALL_TRACEPOINT_PROGRAMS as PLAIN,
        };
        match self {
            Hook::SyscallTracepoint { entry, .. } => {
                let (enter, exit) = if audit { AUDIT } else { PLAIN };
                if *entry { enter } else { exit }
            }
            Hook::Btf(name) | Hook::Iter(name) | Hook::Cgroup(name) => {
                let def = schema::hooks::HOOKS.iter().find(|h| h.program == *name);
                match def.and_then(|d| d.audit_program) {
                    Some(audited) if audit => audited,
                    _ => name,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every program the hook table names (and its audit build) is in the BPF object: a row
    /// of `schema::hooks` that no handler serves fails here, not on a host.
    #[test]
    fn every_hook_has_its_program_in_the_object() {
        use libbpf_rs::skel::{OpenSkel, SkelBuilder};
        let mut storage = std::mem::MaybeUninit::uninit();
        let open = match crate::skel::TraceeSkelBuilder::default().open(&mut storage) {
            Ok(open) => open,
            Err(e) => panic!("open the BPF object: {e}"),
        };
        let names: Vec<String> = open
            .open_object()
            .progs()
            .map(|p| p.name().to_string_lossy().into_owned())
            .collect();
        let (enter, exit) = schema::hooks::SYSCALL_TRACEPOINT_PROGRAMS;
        let (a_enter, a_exit) = schema::hooks::SYSCALL_TRACEPOINT_AUDIT_PROGRAMS;
        let mut wanted = vec![enter, exit, a_enter, a_exit];
        for def in schema::hooks::HOOKS {
            wanted.push(def.program);
            wanted.extend(def.audit_program);
        }
        for program in wanted {
            assert!(
                names.iter().any(|n| n == program),
                "no program `{program}`: {names:?}"
            );
        }
    }

    #[test]
    fn probes_become_hooks_and_programs() {
        let probes: Vec<String> = [
            "tp_btf/sys_exit",
            "tp/syscalls/sys_enter_openat",
            "iter/task",
            "derived/hooked_syscall",
        ]
        .map(str::to_owned)
        .to_vec();
        let plan = match Plan::from_probes(&probes) {
            Ok(plan) => plan,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(plan.unsupported, ["hooked_syscall"]);
        assert_eq!(
            plan.programs(false),
            [
                "seed_follow",
                "tr_sched_exec",
                "tr_sched_fork",
                "tr_sys_exit",
                "tr_tp_enter"
            ]
        );
        assert_eq!(
            plan.programs(true),
            [
                "seed_follow",
                "tr_a_sched_exec",
                "tr_a_sched_fork",
                "tr_a_sys_exit",
                "tr_a_tp_enter"
            ]
        );
        assert!(Plan::from_probes(&["tp_btf/nope".to_owned()]).is_err());
    }
}
