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

#define NR_init_module 175
#define NR_finit_module 313

/* module_load: a module loaded (before its init runs); the context is the loading task.
 * Inside an init_module or finit_module call, the module is kept for do_init_module. */
SEC("tp_btf/module_load")
int BPF_PROG(tr_module_load, struct module *mod)
{
	__u32 init = EVENT_DO_INIT_MODULE;
	struct task_struct *task = bpf_get_current_task_btf();
	struct pending *sys = bpf_task_storage_get(&pending_store, task, 0, 0);
	if (sys && sys->state == PENDING_ARMED &&
	    (sys->event == NR_init_module || sys->event == NR_finit_module) &&
	    bpf_map_lookup_elem(&events, &init)) {
		struct loading_module *m = bpf_task_storage_get(&module_store, task, 0,
								BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (m) {
			long n = bpf_probe_read_kernel_str(m->name, sizeof(m->name), &mod->name);
			m->name_len = n > 0 ? n - 1 : 0;
			n = bpf_probe_read_kernel_str(m->version, sizeof(m->version),
						      BPF_CORE_READ(mod, version));
			m->version_len = n > 0 ? n - 1 : 0;
			n = bpf_probe_read_kernel_str(m->srcversion, sizeof(m->srcversion),
						      BPF_CORE_READ(mod, srcversion));
			m->srcversion_len = n > 0 ? n - 1 : 0;
		}
	}
	return module_event(EVENT_MODULE_LOAD, mod);
}

/* do_init_module: at the exit of the init_module or finit_module call that loaded a
 * module, with the result of its init as the return value. */
static __always_inline int init_module_event(struct pending *sys, __u64 ret)
{
	if (!sys)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct loading_module *m = bpf_task_storage_get(&module_store, task, 0, 0);
	if (!m || !m->name_len)
		return 0;
	struct event_config *ev;
	__u64 candidates;
	struct pending *q = begin_derived(sys, EVENT_DO_INIT_MODULE, &ev, &candidates);
	if (q) {
		__u32 n = m->name_len;
		append_str(q, 0, m->name, n < sizeof(m->name) ? n : 0);
		n = m->version_len;
		append_str(q, 1, m->version, n < sizeof(m->version) ? n : 0);
		n = m->srcversion_len;
		append_str(q, 2, m->srcversion, n < sizeof(m->srcversion) ? n : 0);
		q->rec.retval = ret;
		emit(q, rules_eval(q, ev, EVENT_DO_INIT_MODULE, candidates, RULES_ALL));
	}
	m->name_len = 0;
	return 0;
}

/* module_free: a module's memory freed after unloading (or a failed load). */
SEC("tp_btf/module_free")
int BPF_PROG(tr_module_free, struct module *mod)
{
	return module_event(EVENT_MODULE_FREE, mod);
}

/* The handler programs (tracee.bpf.h DERIVED_HANDLERS). */
DERIVED_HANDLERS(MODULES, {
	if (h & DERIVED_INIT_MODULE)
		init_module_event(p, ret);
})
