// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Filesystem mounts and unmounts, from the mount and umount2 syscalls. */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * security_sb_mount without an LSM hook: from mount(2). Its three strings (source,
 * target, filesystem type) are read at entry; the target is made absolute against the
 * working directory. The hook runs once the strings are copied in and the target found:
 * mounts refused before that (a bad address, a missing or too long target) are not
 * reported, those refused after it (no privilege, a bad filesystem) are.
 */
static __always_inline int sb_mount_event(struct pending *sys, __u64 ret)
{
	if (!sys)
		return 0;
	long err = (long)ret;
	if (err == -EFAULT || err == -ENOENT || err == -ENOTDIR || err == -ENAMETOOLONG ||
	    err == -ELOOP)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_SB_MOUNT, &ev, &candidates);
	if (!q)
		return 0;
	__u32 off = sys->str_off[0];
	if (off <= ARGS_BUF)
		append_str(q, 0, &sys->args[off & (ARGS_BUF - 1)], sys->str_len[0]);
	put_abs_path(q, 1, sys, 1, (__u64)AT_FDCWD);
	off = sys->str_off[2];
	if (off <= ARGS_BUF)
		append_str(q, 2, &sys->args[off & (ARGS_BUF - 1)], sys->str_len[2]);
	put_int(q, 3, ARG_KIND_UINT, sys->ints[3]);
	return emit(q, rules_eval(q, ev, EVENT_SECURITY_SB_MOUNT, candidates, RULES_ALL));
}

/*
 * security_sb_umount without an LSM hook: from umount2. The hook runs once the target is
 * found to be a mount the caller may unmount: unmounts that succeeded, or failed after it
 * (busy), are reported. The mount point is made absolute; `type` is not filled (the mount
 * is gone by the exit).
 */
static __always_inline int sb_umount_event(struct pending *sys, __u64 ret)
{
	long err = (long)ret;
	if (!sys || (err != 0 && err != -EBUSY))
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_SB_UMOUNT, &ev, &candidates);
	if (!q)
		return 0;
	put_abs_path(q, 0, sys, 0, (__u64)AT_FDCWD);
	put_i32(q, 2, sys->ints[1]);
	return emit(q, rules_eval(q, ev, EVENT_SECURITY_SB_UMOUNT, candidates, RULES_ALL));
}

/* The handler programs (tracee.bpf.h DERIVED_HANDLERS). */
DERIVED_HANDLERS(MOUNT, {
	if (h & DERIVED_SB_MOUNT)
		sb_mount_event(p, ret);
	else if (h & DERIVED_SB_UMOUNT)
		sb_umount_event(p, ret);
})
