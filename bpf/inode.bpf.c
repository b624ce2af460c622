// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Inode operations without LSM hooks, from the syscalls that reach them: unlink, rename,
 * mknod, symlink. Paths are read at entry and made absolute (against the directory fd or
 * the working directory, without resolving symlinks or `..`).
 *
 * security_inode_unlink: from unlink/unlinkat. The path is read at
 * entry and made absolute (against the directory fd or the working directory); the event is
 * emitted at exit when the unlink succeeded. The inode, its device and change time are gone
 * by then: they are filled where a filesystem tracepoint shows the dentry during the unlink
 * (ext4_unlink_enter), and 0 elsewhere.
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int inode_unlink_event(struct pending *sys)
{
	if (!sys)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_INODE_UNLINK, &ev, &candidates);
	if (!q)
		return 0;
	int unlinkat = sys->event == NR_unlinkat;
	put_abs_path(q, 0, sys, unlinkat ? 1 : 0, unlinkat ? sys->ints[0] : (__u64)AT_FDCWD);
	put_int(q, 1, ARG_KIND_UINT, sys->unlink_known ? sys->unlink_ino : 0);
	put_int(q, 2, ARG_KIND_UINT, sys->unlink_known ? sys->unlink_dev : 0);
	put_int(q, 3, ARG_KIND_UINT, sys->unlink_known ? sys->unlink_ctime : 0);
	return emit(q, rules_eval(q, ev, EVENT_SECURITY_INODE_UNLINK, candidates, RULES_ALL));
}

/* ext4's tracepoint inside the unlink: the victim's inode, while it still exists. */
SEC("tp_btf/ext4_unlink_enter")
int BPF_PROG(tr_ext4_unlink, struct inode *parent, struct dentry *dentry)
{
	struct pending *p = bpf_task_storage_get(&pending_store, bpf_get_current_task_btf(), 0, 0);
	if (!p || p->state != PENDING_ARMED || p->generation != generation ||
	    (p->event != NR_unlink && p->event != NR_unlinkat))
		return 0;
	struct inode *inode = BPF_CORE_READ(dentry, d_inode);
	p->unlink_ino = BPF_CORE_READ(inode, i_ino);
	p->unlink_dev = BPF_CORE_READ(inode, i_sb, s_dev);
	p->unlink_ctime = inode_ctime(inode);
	p->unlink_known = 1;
	return 0;
}

#define NR_rename 82
#define NR_renameat 264
#define NR_renameat2 316
#define NR_mknodat 259
#define NR_symlinkat 266

/* The path argument `arg` made absolute, with the directory fd in register `dirfd_arg`
 * (or the working directory when dirfd_arg < 0). */
static __always_inline void put_path_arg(struct pending *q, __u32 index, struct pending *sys,
					 __u32 arg, int dirfd_arg)
{
	__u64 dirfd = dirfd_arg < 0 ? (__u64)AT_FDCWD : sys->ints[dirfd_arg & 7];
	put_abs_path(q, index, sys, arg, dirfd);
}

/*
 * security_inode_rename: a successful rename, renameat or renameat2, both paths absolute.
 * Renames the hook sees and then refuses (by an LSM) are not reported.
 */
static __always_inline int inode_rename_event(struct pending *sys, __u64 ret)
{
	if (!sys || ret != 0)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_INODE_RENAME, &ev, &candidates);
	if (!q)
		return 0;
	if (sys->event == NR_rename) {
		put_path_arg(q, 0, sys, 0, -1);
		put_path_arg(q, 1, sys, 1, -1);
	} else {
		put_path_arg(q, 0, sys, 1, 0);
		put_path_arg(q, 1, sys, 3, 2);
	}
	return emit(q, rules_eval(q, ev, EVENT_SECURITY_INODE_RENAME, candidates, RULES_ALL));
}

/* The kernel's dev_t from mknod's (the "new" encoding user space passes). */
static __always_inline __u32 decode_dev(__u32 dev)
{
	__u32 major = (dev & 0xfff00) >> 8;
	__u32 minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
	return (major << 20) | minor;
}

/*
 * security_inode_mknod: a successful mknod or mknodat: the new node's absolute path, its
 * mode as the hook sees it (the umask applied) and its device number.
 */
