// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket events without LSM hooks, built at the exit of the syscalls that reach them: create,
 * bind, connect, listen, accept, setsockopt, and fds of sockets duplicated. Local and remote
 * addresses that the syscall's arguments do not carry are read from the kernel's socket.
 *
 * security_socket_connect and security_socket_bind without LSM hooks: built at the exit of
 * connect and bind from the socket address read at entry. The LSM hook runs once the fd is known to be a socket and
 * the address was copied in; connects that failed before that point (bad fd, not a socket,
 * bad address) are not reported, those that failed after it (refused, in progress) are.
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SOCK_TYPE_MASK 0xf

/* connect and bind: the hook runs once the fd is a socket and the address was copied in. */
static __always_inline int socket_addr_event(struct pending *sys, __u64 ret, __u32 id,
					     __u32 addr_index)
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
	put_i32(q, 0, sys->ints[0]);
	if (addr_index == 2) {
		/* security_socket_connect's `type`: the socket's type, from the fd's socket. */
		struct file *file = (struct file *)fd_file(sys->ints[0]);
		struct socket *sock = file ? BPF_CORE_READ(file, private_data) : 0;
		if (sock)
			put_int(q, 1, ARG_KIND_INT, (__u64)(__s64)BPF_CORE_READ(sock, type));
	}
	__u32 off = sys->str_off[1];
	if (off <= ARGS_BUF)
		append_sockaddr(q, addr_index, &sys->args[off], sys->str_len[1]);
	return emit(q, rules_eval(q, ev, id, candidates, RULES_ALL));
}

static __always_inline int socket_connect_event(struct pending *sys, __u64 ret)
{
	return socket_addr_event(sys, ret, EVENT_SECURITY_SOCKET_CONNECT, 2);
}

/* security_socket_bind: the same, at the exit of bind (the local address). */
static __always_inline int socket_bind_event(struct pending *sys, __u64 ret)
{
	return socket_addr_event(sys, ret, EVENT_SECURITY_SOCKET_BIND, 1);
}

/*
 * security_socket_create without an LSM hook: built at the exit of socket from its
 * arguments (family, type, protocol; `kern` is 0 for a socket a process asks for). The hook
 * runs once the family and type are known to be valid: calls refused for an invalid
 * family, type or protocol are not reported, those refused later (by an LSM, for lack of
 * memory) are.
 */
static __always_inline int socket_create_event(struct pending *sys, __u64 ret)
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
	put_i32(q, 0, sys->ints[0]);
	/* The hook sees the type without SOCK_NONBLOCK/SOCK_CLOEXEC (SOCK_TYPE_MASK). */
	put_int(q, 1, ARG_KIND_INT, sys->ints[1] & SOCK_TYPE_MASK);
	put_i32(q, 2, sys->ints[2]);
	put_int(q, 3, ARG_KIND_INT, 0);
	return emit(q, rules_eval(q, ev, id, candidates, RULES_ALL));
}

/* ---- socket addresses read from the kernel's socket (local and remote ends) ---- */

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define NR_accept 43
#define NR_dup 32
#define NR_fcntl 72

#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030

struct sockaddr_buf {
	__u8 b[SOCKADDR_MAX];
};

/* The socket behind an fd of the current task, or NULL when the fd is not a socket. */
static __always_inline struct socket *fd_socket(__u64 fd)
{
	struct file *file = (struct file *)fd_file(fd);
	if (!file)
		return 0;
	__u32 mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	return BPF_CORE_READ(file, private_data);
}

/*
 * One end of a socket as a struct sockaddr (the layout user space knows) into buf: its
 * length, 0 for families other than IPv4, IPv6 and unix. `remote`: the peer's end (for a
 * unix socket, the peer socket's bound name).
 */
static __always_inline __u32 sock_end(struct socket *sock, int remote, struct sockaddr_buf *buf)
{
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__builtin_memcpy(buf->b, &family, 2);
	if (family == AF_INET) {
		__u16 port = remote ? BPF_CORE_READ(sk, __sk_common.skc_dport)
				    : __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_num));
		__u32 addr = remote ? BPF_CORE_READ(sk, __sk_common.skc_daddr)
				    : BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(&buf->b[2], &port, 2);
		__builtin_memcpy(&buf->b[4], &addr, 4);
		__builtin_memset(&buf->b[8], 0, 8);
		return 16;
	}
	if (family == AF_INET6) {
		__u16 port = remote ? BPF_CORE_READ(sk, __sk_common.skc_dport)
				    : __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_num));
		__builtin_memcpy(&buf->b[2], &port, 2);
		__builtin_memset(&buf->b[4], 0, 4);
		if (remote)
			bpf_core_read(&buf->b[8], 16, &sk->__sk_common.skc_v6_daddr);
		else
			bpf_core_read(&buf->b[8], 16, &sk->__sk_common.skc_v6_rcv_saddr);
		__builtin_memset(&buf->b[24], 0, 4);
		return 28;
	}
	if (family == AF_UNIX) {
		struct unix_sock *u = (struct unix_sock *)sk;
		if (remote)
			u = (struct unix_sock *)BPF_CORE_READ(u, peer);
		struct unix_address *addr = u ? BPF_CORE_READ(u, addr) : 0;
		if (!addr)
			return 2; /* unbound (or no peer): the family alone */
		int len = BPF_CORE_READ(addr, len);
		if (len < 2)
			return 2;
		if (len > 110)
			len = 110;
		bpf_probe_read_kernel(buf->b, len & 127, &addr->name);
		return len;
	}
	return 0;
}

