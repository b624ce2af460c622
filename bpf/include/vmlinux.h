/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trimmed vmlinux.h: only the kernel types and fields the programs read, each struct marked
 * preserve_access_index so every field access is a CO-RE relocation that libbpf resolves
 * against the running kernel's BTF (/sys/kernel/btf/vmlinux) at load time. Field order and
 * padding here do not matter; names do. Regenerate nothing: add a field here when a program
 * needs it (`bpftool btf dump file /sys/kernel/btf/vmlinux format c` shows the real layout).
 * UAPI types and constants (BPF map types, flags) come from <linux/bpf.h>.
 */
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#include <linux/types.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef _Bool bool;
typedef int pid_t;
typedef __u32 dev_t;
typedef __s64 time64_t;

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

/* x86-64 register names; bpf_tracing.h's PT_REGS_PARMn use them with __TARGET_ARCH_x86. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di;
	unsigned long orig_ax, ip, cs, flags, sp, ss;
};

struct ns_common {
	unsigned int inum;
};

struct mnt_namespace {
	struct ns_common ns;
};

struct pid_namespace {
	unsigned int level;
	struct ns_common ns;
};

struct new_utsname {
	char nodename[65];
};

struct uts_namespace {
	struct new_utsname name;
	struct ns_common ns;
};

struct ipc_namespace {
	struct ns_common ns;
};

struct net {
	struct ns_common ns;
};

struct cgroup_namespace {
	struct ns_common ns;
};

struct nsproxy {
	struct uts_namespace *uts_ns;
	struct ipc_namespace *ipc_ns;
	struct mnt_namespace *mnt_ns;
	struct pid_namespace *pid_ns_for_children;
	struct net *net_ns;
	struct cgroup_namespace *cgroup_ns;
};

struct upid {
	int nr;
	struct pid_namespace *ns;
};

struct pid {
	unsigned int level;
	struct upid numbers[1];
};

struct qstr {
	u32 len;
	const unsigned char *name;
};

struct super_block {
	dev_t s_dev;
	unsigned long s_magic;
};

struct timespec64 {
	time64_t tv_sec;
	long tv_nsec;
};

struct pipe_inode_info;

struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
	s64 i_size;
	struct super_block *i_sb;
	time64_t i_ctime_sec;
	u32 i_ctime_nsec;
	struct pipe_inode_info *i_pipe; /* in a union: only for a FIFO's inode */
};

struct pipe_buffer {
	unsigned int offset;
	unsigned int len;
	unsigned int flags;
};

/* head (in an anonymous union since 6.14; CO-RE finds it there), the ring of buffers. */
struct pipe_inode_info {
	unsigned int head;
	unsigned int ring_size;
	struct pipe_buffer *bufs;
};

/* Before 6.6 the change time was a timespec64 named i_ctime, in 6.6-6.10 __i_ctime. */
struct inode___pre66 {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

struct inode___pre611 {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
};

struct vfsmount {
	struct dentry *mnt_root;
};

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	struct path f_path;
	struct inode *f_inode;
	unsigned int f_flags;
	s64 f_pos;
	void *private_data;
	unsigned int f_mode;
};

struct in6_addr {
	__u8 s6_addr[16];
};

struct sock_common {
	unsigned short skc_family;
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
};

struct socket {
	short type;
	struct sock *sk;
};

struct sockaddr_un {
	unsigned short sun_family;
	char sun_path[108];
};

struct unix_address {
	int len;
	struct sockaddr_un name[];
};

struct unix_sock {
	struct unix_address *addr;
	struct sock *peer;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

typedef struct {
	void *vdso;
} mm_context_t;

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
	unsigned long env_start;
	unsigned long env_end;
	unsigned long start_brk;
	unsigned long brk;
	unsigned long start_stack;
	mm_context_t context;
};

struct vm_area_struct {
	unsigned long vm_start;
	unsigned long vm_end;
	unsigned long vm_flags;
	struct file *vm_file;
};

