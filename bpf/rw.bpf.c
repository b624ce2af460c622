// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vfs_write, vfs_writev, vfs_read, vfs_readv without kprobes: from the read and write
 * families' exits, for calls whose fd is a file (the kernel function runs once the fd
 * resolves): the file (walked path, dev, inode), the size asked (or the iovec count) and
 * the position the call started at.
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NR_read 0
#define NR_pread64 17
#define NR_readv 19
#define NR_preadv 295
#define NR_preadv2 327

static __always_inline int vfs_rw_event(struct pending *sys, __u64 ret)
{
	if (!sys)
		return 0;
	__u32 nr = sys->event;
	__u32 id;
	if (nr == NR_write || nr == NR_pwrite64)
		id = EVENT_VFS_WRITE;
	else if (nr == NR_writev || nr == NR_pwritev || nr == NR_pwritev2)
		id = EVENT_VFS_WRITEV;
	else if (nr == NR_read || nr == NR_pread64)
		id = EVENT_VFS_READ;
	else
		id = EVENT_VFS_READV;
	struct file *file = (struct file *)fd_file(sys->ints[0]);
	if (!file)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, id, &ev, &candidates);
	if (!q)
		return 0;
	put_path(q, 0, (__u64)&file->f_path);
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	put_int(q, 1, ARG_KIND_UINT, BPF_CORE_READ(inode, i_sb, s_dev));
	put_int(q, 2, ARG_KIND_UINT, BPF_CORE_READ(inode, i_ino));
	put_int(q, 3, ARG_KIND_UINT, sys->ints[2]);
	/* The position it started at: the offset given (p*), else the file's position now
	 * less what the call moved it by. */
	__s64 pos;
	int positional = nr == NR_pwrite64 || nr == NR_pread64 ||
			 ((nr == NR_pwritev || nr == NR_pwritev2 || nr == NR_preadv ||
			   nr == NR_preadv2) && (__s64)sys->ints[3] != -1);
	if (positional)
		pos = (__s64)sys->ints[3];
	else
		pos = BPF_CORE_READ(file, f_pos) - ((long)ret > 0 ? (long)ret : 0);
	put_int(q, 4, ARG_KIND_INT, (__u64)pos);
	return emit(q, rules_eval(q, ev, id, candidates, RULES_ALL));
}

/* ---- file_modification ---- */

#define FMODE_WRITE 0x2

static __always_inline int filemod_key_of(struct file *file, struct filemod_key *key,
					  struct inode **inode)
{
	*inode = BPF_CORE_READ(file, f_inode);
	if ((BPF_CORE_READ(*inode, i_mode) & S_IFMT) != S_IFREG)
		return 0;
	key->tgid = bpf_get_current_pid_tgid() >> 32;
	key->dev = BPF_CORE_READ(*inode, i_sb, s_dev);
	key->ino = BPF_CORE_READ(*inode, i_ino);
	return 1;
}

/* An open-family exit: a regular file opened for writing is watched from here. */
static __always_inline int filemod_open_exit(struct pending *sys, __u64 ret)
{
	if (!sys || (long)ret < 0)
		return 0;
	struct file *file = (struct file *)fd_file(ret);
	if (!file || !(BPF_CORE_READ(file, f_mode) & FMODE_WRITE))
		return 0;
	struct filemod_key key = {};
	struct inode *inode;
	if (!filemod_key_of(file, &key, &inode))
		return 0;
	struct filemod_state state = {
		.open_ctime = inode_ctime(inode),
		.open_size = BPF_CORE_READ(inode, i_size),
	};
	bpf_map_update_elem(&filemod_open, &key, &state, BPF_ANY);
	return 0;
}

/*
 * A write-family exit: the first write that changed a watched file since it was opened
 * (its change time or its size) reports it once, with the change time at the open and now.
 */
static __always_inline int filemod_write_exit(struct pending *sys, __u64 ret)
{
	if (!sys || (long)ret <= 0)
		return 0;
	struct file *file = (struct file *)fd_file(sys->ints[0]);
	if (!file)
		return 0;
	struct filemod_key key = {};
	struct inode *inode;
	if (!filemod_key_of(file, &key, &inode))
		return 0;
	struct filemod_state *state = bpf_map_lookup_elem(&filemod_open, &key);
	if (!state || state->done)
		return 0;
	__u64 ctime = inode_ctime(inode);
	if (ctime == state->open_ctime && BPF_CORE_READ(inode, i_size) == state->open_size)
		return 0;
	state->done = 1;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_FILE_MODIFICATION, &ev, &candidates);
	if (!q)
		return 0;
	put_path(q, 0, (__u64)&file->f_path);
	put_int(q, 1, ARG_KIND_UINT, key.dev);
	put_int(q, 2, ARG_KIND_UINT, key.ino);
	put_int(q, 3, ARG_KIND_UINT, state->open_ctime);
	put_int(q, 4, ARG_KIND_UINT, ctime);
	return emit(q, rules_eval(q, ev, EVENT_FILE_MODIFICATION, candidates, RULES_ALL));
}

/* The handler programs (tracee.bpf.h DERIVED_HANDLERS). */
/* file_modification: the open family records a file opened for writing, the write family
 * reports its first modification. */
static __always_inline void filemod_exit(struct pending *p, __u64 ret)
{
	__u32 nr = p->event;
	if (nr == NR_open || nr == NR_openat || nr == NR_openat2 || nr == NR_creat ||
	    nr == NR_open_by_handle_at)
		filemod_open_exit(p, ret);
	else
		filemod_write_exit(p, ret);
}

DERIVED_HANDLERS(RW, {
	if (h & DERIVED_VFS_RW)
		vfs_rw_event(p, ret);
	else if (h & DERIVED_FILE_MOD)
		filemod_exit(p, ret);
})