/* A subprogram of its own: its address buffer lives in its own stack frame. */
static __noinline int put_sock_end(struct pending *q, __u32 index, struct socket *sock,
				   int remote)
{
	struct sockaddr_buf buf;
	if (!q || !sock)
		return 0;
	__u32 len = sock_end(sock, remote, &buf);
	if (len)
		append_sockaddr(q, index, buf.b, len);
	return 0;
}

/* The calls refused before a socket hook runs: the fd is not a socket. */
static __always_inline int before_socket_hook(long err)
{
	return err == -EBADF || err == -ENOTSOCK;
}

/* security_socket_listen: listen on a socket (the hook runs before the protocol's listen,
 * so its refusals are reported too): the fd, its local address, the backlog. */
static __always_inline int socket_listen_event(struct pending *sys, __u64 ret)
{
	if (!sys || before_socket_hook((long)ret))
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_SOCKET_LISTEN, &ev, &candidates);
	if (!q)
		return 0;
	put_i32(q, 0, sys->ints[0]);
	put_sock_end(q, 1, fd_socket(sys->ints[0]), 0);
	put_i32(q, 2, sys->ints[1]);
	return emit(q, rules_eval(q, ev, EVENT_SECURITY_SOCKET_LISTEN, candidates, RULES_ALL));
}

/* security_socket_setsockopt: the fd, level, option name and the socket's local address. */
static __always_inline int socket_setsockopt_event(struct pending *sys, __u64 ret)
{
	if (!sys || before_socket_hook((long)ret))
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_SOCKET_SETSOCKOPT, &ev, &candidates);
	if (!q)
		return 0;
	put_i32(q, 0, sys->ints[0]);
	put_i32(q, 1, sys->ints[1]);
	put_i32(q, 2, sys->ints[2]);
	put_sock_end(q, 3, fd_socket(sys->ints[0]), 0);
	return emit(q, rules_eval(q, ev, EVENT_SECURITY_SOCKET_SETSOCKOPT, candidates, RULES_ALL));
}

/*
 * accept and accept4: security_socket_accept (the hook runs once the new socket exists,
 * before the protocol accepts: the listening fd and its local address) and socket_accept
 * (a connection accepted: the listening fd, and the new socket's local and remote ends).
 */
static __always_inline int socket_accept_events(struct pending *sys, __u64 ret)
{
	long err = (long)ret;
	if (!sys || before_socket_hook(err) || err == -EMFILE || err == -ENFILE)
		return 0;
	struct socket *listener = fd_socket(sys->ints[0]);
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_SOCKET_ACCEPT, &ev, &candidates);
	if (q) {
		put_i32(q, 0, sys->ints[0]);
		put_sock_end(q, 1, listener, 0);
		emit(q, rules_eval(q, ev, EVENT_SECURITY_SOCKET_ACCEPT, candidates, RULES_ALL));
	}
	if (err < 0)
		return 0;
	q = begin_derived(sys, EVENT_SOCKET_ACCEPT, &ev, &candidates);
	if (!q)
		return 0;
	struct socket *conn = fd_socket(ret);
	put_i32(q, 0, sys->ints[0]);
	put_sock_end(q, 1, conn, 0);
	put_sock_end(q, 2, conn, 1);
	return emit(q, rules_eval(q, ev, EVENT_SOCKET_ACCEPT, candidates, RULES_ALL));
}

/*
 * socket_dup: dup, dup2, dup3 or fcntl (F_DUPFD, F_DUPFD_CLOEXEC) copying a socket's fd:
 * the old and new fds and the socket's remote end.
 */
static __always_inline int socket_dup_event(struct pending *sys, __u64 ret)
{
	if (!sys || (long)ret < 0)
		return 0;
	__u32 nr = sys->event;
	if (nr == NR_fcntl && sys->ints[1] != F_DUPFD && sys->ints[1] != F_DUPFD_CLOEXEC)
		return 0;
	struct socket *sock = fd_socket(sys->ints[0]);
	if (!sock)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SOCKET_DUP, &ev, &candidates);
	if (!q)
		return 0;
	put_i32(q, 0, sys->ints[0]);
	__u64 newfd = (nr == NR_dup || nr == NR_fcntl) ? ret : sys->ints[1];
	put_i32(q, 1, newfd);
	put_sock_end(q, 2, sock, 1);
	return emit(q, rules_eval(q, ev, EVENT_SOCKET_DUP, candidates, RULES_ALL));
}

/* The handler programs (tracee.bpf.h DERIVED_HANDLERS). */
DERIVED_HANDLERS(NET, {
	if (h & DERIVED_SOCKET_CONNECT)
		socket_connect_event(p, ret);
	else if (h & DERIVED_SOCKET_CREATE)
		socket_create_event(p, ret);
	else if (h & DERIVED_SOCKET_BIND)
		socket_bind_event(p, ret);
	else if (h & DERIVED_SOCKET_LISTEN)
		socket_listen_event(p, ret);
	else if (h & DERIVED_SOCKET_SETSOCKOPT)
		socket_setsockopt_event(p, ret);
	else if (h & DERIVED_SOCKET_ACCEPT)
		socket_accept_events(p, ret);
	else if (h & DERIVED_SOCKET_DUP)
		socket_dup_event(p, ret);
})
