// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The record header: who did it, where, when. Read only for events that passed the scope. */
#include "tracee.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__noinline int begin_event(struct pending *p, __u32 event, __u32 syscall)
{
	if (!p)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct event_record *r = &p->rec;
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	p->event = event;
	p->state = PENDING_NONE;
	p->used = 0;
	for (int i = 0; i < MAX_ARGS; i++)
		p->str_off[i] = STR_NONE;

	r->timestamp_ns = bpf_ktime_get_boot_ns();
	r->matched_policies = 0;
	r->event_id = event;
	r->syscall = syscall;
	r->retval = 0;
	r->cpu = bpf_get_smp_processor_id();
	r->host_tid = (__u32)pid_tgid;
	r->host_pid = pid_tgid >> 32;
	r->host_ppid = BPF_CORE_READ(task, real_parent, tgid);
	r->uid = (__u32)bpf_get_current_uid_gid();
	r->tid = ns_nr(BPF_CORE_READ(task, thread_pid));
	r->pid = ns_nr(BPF_CORE_READ(task, group_leader, thread_pid));
	r->ppid = ns_nr(BPF_CORE_READ(task, real_parent, thread_pid));
	r->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	r->pidns = BPF_CORE_READ(task, nsproxy, pid_ns_for_children, ns.inum);
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->args_size = 0;
	r->args_num = 0;
	r->flags = 0;
	r->pad0 = 0;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	__builtin_memset(r->uts, 0, sizeof(r->uts));
	struct uts_namespace *uts = BPF_CORE_READ(task, nsproxy, uts_ns);
	bpf_probe_read_kernel_str(r->uts, sizeof(r->uts), &uts->name.nodename);
	return 0;
}
