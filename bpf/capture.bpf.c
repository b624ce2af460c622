// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Arguments: appended to the event in the record's format (struct arg_header + bytes) and
 * indexed for the rule filters. Strings are read from user memory at syscall entry, so
 * what the filters and the user see is what the syscall got.
 */
#include "tracee.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* A NUL-terminated string read with `read` (the user or the kernel variant). */
static __always_inline int put_read_str(struct pending *p, __u32 index, __u64 ptr, int user)
{
	if (!p || index >= MAX_ARGS)
		return 0;
	__u32 off = p->used;
	if (off > ARGS_BUF - sizeof(struct arg_header))
		return 0;
	void *dst = &p->args[off + sizeof(struct arg_header)];
	long n = user ? bpf_probe_read_user_str(dst, STR_CAP + 1, (const void *)ptr)
		      : bpf_probe_read_kernel_str(dst, STR_CAP + 1, (const void *)ptr);
	if (user)
		p->ints[arg_slot(index)] = ptr;
	finish_str(p, index, off, n);
	return 0;
}

__noinline int put_user_str(struct pending *p, __u32 index, __u64 user_ptr)
{
	return put_read_str(p, index, user_ptr, 1);
}

__noinline int put_kernel_str(struct pending *p, __u32 index, __u64 kernel_ptr)
{
	return put_read_str(p, index, kernel_ptr, 0);
}

struct str_array_walk {
	struct pending *p;
	__u64 user_ptr;
	__u32 cursor;
};

static long str_array_step(__u64 i, struct str_array_walk *w)
{
	struct pending *p = w->p;
	__u32 cursor = w->cursor;
	const char *elem = 0;
	if (!p || cursor > ARGS_BUF - 2)
		return 1;
	if (bpf_probe_read_user(&elem, sizeof(elem), (const void *)(w->user_ptr + i * 8)) || !elem)
		return 1;
	long n = bpf_probe_read_user_str(&p->args[cursor + 2], ARGV_CAP + 1, elem);
	return array_element(p, &w->cursor, n);
}

/* argv/envp: { __u16 len; bytes } per element, at most ARGV_MAX elements. */
__noinline int put_user_str_array(struct pending *p, __u32 index, __u64 user_ptr)
{
	if (!p || index >= MAX_ARGS)
		return 0;
	__u32 off = p->used;
	if (off > ARGS_BUF - sizeof(struct arg_header))
		return 0;
	struct str_array_walk w = { .p = p, .user_ptr = user_ptr,
				    .cursor = off + sizeof(struct arg_header) };
	bpf_loop(ARGV_MAX, str_array_step, &w, 0);
	__u32 cursor = w.cursor;
	header(p, off, index, ARG_KIND_STR_ARRAY, cursor - off - sizeof(struct arg_header));
	/* Where the entries are, for the filters (FIELD_KIND_ARRAY). */
	p->str_off[arg_slot(index)] = off + sizeof(struct arg_header);
	p->str_len[arg_slot(index)] = cursor - off - sizeof(struct arg_header);
	p->ints[arg_slot(index)] = user_ptr;
	counted(p, index, cursor);
	return 0;
}

/*
 * The parts of a socket address the rule filters compare, in their slots (abi.h
 * SOCK_PORT_SLOT, SOCK_IP_SLOT): the port and IPv4 address (as numbers in network order)
 * of an IPv4/IPv6 address, the path of a unix one. `off`, `len`: its bytes in p->args.
 * Slots a family lacks stay as reset_event left them (0, no string).
 */
