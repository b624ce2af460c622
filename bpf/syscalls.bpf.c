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
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ENTRY_FLAGS (EVENT_FLAG_ENTRY | EVENT_FLAG_EMIT_AT_ENTRY)

/* The derived-event handlers (DERIVED_*) this object's image uses, set by the loader before
 * loading: the verifier sees it as a constant, so the code of every other handler is dead
 * code it never walks (tracee.bpf.h DERIVED_HANDLERS). */
const volatile __u64 derived_loaded = ~0ULL;

/* The registers: the tp_btf argument, or the task's saved user registers. */
static __always_inline struct pt_regs *user_regs(struct pt_regs *regs)
{
	return regs ? regs : (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* Plain loads of scalar fields through the BTF pointer: no helper call (each call and
 * return costs tens of ns with return-thunk mitigations). */
static __always_inline void raw_args(struct pending *p, struct pt_regs *regs)
{
	regs = user_regs(regs);
	p->ints[0] = regs->di;
	p->ints[1] = regs->si;
	p->ints[2] = regs->dx;
	p->ints[3] = regs->r10;
	p->ints[4] = regs->r8;
	p->ints[5] = regs->r9;
}

/* The task's record of syscall `nr`, begun with its register arguments. */
static __always_inline struct pending *task_record(__u32 nr, struct pt_regs *regs)
{
	struct pending *p = bpf_task_storage_get(&pending_store, bpf_get_current_task_btf(), 0,
						 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p)
		return 0;
	if (p->state == PENDING_ARMED && p->generation == generation)
		count_inflight(-1); /* its exit was never seen */
	reset_event(p, nr, nr);
	raw_args(p, regs);
	return p;
}

static __always_inline struct syscall_gate *gate_of(__u32 nr)
{
	return bpf_map_lookup_elem(&syscall_gate, &nr);
}

/* Can a rule for the syscall's own event still pass with this return value? The compiler
 * marks the classes no rule admits (`retval!=0` turns every successful close away here). */
static __always_inline int ret_admitted(struct syscall_gate *gate, long ret)
{
	__u32 no = ret < 0 ? GATE_NO_NEGATIVE_RET : ret == 0 ? GATE_NO_ZERO_RET : GATE_NO_POSITIVE_RET;
	return !(gate->flags & no);
}

/* What a syscall must read at entry for the event derived from it when its own event is
 * not selected (then capture_syscall_args reads everything by the event's own plan): the
 * compiler puts the syscall's capture plan in `events`, with no policies, for each syscall
 * a derived event is built from. */
static __always_inline void derived_entry(struct pending *p, __u32 nr)
{
	struct event_config *plan = bpf_map_lookup_elem(&events, &nr);
	if (plan)
		capture_syscall_args(p, plan);
}

/*
 * A syscall event's record from its registers (and `ret` at exit), in the cheap-first order:
 * arguments, then the filters on them and on the return value, and only for events still
 * alive the context (about 20 loads and three helpers), then the context filters.
 */
static __always_inline int emit_syscall(struct pending *p, struct event_config *ev, __u32 nr,
					struct pt_regs *regs, long ret, __u64 scope,
					const int audit)
{
	reset_event(p, nr, nr);
	raw_args(p, regs);
	capture_syscall_args(p, ev);
	p->rec.retval = ret;
	__u64 pass = rules_eval(p, ev, nr, scope, RULES_ARGS | RULES_RETVAL);
	if (!pass && !audit)
		return 0;
	fill_context(p);
	return emit_as(p, rules_eval(p, ev, nr, pass, RULES_CONTEXT), audit);
}

static __always_inline int syscall_enter(void *ctx, __u32 nr, struct pt_regs *regs, void *progs,
					 const int audit)
{
	struct syscall_gate *gate = gate_of(nr);
	if (!gate)
		return 0;
	__u64 derived = gate->derived_policies;
	if ((!derived && !(gate->flags & ENTRY_FLAGS)) || (gate->flags & GATE_AT_EXIT))
		return 0; /* not selected, or read entirely at exit */
	if (!decide(HANDOFF_SYS_ENTER, nr))
		return 0;
	__u64 scope = scope_eval(gate->policies | derived);
	if (!scope && !audit)
		return 0;
	struct event_config *ev = 0;
	if ((scope & gate->policies) || (audit && gate->policies))
		ev = bpf_map_lookup_elem(&events, &nr);

	if (ev && (ev->flags & EVENT_FLAG_EMIT_AT_ENTRY)) {
		struct pending *p = scratch_event(SCRATCH_EVENT);
		if (!p)
			return 0;
		return emit_syscall(p, ev, nr, regs, 0, scope, audit);
	}
	__u64 handlers = gate->derived_handlers & derived_loaded;
	if (handlers == DERIVED_MAGIC_WRITE && !ev) {
		/* Most writes append or go to pipes and sockets: turned away before any record
		 * is started. */
		struct pt_regs *r = user_regs(regs);
		if (!magic_write_qualifies(nr, r->di, r->dx, r->r10))
			return 0;
	}
	struct pending *p = task_record(nr, regs);
	if (!p)
		return 0;
	if (handlers & DERIVED_MAGIC_WRITE) {
		/* Most writes append or go to pipes: those are not armed at all (unless another
		 * handler wants the write). */
		if (!magic_write_entry(p, nr) && !ev && handlers == DERIVED_MAGIC_WRITE)
			return 0;
	}
	if (!ev && (handlers & ~DERIVED_MAGIC_WRITE))
		derived_entry(p, nr);
	__u64 own = 0;
	if (ev) {
		capture_syscall_args(p, ev);
		/* Arguments are decided now: a syscall that can no longer match is not armed,
		 * and its exit costs a lookup. */
		own = rules_eval(p, ev, nr, scope, RULES_ARGS);
	}
	if (!own && !(scope & derived) && !(audit && ev))
		return 0;
	if (own || (audit && ev))
		fill_context(p); /* derived events read their own context at exit */
	p->scope = scope;
	p->own = own;
	if (audit)
		p->candidate = ev != 0;
	p->state = PENDING_ARMED;
	p->generation = generation;
	count_inflight(1);
	/* What handlers read at entry besides the arguments: programs of their own. */
	__u64 at_entry = handlers & DERIVED_AT_ENTRY;
	if (at_entry && (scope & derived)) {
		p->chain_left = at_entry;
		derived_next(ctx, p, progs);
	}
	return 0;
}

/* The events derived from a syscall, at its exit: the handlers the gate names, by tail call
 * (tracee.bpf.h DERIVED_HANDLERS). */
static __always_inline void derived_exit(void *ctx, struct pending *p, __u64 h, __u64 ret,
					 void *progs)
{
	p->chain_ret = ret;
	p->chain_left = h & derived_loaded;
	derived_next(ctx, p, progs);
}

/* A syscall serving only handlers that read nothing at its entry (GATE_AT_EXIT): its
 * arguments from the registers, still the caller's at the exit, into the task's record the
 * handlers read. */
static __always_inline int derived_at_exit(void *ctx, struct syscall_gate *gate, __u32 nr,
					   long ret, struct pt_regs *regs, void *progs)
{
	if (!decide(HANDOFF_SYS_EXIT, nr) || !ret_admitted(gate, ret))
		return 0;
	__u64 scope = scope_eval(gate->derived_policies);
	if (!scope)
		return 0;
	/* Most opens are decided here, on the returned file's path anchors, before anything
	 * is stored or the handler is called. */
	__u64 handlers = gate->derived_handlers & derived_loaded;
	int anchors_met = handlers == DERIVED_FILE_OPEN;
	if (anchors_met && !file_open_may(ret, scope))
		return 0;
	struct pending *p = task_record(nr, regs);
	if (!p)
		return 0;
	p->scope = scope;
	p->own = 0;
	p->anchors_met = anchors_met;
	derived_exit(ctx, p, gate->derived_handlers, ret, progs);
	return 0;
}

static __always_inline int syscall_exit(void *ctx, __u32 nr, long ret, struct pt_regs *regs,
					void *progs, const int audit)
{
	struct syscall_gate *gate = gate_of(nr);
	if (!gate)
		return 0;
	if (gate->flags & GATE_AT_EXIT)
		return derived_at_exit(ctx, gate, nr, ret, regs, progs);
	__u64 derived = gate->derived_policies;
	if (derived || (gate->flags & ENTRY_FLAGS)) {
		struct pending *p =
			bpf_task_storage_get(&pending_store, bpf_get_current_task_btf(), 0, 0);
		if (!p || p->state != PENDING_ARMED || p->event != nr || p->generation != generation)
			return 0;
		p->state = PENDING_NONE;
		count_inflight(-1);
		claim_exit(nr);
		if (p->own && ret_admitted(gate, ret)) {
			p->rec.retval = ret;
			emit_as(p, rules_eval(p, bpf_map_lookup_elem(&events, &nr), nr, p->own,
					      RULES_RETVAL | RULES_CONTEXT), audit);
		} else if (audit && p->candidate) {
			p->rec.retval = ret;
			emit_candidate(p, 0);
		}
		if (p->scope & derived)
			derived_exit(ctx, p, gate->derived_handlers, ret, progs);
		return 0;
	}
	/* `decide` before the return value: which programs reach it must not depend on it. */
	if (!gate->policies || !decide(HANDOFF_SYS_EXIT, nr))
		return 0;
	int admitted = ret_admitted(gate, ret);
	if (!admitted && !audit)
		return 0;
	__u64 scope = scope_eval(gate->policies);
	if (!scope && !audit)
		return 0;
	struct event_config *ev = bpf_map_lookup_elem(&events, &nr);
	struct pending *p = scratch_event(SCRATCH_EVENT);
	if (!ev || !p)
		return 0;
	return emit_syscall(p, ev, nr, regs, ret, admitted ? scope : 0, audit);
}

/* ---- generic hooks ---- */

SEC("tp_btf/sys_enter")
int BPF_PROG(tr_sys_enter, struct pt_regs *regs, long id)
{
	return syscall_enter(ctx, id, regs, &entry_btf, 0);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tr_sys_exit, struct pt_regs *regs, long ret)
{
	return syscall_exit(ctx, BPF_CORE_READ(regs, orig_ax), ret, regs, &derived_btf, 0);
}

/* The same for audit mode (tracee.bpf.h `audit`). */
SEC("tp_btf/sys_enter")
int BPF_PROG(tr_a_sys_enter, struct pt_regs *regs, long id)
{
	return syscall_enter(ctx, id, regs, &entry_btf, 1);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tr_a_sys_exit, struct pt_regs *regs, long ret)
{
	return syscall_exit(ctx, BPF_CORE_READ(regs, orig_ax), ret, regs, &derived_btf, 1);
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
	/* The registers are fetched only once the event is selected (user_regs). */
	return syscall_enter(ctx, ctx->nr, 0, &entry_tp, 0);
}

SEC("tracepoint")
int tr_tp_exit(struct syscall_exit_ctx *ctx)
{
	return syscall_exit(ctx, ctx->nr, ctx->ret, 0, &derived_tp, 0);
}

SEC("tracepoint")
int tr_a_tp_enter(struct syscall_enter_ctx *ctx)
{
	return syscall_enter(ctx, ctx->nr, 0, &entry_tp, 1);
}

SEC("tracepoint")
int tr_a_tp_exit(struct syscall_exit_ctx *ctx)
{
	return syscall_exit(ctx, ctx->nr, ctx->ret, 0, &derived_tp, 1);
}

