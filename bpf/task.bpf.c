// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Task state changes without LSM hooks or kprobes, from the syscalls that make them: the
 * working directory, prctl, resource limits, the clock, namespaces. Each is built at the
 * syscall's exit from the arguments read at entry (and, for namespaces, the task's
 * namespaces before and after).
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NR_chdir 80
#define NR_settimeofday 164
#define NR_prlimit64 302
#define CLOCK_REALTIME 0

/* set_fs_pwd: a successful chdir or fchdir: the path given (chdir only) and the new working
 * directory, walked. */
static __always_inline int set_fs_pwd_event(struct pending *sys, __u64 ret)
{
	if (!sys || ret != 0)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SET_FS_PWD, &ev, &candidates);
	if (!q)
		return 0;
	__u32 off = sys->str_off[0];
	if (sys->event == NR_chdir && off <= ARGS_BUF)
		append_str(q, 0, &sys->args[off & (ARGS_BUF - 1)], sys->str_len[0]);
	struct fs_struct *fs = BPF_CORE_READ(bpf_get_current_task_btf(), fs);
	if (fs)
		put_path(q, 1, (__u64)&fs->pwd);
	return emit(q, rules_eval(q, ev, EVENT_SET_FS_PWD, candidates, RULES_ALL));
}

/* security_task_prctl: every prctl (the hook is its first step): the option and its four
 * arguments. */
static __always_inline int task_prctl_event(struct pending *sys, __u64 ret)
{
	if (!sys)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_TASK_PRCTL, &ev, &candidates);
	if (!q)
		return 0;
	put_i32(q, 0, sys->ints[0]);
	for (int i = 1; i < 5; i++)
		put_int(q, i, ARG_KIND_UINT, sys->ints[i]);
	return emit(q, rules_eval(q, ev, EVENT_SECURITY_TASK_PRCTL, candidates, RULES_ALL));
}

struct rlimit64 {
	__u64 cur;
	__u64 max;
};

/*
 * security_task_setrlimit: a successful setrlimit, or prlimit64 with a new limit: the target
 * (the caller for pid 0, else the pid given, as seen from the caller's pid namespace), the
 * resource and the new limits, read from user memory at exit.
 */
static __always_inline int task_setrlimit_event(struct pending *sys, __u64 ret)
{
	if (!sys || ret != 0)
		return 0;
	int pl = sys->event == NR_prlimit64;
	__u64 user = sys->ints[pl ? 2 : 1];
	struct rlimit64 lim;
	if (!user || bpf_probe_read_user(&lim, sizeof(lim), (void *)user))
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_TASK_SETRLIMIT, &ev, &candidates);
	if (!q)
		return 0;
	__u32 pid = pl ? (__u32)sys->ints[0] : 0;
	put_int(q, 0, ARG_KIND_UINT, pid ? pid : bpf_get_current_pid_tgid() >> 32);
	put_i32(q, 1, sys->ints[pl ? 1 : 0]);
	put_int(q, 2, ARG_KIND_UINT, lim.cur);
	put_int(q, 3, ARG_KIND_UINT, lim.max);
	return emit(q, rules_eval(q, ev, EVENT_SECURITY_TASK_SETRLIMIT, candidates, RULES_ALL));
}

/*
 * security_settime64: settimeofday, or clock_settime of CLOCK_REALTIME, that reached the
 * hook: it succeeded, or the hook refused it (EPERM: no CAP_SYS_TIME). The new time and
 * time zone, read from user memory at exit.
 */
static __always_inline int settime64_event(struct pending *sys, __u64 ret)
{
	long err = (long)ret;
	if (!sys || (err != 0 && err != -EPERM))
		return 0;
	int tod = sys->event == NR_settimeofday;
	if (!tod && sys->ints[0] != CLOCK_REALTIME)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SECURITY_SETTIME64, &ev, &candidates);
	if (!q)
		return 0;
	__s64 t[2] = {};
	__u64 user = sys->ints[tod ? 0 : 1];
	if (user && !bpf_probe_read_user(t, sizeof(t), (void *)user)) {
		put_int(q, 0, ARG_KIND_INT, t[0]);
		put_int(q, 1, ARG_KIND_INT, tod ? t[1] * 1000 : t[1]);
	}
	__s32 tz[2] = {};
	if (tod && sys->ints[1] && !bpf_probe_read_user(tz, sizeof(tz), (void *)sys->ints[1])) {
		put_int(q, 2, ARG_KIND_INT, (__u64)(__s64)tz[0]);
		put_int(q, 3, ARG_KIND_INT, (__u64)(__s64)tz[1]);
	}
	return emit(q, rules_eval(q, ev, EVENT_SECURITY_SETTIME64, candidates, RULES_ALL));
}

