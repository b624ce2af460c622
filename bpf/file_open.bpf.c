// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * security_file_open without an LSM hook (fentry/lsm programs are refused on the target
 * kernels): at the exit of an open-family syscall the returned fd is resolved through
 * task->files to its struct file, whose dentries give the full path. Only events whose
 * policy and scope already matched pay for the walk.
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PATH_HALF 4096
#define MAX_PATH_COMPONENTS 64
#define NAME_MAX_LEN 255

static __always_inline struct key_scratch *keys(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_keys, &zero);
}

struct path_walk {
	struct key_scratch *k;
};

/* One component: "/name" before what is written, or a step up across a mount. */
static long path_step(__u64 i, struct path_walk *ctx)
{
	struct key_scratch *k = ctx->k;
	if (!k)
		return 1;
	struct walk_state *w = &k->walk;
	struct dentry *dentry = (struct dentry *)w->dentry;
	struct vfsmount *vfsmnt = (struct vfsmount *)w->vfsmnt;
	struct mount *mnt = (struct mount *)w->mnt;
	struct mount *mnt_parent = (struct mount *)w->mnt_parent;
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		if (dentry != mnt_root && w->off == PATH_HALF) {
			/* A file of no mounted tree (a memfd, `memfd:NAME`): its own name, without
			 * a slash, as Tracee shows it. */
			__u32 len = BPF_CORE_READ(dentry, d_name.len);
			if (len > NAME_MAX_LEN)
				len = NAME_MAX_LEN;
			if (len > 0) {
				__u32 off = (PATH_HALF - len) & (PATH_HALF - 1);
				bpf_probe_read_kernel(&k->path[off], len & NAME_MAX_LEN,
						      BPF_CORE_READ(dentry, d_name.name));
				w->off = off;
			}
			return 1;
		}
		if (dentry != mnt_root || mnt == mnt_parent)
			return 1; /* the root of the namespace (or an unmounted tree) */
		w->dentry = (__u64)BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = (__u64)mnt_parent;
		w->mnt_parent = (__u64)BPF_CORE_READ(mnt_parent, mnt_parent);
		w->vfsmnt = (__u64)mnt_parent + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	__u32 len = BPF_CORE_READ(dentry, d_name.len);
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	if (len > NAME_MAX_LEN)
		len = NAME_MAX_LEN;
	__u32 off = w->off;
	if (off < len + 1)
		return 1;
	off -= len + 1;
	off &= PATH_HALF - 1;
	k->path[off] = '/';
	bpf_probe_read_kernel(&k->path[off + 1], len & NAME_MAX_LEN, name);
	w->off = off;
	w->dentry = (__u64)parent;
	return 0;
}

/* Walks from the dentry to the root, crossing mounts, writing "/name" components backwards
 * so the path ends at the middle of the scratch buffer; returns where it starts. */