static __always_inline int inode_mknod_event(struct pending *sys, __u64 ret)
{
	if (!sys || ret != 0)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_INODE_MKNOD, &ev, &candidates);
	if (!q)
		return 0;
	int at = sys->event == NR_mknodat;
	put_path_arg(q, 0, sys, at ? 1 : 0, at ? 0 : -1);
	__u32 mode = sys->ints[at ? 2 : 1];
	__u32 umask = BPF_CORE_READ(bpf_get_current_task_btf(), fs, umask);
	put_int(q, 1, ARG_KIND_UINT, (__u16)((mode & S_IFMT) | (mode & ~S_IFMT & ~umask)));
	put_int(q, 2, ARG_KIND_UINT, decode_dev(sys->ints[at ? 3 : 2]));
	return emit(q, rules_eval(q, ev, EVENT_SECURITY_INODE_MKNOD, candidates, RULES_ALL));
}

/* security_inode_symlink: a successful symlink or symlinkat: the link's absolute path and
 * its target as given. */
static __always_inline int inode_symlink_event(struct pending *sys, __u64 ret)
{
	if (!sys || ret != 0)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_INODE_SYMLINK, &ev, &candidates);
	if (!q)
		return 0;
	int at = sys->event == NR_symlinkat;
	put_path_arg(q, 0, sys, at ? 2 : 1, at ? 1 : -1);
	__u32 off = sys->str_off[0];
	if (off <= ARGS_BUF)
		append_str(q, 1, &sys->args[off & (ARGS_BUF - 1)], sys->str_len[0]);
	return emit(q, rules_eval(q, ev, EVENT_SECURITY_INODE_SYMLINK, candidates, RULES_ALL));
}

#define NR_truncate 76
#define NR_utime 132
#define NR_utimes 235
#define NR_futimesat 261
#define NR_utimensat 280

/* A file's path, inode and dev (when the call named it by fd), else the path given, made
 * absolute. */
static __always_inline void put_target(struct pending *q, struct pending *sys, int by_fd,
				       __u64 fd, __u32 arg, __u64 dirfd, int path_i, int ino_i,
				       int dev_i)
{
	if (by_fd) {
		struct file *file = (struct file *)fd_file(fd);
		if (!file)
			return;
		put_path(q, path_i, (__u64)&file->f_path);
		struct inode *inode = BPF_CORE_READ(file, f_inode);
		put_int(q, ino_i, ARG_KIND_UINT, BPF_CORE_READ(inode, i_ino));
		put_int(q, dev_i, ARG_KIND_UINT, BPF_CORE_READ(inode, i_sb, s_dev));
		return;
	}
	put_abs_path(q, path_i, sys, arg, dirfd);
}

/* do_truncate: a successful truncate or ftruncate: the file and its new length. */
static __always_inline int do_truncate_event(struct pending *sys, __u64 ret)
{
	if (!sys || ret != 0)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_DO_TRUNCATE, &ev, &candidates);
	if (!q)
		return 0;
	put_target(q, sys, sys->event != NR_truncate, sys->ints[0], 0, (__u64)AT_FDCWD, 0, 1, 2);
	put_int(q, 3, ARG_KIND_UINT, sys->ints[1]);
	return emit(q, rules_eval(q, ev, EVENT_DO_TRUNCATE, candidates, RULES_ALL));
}

/*
 * vfs_utimes: a successful utime, utimes, utimensat or futimesat: the file, and the access
 * and modification times given, in nanoseconds (0 when none was given: the current time).
 */
