// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Process lifecycle: sched_process_fork/exec/exit from the sched BTF tracepoints, and the
 * `tree`/`follow` bookkeeping that rides on fork and exit. */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PF_KTHREAD 0x00200000
#define PF_SIGNALED 0x00000400

/* tid, ns tid, pid, ns pid, start time of a task: five arguments from `index` on. */
static __always_inline void put_task(struct pending *p, __u32 index, struct task_struct *t)
{
	put_i32(p, index, BPF_CORE_READ(t, pid));
	put_i32(p, index + 1, ns_nr(BPF_CORE_READ(t, thread_pid)));
	put_i32(p, index + 2, BPF_CORE_READ(t, tgid));
	put_i32(p, index + 3, ns_nr(BPF_CORE_READ(t, group_leader, thread_pid)));
	put_int(p, index + 4, ARG_KIND_UINT, BPF_CORE_READ(t, start_time));
}

/* Set by the loader when the output names each event's executable: binaries are recorded
 * at exec and inherited at fork for every task, not only for `executable` scopes. */
const volatile __u32 track_exe = 0;

/* Are binaries recorded and inherited (an `executable` scope, or the output's)? */
static __always_inline int exe_scoped(void)
{
	if (track_exe)
		return 1;
	__u32 zero = 0;
	struct scope_config *sc = bpf_map_lookup_elem(&scope_config, &zero);
	return sc && sc->eq_enabled[SCOPE_EXE];
}

static __always_inline int fork_event(struct task_struct *parent, struct task_struct *child,
				      const int audit)
{
	__u32 child_tid = BPF_CORE_READ(child, pid);
	__u32 child_pid = BPF_CORE_READ(child, tgid);
	if (child_tid == child_pid)
		lineage_fork(child_pid);
	if (exe_scoped()) {
		/* A child runs its parent's binary until it execs its own. */
		struct pending *from = bpf_task_storage_get(&pending_store, parent, 0, 0);
		if (from && from->exe_known) {
			struct pending *to = bpf_task_storage_get(&pending_store, child, 0,
								  BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (to) {
				__builtin_memcpy(&to->exe, &from->exe, sizeof(to->exe));
				/* The child's exec count is its parent's until it execs. */
				to->exe_exec_id = from->exe_exec_id;
				to->exe_known = from->exe_known;
			}
		}
	}

	__u32 id = EVENT_SCHED_PROCESS_FORK;
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, audit);
	if (!p)
		return 0;
	put_task(p, 0, parent);
	put_task(p, 5, child);
	put_task(p, 10, BPF_CORE_READ(child, group_leader, real_parent));
	put_task(p, 15, BPF_CORE_READ(child, group_leader));
	return emit_as(p, rules_eval(p, ev, id, scope, RULES_ALL), audit);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tr_sched_fork, struct task_struct *parent, struct task_struct *child)
{
	return fork_event(parent, child, 0);
}

/* Audit mode (tracee.bpf.h `audit`). */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(tr_a_sched_fork, struct task_struct *parent, struct task_struct *child)
{
	return fork_event(parent, child, 1);
}

struct argv_walk {
	struct pending *p;
	__u64 start;
	__u64 end;
	__u32 cursor;
};

static long argv_step(__u64 i, struct argv_walk *w)
{
	struct pending *p = w->p;
	__u32 cursor = w->cursor;
	if (!p || w->start >= w->end || cursor > ARGS_BUF - 2)
		return 1;
	long n = bpf_probe_read_user_str(&p->args[cursor + 2], ARGV_CAP + 1, (const void *)w->start);
	if (n <= 0)
		return 1;
	w->start += n;
	return array_element(p, &w->cursor, n);
}

/* argv or envp of the new program: `count` NUL-terminated strings from `start` on (the
 * mm's arg_start or env_start), at most ARGV_MAX. */
static __always_inline void put_strings(struct pending *p, __u32 index, __u64 start, __u64 end,
					int count)
{
	__u32 off = p->used;
	if (off > ARGS_BUF - sizeof(struct arg_header))
		return;
	struct argv_walk w = {
		.p = p,
		.start = start,
		.end = end,
		.cursor = off + sizeof(struct arg_header),
	};
	bpf_loop(count < ARGV_MAX ? count : ARGV_MAX, argv_step, &w, 0);
	__u32 cursor = w.cursor;
	struct arg_header h = { .index = index, .kind = ARG_KIND_STR_ARRAY,
				.len = cursor - off - sizeof(struct arg_header) };
	__builtin_memcpy(&p->args[off], &h, sizeof(h));
	/* Where the entries are, for the filters (FIELD_KIND_ARRAY). */
	p->str_off[arg_slot(index)] = off + sizeof(struct arg_header);
	p->str_len[arg_slot(index)] = h.len;
	p->used = cursor;
	p->rec.args_num += 1;
}