/* The inode numbers of the current task's namespaces, in switch_task_ns's order (mnt, pid
 * for children, uts, ipc, net, cgroup). */
static __always_inline void task_ns(__u64 out[NS_KINDS])
{
	struct nsproxy *ns = BPF_CORE_READ(bpf_get_current_task_btf(), nsproxy);
	out[0] = BPF_CORE_READ(ns, mnt_ns, ns.inum);
	out[1] = BPF_CORE_READ(ns, pid_ns_for_children, ns.inum);
	out[2] = BPF_CORE_READ(ns, uts_ns, ns.inum);
	out[3] = BPF_CORE_READ(ns, ipc_ns, ns.inum);
	out[4] = BPF_CORE_READ(ns, net_ns, ns.inum);
	out[5] = BPF_CORE_READ(ns, cgroup_ns, ns.inum);
}

/* At the entry of setns and unshare: the namespaces before, in the spare slots. */
static __always_inline int switch_task_ns_entry(struct pending *p)
{
	if (!p)
		return 0;
	__u64 ns[NS_KINDS];
	task_ns(ns);
	for (int i = 0; i < NS_KINDS; i++)
		p->ints[NS_SLOT + i] = ns[i];
	return 0;
}

/*
 * switch_task_ns: a setns or unshare that changed the task's namespaces: its tid and, as
 * Tracee, only the namespaces that changed.
 */
static __always_inline int switch_task_ns_event(struct pending *sys, __u64 ret)
{
	if (!sys || ret != 0)
		return 0;
	__u64 now[NS_KINDS];
	task_ns(now);
	int changed = 0;
	for (int i = 0; i < NS_KINDS; i++)
		changed |= now[i] != sys->ints[NS_SLOT + i];
	if (!changed)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_SWITCH_TASK_NS, &ev, &candidates);
	if (!q)
		return 0;
	put_i32(q, 0, bpf_get_current_pid_tgid());
	for (int i = 0; i < NS_KINDS; i++)
		if (now[i] != sys->ints[NS_SLOT + i])
			put_int(q, 1 + i, ARG_KIND_UINT, now[i]);
	return emit(q, rules_eval(q, ev, EVENT_SWITCH_TASK_NS, candidates, RULES_ALL));
}

/* ---- do_sigaction: rt_sigaction ---- */

#define NR_rt_sigaction 13
#define NSIG 64
#define SIG_HND 2 /* Tracee's "a handler of its own" (SIG_DFL is 0, SIG_IGN 1) */
/* Spare slots of the pending record: the action before the call. */
#define OLD_SA_HANDLER NS_SLOT
#define OLD_SA_FLAGS (NS_SLOT + 1)
#define OLD_SA_MASK (NS_SLOT + 2)
#define OLD_SA_KNOWN (NS_SLOT + 3)

/* The user's struct sigaction as rt_sigaction reads it on x86-64. */
struct sigaction_user {
	__u64 handler;
	__u64 flags;
	__u64 restorer;
	__u64 mask;
};

/* At the entry of rt_sigaction: the signal's action before the call, from the task. */
static __always_inline int sigaction_entry(struct pending *p)
{
	if (!p || p->event != NR_rt_sigaction)
		return 0;
	p->ints[OLD_SA_KNOWN] = 0;
	int sig = (int)p->ints[0];
	if (sig < 1 || sig > NSIG)
		return 0;
	struct sighand_struct *sh = BPF_CORE_READ(bpf_get_current_task_btf(), sighand);
	if (!sh)
		return 0;
	__u64 at = (__u64)sh + bpf_core_field_offset(struct sighand_struct, action) +
		   (__u64)(sig - 1) * bpf_core_type_size(struct k_sigaction);
	struct k_sigaction *act = bpf_rdonly_cast((void *)at,
						   bpf_core_type_id_kernel(struct k_sigaction));
	p->ints[OLD_SA_HANDLER] = (__u64)act->sa.sa_handler;
	p->ints[OLD_SA_FLAGS] = act->sa.sa_flags;
	p->ints[OLD_SA_MASK] = act->sa.sa_mask.sig[0];
	p->ints[OLD_SA_KNOWN] = 1;
	return 0;
}