static __always_inline __u32 walk_path(struct key_scratch *k, __u64 path_addr)
{
	struct path *path = (struct path *)path_addr;
	struct vfsmount *vfsmnt = BPF_CORE_READ(path, mnt);
	struct mount *mnt = (struct mount *)((char *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
	k->walk.dentry = (__u64)BPF_CORE_READ(path, dentry);
	k->walk.vfsmnt = (__u64)vfsmnt;
	k->walk.mnt = (__u64)mnt;
	k->walk.mnt_parent = (__u64)BPF_CORE_READ(mnt, mnt_parent);
	k->walk.off = PATH_HALF;
	struct path_walk ctx = { .k = k };
	bpf_loop(MAX_PATH_COMPONENTS, path_step, &ctx, 0);
	__u32 off = k->walk.off;
	if (off >= PATH_HALF) {
		off = PATH_HALF - 1;
		k->path[off] = '/';
	}
	return off & (PATH_HALF - 1);
}

__noinline int put_path(struct pending *p, __u32 index, __u64 path_addr)
{
	struct key_scratch *k = keys();
	if (!p || !k)
		return 0;
	__u32 off = walk_path(k, path_addr);
	return append_str(p, index, &k->path[off], PATH_HALF - off);
}

__noinline int put_abs_path(struct pending *p, __u32 index, struct pending *sys, __u32 arg,
			    __u64 dirfd)
{
	struct key_scratch *k = keys();
	if (!p || !sys || !k || arg >= MAX_ARGS)
		return 0;
	__u32 at = sys->str_off[arg & (MAX_ARGS - 1)];
	__u32 len = sys->str_len[arg & (MAX_ARGS - 1)];
	if (at > ARGS_BUF || len > STR_CAP)
		return 0;
	/* Absolute already: as given. */
	if (len > 0 && sys->args[at & (ARGS_BUF - 1)] == '/')
		return append_str(p, index, &sys->args[at & (ARGS_BUF - 1)], len);
	/* Relative: the directory (fd, or the working directory) walked, then "/name". */
	__u64 dir_path;
	if ((int)dirfd == AT_FDCWD) {
		struct fs_struct *fs = BPF_CORE_READ(bpf_get_current_task_btf(), fs);
		dir_path = (__u64)&fs->pwd;
	} else {
		struct file *file = (struct file *)fd_file(dirfd);
		if (!file)
			return 0;
		dir_path = (__u64)&file->f_path;
	}
	__u32 off = walk_path(k, dir_path);
	/* The directory ends at PATH_HALF; "/name" follows. The root directory ("/" alone)
	 * is skipped so the result is "/name", not "//name". */
	__u32 n = len;
	barrier_var(n);
	if (n > STR_CAP)
		return 0;
	k->path[PATH_HALF] = '/';
	bpf_probe_read_kernel(&k->path[PATH_HALF + 1], n, &sys->args[at & (ARGS_BUF - 1)]);
	__u32 start = off == PATH_HALF - 1 ? PATH_HALF : off;
	start &= 2 * PATH_HALF - 1;
	return append_str(p, index, &k->path[start], PATH_HALF + 1 + n - start);
}

__noinline int record_exe(struct pending *ts, __u64 path_addr, __u64 mntns)
{
	struct key_scratch *k = keys();
	if (!ts || !k)
		return 0;
	__u32 off = walk_path(k, path_addr);
	__u32 len = PATH_HALF - off;
	__builtin_memset(&ts->exe, 0, sizeof(ts->exe));
	ts->exe.mount_ns = mntns;
	ts->exe_known = 0;
	/* Longer paths cannot equal a policy's (at most ABI_PATH_MAX - 1 bytes). */
	barrier_var(len);
	if (len == 0 || len >= ABI_PATH_MAX)
		return 0;
	bpf_probe_read_kernel(ts->exe.path, len, &k->path[off]);
	/* At sched_process_exec the count has already moved on to the new program. */
	ts->exe_exec_id = (__u32)bpf_get_current_task_btf()->self_exec_id;
	ts->exe_known = 1;
	return 0;
}

#define AS_DENTRY(x) \
	((struct dentry *)bpf_rdonly_cast((void *)(x), bpf_core_type_id_kernel(struct dentry)))
#define AS_MOUNT(x) \
	((struct mount *)bpf_rdonly_cast((void *)(x), bpf_core_type_id_kernel(struct mount)))

/* One step of the anchor walk: the steps of `path_step`, with plain loads (the pointers
 * kept in map memory read back as numbers, cast again each step) and no name copied. */
static long anchor_step(__u64 i, struct path_walk *ctx)
{
	struct key_scratch *k = ctx->k;
	if (!k)
		return 1;
	struct anchor_walk *w = &k->anchor;
	struct dentry *d = AS_DENTRY(w->dentry);
	struct mount *m = AS_MOUNT(w->mnt);
	__u64 parent = (__u64)d->d_parent;
	if (w->dentry == (__u64)m->mnt.mnt_root) {
		if (w->mnt == (__u64)m->mnt_parent) {
			w->state = ANCHOR_ROOTED;
			return 1;
		}
		w->dentry = (__u64)m->mnt_mountpoint;
		w->mnt = (__u64)m->mnt_parent;
		return 0;
	}
	if (w->dentry == parent) {
		w->state = ANCHOR_NO_ROOT; /* a memfd's, or a tree no longer mounted */
		return 1;
	}
	if (!w->last)
		w->last = w->dentry;
	w->top = w->dentry;
	w->total += d->d_name.len + 1;
	w->dentry = parent;
	return 0;
}

/* Is `name` (a component's) with this kind and length an anchor? The event's sketch
 * answers no for most names; the map answers the rest. */
static __always_inline int anchor_of(struct anchor_key *key, struct event_config *ev,
				     __u8 kind, __u32 len, const unsigned char *name)
{
	__builtin_memset(key->name, 0, sizeof(key->name));
	key->kind = kind;
	key->len = len;
	if (len == 0 || len > ABI_ANCHOR_NAME_MAX)
		return 0;
	if (bpf_probe_read_kernel(key->name, len, name))
		return 1; /* unreadable: not turned away on it */
	__u32 at = len - 1;
	barrier_var(at);
	if (at >= ABI_ANCHOR_NAME_MAX)
		return 1;
	__u32 bit = anchor_sketch_bit(kind, len, (__u8)key->name[0], (__u8)key->name[at]);
	if (!(ev->anchor_sketch[(bit / 64) & 3] & (1ULL << (bit % 64))))
		return 0;
	return bpf_map_lookup_elem(&path_anchors, key) != 0;
}

/*
 * May the path of `file_addr` meet a filter of the anchored policies (docs/image-format.md,
 * "Path anchors")? 0 only when its first component is no TOP anchor, its last no LAST
 * anchor and ends with no LAST_SUFFIX one. Paths the anchors do not describe (no root, too
 * deep or long, a name longer than an anchor holds) may.
 */
static __noinline int path_may_match(__u64 file_addr, __u32 event, struct event_config *ev)
{
	struct key_scratch *k = keys();
	if (!k || !file_addr || !ev)
		return 1;
	__u64 suffix_lens = ev->anchor_suffix_lens;
	struct file *f = bpf_rdonly_cast((void *)file_addr, bpf_core_type_id_kernel(struct file));
	struct anchor_walk *w = &k->anchor;
	w->dentry = (__u64)f->f_path.dentry;
	w->mnt = (__u64)f->f_path.mnt - bpf_core_field_offset(struct mount, mnt);
	w->top = 0;
	w->last = 0;
	w->total = 0;
	w->state = ANCHOR_WALKING;
	struct path_walk ctx = { .k = k };
	bpf_loop(MAX_PATH_COMPONENTS, anchor_step, &ctx, 0);
	if (w->state != ANCHOR_ROOTED || !w->top || w->total >= PATH_HALF)
		return 1;
	struct anchor_key *key = &k->anchor_key;
	key->event = event;
	key->field = 0;
	struct dentry *top = AS_DENTRY(w->top);
	__u32 len = top->d_name.len;
	if (len > ABI_ANCHOR_NAME_MAX || anchor_of(key, ev, ANCHOR_TOP, len, top->d_name.name))
		return 1;
	struct dentry *last = AS_DENTRY(w->last);
	const unsigned char *name = last->d_name.name;
	len = last->d_name.len;
	if (len > ABI_ANCHOR_NAME_MAX || anchor_of(key, ev, ANCHOR_LAST, len, name))
		return 1;
	/* Suffixes, shortest first: the last n bytes of the name. */
	for (int i = 0; i < ABI_ANCHOR_MAX_SUFFIX_LENS; i++) {
		__u64 low = suffix_lens & -suffix_lens;
		__u32 n = __builtin_popcountll(low - 1);
		if (!suffix_lens || n > len)
			break;
		suffix_lens &= ~low;
		if (anchor_of(key, ev, ANCHOR_LAST_SUFFIX, n, name + (len - n)))
			return 1;
	}
	return 0;
}

__noinline int file_open_may(__u64 fd, __u64 scope)
{
	__u32 id = EVENT_SECURITY_FILE_OPEN;
	struct event_config *ev = bpf_map_lookup_elem(&events, &id);
	if (!ev)
		return 0;
	__u64 candidates = scope & ev->policies;
	if (!candidates)
		return 0;
	if (candidates & ~ev->anchored)
		return 1;
	return path_may_match(fd_file(fd), id, ev);
}

static __always_inline int file_open_event(struct pending *sys, __u64 fd)
{
	if (!sys)
		return 0;
	__u32 id = EVENT_SECURITY_FILE_OPEN;
	struct event_config *ev = bpf_map_lookup_elem(&events, &id);
	if (!ev)
		return 0;
	__u64 candidates = sys->scope & ev->policies;
	if (!candidates)
		return 0;
	struct file *file = (struct file *)fd_file(fd);
	if (!file)
		return 0;
	/* Every candidate's filters need an anchor the path meets: checked on the dentries,
	 * before the path is built (at the exit program already for GATE_AT_EXIT). */
	if (!sys->anchors_met && !(candidates & ~ev->anchored) &&
	    !path_may_match((__u64)file, id, ev))
		return 0;
	struct pending *q = scratch_event(SCRATCH_FILE_OPEN);
	if (!q)
		return 0;
	reset_event(q, id, sys->event);
	struct inode *inode = BPF_CORE_READ(file, f_inode);

	put_path(q, 0, (__u64)&file->f_path);
	put_i32(q, 1, BPF_CORE_READ(file, f_flags));
	put_int(q, 2, ARG_KIND_UINT, BPF_CORE_READ(inode, i_sb, s_dev));
	put_int(q, 3, ARG_KIND_UINT, BPF_CORE_READ(inode, i_ino));
	put_int(q, 4, ARG_KIND_UINT, inode_ctime(inode));
	/* The path as the caller gave it: read at entry when the syscall's own event is
	 * selected too, otherwise from user memory now (GATE_AT_EXIT). */
	int arg = open_path_arg(sys->event);
	if (arg >= 0 && arg < MAX_ARGS) {
		__u32 off = sys->str_off[arg];
		if (off <= ARGS_BUF)
			append_str(q, 5, &sys->args[off], sys->str_len[arg]);
		else
			put_user_str(q, 5, sys->ints[arg]);
	}
	__u64 pass = derived_context(q, ev, id, candidates);
	if (!pass)
		return 0;
	return emit(q, rules_eval(q, ev, id, pass, RULES_RETVAL | RULES_CONTEXT));
}

/* The handler programs (tracee.bpf.h DERIVED_HANDLERS). */
DERIVED_HANDLERS(FILE_OPEN, {
	if ((h & DERIVED_FILE_OPEN) && (long)ret >= 0)
		file_open_event(p, ret);
})
