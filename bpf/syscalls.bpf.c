// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Syscall events. Two ways in, chosen by the compiler (image meta "probes"):
 *   - per-syscall tracepoints (syscalls/sys_enter_X, sys_exit_X): only the traced syscalls
 *     pay; the loader attaches the same program to each;
 *   - the generic tp_btf sys_enter/sys_exit hooks: one attachment, every syscall pays.
 * Arguments in user memory are read at entry and parked in task storage; the event is
 * emitted at exit, so `retval` filters work. Integer-only syscalls need no entry hook:
 * their registers are still in pt_regs at exit.
 */
#include "tracee.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ENTRY_FLAGS (EVENT_FLAG_ENTRY | EVENT_FLAG_EMIT_AT_ENTRY)

static __always_inline void raw_args(struct pending *p, struct pt_regs *regs)
{
	p->ints[0] = BPF_CORE_READ(regs, di);
	p->ints[1] = BPF_CORE_READ(regs, si);
	p->ints[2] = BPF_CORE_READ(regs, dx);
	p->ints[3] = BPF_CORE_READ(regs, r10);
	p->ints[4] = BPF_CORE_READ(regs, r8);
	p->ints[5] = BPF_CORE_READ(regs, r9);
}

static __always_inline int syscall_enter(__u32 nr, struct pt_regs *regs)
{
	struct event_config *ev = bpf_map_lookup_elem(&events, &nr);
	int path_arg = open_path_arg(nr);
	struct event_config *fo = 0;
	if (path_arg != -2) {
		__u32 id = EVENT_SECURITY_FILE_OPEN;
		fo = bpf_map_lookup_elem(&events, &id);
	}
	if (!fo && (!ev || !(ev->flags & ENTRY_FLAGS)))
		return 0;
	__u64 scope = scope_eval((ev ? ev->policies : 0) | (fo ? fo->policies : 0));
	if (!scope)
		return 0;

	if (ev && (ev->flags & EVENT_FLAG_EMIT_AT_ENTRY)) {
		struct pending *p = scratch_event(SCRATCH_EVENT);
		if (!p)
			return 0;
		begin_event(p, nr, nr);
		raw_args(p, regs);
		capture_syscall_args(p, ev);
		return emit(p, rules_eval(p, nr, scope));
	}
	struct pending *p = bpf_task_storage_get(&pending_store, bpf_get_current_task_btf(), 0,
						 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p)
		return 0;
	begin_event(p, nr, nr);
	raw_args(p, regs);
	if (ev)
		capture_syscall_args(p, ev);
	else if (path_arg >= 0 && path_arg < ABI_MAX_SYSCALL_ARGS)
		put_user_str(p, path_arg, p->ints[path_arg]);
	p->scope = scope;
	p->state = PENDING_ARMED;
	return 0;
}

static __always_inline int syscall_exit(__u32 nr, long ret, struct pt_regs *regs)
{
	struct pending *p = bpf_task_storage_get(&pending_store, bpf_get_current_task_btf(), 0, 0);
	if (p && p->state == PENDING_ARMED) {
		p->state = PENDING_NONE;
		if (p->event == nr) {
			struct event_config *ev = bpf_map_lookup_elem(&events, &nr);
			if (ev && (p->scope & ev->policies)) {
				p->rec.retval = ret;
				emit(p, rules_eval(p, nr, p->scope));
			}
			if (ret >= 0 && open_path_arg(nr) != -2)
				file_open_event(p, ret);
			return 0;
		}
	}
	struct event_config *ev = bpf_map_lookup_elem(&events, &nr);
	if (!ev || (ev->flags & ENTRY_FLAGS))
		return 0;
	__u64 scope = scope_eval(ev->policies);
	if (!scope)
		return 0;
	p = scratch_event(SCRATCH_EVENT);
	if (!p)
		return 0;
	begin_event(p, nr, nr);
	raw_args(p, regs);
	capture_syscall_args(p, ev);
	p->rec.retval = ret;
	return emit(p, rules_eval(p, nr, scope));
}

/* ---- generic hooks ---- */

SEC("tp_btf/sys_enter")
int BPF_PROG(tr_sys_enter, struct pt_regs *regs, long id)
{
	return syscall_enter(id, regs);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tr_sys_exit, struct pt_regs *regs, long ret)
{
	return syscall_exit(BPF_CORE_READ(regs, orig_ax), ret, regs);
}

/* ---- per-syscall tracepoints (the format of every syscalls/sys_{enter,exit}_X) ---- */

struct syscall_enter_ctx {
	__u64 common;
	int nr;
	__u32 pad;
	__u64 args[6];
};

struct syscall_exit_ctx {
	__u64 common;
	int nr;
	__u32 pad;
	long ret;
};

SEC("tracepoint")
int tr_tp_enter(struct syscall_enter_ctx *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return syscall_enter(ctx->nr, regs);
}

SEC("tracepoint")
int tr_tp_exit(struct syscall_exit_ctx *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return syscall_exit(ctx->nr, ctx->ret, regs);
}