/* Tracee's handling method and the handler kept (none for SIG_DFL and SIG_IGN). */
static __always_inline void put_handler(struct pending *q, __u32 index, __u64 handler)
{
	put_int(q, index, ARG_KIND_UINT, handler >= SIG_HND ? SIG_HND : handler);
	if (handler >= SIG_HND)
		put_int(q, index + 1, ARG_KIND_UINT, handler);
}

/*
 * do_sigaction: a successful rt_sigaction: the signal, the new action (when one was given:
 * read from user memory) and the action it replaced (read from the task at entry), with
 * Tracee's handling method (0 default, 1 ignore, 2 a handler of its own).
 */
static __always_inline int do_sigaction_event(struct pending *sys, __u64 ret)
{
	if (!sys || ret != 0)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_DO_SIGACTION, &ev, &candidates);
	if (!q)
		return 0;
	put_i32(q, 0, sys->ints[0]);
	struct sigaction_user act = {};
	int given = sys->ints[1] &&
		    !bpf_probe_read_user(&act, sizeof(act), (const void *)sys->ints[1]);
	put_int(q, 1, ARG_KIND_BOOL, given);
	if (given) {
		put_int(q, 2, ARG_KIND_UINT, act.flags);
		put_int(q, 3, ARG_KIND_UINT, act.mask);
		put_handler(q, 4, act.handler);
	}
	put_int(q, 6, ARG_KIND_BOOL, sys->ints[2] != 0);
	if (sys->ints[OLD_SA_KNOWN]) {
		put_int(q, 7, ARG_KIND_UINT, sys->ints[OLD_SA_FLAGS]);
		put_int(q, 8, ARG_KIND_UINT, sys->ints[OLD_SA_MASK]);
		put_handler(q, 9, sys->ints[OLD_SA_HANDLER]);
	}
	return emit(q, rules_eval(q, ev, EVENT_DO_SIGACTION, candidates, RULES_ALL));
}

/* ---- process_execute_failed: execve, execveat ---- */

#define NR_execveat 322

/*
 * process_execute_failed: an execve or execveat that found its file and failed after (not
 * executable, a bad format, no permission, an LSM): the dirfd, the flags, the path given,
 * and the file's absolute path. Failures to find the file (no such file, a bad path) are
 * not reported: there is no binary that failed to run.
 */
static __always_inline int execute_failed_event(struct pending *sys, __u64 ret)
{
	long err = (long)ret;
	if (!sys || err >= 0 || err == -ENOENT || err == -EFAULT || err == -ENOTDIR ||
	    err == -ENAMETOOLONG || err == -ELOOP)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_PROCESS_EXECUTE_FAILED, &ev, &candidates);
	if (!q)
		return 0;
	int at = sys->event == NR_execveat;
	__u64 dirfd = at ? sys->ints[0] : (__u64)AT_FDCWD;
	put_i32(q, 0, dirfd);
	put_int(q, 1, ARG_KIND_INT, at ? (__u64)(__s64)(__s32)sys->ints[4] : 0);
	__u32 arg = at ? 1 : 0;
	__u32 off = sys->str_off[arg];
	if (off <= ARGS_BUF)
		append_str(q, 2, &sys->args[off & (ARGS_BUF - 1)], sys->str_len[arg]);
	put_abs_path(q, 3, sys, arg, dirfd);
	put_int(q, 11, ARG_KIND_INT, 0);
	return emit(q, rules_eval(q, ev, EVENT_PROCESS_EXECUTE_FAILED, candidates, RULES_ALL));
}

/* ---- commit_creds: the set*id family, capset, prctl, unshare, execve ---- */

