// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Containers, told by their cgroups: the common runtimes name a container's cgroup after its
 * 64-hex-digit id (docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope,
 * libpod-<id>.scope, or <id> under docker/ or kubepods/ with the cgroupfs driver). Those that
 * exist at start are found by the loader in the cgroup trees; new ones are learned here as
 * they are created. A task is in a container when its cgroup or an ancestor is one.
 *
 * On hosts with cgroup v1 hierarchies (legacy or hybrid), runtimes may put containers only
 * there: the loader then names one v1 controller (cpuset first, as Tracee) whose hierarchy
 * is also searched. Its cgroups are keyed with V1_KEY set: kernfs ids are per hierarchy.
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ID_DIGITS 64
#define NAME_MAX_SCAN 255
#define MAX_DEPTH 8
#define V1_KEY (1ULL << 63)

/* The v1 hierarchy searched too (0: none), and its controller's index in css_set.subsys
 * (the order of /proc/cgroups). Set by the loader. */
const volatile __u32 v1_hierarchy = 0;
const volatile __u32 v1_subsys = 0;

struct hex_scan {
	struct key_scratch *k;
};

/* The run of hex digits so far lives in map memory (k->walk.off): verified once. */
static long hex_step(__u64 i, struct hex_scan *ctx)
{
	struct key_scratch *k = ctx->k;
	if (!k)
		return 1;
	char c = k->path[i & 255];
	if (!c)
		return 1;
	int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
	k->walk.off = hex ? k->walk.off + 1 : 0;
	if (k->walk.off >= ID_DIGITS) {
		k->walk.pad = 1;
		return 1;
	}
	return 0;
}

static __always_inline struct kernfs_node *parent_of(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

/* cgroup_mkdir and cgroup_rmdir events (Tracee's fields): the cgroup's id, its path below
 * its hierarchy's root, and the hierarchy (0 for cgroup v2). */
static __always_inline int cgroup_event(__u32 id, struct cgroup *cgrp, const char *path)
{
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, 0);
	if (!p)
		return 0;
	put_int(p, 0, ARG_KIND_UINT, BPF_CORE_READ(cgrp, kn, id));
	put_kernel_str(p, 1, (__u64)path);
	put_int(p, 2, ARG_KIND_UINT, BPF_CORE_READ(cgrp, root, hierarchy_id));
	return emit(p, rules_eval(p, ev, id, scope, RULES_ALL));
}

/* Does the name of cgroup directory kn name a container? Then its name is in k->path and
 * *start is the offset of its 64-hex-digit id there. */
static __always_inline int container_name(struct key_scratch *k, struct kernfs_node *kn,
					  __u32 *start)
{
	if (bpf_probe_read_kernel_str(k->path, NAME_MAX_SCAN + 1, BPF_CORE_READ(kn, name)) <= 0)
		return 0;
	k->walk.off = 0;
	k->walk.pad = 0;
	struct hex_scan scan = { .k = k };
	/* The scan stops on the id's last digit: its iteration count ends the id. */
	long n = bpf_loop(NAME_MAX_SCAN, hex_step, &scan, 0);
	if (!k->walk.pad || n < ID_DIGITS)
		return 0;
	*start = n - ID_DIGITS;
	return 1;
}

static __always_inline int starts_with(const char *s, const char *prefix, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] != prefix[i])
			return 0;
	return 1;
}

/*
 * The runtime of the container whose cgroup name is in k->path, told by the name (systemd
 * driver) or its parent's (cgroupfs driver: docker/<id>, libpod_parent/<id>): 0 unknown,
 * 1 docker, 2 containerd, 3 crio, 4 podman; -1 for conmon's cgroups (crio-conmon-<id>,
 * libpod-conmon-<id>), which are the runtime's. A function of its own: its many
 * comparisons are verified once, not once per path of the event that uses the answer.
 */
__noinline int container_runtime(struct key_scratch *k, __u64 kn_addr)
{
	if (!k)
		return 0;
	if (starts_with(k->path, "crio-conmon-", 12) || starts_with(k->path, "libpod-conmon-", 14))
		return -1;
	if (starts_with(k->path, "docker-", 7))
		return 1;
	if (starts_with(k->path, "cri-containerd-", 15))
		return 2;
	if (starts_with(k->path, "crio-", 5))
		return 3;
	if (starts_with(k->path, "libpod-", 7))
		return 4;
	struct kernfs_node *kn = bpf_rdonly_cast((void *)kn_addr,
						 bpf_core_type_id_kernel(struct kernfs_node));
	char parent[16] = {};
	bpf_probe_read_kernel_str(parent, sizeof(parent), BPF_CORE_READ(parent_of(kn), name));
	if (starts_with(parent, "docker", 7))
		return 1;
	if (starts_with(parent, "libpod_parent", 14))
		return 4;
	return 0;
}

/* container_create and container_remove (Tracee's fields): the runtime and the container's
 * id, and for container_create the creation time (boot clock: the loader makes it wall
 * time, and fills the image, name and pod fields from the runtime's state). */
