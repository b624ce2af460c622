// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * security_socket_connect without an LSM hook: built at the exit of connect from the
 * socket address read at entry. The LSM hook runs once the fd is known to be a socket and
 * the address was copied in; connects that failed before that point (bad fd, not a socket,
 * bad address) are not reported, those that failed after it (refused, in progress) are.
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EBADF 9
#define EFAULT 14
#define ENOTSOCK 88

__noinline int socket_connect_event(struct pending *sys, __u64 ret)
{
	if (!sys)
		return 0;
	long err = (long)ret;
	if (err == -EBADF || err == -ENOTSOCK || err == -EFAULT)
		return 0;
	__u32 id = EVENT_SECURITY_SOCKET_CONNECT;
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
