// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * security_inode_unlink without an LSM hook: from unlink/unlinkat. The path is read at
 * entry and made absolute (against the directory fd or the working directory); the event is
 * emitted at exit when the unlink succeeded. The inode, its device and change time are gone
 * by then: they are filled where a filesystem tracepoint shows the dentry during the unlink
 * (ext4_unlink_enter), and 0 elsewhere.
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__noinline int inode_unlink_event(struct pending *sys)
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