static __always_inline int container_event(__u32 id, struct key_scratch *k, struct kernfs_node *kn,
					   __u32 start)
{
	int runtime = container_runtime(k, (__u64)kn);
	if (runtime < 0)
		return 0;
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, 0);
	if (!p)
		return 0;
	/* Tracee's runtime names. */
	const char *name = "unknown";
	__u32 len = 7;
	switch (runtime) {
	case 1: name = "docker"; len = 6; break;
	case 2: name = "containerd"; len = 10; break;
	case 3: name = "crio"; len = 4; break;
	case 4: name = "podman"; len = 6; break;
	}
	append_str(p, 0, name, len);
	append_str(p, 1, &k->path[start & 255], ID_DIGITS);
	if (id == EVENT_CONTAINER_CREATE)
		put_int(p, 2, ARG_KIND_UINT, bpf_ktime_get_boot_ns());
	return emit(p, rules_eval(p, ev, id, scope, RULES_ALL));
}

/* Is cgrp a container's cgroup, in a hierarchy searched for them? Then its name is in
 * (*k)->path, its id's offset in *start, and its hierarchy in *hierarchy. */
static __always_inline int container_cgroup(struct cgroup *cgrp, struct key_scratch **k,
					    __u32 *start, int *hierarchy)
{
	*hierarchy = BPF_CORE_READ(cgrp, root, hierarchy_id);
	if (*hierarchy != 0 && (!v1_hierarchy || *hierarchy != v1_hierarchy))
		return 0; /* another v1 hierarchy: not searched */
	__u32 zero = 0;
	*k = bpf_map_lookup_elem(&scratch_keys, &zero);
	if (!*k)
		return 0;
	return container_name(*k, BPF_CORE_READ(cgrp, kn), start);
}

/* Attached for the cgroup_mkdir event, container_create, container scopes, or several: it
 * reports the events when a policy selects them, then learns the containers created since
 * the loader started. */
SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(tr_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	cgroup_event(EVENT_CGROUP_MKDIR, cgrp, path);
	struct key_scratch *k = 0;
	__u32 start = 0;
	int hierarchy = 0;
	if (!container_cgroup(cgrp, &k, &start, &hierarchy) || !k)
		return 0;
	struct kernfs_node *kn = BPF_CORE_READ(cgrp, kn);
	__u64 id = BPF_CORE_READ(kn, id) | (hierarchy ? V1_KEY : 0);
	__u32 created = CONTAINER_NEW;
	bpf_map_update_elem(&containers, &id, &created, BPF_ANY);
	return container_event(EVENT_CONTAINER_CREATE, k, kn, start);
}

/* The kind of container whose cgroup is kn or one of its ancestors, or 0. */
static __always_inline int container_kind(struct kernfs_node *kn, __u64 key_bits)
{
	for (int i = 0; i < MAX_DEPTH; i++) {
		if (!kn)
			return 0;
		__u64 id = BPF_CORE_READ(kn, id) | key_bits;
		__u32 *kind = bpf_map_lookup_elem(&containers, &id);
		if (kind)
			return *kind == CONTAINER_NEW ? CONTAINER_NEW : CONTAINER_EXISTING;
		kn = parent_of(kn);
	}
	return 0;
}

/* CONTAINER_EXISTING or CONTAINER_NEW for a task in a container's cgroup, else 0. */
static __always_inline int container_of_task(struct task_struct *task)
{
	int kind = container_kind(task->cgroups->dfl_cgrp->kn, 0);
	if (kind || !v1_hierarchy)
		return kind;
	/* css_set.subsys[v1_subsys], by address: its length depends on the kernel's config. */
	__u64 at = (__u64)BPF_CORE_READ(task, cgroups) +
		   bpf_core_field_offset(struct css_set, subsys) + (v1_subsys & 15) * sizeof(void *);
	struct cgroup_subsys_state *css = NULL;
	if (bpf_probe_read_kernel(&css, sizeof(css), (void *)at) || !css)
		return 0;
	return container_kind(BPF_CORE_READ(css, cgroup, kn), V1_KEY);
}

__noinline int in_container(void)
{
	return container_of_task(current_task());
}

/* Any task's, by address. */
__noinline int in_container_task(__u64 task_addr)
{
	return container_of_task(
		bpf_rdonly_cast((void *)task_addr, bpf_core_type_id_kernel(struct task_struct)));
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(tr_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	cgroup_event(EVENT_CGROUP_RMDIR, cgrp, path);
	struct key_scratch *k = 0;
	__u32 start = 0;
	int hierarchy = 0;
	if (!container_cgroup(cgrp, &k, &start, &hierarchy) || !k)
		return 0;
	return container_event(EVENT_CONTAINER_REMOVE, k, BPF_CORE_READ(cgrp, kn), start);
}

/* cgroup_attach_task: a task moved into a cgroup (the new cgroup's path, the task's name and
 * tid). The context is the task doing the move. */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(tr_cgroup_attach_task, struct cgroup *dst_cgrp, const char *path,
	     struct task_struct *task, bool threadgroup)
{
	__u32 id = EVENT_CGROUP_ATTACH_TASK;
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, 0);
	if (!p)
		return 0;
	put_kernel_str(p, 0, (__u64)path);
	char comm[ABI_COMM_LEN];
	long n = BPF_CORE_READ_STR_INTO(&comm, task, comm);
	append_str(p, 1, comm, n > 0 ? n - 1 : 0);
	put_int(p, 2, ARG_KIND_INT, (__u64)(__s64)BPF_CORE_READ(task, pid));
	return emit(p, rules_eval(p, ev, id, scope, RULES_ALL));
}
