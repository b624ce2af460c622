/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The record header: who did it, where, when. Read only for events that passed the scope
 * (and, for syscalls, the filters on their arguments and return value).
 * Inline, not a global function: on CPUs with return-thunk mitigations (SRSO "Safe RET")
 * every call and return in the hot path costs tens of ns.
 */
#ifndef TRACEE_CONTEXT_BPF_H
#define TRACEE_CONTEXT_BPF_H

#include "tracee.bpf.h"

/* The bookkeeping of a new event: everything but the context, so the rule filters that need
 * no context (arguments, return value) can turn the event away before it is read. */
static __always_inline void reset_event(struct pending *p, __u32 event, __u32 syscall)
{
	struct event_record *r = &p->rec;

	p->event = event;
	p->state = PENDING_NONE;
	p->used = 0;
	p->magic_len = 0;
	p->unlink_known = 0;
	p->anchors_met = 0;
	p->key_slot = 0;
	for (int i = 0; i < MAX_ARGS; i++)
		p->str_off[i] = STR_NONE;
	/* Socket-address parts read as 0 unless a socket address of the event sets them. */
	for (int i = SOCK_PORT_SLOT; i < SOCK_IP_SLOT + SOCK_ADDR_MAX_INDEX; i++)
		p->ints[i] = 0;

	r->matched_policies = 0;
	r->event_id = event;
	r->syscall = syscall;
	r->retval = 0;
	r->args_size = 0;
	r->args_num = 0;
	r->flags = 0;
	r->generation = generation;
	r->detected_from = 0;
}

/* The context: who did it, where, when (about 20 loads and three helpers), into a record
 * header (a socket's owner keeps one for its packets, sockets.bpf.h). */
static __always_inline void fill_record(struct event_record *r)
{
	struct task_struct *task = current_task();

	r->timestamp_ns = bpf_ktime_get_boot_ns();
	r->cpu = bpf_get_smp_processor_id();
	/* Direct loads through the task's BTF pointer (the verifier guards them) instead of a
	 * helper or probe read per field: each call and return costs tens of ns here. The same
	 * values as bpf_get_current_pid_tgid, _uid_gid and _cgroup_id. */
	r->host_tid = task->pid;
	r->host_pid = task->tgid;
	struct task_struct *parent = task->real_parent;
	r->host_ppid = parent->tgid;
	r->uid = task->cred->uid.val;
	r->thread_start_ns = task->start_boottime;
	r->exec_id = (__u32)task->self_exec_id;
	r->pad2 = 0;
	/* Numbers in the task's own pid namespace; in the host's (level 0) they are the host's. */
	struct pid *tpid = task->thread_pid;
	if (tpid->level == 0) {
		r->tid = task->pid;
		r->pid = task->tgid;
	} else {
		r->tid = ns_nr(tpid);
		r->pid = ns_nr(task->group_leader->thread_pid);
	}
	struct pid *ppid = parent->thread_pid;
	r->ppid = ppid->level == 0 ? parent->tgid : ns_nr(ppid);
	struct nsproxy *ns = task->nsproxy;
	r->mntns = ns->mnt_ns->ns.inum;
	r->pidns = ns->pid_ns_for_children->ns.inum;
	r->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	__builtin_memset(r->uts, 0, sizeof(r->uts));
	bpf_probe_read_kernel_str(r->uts, sizeof(r->uts), ns->uts_ns->name.nodename);
}

static __always_inline void fill_context(struct pending *p)
{
	fill_record(&p->rec);
}

static __always_inline int begin_event(struct pending *p, __u32 event, __u32 syscall)
{
	if (!p)
		return 0;
	reset_event(p, event, syscall);
	fill_context(p);
	return 0;
}

/*
 * The start of an event built from a syscall's pending record (security_socket_connect,
 * magic_write, ...): is it selected, and by which of the policies whose scope admitted the
 * syscall. Fills *candidates and returns the scratch record with its header begun, or NULL
 * when the event goes no further.
 */
static __always_inline struct pending *begin_derived(struct pending *sys, __u32 id,
						     struct event_config **ev, __u64 *candidates)
{
	*ev = bpf_map_lookup_elem(&events, &id);
	if (!*ev)
		return 0;
	*candidates = sys->scope & (*ev)->policies;
	if (!*candidates)
		return 0;
	struct pending *q = scratch_event(SCRATCH_FILE_OPEN);
	if (q)
		begin_event(q, id, sys->event);
	return q;
}

/* output.bpf.c: may a detection built from this record still match on its arguments? */
int detect_may(struct pending *p, struct event_config *ev, __u64 policies);

/* The rest of an event begun without its context (security_file_open): its policies whose
 * rules pass on the arguments, 0 when neither they nor a detection can take it (then the
 * context is never read). */
static __always_inline __u64 derived_context(struct pending *q, struct event_config *ev,
					     __u32 id, __u64 candidates)
{
	__u64 pass = rules_eval(q, ev, id, candidates, RULES_ARGS);
	if (!(pass & ~ev->detect_only) && !detect_may(q, ev, candidates & ev->detect))
		return 0;
	fill_context(q);
	return pass;
}

/* The common start of an event from its own hook (sched, task, cgroup tracepoints): is it selected, does the scope admit the task. Fills
 * the record header; NULL when the event goes no further. */
static __always_inline struct pending *start_event(__u32 id, struct event_config **ev,
						   __u64 *scope, const int audit)
{
	*ev = bpf_map_lookup_elem(&events, &id);
	if (!*ev || !decide(HANDOFF_SCHED, id))
		return 0;
	*scope = scope_eval((*ev)->policies);
	if (!*scope && !audit)
		return 0;
	struct pending *p = scratch_event(SCRATCH_EVENT);
	if (p)
		begin_event(p, id, NO_SYSCALL);
	return p;
}

#endif /* TRACEE_CONTEXT_BPF_H */
