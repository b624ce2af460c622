// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Scope: which policies admit the current task. One lookup per dimension some policy uses,
 * cheapest first; stops as soon as no candidate is left. `tree` and `follow` learn new
 * processes at fork (lineage_fork) and forget them at exit.
 */
#include "tracee.bpf.h"
#include "range.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* One global function per table, so the search is verified once, not per dimension. */
__noinline __u64 scope_range(__u32 first, __u32 count, __u64 value)
{
	return range_bits(&scope_ranges, first, count, value);
}

static __always_inline __u64 eq_dim(struct scope_config *sc, int dim, void *map, void *key,
				    __u64 value)
{
	__u64 enabled = sc->eq_enabled[dim];
	if (!enabled)
		return ~0ULL;
	__u64 range = 0;
	if (sc->ranged[dim])
		range = scope_range(sc->range_first[dim], sc->range_count[dim], value);
	return dimension(bpf_map_lookup_elem(map, key), enabled, sc->eq_match_missing[dim],
			 sc->ranged[dim], range);
}

/*
 * An integer dimension whose map never changes while the image is loaded (uid, pid, mntns,
 * pidns): the last value looked up on this CPU and its bits are kept in a per-CPU slot, so
 * the usual run of syscalls from one task costs an array load instead of a hash lookup
 * (about 100 ns on a VM). `tree` changes at every fork and is never memoized.
 */
static __always_inline __u64 memo_dim(struct scope_config *sc, int dim, void *map, void *key,
				      __u64 value)
{
	__u64 enabled = sc->eq_enabled[dim];
	if (!enabled)
		return ~0ULL;
	__u32 slot = dim;
	struct dim_memo *m = bpf_map_lookup_elem(&scope_memo, &slot);
	if (!m)
		return eq_dim(sc, dim, map, key, value);
	if (!m->valid || m->key != value) {
		struct eq_bits *b = bpf_map_lookup_elem(map, key);
		m->eq = b ? b->eq : 0;
		m->ne = b ? b->ne : 0;
		m->found = b != 0;
		m->key = value;
		m->valid = 1;
	}
	struct eq_bits bits = { .eq = m->eq, .ne = m->ne };
	__u64 range = 0;
	if (sc->ranged[dim])
		range = scope_range(sc->range_first[dim], sc->range_count[dim], value);
	return dimension(m->found ? &bits : 0, enabled, sc->eq_match_missing[dim],
			 sc->ranged[dim], range);
}

/* The host's mount namespace id (the loader reads /proc/1/ns/mnt): `host:` executables. */
const volatile __u64 host_mntns = 0;
/* CLOCK_MONOTONIC when the loader started (task start times use the same clock). */
const volatile __u64 loader_started_ns = 0;

/*
 * `executable`: the task's binary, recorded at exec and inherited at fork, looked up for
 * policies that name any mount namespace (key 0), the task's by id, and `host:` (key 1)
 * when the task's is the host's. Tasks running before the loader were seeded from /proc by
 * the loader; one whose binary is still unknown (another mount namespace's, not exec'd since)
 * is a missing value.
 */
static __always_inline __u64 exe_dim(struct scope_config *sc)
{
	__u32 zero = 0;
	struct key_scratch *k = bpf_map_lookup_elem(&scratch_keys, &zero);
	struct pending *ts = bpf_task_storage_get(&pending_store, bpf_get_current_task_btf(), 0, 0);
	struct eq_bits bits = {};
	int found = 0;
	if (k && ts && ts->exe_known) {
		__builtin_memcpy(&k->exe, &ts->exe, sizeof(k->exe));
		__u64 ns = k->exe.mount_ns;
		/* Any namespace (0), this one by id, and `host:` (1) when it is the host's. */
		__u64 keys[3] = { 0, ns, ns == host_mntns ? 1 : 0 };
		for (int i = 0; i < 3; i++) {
			if (i == 2 && !keys[2])
				break;
			k->exe.mount_ns = keys[i];
			struct eq_bits *b = bpf_map_lookup_elem(&scope_exe, &k->exe);
			if (b) {
				bits.eq |= b->eq;
				bits.ne |= b->ne;
				found = 1;
			}
		}
	}
	return dimension(found ? &bits : 0, sc->eq_enabled[SCOPE_EXE],
			 sc->eq_match_missing[SCOPE_EXE], sc->ranged[SCOPE_EXE], 0);
}

/*
 * The policies among `candidates` whose scope admits `task` (at `task_addr`, as a scalar for
 * global functions, when not current). `current`: it is the running
 * task (the common case, read through the cheaper helpers, with its binary known from its
 * task storage); otherwise a task seen by the start-up iterator, whose binary is unknown.
 */