/* The executed file: its full path, dev and inode as three arguments from `index` on. */
static __always_inline struct inode *put_exec_file(struct pending *p, __u32 index,
						   struct linux_binprm *bprm)
{
	struct file *file = BPF_CORE_READ(bprm, file);
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	put_path(p, index, (__u64)&file->f_path);
	put_int(p, index + 1, ARG_KIND_UINT, BPF_CORE_READ(inode, i_sb, s_dev));
	put_int(p, index + 2, ARG_KIND_UINT, BPF_CORE_READ(inode, i_ino));
	return inode;
}

static __always_inline void put_argv(struct pending *p, __u32 index, struct task_struct *task,
				     struct linux_binprm *bprm)
{
	put_strings(p, index, BPF_CORE_READ(task, mm, arg_start), BPF_CORE_READ(task, mm, arg_end),
		    BPF_CORE_READ(bprm, argc));
}

static __always_inline int exec_event(struct task_struct *task, struct linux_binprm *bprm,
				      const int audit)
{
	__u32 id = EVENT_SCHED_PROCESS_EXEC;
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, audit);
	if (!p)
		return 0;
	put_kernel_str(p, 0, (__u64)BPF_CORE_READ(bprm, filename));
	struct inode *inode = put_exec_file(p, 1, bprm);
	put_int(p, 4, ARG_KIND_UINT, inode_ctime(inode));
	put_int(p, 5, ARG_KIND_UINT, BPF_CORE_READ(inode, i_mode));
	put_argv(p, 10, task, bprm);
	put_kernel_str(p, 11, (__u64)BPF_CORE_READ(bprm, interp));
	put_int(p, 14, ARG_KIND_BOOL, (BPF_CORE_READ(task, real_parent, flags) & PF_KTHREAD) != 0);
	struct exec_comm *prev = bpf_task_storage_get(&exec_comm_store, task, 0, 0);
	if (prev && prev->exec_id == BPF_CORE_READ(task, self_exec_id)) {
		char comm[ABI_COMM_LEN];
		long n = bpf_probe_read_kernel_str(comm, sizeof(comm), prev->comm);
		append_str(p, 15, comm, n > 0 ? n - 1 : 0);
	}
	if (ev->flags & EVENT_FLAG_ENV)
		put_strings(p, 16, BPF_CORE_READ(task, mm, env_start),
			    BPF_CORE_READ(task, mm, env_end), BPF_CORE_READ(bprm, envc));
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	if (fs)
		put_path(p, 17, (__u64)&fs->pwd);
	return emit_as(p, rules_eval(p, ev, id, scope, RULES_ALL), audit);
}

/* security_bprm_check without an LSM hook: from the same tracepoint, so it sees the execs
 * that succeeded (the LSM hook also sees those that fail later), in the new program's
 * context (comm is already the new one). */
static __always_inline int bprm_check_event(struct task_struct *task, struct linux_binprm *bprm,
					    const int audit)
{
	__u32 id = EVENT_SECURITY_BPRM_CHECK;
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, audit);
	if (!p)
		return 0;
	put_exec_file(p, 0, bprm);
	put_argv(p, 3, task, bprm);
	put_strings(p, 4, BPF_CORE_READ(task, mm, env_start), BPF_CORE_READ(task, mm, env_end),
		    BPF_CORE_READ(bprm, envc));
	return emit_as(p, rules_eval(p, ev, id, scope, RULES_ALL), audit);
}

static __always_inline int exec_hook(struct task_struct *task, struct linux_binprm *bprm,
				     const int audit)
{
	if (exe_scoped()) {
		struct pending *ts = bpf_task_storage_get(&pending_store, task, 0,
							  BPF_LOCAL_STORAGE_GET_F_CREATE);
		struct file *file = BPF_CORE_READ(bprm, file);
		if (ts)
			record_exe(ts, (__u64)&file->f_path,
				   BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum));
	}
	exec_event(task, bprm, audit);
	return bprm_check_event(task, bprm, audit);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tr_sched_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	return exec_hook(task, bprm, 0);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tr_a_sched_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	return exec_hook(task, bprm, 1);
}