static __always_inline void read_cred(struct slim_cred *c, const struct cred *cred)
{
	c->uid = BPF_CORE_READ(cred, uid.val);
	c->gid = BPF_CORE_READ(cred, gid.val);
	c->suid = BPF_CORE_READ(cred, suid.val);
	c->sgid = BPF_CORE_READ(cred, sgid.val);
	c->euid = BPF_CORE_READ(cred, euid.val);
	c->egid = BPF_CORE_READ(cred, egid.val);
	c->fsuid = BPF_CORE_READ(cred, fsuid.val);
	c->fsgid = BPF_CORE_READ(cred, fsgid.val);
	c->user_ns = BPF_CORE_READ(cred, user_ns, ns.inum);
	c->securebits = BPF_CORE_READ(cred, securebits);
	c->cap_inheritable = BPF_CORE_READ(cred, cap_inheritable.val);
	c->cap_permitted = BPF_CORE_READ(cred, cap_permitted.val);
	c->cap_effective = BPF_CORE_READ(cred, cap_effective.val);
	c->cap_bset = BPF_CORE_READ(cred, cap_bset.val);
	c->cap_ambient = BPF_CORE_READ(cred, cap_ambient.val);
}

/* At the entry of a syscall that may change the task's credentials: them, before. */
static __always_inline int creds_entry(struct pending *p)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct slim_cred *old = bpf_task_storage_get(&cred_store, task, 0,
						     BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p || !old)
		return 0;
	read_cred(old, BPF_CORE_READ(task, real_cred));
	return 0;
}

static __always_inline void put_cred(struct pending *q, __u32 index, struct slim_cred *c)
{
	__u32 off = q->used;
	if (off > ARGS_BUF - sizeof(struct arg_header) - sizeof(*c))
		return;
	struct arg_header h = { .index = index, .kind = ARG_KIND_CRED, .len = sizeof(*c) };
	__builtin_memcpy(&q->args[off], &h, sizeof(h));
	bpf_probe_read_kernel(&q->args[off + sizeof(h)], sizeof(*c), c);
	q->used = off + sizeof(h) + sizeof(*c);
	q->rec.args_num += 1;
}

/*
 * commit_creds: a syscall that changed the task's credentials (ids, capabilities; as Tracee,
 * not the user namespace or the securebits alone): the credentials before and after, as
 * Tracee's SlimCred. Calls that commit the same credentials again are not reported.
 */
static __always_inline int commit_creds_event(struct pending *sys, __u64 ret)
{
	if (!sys || (long)ret < 0)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct slim_cred *old = bpf_task_storage_get(&cred_store, task, 0, 0);
	if (!old)
		return 0;
	struct slim_cred now = {};
	read_cred(&now, BPF_CORE_READ(task, real_cred));
	if (now.uid == old->uid && now.gid == old->gid && now.suid == old->suid &&
	    now.sgid == old->sgid && now.euid == old->euid && now.egid == old->egid &&
	    now.fsuid == old->fsuid && now.fsgid == old->fsgid &&
	    now.cap_inheritable == old->cap_inheritable &&
	    now.cap_permitted == old->cap_permitted && now.cap_effective == old->cap_effective &&
	    now.cap_bset == old->cap_bset && now.cap_ambient == old->cap_ambient)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_COMMIT_CREDS, &ev, &candidates);
	if (!q)
		return 0;
	put_cred(q, 0, old);
	put_cred(q, 1, &now);
	return emit(q, rules_eval(q, ev, EVENT_COMMIT_CREDS, candidates, RULES_ALL));
}

/* The handler programs (tracee.bpf.h DERIVED_HANDLERS). */
DERIVED_ENTRIES(TASK, {
	if (h & DERIVED_SWITCH_TASK_NS)
		switch_task_ns_entry(p);
	else if (h & DERIVED_SIGACTION)
		sigaction_entry(p);
	else if (h & DERIVED_CREDS)
		creds_entry(p);
})
DERIVED_HANDLERS(TASK, {
	if (h & DERIVED_SET_FS_PWD)
		set_fs_pwd_event(p, ret);
	else if (h & DERIVED_TASK_PRCTL)
		task_prctl_event(p, ret);
	else if (h & DERIVED_TASK_SETRLIMIT)
		task_setrlimit_event(p, ret);
	else if (h & DERIVED_SETTIME64)
		settime64_event(p, ret);
	else if (h & DERIVED_SWITCH_TASK_NS)
		switch_task_ns_event(p, ret);
	else if (h & DERIVED_SIGACTION)
		do_sigaction_event(p, ret);
	else if (h & DERIVED_EXECUTE_FAILED)
		execute_failed_event(p, ret);
	else if (h & DERIVED_CREDS)
		commit_creds_event(p, ret);
})
