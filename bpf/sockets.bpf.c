// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sockets: their owners kept current (at creation, on the cgroup v2 root; after every send),
 * and the events of TCP state changes (sock:inet_sock_set_state): connects, in the
 * connecting task, and flows, decided for the socket's owner (sockets.bpf.h).
 */
#include "sockets.bpf.h"
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("cgroup/sock_create")
int tr_sock_create(struct bpf_sock *ctx)
{
	struct sock_owner *o =
		bpf_sk_storage_get(&sock_owners, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (o)
		own(o);
	return 1;
}

/* Every send: a socket passed to another process, or made before the loader started,
 * changes owner here (after this send's packets: the next ones are the new owner's). */
SEC("tp_btf/sock_send_length")
int BPF_PROG(tr_sock_send, struct sock *sk, int ret, int flags)
{
	if (!sk || !inet_family(sk))
		return 0;
	struct sock_owner *o =
		bpf_sk_storage_get(&sock_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (o)
		own(o);
	return 0;
}

/* ---- TCP state changes: connects, flows, owners of connecting and listening sockets ---- */

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10

/* One end of the socket as a struct sockaddr argument (loader: address and port). */
static __noinline int put_sk_end(struct pending *q, __u32 index, struct sock *sk, int remote,
				 __u16 local_port)
{
	__u8 b[28] = {};
	if (!q || !sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 port = remote ? BPF_CORE_READ(sk, __sk_common.skc_dport) : bpf_htons(local_port);
	__builtin_memcpy(b, &family, 2);
	__builtin_memcpy(&b[2], &port, 2);
	__u32 len = 16;
	if (family == AF_INET) {
		__u32 addr = remote ? BPF_CORE_READ(sk, __sk_common.skc_daddr)
				    : BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(&b[4], &addr, 4);
		q->ints[(SOCK_IP_SLOT + index) & (MAX_ARGS - 1)] = bpf_ntohl(addr);
	} else {
		if (remote)
			bpf_core_read(&b[8], 16, &sk->__sk_common.skc_v6_daddr);
		else
			bpf_core_read(&b[8], 16, &sk->__sk_common.skc_v6_rcv_saddr);
		q->ints[(SOCK_IP_SLOT + index) & (MAX_ARGS - 1)] = IPV6_ADDR_VALUE;
		len = 28;
	}
	append_sockaddr(q, index, b, len);
	return 0;
}

/* net_tcp_connect: the connecting task, at connect (CLOSE -> SYN_SENT, process context). */
static __always_inline void tcp_connect(struct sock *sk)
{
	__u32 id = EVENT_NET_TCP_CONNECT;
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, 0);
	if (!p)
		return;
	put_sk_end(p, 0, sk, 1, 0);
	__u16 port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	put_int(p, 1, ARG_KIND_INT, port);
	emit(p, rules_eval(p, ev, id, scope, RULES_ALL));
}

/* net_flow_tcp_begin / _end, decided for the socket's owner. */
static __always_inline void tcp_flow(struct sock *sk, struct sock_owner *o, __u32 id,
				     int outgoing)
{
	struct event_config *ev = bpf_map_lookup_elem(&events, &id);
	if (!ev || !active_now())
		return;
	__u64 candidates = owner_scope(o) & ev->policies;
	if (!candidates)
		return;
	/* ESTABLISHED from SYN_RECV, and most ends, come in softirq. */
	__u32 *depth = 0, level = NET_NEST;
	struct pending *p = enter_level(&depth, &level);
	if (!p) {
		leave_level(depth, level);
		return;
	}
	begin_owned(p, id, level, o);
	/* conn_direction, src, dst, src_port, dst_port (src is the local end when outgoing). */
	char out_s[8] = { 'o', 'u', 't', 'g', 'o', 'i', 'n', 'g' };
	char in_s[8] = { 'i', 'n', 'c', 'o', 'm', 'i', 'n', 'g' };
	append_str(p, 0, outgoing ? out_s : in_s, 8);
	__u16 local = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (o && !local)
		local = o->local_port;
	put_sk_end(p, 1, sk, !outgoing, local);
	put_sk_end(p, 2, sk, outgoing, local);
	__u16 remote = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	put_int(p, 3, ARG_KIND_UINT, outgoing ? local : remote);
	put_int(p, 4, ARG_KIND_UINT, outgoing ? remote : local);
	emit(p, rules_eval(p, ev, id, candidates, RULES_ALL));
	leave_level(depth, level);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tr_sock_state, struct sock *sk, int oldstate, int newstate)
{
	if (!sk)
		return 0;
	if (newstate == TCP_SYN_SENT || newstate == TCP_LISTEN) {
		/* Process context: the connecting or listening task owns the socket. */
		struct sock_owner *o =
			bpf_sk_storage_get(&sock_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (o) {
			own(o);
			o->connected = newstate == TCP_SYN_SENT;
		}
		if (newstate == TCP_SYN_SENT)
			tcp_connect(sk);
		return 0;
	}
	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		struct sock_owner *o =
			bpf_sk_storage_get(&sock_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (o)
			o->local_port = sk->__sk_common.skc_num;
		tcp_flow(sk, o, EVENT_NET_FLOW_TCP_BEGIN, oldstate == TCP_SYN_SENT);
		return 0;
	}
	if (newstate == TCP_CLOSE && oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV &&
	    oldstate != TCP_LISTEN && oldstate != TCP_CLOSE) {
		struct sock_owner *o = bpf_sk_storage_get(&sock_owners, sk, 0, 0);
		tcp_flow(sk, o, EVENT_NET_FLOW_TCP_END, o && o->connected);
	}
	return 0;
}