static __always_inline int exit_event(struct task_struct *task, bool group_dead, const int audit)
{
	if (group_dead)
		lineage_exit(bpf_get_current_pid_tgid() >> 32);
	__u32 id = EVENT_SCHED_PROCESS_EXIT;
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, audit);
	if (!p)
		return 0;
	/* As Tracee: the status wait(2) decodes, split into the exit status and, for a task
	 * killed by a signal, the signal (with the core-dump bit). */
	int code = BPF_CORE_READ(task, exit_code);
	put_i32(p, 0, code >> 8);
	if (BPF_CORE_READ(task, flags) & PF_SIGNALED)
		put_i32(p, 1, code & 0xff);
	put_int(p, 2, ARG_KIND_BOOL, group_dead);
	return emit_as(p, rules_eval(p, ev, id, scope, RULES_ALL), audit);
}

/* do_exit: every exiting thread, no fields (Tracee's kprobe on do_exit; the exit
 * tracepoint fires from it). */
static __always_inline int do_exit_event(const int audit)
{
	__u32 id = EVENT_DO_EXIT;
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, audit);
	if (!p)
		return 0;
	return emit_as(p, rules_eval(p, ev, id, scope, RULES_ALL), audit);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tr_sched_exit, struct task_struct *task, bool group_dead)
{
	do_exit_event(0);
	return exit_event(task, group_dead, 0);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tr_a_sched_exit, struct task_struct *task, bool group_dead)
{
	do_exit_event(1);
	return exit_event(task, group_dead, 1);
}

/* A task's name as a string argument (read into the stack, then appended). */
static __always_inline void put_comm(struct pending *p, __u32 index, struct task_struct *task)
{
	char comm[ABI_COMM_LEN];
	long n = BPF_CORE_READ_STR_INTO(&comm, task, comm);
	append_str(p, index, comm, n > 0 ? n - 1 : 0);
}

/* task_rename (prctl PR_SET_NAME, a write to /proc/PID/comm, exec): the task's name before
 * and after, from the tracepoint that fires just before the kernel copies the new one. */
SEC("tp_btf/task_rename")
int BPF_PROG(tr_task_rename, struct task_struct *task, const char *comm)
{
	/* In exec (the task is current and in_execve), keep the old name for prev_comm. */
	__u32 exec_id = EVENT_SCHED_PROCESS_EXEC;
	if (task == bpf_get_current_task_btf() && BPF_CORE_READ_BITFIELD_PROBED(task, in_execve) &&
	    bpf_map_lookup_elem(&events, &exec_id)) {
		struct exec_comm *keep = bpf_task_storage_get(&exec_comm_store, task, 0,
							      BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (keep) {
			BPF_CORE_READ_STR_INTO(&keep->comm, task, comm);
			keep->exec_id = BPF_CORE_READ(task, self_exec_id) + 1;
		}
	}
	__u32 id = EVENT_TASK_RENAME;
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, 0);
	if (!p)
		return 0;
	put_comm(p, 0, task);
	put_kernel_str(p, 1, (__u64)comm);
	return emit(p, rules_eval(p, ev, id, scope, RULES_ALL));
}

/* sched_switch: the CPU, and the tasks switched from and to (current is `prev`). Runs on
 * every context switch while a policy selects it: attached only then. */
SEC("tp_btf/sched_switch")
int BPF_PROG(tr_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u32 id = EVENT_SCHED_SWITCH;
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, 0);
	if (!p)
		return 0;
	put_int(p, 0, ARG_KIND_INT, bpf_get_smp_processor_id());
	put_int(p, 1, ARG_KIND_INT, BPF_CORE_READ(prev, pid));
	put_comm(p, 2, prev);
	put_int(p, 3, ARG_KIND_INT, BPF_CORE_READ(next, pid));
	put_comm(p, 4, next);
	return emit(p, rules_eval(p, ev, id, scope, RULES_ALL));
}

/* cap_capable: a capability check (the tracepoint fires after the decision, with it). */
SEC("tp_btf/cap_capable")
int BPF_PROG(tr_cap_capable, const struct cred *cred, const void *target_ns,
	     const void *capable_ns, int cap, int ret)
{
	__u32 id = EVENT_CAP_CAPABLE;
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, 0);
	if (!p)
		return 0;
	put_int(p, 0, ARG_KIND_INT, (__u64)(__s64)cap);
	return emit(p, rules_eval(p, ev, id, scope, RULES_ALL));
}
