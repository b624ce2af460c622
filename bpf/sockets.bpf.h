/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Sockets' owners, shared by the network programs (packets.bpf.c, sockets.bpf.c): a packet,
 * a flow or a TCP state change is decided for the task that owns its socket, not for
 * whatever task the CPU happens to run (softirq). Each socket carries an owner record in
 * socket storage, written in process context where the task is known (socket creation,
 * connect, listen, every send) with the owner's context and the policies whose scope admits
 * it, per generation parity. Accepted sockets inherit the listener's (BPF_F_CLONE) until
 * their owner sends. A socket with no owner (created before the loader, by the kernel) goes
 * to the policies that scope nothing.
 *
 * The network programs also run in softirq, where they can interrupt any program on their
 * CPU (themselves included): their records and string keys live in per-CPU scratch indexed
 * by nesting level (enter_level).
 */
#ifndef TRACEE_SOCKETS_BPF_H
#define TRACEE_SOCKETS_BPF_H

#include "tracee.bpf.h"
#include "context.bpf.h"

#define AF_INET 2
#define AF_INET6 10
/* Where the rule filters read an address field (abi.h SOCK_IP_SLOT + the field's index) and
 * what an IPv6 address reads as there (never an IPv4 number). */
#define IPV6_ADDR_VALUE (1ULL << 32)

struct sock_owner {
	/* Per generation parity: the policies whose scope admits the owner, and the
	 * generation that decided it (a stale one is ignored). */
	__u64 scope[2];
	__u32 gen[2];
	/* It connected (flows: outgoing); accepted sockets inherit the listener's 0. */
	__u32 connected;
	/* The local port at ESTABLISHED: the kernel has released it by the flow's end. */
	__u16 local_port;
	__u16 pad;
	/* The owner is in a container (the rules' `container`/`host` fields). */
	__u32 container;
	__u32 pad2;
	struct event_record ctx;
};

TRACEE_MAP struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct sock_owner);
} sock_owners SEC(".maps");

/* Nesting level of the packet programs on this CPU. */
TRACEE_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} net_depth SEC(".maps");

/* Does this generation decide now? Without a task to keep `decide`'s hand-over record
 * (softirq), the active generation alone: a packet whose two generations' programs straddle
 * the switch of a reload (one store) is decided by both or by neither. */
static __always_inline int active_now(void)
{
	__u32 zero = 0;
	struct control_word *c = bpf_map_lookup_elem(&control, &zero);
	return c && c->active == generation;
}

/* The current task owns this socket storage now (process context only). */
static __always_inline void own(struct sock_owner *o)
{
	__u32 slot = generation & 1;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (o->gen[slot] == generation && o->ctx.host_pid == tgid)
		return;
	__u32 zero = 0;
	struct scope_config *sc = bpf_map_lookup_elem(&scope_config, &zero);
	if (!sc)
		return;
	fill_record(&o->ctx);
	o->container = in_container() != 0;
	o->scope[slot] = scope_eval(sc->policies);
	o->gen[slot] = generation;
}

static __always_inline int inet_family(struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;
	return family == AF_INET || family == AF_INET6;
}

/* The policies a packet of this owner may go to: its scope, or without a current owner
 * the policies that scope nothing. */
static __always_inline __u64 owner_scope(struct sock_owner *o)
{
	__u32 slot = generation & 1;
	if (o && o->gen[slot] == generation)
		return o->scope[slot];
	__u32 zero = 0;
	struct scope_config *sc = bpf_map_lookup_elem(&scope_config, &zero);
	if (!sc)
		return 0;
	__u64 scoped = sc->follow;
	for (int i = 0; i < SCOPE_EQ_DIMS; i++)
		scoped |= sc->eq_enabled[i] | sc->ranged[i];
	for (int i = 0; i < SCOPE_BOOL_DIMS; i++)
		scoped |= sc->bool_enabled[i];
	return sc->policies & ~scoped;
}

/* The scratch record of this nesting level of the network programs (they run in softirq
 * too, where they can interrupt any program on the CPU, themselves included); NULL when
 * nested too deep. leave_level undoes it. */
static __always_inline struct pending *enter_level(__u32 **depth, __u32 *level)
{
	__u32 zero = 0;
	*depth = bpf_map_lookup_elem(&net_depth, &zero);
	if (!*depth)
		return 0;
	*level = **depth;
	if (*level >= NET_NEST)
		return 0;
	**depth = *level + 1;
	__u32 slot = SCRATCH_PACKET + *level;
	struct pending *q = bpf_map_lookup_elem(&scratch_events, &slot);
	if (!q)
		return 0;
	return q;
}

static __always_inline void leave_level(__u32 *depth, __u32 level)
{
	if (depth && level < NET_NEST)
		*depth = level;
}

/* A record begun for event `id` with the owner's context (or none), in q. */
static __always_inline void begin_owned(struct pending *q, __u32 id, __u32 level,
					struct sock_owner *o)
{
	reset_event(q, id, NO_SYSCALL);
	q->key_slot = 1 + level;
	if (o) {
		__builtin_memcpy(&q->rec, &o->ctx, sizeof(q->rec));
		q->owner_container = o->container;
	} else {
		__builtin_memset(&q->rec, 0, sizeof(q->rec));
		q->owner_container = 0;
	}
	q->rec.event_id = id;
	q->rec.timestamp_ns = bpf_ktime_get_boot_ns();
	q->rec.cpu = bpf_get_smp_processor_id();
	q->rec.generation = generation;
	q->rec.syscall = NO_SYSCALL;
	q->rec.retval = 0;
	q->rec.args_size = 0;
	q->rec.args_num = 0;
	q->rec.flags = 0;
	q->rec.detected_from = 0;
}

#endif /* TRACEE_SOCKETS_BPF_H */
