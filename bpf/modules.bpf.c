// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kernel modules: module_load and module_free from the module: tracepoints. Kernels built
 * without loadable modules have neither (nor init_module/finit_module): the loader then says
 * at start that these events cannot occur, and does not attach them.
 */
#include "tracee.bpf.h"
#include "context.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* name, version, src_version of a module: three string arguments from index 0 on. */
static __always_inline void put_module(struct pending *p, struct module *mod)
{
	put_kernel_str(p, 0, (__u64)&mod->name);
	const char *version = BPF_CORE_READ(mod, version);
	if (version)
		put_kernel_str(p, 1, (__u64)version);
	const char *src = BPF_CORE_READ(mod, srcversion);
	if (src)
		put_kernel_str(p, 2, (__u64)src);
}

static __always_inline int module_event(__u32 id, struct module *mod)
{
	struct event_config *ev;
	__u64 scope;
	struct pending *p = start_event(id, &ev, &scope, 0);
	if (!p)
		return 0;
	put_module(p, mod);
	return emit(p, rules_eval(p, ev, id, scope, RULES_ALL));
}

/* module_load: a module loaded (before its init runs); the context is the loading task. */
SEC("tp_btf/module_load")
int BPF_PROG(tr_module_load, struct module *mod)
{
	return module_event(EVENT_MODULE_LOAD, mod);
}

/* module_free: a module's memory freed after unloading (or a failed load). */
SEC("tp_btf/module_free")
int BPF_PROG(tr_module_free, struct module *mod)
{
	return module_event(EVENT_MODULE_FREE, mod);
}
