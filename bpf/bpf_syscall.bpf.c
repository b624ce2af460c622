// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Loading code into the kernel, without LSM hooks: the bpf syscall (security_bpf, every
 * command that reached the hook; security_bpf_map, a map's fd made: created, or got by id;
 * security_bpf_prog, a program's fd made: loaded, or got by id; the last two read from the
 * object behind the returned fd), and the files finit_module and kexec_file_load make the
 * kernel read (security_kernel_read_file, security_kernel_post_read_file).
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define E2BIG 7
#define CMD_MAP_CREATE 0
#define CMD_PROG_LOAD 5
#define CMD_PROG_GET_FD_BY_ID 13
#define CMD_MAP_GET_FD_BY_ID 14

static __always_inline int bpf_events(struct pending *sys, __u64 ret)
{
	long err = (long)ret;
	if (!sys || err == -EFAULT || err == -E2BIG)
		return 0;
	int cmd = (int)sys->ints[0];
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_BPF, &ev, &candidates);
	if (q) {
		put_int(q, 0, ARG_KIND_INT, (__u64)(__s64)cmd);
		emit(q, rules_eval(q, ev, EVENT_SECURITY_BPF, candidates, RULES_ALL));
	}
	if (err < 0)
		return 0;
	struct file *file = (struct file *)fd_file(ret);
	void *obj = file ? BPF_CORE_READ(file, private_data) : 0;
	if (!obj)
		return 0;
	if (cmd == CMD_MAP_CREATE || cmd == CMD_MAP_GET_FD_BY_ID) {
		q = begin_derived(sys, EVENT_SECURITY_BPF_MAP, &ev, &candidates);
		if (!q)
			return 0;
		struct bpf_map *map = obj;
		char name[16] = {};
		put_int(q, 0, ARG_KIND_UINT, BPF_CORE_READ(map, id));
		long n = BPF_CORE_READ_STR_INTO(&name, map, name);
		append_str(q, 1, name, n > 0 ? n - 1 : 0);
		return emit(q, rules_eval(q, ev, EVENT_SECURITY_BPF_MAP, candidates, RULES_ALL));
	}
	if (cmd == CMD_PROG_LOAD || cmd == CMD_PROG_GET_FD_BY_ID) {
		q = begin_derived(sys, EVENT_SECURITY_BPF_PROG, &ev, &candidates);
		if (!q)
			return 0;
		struct bpf_prog *prog = obj;
		char name[16] = {};
		put_int(q, 0, ARG_KIND_INT, BPF_CORE_READ(prog, type));
		long n = BPF_CORE_READ_STR_INTO(&name, prog, aux, name);
		append_str(q, 1, name, n > 0 ? n - 1 : 0);
		put_int(q, 3, ARG_KIND_UINT, BPF_CORE_READ(prog, aux, id));
		put_int(q, 4, ARG_KIND_BOOL, cmd == CMD_PROG_LOAD);
		return emit(q, rules_eval(q, ev, EVENT_SECURITY_BPF_PROG, candidates, RULES_ALL));
	}
	return 0;
}

/* ---- security_kernel_read_file, security_kernel_post_read_file ---- */

#define NR_kexec_file_load 320
#define READING_MODULE 2
#define READING_KEXEC_IMAGE 3
#define READING_KEXEC_INITRAMFS 4

/* One file the kernel read for the syscall: both events for it. */
static __always_inline void kernel_read_file(struct pending *sys, __u64 fd, __u32 type)
{
	struct file *file = (struct file *)fd_file(fd);
	if (!file)
		return;
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_KERNEL_READ_FILE, &ev, &candidates);
	if (q) {
		put_path(q, 0, (__u64)&file->f_path);
		put_int(q, 1, ARG_KIND_UINT, BPF_CORE_READ(inode, i_sb, s_dev));
		put_int(q, 2, ARG_KIND_UINT, BPF_CORE_READ(inode, i_ino));
		put_int(q, 3, ARG_KIND_INT, type);
		put_int(q, 4, ARG_KIND_UINT, inode_ctime(inode));
		emit(q, rules_eval(q, ev, EVENT_SECURITY_KERNEL_READ_FILE, candidates, RULES_ALL));
	}
	q = begin_derived(sys, EVENT_SECURITY_KERNEL_POST_READ_FILE, &ev, &candidates);
	if (!q)
		return;
	put_path(q, 0, (__u64)&file->f_path);
	put_int(q, 1, ARG_KIND_INT, BPF_CORE_READ(inode, i_size));
	put_int(q, 2, ARG_KIND_INT, type);
	emit(q, rules_eval(q, ev, EVENT_SECURITY_KERNEL_POST_READ_FILE, candidates, RULES_ALL));
}

/*
 * The files the kernel reads for finit_module (the module) and kexec_file_load (the kernel
 * image and the initramfs), at the syscall's exit, when it succeeded. Kernels without
 * loadable modules or kexec have neither syscall: the loader says so at start.
 */
static __always_inline int kernel_read_file_events(struct pending *sys, __u64 ret)
{
	if (!sys || (long)ret < 0)
		return 0;
	if (sys->event == NR_kexec_file_load) {
		kernel_read_file(sys, sys->ints[0], READING_KEXEC_IMAGE);
		/* KEXEC_FILE_NO_INITRAMFS (4): no initramfs fd. */
		if (!(sys->ints[4] & 4))
			kernel_read_file(sys, sys->ints[1], READING_KEXEC_INITRAMFS);
		return 0;
	}
	kernel_read_file(sys, sys->ints[0], READING_MODULE);
	return 0;
}

/* The handler programs (tracee.bpf.h DERIVED_HANDLERS). */
DERIVED_HANDLERS(BPF, {
	if (h & DERIVED_BPF)
		bpf_events(p, ret);
	else if (h & DERIVED_KERNEL_READ_FILE)
		kernel_read_file_events(p, ret);
})