__noinline int sockaddr_parts(struct pending *p, __u32 index, __u32 off, __u32 len)
{
	if (!p || index >= SOCK_ADDR_MAX_INDEX || off > ARGS_BUF || len < 2 || len > SOCKADDR_MAX)
		return 0;
	__u8 *b = &p->args[off & (ARGS_BUF - 1)];
	__u16 family = b[0] | (b[1] << 8);
	__u32 port_slot = SOCK_PORT_SLOT + index, ip_slot = SOCK_IP_SLOT + index;
	if ((family == 2 || family == 10) && len >= 8) {
		p->ints[port_slot & (MAX_ARGS - 1)] = (b[2] << 8) | b[3];
		if (family == 2)
			p->ints[ip_slot & (MAX_ARGS - 1)] =
				((__u32)b[4] << 24) | ((__u32)b[5] << 16) | ((__u32)b[6] << 8) | b[7];
		return 0;
	}
	if (family != 1)
		return 0;
	/* sun_path up to its NUL (an abstract name, starting with NUL, has none here). */
	__u32 n = 0;
	for (__u32 i = 2; i < SOCKADDR_MAX && i < len; i++) {
		if (!b[i])
			break;
		n++;
	}
	if (n == 0)
		return 0;
	p->str_off[ip_slot & (MAX_ARGS - 1)] = off + 2;
	p->str_len[ip_slot & (MAX_ARGS - 1)] = n;
	return 0;
}

__noinline int put_user_sockaddr(struct pending *p, __u32 index, __u64 user_ptr)
{
	if (!p || index >= MAX_ARGS)
		return 0;
	__u32 off = p->used;
	if (off > ARGS_BUF - sizeof(struct arg_header))
		return 0;
	__u16 family = 0;
	bpf_probe_read_user(&family, sizeof(family), (const void *)user_ptr);
	__u8 *dst = &p->args[off + sizeof(struct arg_header)];
	__u32 len;
	if (family == 1) /* AF_UNIX: sockaddr_un */
		len = 110;
	else if (family == 10) /* AF_INET6: sockaddr_in6 */
		len = 28;
	else
		len = 16;
	if (bpf_probe_read_user(dst, len, (const void *)user_ptr))
		len = 0;
	if (off + sizeof(struct arg_header) + len > ARGS_BUF)
		return 0;
	header(p, off, index, ARG_KIND_SOCKADDR, len);
	p->ints[arg_slot(index)] = user_ptr;
	/* Where the bytes are, for events derived from this syscall (security_socket_connect). */
	p->str_off[arg_slot(index)] = off + sizeof(struct arg_header);
	p->str_len[arg_slot(index)] = len;
	counted(p, index, off + sizeof(struct arg_header) + len);
	sockaddr_parts(p, index, off + sizeof(struct arg_header), len);
	return 0;
}

/* An integer register as the catalog types it: sign- or zero-extended from its width. */
static __always_inline __u64 normalize(__u64 raw, __u32 kind, __u32 size)
{
	if (kind == ARG_KIND_INT) {
		if (size == 1)
			return (__u64)(__s64)(__s8)raw;
		if (size == 2)
			return (__u64)(__s64)(__s16)raw;
		if (size == 4)
			return (__u64)(__s64)(__s32)raw;
		return raw;
	}
	if (size == 1)
		return (__u8)raw;
	if (size == 2)
		return (__u16)raw;
	if (size == 4)
		return (__u32)raw;
	return raw;
}

/* The syscall's raw register arguments are in p->ints[0..5]; append them by the plan. */
__noinline int capture_syscall_args(struct pending *p, struct event_config *cfg)
{
	if (!p || !cfg)
		return 0;
	__u64 raw[ABI_MAX_SYSCALL_ARGS];
	for (int i = 0; i < ABI_MAX_SYSCALL_ARGS; i++)
		raw[i] = p->ints[i];
	__u32 count = cfg->arg_count;
	for (int i = 0; i < ABI_MAX_SYSCALL_ARGS; i++) {
		if (i >= count)
			break;
		__u32 kind = cfg->arg_kinds[i];
		switch (kind) {
		case ARG_KIND_STR:
			put_user_str(p, i, raw[i]);
			break;
		case ARG_KIND_STR_ARRAY:
			put_user_str_array(p, i, raw[i]);
			break;
		case ARG_KIND_SOCKADDR:
			put_user_sockaddr(p, i, raw[i]);
			break;
		default:
			put_int(p, i, kind, normalize(raw[i], kind, cfg->arg_sizes[i]));
		}
	}
	return 0;
}