static __always_inline int vfs_utimes_event(struct pending *sys, __u64 ret)
{
	if (!sys || ret != 0)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_VFS_UTIMES, &ev, &candidates);
	if (!q)
		return 0;
	__u32 nr = sys->event;
	int at = nr == NR_utimensat || nr == NR_futimesat;
	/* utimensat with no path: the file of the fd (futimens). */
	int by_fd = nr == NR_utimensat && !sys->ints[1];
	put_target(q, sys, by_fd, sys->ints[0], at ? 1 : 0, at ? sys->ints[0] : (__u64)AT_FDCWD,
		   0, 2, 1);
	__u64 times = sys->ints[at ? 2 : 1];
	__s64 t[4] = {};
	if (times && !bpf_probe_read_user(t, sizeof(t), (const void *)times)) {
		__u64 atime, mtime;
		if (nr == NR_utime) { /* struct utimbuf: seconds */
			atime = t[0] * 1000000000ULL;
			mtime = t[1] * 1000000000ULL;
		} else if (nr == NR_utimensat) { /* timespec[2] */
			atime = t[0] * 1000000000ULL + t[1];
			mtime = t[2] * 1000000000ULL + t[3];
		} else { /* timeval[2] */
			atime = t[0] * 1000000000ULL + t[1] * 1000;
			mtime = t[2] * 1000000000ULL + t[3] * 1000;
		}
		put_int(q, 3, ARG_KIND_UINT, atime);
		put_int(q, 4, ARG_KIND_UINT, mtime);
	} else {
		put_int(q, 3, ARG_KIND_UINT, 0);
		put_int(q, 4, ARG_KIND_UINT, 0);
	}
	return emit(q, rules_eval(q, ev, EVENT_VFS_UTIMES, candidates, RULES_ALL));
}

/* ---- chmod_common: the chmod family ---- */

#define NR_chmod 90
#define NR_fchmod 91

/*
 * chmod_common: the kernel function every chmod-family syscall reaches once the file is found
 * (Tracee probes it): the file and the mode asked for. Reached when the call succeeded or
 * failed inside it (not the owner, a read-only mount); a name that does not resolve never
 * gets there.
 */
static __always_inline int chmod_common_event(struct pending *sys, __u64 ret)
{
	long r = (long)ret;
	if (!sys || (r != 0 && r != -EPERM && r != -EROFS))
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_CHMOD_COMMON, &ev, &candidates);
	if (!q)
		return 0;
	__u32 nr = sys->event;
	if (nr == NR_fchmod) {
		struct file *file = (struct file *)fd_file(sys->ints[0]);
		if (file)
			put_path(q, 0, (__u64)&file->f_path);
	} else {
		int at = nr != NR_chmod;
		put_abs_path(q, 0, sys, at ? 1 : 0, at ? sys->ints[0] : (__u64)AT_FDCWD);
	}
	put_int(q, 1, ARG_KIND_UINT, (__u16)sys->ints[nr == NR_chmod || nr == NR_fchmod ? 1 : 2]);
	return emit(q, rules_eval(q, ev, EVENT_CHMOD_COMMON, candidates, RULES_ALL));
}

/* ---- inotify_watch, security_path_notify: inotify_add_watch, fanotify_mark ---- */

#define NR_inotify_add_watch 254
#define XA_CHUNK_MASK 63
#define FAN_MARK_MOUNT 0x10
#define FAN_MARK_FILESYSTEM 0x100
#define FAN_MARK_ADD 0x1
#define FSNOTIFY_OBJ_TYPE_INODE 0
#define FSNOTIFY_OBJ_TYPE_VFSMOUNT 1
#define FSNOTIFY_OBJ_TYPE_SB 2

/* The entry at `index` of an xarray (an idr's tree), or 0. */
static __always_inline __u64 xa_entry(struct xarray *xa, __u64 index)
{
	__u64 entry = (__u64)BPF_CORE_READ(xa, xa_head);
	for (int depth = 0; depth < 4; depth++) {
		/* An internal entry (a node) is tagged 2 in its low bits and is above 4096. */
		if ((entry & 3) != 2 || entry <= 4096)
			return index == 0 || depth > 0 ? entry : 0;
		struct xa_node *node = (struct xa_node *)(entry - 2);
		__u32 shift = BPF_CORE_READ(node, shift);
		__u32 offset = (index >> (shift & 63)) & XA_CHUNK_MASK;
		bpf_probe_read_kernel(&entry, sizeof(entry), &node->slots[offset]);
	}
	return 0;
}