static __always_inline __u64 scope_of(struct task_struct *task, __u64 task_addr, int current,
				      __u64 candidates)
{
	__u32 zero = 0;
	struct scope_config *sc = bpf_map_lookup_elem(&scope_config, &zero);
	if (!sc)
		return 0;
	__u64 result = candidates & sc->policies;
	if (!result)
		return 0;

	/* Processes adopted by `follow` policies pass those policies whatever their scope. */
	__u64 adopted = 0;
	__u32 host_pid = 0;
	if (sc->follow | sc->eq_enabled[SCOPE_PID] | sc->eq_enabled[SCOPE_TREE])
		host_pid = current ? bpf_get_current_pid_tgid() >> 32 : task->tgid;
	if (sc->follow) {
		__u64 *f = bpf_map_lookup_elem(&followed, &host_pid);
		if (f)
			adopted = *f & sc->follow;
	}

	if (sc->eq_enabled[SCOPE_UID]) {
		__u32 uid = current ? (__u32)bpf_get_current_uid_gid() : task->cred->uid.val;
		result &= memo_dim(sc, SCOPE_UID, &scope_uid, &uid, uid) | adopted;
		if (!result)
			return 0;
	}
	result &= memo_dim(sc, SCOPE_PID, &scope_pid, &host_pid, host_pid) | adopted;
	result &= eq_dim(sc, SCOPE_TREE, &scope_tree, &host_pid, host_pid) | adopted;
	if (!result)
		return 0;
	if (sc->eq_enabled[SCOPE_COMM]) {
		char comm[ABI_COMM_LEN] = {};
		if (current)
			bpf_get_current_comm(comm, sizeof(comm));
		else
			bpf_probe_read_kernel_str(comm, sizeof(comm), task->comm);
		result &= eq_dim(sc, SCOPE_COMM, &scope_comm, comm, 0) | adopted;
	}
	if (sc->eq_enabled[SCOPE_MNTNS]) {
		__u64 ns = task->nsproxy->mnt_ns->ns.inum;
		result &= memo_dim(sc, SCOPE_MNTNS, &scope_mntns, &ns, ns) | adopted;
	}
	if (sc->eq_enabled[SCOPE_PIDNS]) {
		__u64 ns = task->nsproxy->pid_ns_for_children->ns.inum;
		result &= memo_dim(sc, SCOPE_PIDNS, &scope_pidns, &ns, ns) | adopted;
	}
	if (!result)
		return 0;
	if (sc->eq_enabled[SCOPE_UTS]) {
		char uts[ABI_UTS_LEN] = {};
		bpf_probe_read_kernel_str(uts, sizeof(uts), task->nsproxy->uts_ns->name.nodename);
		result &= eq_dim(sc, SCOPE_UTS, &scope_uts, uts, 0) | adopted;
	}
	if (sc->eq_enabled[SCOPE_EXE]) {
		__u64 exe = current ? exe_dim(sc)
				    : dimension(0, sc->eq_enabled[SCOPE_EXE],
						sc->eq_match_missing[SCOPE_EXE], sc->ranged[SCOPE_EXE], 0);
		result &= exe | adopted;
	}
	/* Containers from the cgroup (containers.bpf.c): "new" ones were created after the
	 * loader started; a container with a task in it has started. A new pid is a process
	 * started after the loader. */
	int container = -1;
	for (int i = 0; i < SCOPE_BOOL_DIMS; i++) {
		__u64 enabled = sc->bool_enabled[i];
		if (!enabled)
			continue;
		int holds;
		if (i == SCOPE_NEW_PID) {
			holds = task->group_leader->start_time > loader_started_ns;
		} else {
			if (container < 0)
				container = current ? in_container() : in_container_task(task_addr);
			holds = i == SCOPE_NEW_CONTAINER ? container == CONTAINER_NEW : container != 0;
		}
		__u64 pass = holds ? sc->bool_expect[i] : ~sc->bool_expect[i];
		result &= pass | ~enabled | adopted;
	}
	return result;
}

__noinline __u64 scope_eval(__u64 candidates)
{
	return scope_of(current_task(), 0, 1, candidates);
}

/* The scope of any task, by address (global functions take kernel pointers as scalars). */
__noinline __u64 scope_eval_task(__u64 task_addr, __u64 candidates)
{
	struct task_struct *task =
		bpf_rdonly_cast((void *)task_addr, bpf_core_type_id_kernel(struct task_struct));
	return scope_of(task, task_addr, 0, candidates);
}

/*
 * `follow` for processes that existed before the loader: run once at start over every
 * process, this writes "pid, policies whose follow scope admits it" to the iterator's
 * output; the loader hands those policies to each such process's descendants.
 */
SEC("iter/task")
int seed_follow(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	if (!task || task->pid != task->tgid)
		return 0;
	__u32 zero = 0;
	struct scope_config *sc = bpf_map_lookup_elem(&scope_config, &zero);
	if (!sc || !sc->follow)
		return 0;
	/* The leader's address as a scalar (it is the task itself): a probe read gives one. */
	__u64 addr = (__u64)BPF_CORE_READ(task, group_leader);
	__u64 bits = scope_eval_task(addr, sc->follow) & sc->follow;
	if (!bits)
		return 0;
	struct { __u32 pid; __u32 pad; __u64 policies; } out = { .pid = task->tgid, .policies = bits };
	bpf_seq_write(ctx->meta->seq, &out, sizeof(out));
	return 0;
}

__noinline int lineage_fork(__u32 child_pid)
{
	/* (The executable is inherited by exe_fork, which has the child task.) */
	__u32 zero = 0;
	struct scope_config *sc = bpf_map_lookup_elem(&scope_config, &zero);
	if (!sc)
		return 0;
	__u32 parent = bpf_get_current_pid_tgid() >> 32;
	if (sc->eq_enabled[SCOPE_TREE]) {
		struct eq_bits *b = bpf_map_lookup_elem(&scope_tree, &parent);
		if (b) {
			struct eq_bits copy = *b;
			bpf_map_update_elem(&scope_tree, &child_pid, &copy, BPF_ANY);
		}
	}
	if (sc->follow) {
		/* The child follows every `follow` policy whose scope admits the parent now. */
		__u64 bits = scope_eval(sc->follow) & sc->follow;
		if (bits)
			bpf_map_update_elem(&followed, &child_pid, &bits, BPF_ANY);
	}
	return 0;
}

__noinline int lineage_exit(__u32 pid)
{
	bpf_map_delete_elem(&followed, &pid);
	bpf_map_delete_elem(&scope_tree, &pid);
	return 0;
}