struct fs_struct {
	int umask;
	struct path pwd;
};

struct task_struct {
	unsigned int flags;
	int exit_code;
	pid_t pid;
	pid_t tgid;
	u64 start_time;
	u64 start_boottime;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct pid *thread_pid;
	struct nsproxy *nsproxy;
	const struct cred *cred;
	struct css_set *cgroups;
	struct files_struct *files;
	struct fs_struct *fs;
	struct mm_struct *mm;
	char comm[16];
	u64 self_exec_id;
	unsigned int in_execve : 1;
	struct sighand_struct *sighand;
	const struct cred *real_cred;
};

typedef struct {
	unsigned long sig[1];
} sigset_t;

struct sigaction {
	void *sa_handler;
	unsigned long sa_flags;
	sigset_t sa_mask;
};

struct k_sigaction {
	struct sigaction sa;
};

struct sighand_struct {
	struct k_sigaction action[64];
};

struct xarray {
	void *xa_head;
};

struct xa_node {
	unsigned char shift;
	void *slots[64];
};

struct idr {
	struct xarray idr_rt;
	unsigned int idr_base;
};

struct inotify_group_private_data {
	struct idr idr;
};

struct fsnotify_group {
	struct inotify_group_private_data inotify_data;
};

struct fsnotify_mark_connector {
	void *obj;
};

struct fsnotify_mark {
	struct fsnotify_mark_connector *connector;
};

struct module {
	char name[56];
	const char *version;
	const char *srcversion;
};

struct bpf_map {
	u32 id;
	char name[16];
};

struct bpf_prog_aux {
	u32 id;
	char name[16];
};

/* The kernel's enum bpf_prog_type (the UAPI header comes after this one): an enum field
 * relocates only against an enum. */
enum bpf_prog_type___tr { BPF_PROG_TYPE_UNSPEC___tr = 0 };

struct bpf_prog {
	enum bpf_prog_type___tr type;
	struct bpf_prog_aux *aux;
};

typedef struct {
	unsigned int val;
} kuid_t;

typedef struct {
	unsigned int val;
} kgid_t;

typedef struct {
	u64 val;
} kernel_cap_t;

struct user_namespace {
	struct ns_common ns;
};

struct cred {
	kuid_t uid;
	kgid_t gid;
	kuid_t suid;
	kgid_t sgid;
	kuid_t euid;
	kgid_t egid;
	kuid_t fsuid;
	kgid_t fsgid;
	unsigned securebits;
	kernel_cap_t cap_inheritable;
	kernel_cap_t cap_permitted;
	kernel_cap_t cap_effective;
	kernel_cap_t cap_bset;
	kernel_cap_t cap_ambient;
	struct user_namespace *user_ns;
};

struct kernfs_node {
	u64 id;
	const char *name;
	struct kernfs_node *__parent;
};

/* Before 6.15 the parent pointer was `parent`. */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct cgroup_root {
	int hierarchy_id;
};

struct cgroup {
	struct kernfs_node *kn;
	struct cgroup_root *root;
};

struct cgroup_subsys_state {
	struct cgroup *cgroup;
};

struct css_set {
	/* Sized by CGROUP_SUBSYS_COUNT, which depends on the kernel's configuration: the
	 * programs only take the field's (relocated) offset and index it themselves. */
	struct cgroup_subsys_state *subsys[16];
	struct cgroup *dfl_cgrp;
};

struct linux_binprm {
	struct file *file;
	struct file *interpreter;
	int argc;
	int envc;
	const char *filename;
	const char *interp;
};

/* BPF iterators (iter/task). */
struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	u64 session_id;
	u64 seq_num;
};

struct bpf_iter__task {
	union {
		struct bpf_iter_meta *meta;
	};
	union {
		struct task_struct *task;
	};
};

#pragma clang attribute pop

#endif /* __VMLINUX_H__ */
