// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket events without LSM hooks, built at the exit of the syscalls that reach them.
 *
 * security_socket_connect and security_socket_bind without LSM hooks: built at the exit of
 * connect and bind from the socket address read at entry. The LSM hook runs once the fd is known to be a socket and
 * the address was copied in; connects that failed before that point (bad fd, not a socket,
 * bad address) are not reported, those that failed after it (refused, in progress) are.
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EBADF 9
#define EFAULT 14
#define EINVAL 22
#define ENOTSOCK 88
#define EPROTONOSUPPORT 93
#define ESOCKTNOSUPPORT 94
#define EAFNOSUPPORT 97
#define SOCK_TYPE_MASK 0xf

/* connect and bind: the hook runs once the fd is a socket and the address was copied in. */
static __always_inline int socket_addr_event(struct pending *sys, __u64 ret, __u32 id)
{
	if (!sys)
		return 0;
	long err = (long)ret;
	if (err == -EBADF || err == -ENOTSOCK || err == -EFAULT)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, id, &ev, &candidates);
	if (!q)
		return 0;
	put_int(q, 0, ARG_KIND_INT, (__u64)(__s64)(__s32)sys->ints[0]);
	__u32 off = sys->str_off[1];
	if (off <= ARGS_BUF)
		append_sockaddr(q, 1, &sys->args[off], sys->str_len[1]);
	return emit(q, rules_eval(q, ev, id, candidates, RULES_ALL));
}

__noinline int socket_connect_event(struct pending *sys, __u64 ret)
{
	return socket_addr_event(sys, ret, EVENT_SECURITY_SOCKET_CONNECT);
}

/* security_socket_bind: the same, at the exit of bind (the local address). */
__noinline int socket_bind_event(struct pending *sys, __u64 ret)
{
	return socket_addr_event(sys, ret, EVENT_SECURITY_SOCKET_BIND);
}

/*
 * security_socket_create without an LSM hook: built at the exit of socket from its
 * arguments (family, type, protocol; `kern` is 0 for a socket a process asks for). The hook
 * runs once the family and type are known to be valid: calls refused for an invalid
 * family, type or protocol are not reported, those refused later (by an LSM, for lack of
 * memory) are.
 */
__noinline int socket_create_event(struct pending *sys, __u64 ret)
{
	if (!sys)
		return 0;
	long err = (long)ret;
	if (err == -EINVAL || err == -EAFNOSUPPORT || err == -EPROTONOSUPPORT ||
	    err == -ESOCKTNOSUPPORT)
		return 0;
	__u32 id = EVENT_SECURITY_SOCKET_CREATE;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, id, &ev, &candidates);
	if (!q)
		return 0;
	put_int(q, 0, ARG_KIND_INT, (__u64)(__s64)(__s32)sys->ints[0]);
	/* The hook sees the type without SOCK_NONBLOCK/SOCK_CLOEXEC (SOCK_TYPE_MASK). */
	put_int(q, 1, ARG_KIND_INT, sys->ints[1] & SOCK_TYPE_MASK);
	put_int(q, 2, ARG_KIND_INT, (__u64)(__s64)(__s32)sys->ints[2]);
	put_int(q, 3, ARG_KIND_INT, 0);
	return emit(q, rules_eval(q, ev, id, candidates, RULES_ALL));
}
