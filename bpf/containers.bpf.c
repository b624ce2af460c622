// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Containers, told by their cgroups: the common runtimes name a container's cgroup after its
 * 64-hex-digit id (docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope,
 * libpod-<id>.scope, or <id> under docker/ or kubepods/ with the cgroupfs driver). Those that
 * exist at start are found by the loader in the cgroup v2 tree; new ones are learned here as
 * they are created. A task is in a container when its cgroup or an ancestor is one.
 */
#include "tracee.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ID_DIGITS 64
#define NAME_MAX_SCAN 255
#define MAX_DEPTH 8

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

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(tr_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0; /* a cgroup v1 hierarchy: its ids are not the tasks' v2 cgroup ids */
	__u32 zero = 0;
	struct key_scratch *k = bpf_map_lookup_elem(&scratch_keys, &zero);
	if (!k)
		return 0;
	struct kernfs_node *kn = BPF_CORE_READ(cgrp, kn);
	if (bpf_probe_read_kernel_str(k->path, NAME_MAX_SCAN + 1, BPF_CORE_READ(kn, name)) <= 0)
		return 0;
	k->walk.off = 0;
	k->walk.pad = 0;
	struct hex_scan scan = { .k = k };
	bpf_loop(NAME_MAX_SCAN, hex_step, &scan, 0);
	if (!k->walk.pad)
		return 0;
	__u64 id = BPF_CORE_READ(kn, id);
	__u32 one = 1;
	bpf_map_update_elem(&containers, &id, &one, BPF_ANY);
	return 0;
}

__noinline int in_container(void)
{
	struct task_struct *task = current_task();
	struct kernfs_node *kn = task->cgroups->dfl_cgrp->kn;
	for (int i = 0; i < MAX_DEPTH; i++) {
		if (!kn)
			return 0;
		__u64 id = BPF_CORE_READ(kn, id);
		if (bpf_map_lookup_elem(&containers, &id))
			return 1;
		kn = parent_of(kn);
	}
	return 0;
}