/* The inode an inotify watch descriptor of the fd's instance watches, or 0. */
static __always_inline struct inode *inotify_inode(__u64 fd, __u64 wd)
{
	struct file *file = (struct file *)fd_file(fd);
	struct fsnotify_group *group = file ? BPF_CORE_READ(file, private_data) : 0;
	if (!group)
		return 0;
	struct fsnotify_mark *mark = (struct fsnotify_mark *)xa_entry(
		&group->inotify_data.idr.idr_rt, wd - BPF_CORE_READ(group, inotify_data.idr.idr_base));
	if (!mark)
		return 0;
	return BPF_CORE_READ(mark, connector, obj);
}

/*
 * inotify_watch and security_path_notify: a watch added with inotify_add_watch (the path
 * made absolute; the inode from the watch the returned descriptor names) or a mark added
 * with fanotify_mark (the path; the kind of object marked). Calls that failed are left out.
 */
static __always_inline int notify_events(struct pending *sys, __u64 ret)
{
	if (!sys || (long)ret < 0)
		return 0;
	int inotify = sys->event == NR_inotify_add_watch;
	if (!inotify && !(sys->ints[1] & FAN_MARK_ADD))
		return 0;
	struct inode *inode = inotify ? inotify_inode(sys->ints[0], ret) : 0;
	/* inotify_add_watch(fd, pathname, mask); fanotify_mark(fd, flags, mask, dirfd, pathname) */
	__u32 path_arg = inotify ? 1 : 4;
	__u64 dirfd = inotify ? (__u64)AT_FDCWD : sys->ints[3];
	struct event_config *ev;
	__u64 candidates;
	struct pending *q;
	if (inotify) {
		q = begin_derived(sys, EVENT_INOTIFY_WATCH, &ev, &candidates);
		if (q) {
			put_abs_path(q, 0, sys, path_arg, dirfd);
			if (inode) {
				put_int(q, 1, ARG_KIND_UINT, BPF_CORE_READ(inode, i_ino));
				put_int(q, 2, ARG_KIND_UINT, BPF_CORE_READ(inode, i_sb, s_dev));
			}
			emit(q, rules_eval(q, ev, EVENT_INOTIFY_WATCH, candidates, RULES_ALL));
		}
	}
	q = begin_derived(sys, EVENT_SECURITY_PATH_NOTIFY, &ev, &candidates);
	if (!q)
		return 0;
	put_abs_path(q, 0, sys, path_arg, dirfd);
	if (inode) {
		put_int(q, 1, ARG_KIND_UINT, BPF_CORE_READ(inode, i_ino));
		put_int(q, 2, ARG_KIND_UINT, BPF_CORE_READ(inode, i_sb, s_dev));
	}
	put_int(q, 3, ARG_KIND_UINT, sys->ints[inotify ? 2 : 2]);
	__u32 type = FSNOTIFY_OBJ_TYPE_INODE;
	if (!inotify && (sys->ints[1] & FAN_MARK_FILESYSTEM) == FAN_MARK_FILESYSTEM)
		type = FSNOTIFY_OBJ_TYPE_SB;
	else if (!inotify && (sys->ints[1] & FAN_MARK_MOUNT))
		type = FSNOTIFY_OBJ_TYPE_VFSMOUNT;
	put_int(q, 4, ARG_KIND_UINT, type);
	return emit(q, rules_eval(q, ev, EVENT_SECURITY_PATH_NOTIFY, candidates, RULES_ALL));
}

/* The handler programs (tracee.bpf.h DERIVED_HANDLERS). */
DERIVED_HANDLERS(INODE, {
	if ((h & DERIVED_INODE_UNLINK) && ret == 0)
		inode_unlink_event(p);
	else if (h & DERIVED_INODE_RENAME)
		inode_rename_event(p, ret);
	else if (h & DERIVED_INODE_MKNOD)
		inode_mknod_event(p, ret);
	else if (h & DERIVED_INODE_SYMLINK)
		inode_symlink_event(p, ret);
	else if (h & DERIVED_TRUNCATE)
		do_truncate_event(p, ret);
	else if (h & DERIVED_UTIMES)
		vfs_utimes_event(p, ret);
	else if (h & DERIVED_NOTIFY)
		notify_events(p, ret);
	else if (h & DERIVED_CHMOD)
		chmod_common_event(p, ret);
})
